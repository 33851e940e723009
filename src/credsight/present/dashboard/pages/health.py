"""`/health`: per account, the last successful collection, its age, the last failure and its class."""

from __future__ import annotations

import datetime as dt
from typing import Any

from dash import html

from credsight.present import questions
from credsight.present.dashboard.filters import Filters
from credsight.present.dashboard.shell import card, notice, table
from credsight.query import Database

COLUMNS = (
    ("account_id", "account"),
    ("account_name", "name"),
    ("ou_path", "OU"),
    ("state", "state"),
    ("last_status", "last attempt"),
    ("last_success", "last success (UTC)"),
    ("days_since_success", "days since"),
    ("last_failure", "last failure (UTC)"),
    ("error_class", "failure class"),
    ("error_message", "AWS said"),
)


def layout(database: Database, filters: Filters, date: dt.date, accounts: list[str] | None) -> list[Any]:
    rows = questions.health(database, accounts, date)
    if not rows:
        return [notice("No collection has been recorded for these accounts yet: run 'credsight collect'.")]
    failing = sum(1 for r in rows if r["last_status"] == "failed")
    stale = sum(1 for r in rows if (r["days_since_success"] or 0) > 1)
    return [
        html.H1("Collection health"),
        html.Div(
            [
                card("accounts", len(rows)),
                card("last attempt failed", failing, warn=failing > 0),
                card("no success for 2+ days", stale, warn=stale > 0),
            ],
            className="cards",
        ),
        table("health-table", rows, COLUMNS, "credsight-health.csv", height=600),
    ]
