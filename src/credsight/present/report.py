"""The shareable report: one self-contained HTML file for people who have no AWS access.

Everything is inside the file (plotly.js included, no request to any host, enforced by a
Content-Security-Policy), values from the reports are escaped by Jinja's autoescape, and with
`redact` user names and ARNs become stable pseudonyms.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import os
from collections.abc import Sequence
from typing import Any

import jinja2
from markupsafe import Markup

from credsight.errors import UserFixable
from credsight.formats.findings import product_version
from credsight.present import figures, questions
from credsight.query import Database
from credsight.report.model import ROOT_USER
from credsight.rules.catalogue import RULES
from credsight.rules.exceptions import AcceptedRisk, mark
from credsight.rules.findings import evaluate
from credsight.rules.trends import migration_projection

REDACT_KEY_VARIABLE = "CREDSIGHT_REDACT_KEY"
DEFAULT_REDACT_KEY = b"credsight pseudonyms"  # stable, but names can be guessed back: set the variable


def pseudonym(account: str, user: str, key: bytes) -> str:
    """The same user always gets the same pseudonym under the same key; the root stays the root."""
    if user == ROOT_USER:
        return user
    return "user-" + hmac.new(key, f"{account}/{user}".encode(), hashlib.sha256).hexdigest()[:10]


def write_report(
    database: Database,
    date: dt.date | None,
    accounts: list[str] | None,
    redact: bool,
    scope: str = "",
    risks: Sequence[AcceptedRisk] = (),
) -> str:
    """The report as HTML text."""
    date = date or database.newest_snapshot()
    if date is None:
        raise ValueError("the store holds no snapshots")
    evaluation = evaluate(database, date, accounts)
    opening = questions.headline(database, date, accounts, evaluation.results)
    if opening is None:
        raise UserFixable(f"no snapshot on or before {date} for these accounts; pick a later --date or other accounts")
    health = questions.health(database, accounts, date)
    key = os.environ.get(REDACT_KEY_VARIABLE, "").encode() or DEFAULT_REDACT_KEY
    marked = mark(evaluation.findings, risks, dt.datetime.now(dt.UTC).date())
    findings = [_finding(row, redact, key) for row in marked.to_pylist()]
    per_account = opening.failing
    rules = [rule.id for rule in RULES if rule.decidable]
    accounts_shown = sorted(per_account)
    days = questions.per_day(database, date - dt.timedelta(days=89), date, accounts)
    plots = [
        figures.findings_heatmap(
            rules,
            accounts_shown,
            [[per_account[a].get(rule, 0) for a in accounts_shown] for rule in rules],
            f"Failing users per rule on {date}",
        ),
        figures.users_by_class(*questions.by_class(days), "IAM users by class, the last 90 days"),
    ]
    html_figures = [
        Markup(plot.to_html(full_html=False, include_plotlyjs=index == 0, config={"displaylogo": False}))
        for index, plot in enumerate(plots)
    ]
    environment = jinja2.Environment(
        loader=jinja2.PackageLoader("credsight.present", "templates"), autoescape=True, undefined=jinja2.StrictUndefined
    )
    return environment.get_template("report.html.j2").render(
        date=date,
        accounts_in_scope=opening.accounts,
        scope=scope,
        written=dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M"),
        version=product_version(),
        redacted=redact,
        cards=opening.cards,
        risks=opening.risks,
        figures=html_figures,
        projection=migration_projection(database, date, accounts).describe(),
        findings=findings,
        undecidable="; ".join(f"{r.id} ({r.undecidable_because})" for r in RULES if not r.decidable),
        health=health,
    )


def _finding(row: dict[str, Any], redact: bool, key: bytes) -> dict[str, Any]:
    evidence = json.loads(row["evidence"] or "{}")
    row["evidence_text"] = ", ".join(f"{k}={v}" for k, v in evidence.items() if v is not None)
    if redact:
        name = pseudonym(row["account_id"], row["user"], key)
        if row["user"] != ROOT_USER:
            row["arn"] = f"arn:aws:iam::{row['account_id']}:user/{name}"
        row["user"] = name
    return row


def scope_label(accounts: Sequence[str], ou: str | None) -> str:
    parts = ([f"OU {ou}"] if ou else []) + ([f"accounts {', '.join(accounts)}"] if accounts else [])
    return "; ".join(parts)
