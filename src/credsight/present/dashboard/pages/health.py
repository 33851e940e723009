"""`/health`: per account, the last successful collection, its age, the last failure and its class."""

from __future__ import annotations

from typing import Any

import pyarrow as pa
from dash import html

from credsight.present import questions
from credsight.present.dashboard.parts import Block, Page, Table, View
from credsight.present.dashboard.shell import card

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


def summary(view: View) -> list[Any]:
    rows = table(view).to_pylist()
    if not rows:
        return [html.H1("Collection health"), html.P("No collection has been recorded for these accounts yet.")]
    failing = sum(1 for r in rows if r["last_status"] == "failed")
    stale = sum(1 for r in rows if r["days_since_success"] is None or r["days_since_success"] > 1)  # never counts
    return [
        html.H1("Collection health"),
        html.Div(
            [
                card("accounts", len(rows)),
                card("last attempt failed", failing, warn=failing > 0),
                card("no success for 2+ days, or never", stale, warn=stale > 0),
            ],
            className="cards",
        ),
    ]


def table(view: View) -> pa.Table:
    """Per account, the collections' health as of the view's date: one question for the cards and the table."""
    key = ("health", view.date, tuple(view.accounts) if view.accounts is not None else None)
    found: pa.Table = view.keep(key, lambda: questions.health_table(view.database, view.accounts, view.date))
    return found


def page() -> Page:
    return Page(
        "/health",
        [
            Block("health-summary", summary),
            Table(
                "health-table",
                COLUMNS,
                table,
                lambda view: "credsight-health.csv",
                kinds={"days_since_success": "number", "last_success": "date", "last_failure": "date"},
                height=600,
            ),
        ],
    )
