"""`/compliance`: every rule x account, pass/fail on a date; a cell click lists the failing users
with evidence, first-seen dates and accepted risks.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from typing import Any

from dash import html

from credsight.present.dashboard.filters import Filters
from credsight.present.dashboard.shell import notice, table
from credsight.query import Database
from credsight.rules.catalogue import RULES
from credsight.rules.exceptions import AcceptedRisk, mark
from credsight.rules.findings import evaluate

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


def layout(database: Database, filters: Filters, date: dt.date, accounts: list[str] | None) -> list[Any]:
    evaluation = evaluate(database, date, accounts, with_first_seen=False)
    results = evaluation.results.to_pylist()
    if not results:
        return [notice(f"No snapshot on or before {date} for these accounts.")]
    names = {r["account_id"]: r["name"] for r in database.sql("SELECT account_id, name FROM account_metadata").rows}
    rules = [rule.id for rule in RULES if rule.decidable]
    matrix: dict[str, dict[str, Any]] = {}
    for row in results:
        line = matrix.setdefault(
            row["account_id"], {"account_id": row["account_id"], "name": names.get(row["account_id"])}
        )
        line[row["rule"]] = f"{row['failed']} / {row['evaluated']}" if row["failed"] else "pass"
    columns = [("account_id", "account"), ("name", "name"), *[(rule, rule) for rule in rules]]
    return [
        html.H1(f"Compliance on {date} (UTC)"),
        html.P("Failing / evaluated users per rule and account. Click a cell to see who fails and why."),
        table(
            "compliance-matrix",
            list(matrix.values()),
            columns,
            f"credsight-compliance-{date}.csv",
            height=450,
            row_id="account_id",
        ),
        html.Div(id="compliance-detail"),
        html.P(
            "Not decidable from the credential report: "
            + "; ".join(f"{r.id} ({r.undecidable_because})" for r in RULES if not r.decidable),
            className="note",
        ),
    ]


def detail(database: Database, date: dt.date, account: str, rule: str, risks: Sequence[AcceptedRisk]) -> list[Any]:
    """The failing users of one rule in one account, with evidence and accepted risks."""
    if rule not in {r.id for r in RULES if r.decidable}:
        return [notice("Click a rule's cell to see its failing users.")]
    evaluation = evaluate(database, date, [account], [rule])
    rows = mark(evaluation.findings, risks, dt.datetime.now(dt.UTC).date()).to_pylist()
    if not rows:
        return [notice(f"Every user of {account} passes {rule} on {date}.")]
    for row in rows:
        row["evidence"] = ", ".join(f"{k}={v}" for k, v in json.loads(row["evidence"] or "{}").items() if v is not None)
    title = f"{rule} in {account}: {len(rows)} failing"
    return [html.H2(title), table("compliance-users", rows, DETAIL_COLUMNS, f"credsight-{rule}-{account}-{date}.csv")]
