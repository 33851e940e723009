"""`/migration`: IAM users moving to SSO: people and machines over time, by OU, the projected end,
and the human IAM users still left with their last sign-in and key use.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from dash import dcc, html

from credsight.present import figures, questions
from credsight.present.dashboard.filters import Filters
from credsight.present.dashboard.shell import card, notice, table
from credsight.query import Database
from credsight.rules.trends import migration_projection

COLUMNS = (
    ("account_id", "account"),
    ("account_name", "name"),
    ("user", "user"),
    ("password_last_used", "last sign-in (UTC)"),
    ("mfa_active", "MFA"),
    ("access_key_1_last_used_date", "key 1 last used (UTC)"),
    ("access_key_2_last_used_date", "key 2 last used (UTC)"),
    ("user_creation_time", "created (UTC)"),
)


def layout(database: Database, filters: Filters, date: dt.date, accounts: list[str] | None) -> list[Any]:
    humans = questions.remaining_humans(database, date, accounts)
    start = filters.start or date - dt.timedelta(days=179)
    days = questions.per_day(database, start, filters.end or date, accounts)
    if not days:
        return [notice(f"No snapshots between {start} and {filters.end or date} for these accounts.")]
    projection = migration_projection(database, date, accounts)
    active = sum(1 for h in humans if h["password_last_used"] and (date - h["password_last_used"].date()).days <= 30)
    by_ou = questions.humans_by_ou(database, date, accounts)
    return [
        html.H1(f"SSO migration on {date} (UTC)"),
        html.Div(
            [
                card("human IAM users left", len(humans), warn=bool(humans)),
                card("of them signed in within 30 days", active),
                card("projection (last 60 days)", projection.describe()),
            ],
            className="cards",
        ),
        dcc.Graph(
            id="migration-trend",
            figure=figures.users_by_class(
                *questions.by_class(days), f"IAM users by class, {start} to {filters.end or date}"
            ),
        ),
        dcc.Graph(
            id="migration-by-ou",
            figure=figures.bars(
                [row["place"] for row in by_ou], [row["humans"] for row in by_ou], "Human IAM users by OU", "users"
            ),
        ),
        html.H2("Human IAM users left"),
        table("migration-table", humans, COLUMNS, f"credsight-human-users-{date}.csv"),
    ]
