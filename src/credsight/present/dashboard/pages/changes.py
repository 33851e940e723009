"""`/changes`: the change log between consecutive snapshots, filtered by the URL's period and user."""

from __future__ import annotations

import datetime as dt
from typing import Any

from dash import html

from credsight.present.dashboard.filters import Filters
from credsight.present.dashboard.shell import notice, table
from credsight.query import Database
from credsight.rules.changes import changes

COLUMNS = (
    ("snapshot_date", "seen on (UTC)"),
    ("previous_date", "compared with"),
    ("account_id", "account"),
    ("account_name", "name"),
    ("user", "user"),
    ("kind", "change"),
    ("access_key", "key"),
    ("before", "before"),
    ("after", "after"),
)
DEFAULT_DAYS = 7


def layout(database: Database, filters: Filters, date: dt.date, accounts: list[str] | None) -> list[Any]:
    end = filters.end or date
    start = filters.start or end - dt.timedelta(days=DEFAULT_DAYS - 1)
    found = changes(database, start, end, accounts).to_pylist()
    if filters.user:
        found = [row for row in found if row["user"] == filters.user]
    title = f"Changes from {start} to {end} (UTC)" + (f" for {filters.user}" if filters.user else "")
    if not found:
        return [html.H1(title), notice("No change in this period for these accounts.")]
    return [html.H1(title), table("changes-table", found, COLUMNS, f"credsight-changes-{start}-{end}.csv", height=650)]
