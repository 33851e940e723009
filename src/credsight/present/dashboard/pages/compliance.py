"""`/compliance`: every rule x account, pass/fail on a date; a cell click lists the failing users with
evidence, first-seen dates and accepted risks.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.compute as pc
from dash import Input, Output, State, html

from credsight.present.dashboard.filters import parse
from credsight.present.dashboard.parts import Block, Page, Table, View, small_table
from credsight.present.dashboard.shell import notice
from credsight.query import Database
from credsight.rules.catalogue import RULES
from credsight.rules.counts import DECIDABLE, rule_counts_as_of
from credsight.rules.exceptions import AcceptedRisk, mark
from credsight.rules.findings import evaluate

if TYPE_CHECKING:
    import dash

    from credsight.present.dashboard.view import StoreView

MATRIX = "compliance-matrix"
DETAIL_COLUMNS = (
    ("user", "user"),
    ("severity", "severity"),
    ("status", "status"),
    ("first_seen", "first seen (UTC)"),
    ("evidence", "evidence"),
    ("exception_reason", "accepted because"),
    ("exception_owner", "owner"),
    ("exception_expires", "until"),
    ("arn", "ARN"),
)
COLUMNS = (("account_id", "account"), ("name", "name"), *[(rule.id, rule.id) for rule in DECIDABLE])


def heading(view: View) -> list[Any]:
    return [
        html.H1(f"Compliance on {view.date} (UTC)"),
        html.P("Failing / evaluated users per rule and account. Click a cell to see who fails and why."),
    ]


def matrix(view: View) -> pa.Table:
    """One row per account: per rule "failed / evaluated", or "pass"."""
    counts = rule_counts_as_of(view.database, view.date, view.accounts)
    names = view.database.sql("SELECT account_id, name FROM account_metadata").table
    index = pc.index_in(counts.column("account_id"), names.column("account_id"))
    columns: dict[str, Any] = {
        "account_id": counts.column("account_id"),
        "name": names.column("name").take(index),
    }
    for rule in DECIDABLE:
        failed = counts.column(f"failing:{rule.id}")
        evaluated = counts.column("root_rows" if rule.scope == "root" else "user_rows")
        text = pc.binary_join_element_wise(pc.cast(failed, pa.string()), pc.cast(evaluated, pa.string()), " / ")
        columns[rule.id] = pc.if_else(pc.greater(failed, 0), text, pa.scalar("pass"))
    return pa.table(columns).sort_by("account_id")


def undecidable(view: View) -> list[Any]:
    return [
        html.Div(id="compliance-detail"),
        html.P(
            "Not decidable from the credential report: "
            + "; ".join(f"{r.id} ({r.undecidable_because})" for r in RULES if not r.decidable),
            className="note",
        ),
    ]


def page(risks: Sequence[AcceptedRisk] = ()) -> Page:
    """`risks`: the accepted risks a clicked cell's failing users are marked with."""
    return Page(
        "/compliance",
        [
            Block("compliance-heading", heading),
            Table(
                MATRIX,
                COLUMNS,
                matrix,
                lambda view: f"credsight-compliance-{view.date}.csv",
                row_id="account_id",
                height=450,
            ),
            Block("compliance-notes", undecidable),
        ],
        callbacks=lambda app, view: callbacks(app, view, risks),
    )


def detail(database: Database, date: dt.date, account: str, rule: str, risks: Sequence[AcceptedRisk]) -> list[Any]:
    """The failing users of one rule in one account, with evidence and accepted risks."""
    if rule not in {r.id for r in DECIDABLE}:
        return [notice("Click a rule's cell to see its failing users.")]
    evaluation = evaluate(database, date, [account], [rule])
    rows = mark(evaluation.findings, risks, dt.datetime.now(dt.UTC).date()).to_pylist()
    if not rows:
        return [notice(f"Every user of {account} passes {rule} on {date}.")]
    for row in rows:
        row["evidence"] = ", ".join(f"{k}={v}" for k, v in json.loads(row["evidence"] or "{}").items() if v is not None)
    title = f"{rule} in {account}: {len(rows)} failing"
    return [html.H2(title), small_table("compliance-users", rows, DETAIL_COLUMNS)]


def callbacks(app: dash.Dash, view: StoreView, risks: Sequence[AcceptedRisk]) -> None:
    @app.callback(
        Output("compliance-detail", "children"),
        Input(f"{MATRIX}-grid", "cellClicked"),
        State("url", "search"),
        prevent_initial_call=True,
    )
    def clicked(cell: dict[str, Any] | None, search: str | None) -> list[Any]:
        account = (cell or {}).get("rowId")  # the matrix's rows are identified by account id
        with view.open() as database:
            date = parse(search).date or database.newest_snapshot()
            if not account or date is None:
                return [notice("Click a rule's cell to see its failing users.")]
            return detail(database, date, str(account), str((cell or {}).get("colId")), risks)
