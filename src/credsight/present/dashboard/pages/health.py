"""`/health`: per account, the last successful collection, its age, the last failure and its class."""

from __future__ import annotations

import datetime as dt
from typing import Any

import dash_ag_grid as dag
from dash import html

from credsight.present.dashboard import data
from credsight.present.dashboard.filters import Filters
from credsight.present.dashboard.shell import card, notice
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
    rows = data.health(database, accounts, date)
    if not rows:
        return [notice("No collection has been recorded for these accounts yet: run 'credsight collect'.")]
    for row in rows:
        for key, value in row.items():
            if isinstance(value, dt.date):
                row[key] = value.isoformat()
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
        dag.AgGrid(
            id="health-table",
            rowData=rows,
            columnDefs=[{"field": field, "headerName": name} for field, name in COLUMNS],
            defaultColDef={"sortable": True, "filter": True, "resizable": True},
            dashGridOptions={"pagination": True, "paginationPageSize": 50},
            csvExportParams={"fileName": "credsight-health.csv"},
            style={"height": "600px"},
        ),
    ]
