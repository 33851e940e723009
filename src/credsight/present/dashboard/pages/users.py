"""`/users`: one IAM user over time: their credentials' state, each key's age and use, and changes."""

from __future__ import annotations

import datetime as dt
from typing import Any

import plotly.graph_objects as go
from dash import dcc, html

from credsight.present import figures
from credsight.present.dashboard.filters import Filters
from credsight.present.dashboard.shell import notice, table
from credsight.query import Database
from credsight.rules.changes import changes

USERS = """
    SELECT "user" FROM latest WHERE account_id = $account ORDER BY "user" = '<root_account>' DESC, "user"
"""
HISTORY = """
    SELECT snapshot_date, user_class, password_enabled, password_last_used, mfa_active,
           access_key_1_active, access_key_1_last_rotated, access_key_1_last_used_date,
           access_key_1_last_used_region, access_key_1_last_used_service,
           access_key_2_active, access_key_2_last_rotated, access_key_2_last_used_date,
           access_key_2_last_used_region, access_key_2_last_used_service
    FROM reports WHERE account_id = $account AND "user" = $user AND snapshot_date <= $date
    ORDER BY snapshot_date"""
COLUMNS = tuple(
    (name, name.replace("_", " ")) for name in HISTORY.split("FROM")[0].replace("SELECT", "").replace(",", " ").split()
)


def picker(users: list[str], chosen: str | None) -> dcc.Dropdown:
    return dcc.Dropdown(
        id="user-picker", options=[{"label": u, "value": u} for u in users], value=chosen, placeholder="Pick a user"
    )


def layout(database: Database, filters: Filters, date: dt.date, accounts: list[str] | None) -> list[Any]:
    if len(filters.accounts) != 1:
        return [html.H1("Users"), notice("Pick one account in the filter above, then a user.")]
    account = filters.accounts[0]
    users = [row["user"] for row in database.sql(USERS, {"account": account}).rows]
    if not filters.user or filters.user not in users:
        return [html.H1(f"Users of {account}"), picker(users, None), notice("Pick a user to see their history.")]
    where = {"account": account, "user": filters.user, "date": date}
    history = database.sql(HISTORY, where).rows
    if not history:
        return [picker(users, filters.user), notice(f"No snapshot of {filters.user} on or before {date}.")]
    figure = go.Figure()
    days = [row["snapshot_date"] for row in history]
    for key in (1, 2):
        ages = [
            (day - row[f"access_key_{key}_last_rotated"].date()).days
            if row[f"access_key_{key}_active"] and row[f"access_key_{key}_last_rotated"]
            else None
            for day, row in zip(days, history, strict=True)
        ]
        figure.add_trace(go.Scatter(x=days, y=ages, name=f"key {key} age (days)", mode="lines"))
    unused = [
        (day - row["password_last_used"].date()).days if row["password_last_used"] else None
        for day, row in zip(days, history, strict=True)
    ]
    figure.add_trace(go.Scatter(x=days, y=unused, name="days since sign-in", mode="lines"))
    figure.update_layout(
        title=f"{figures.text(filters.user)} in {account}", template="plotly_white", xaxis_title="snapshot date (UTC)"
    )
    found = [row for row in changes(database, None, date, [account]).to_pylist() if row["user"] == filters.user]
    return [
        html.H1(f"{filters.user} in {account}"),
        picker(users, filters.user),
        dcc.Graph(id="user-ages", figure=figure),
        html.H2("State per snapshot"),
        table("user-history", history, COLUMNS, f"credsight-user-{account}.csv"),
        html.H2(f"Changes ({len(found)})"),
        table(
            "user-changes",
            found,
            [
                ("snapshot_date", "seen on"),
                ("kind", "change"),
                ("access_key", "key"),
                ("before", "before"),
                ("after", "after"),
            ],
            f"credsight-user-changes-{account}.csv",
        ),
    ]
