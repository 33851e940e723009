"""`/`: coverage, IAM users by class, headline risks, findings per account, and the trend."""

from __future__ import annotations

import datetime as dt
from typing import Any

from dash import dcc, html

from credsight.present import figures, questions
from credsight.present.dashboard.filters import Filters
from credsight.present.dashboard.shell import card, notice
from credsight.query import Database
from credsight.rules.findings import evaluate

HEATMAP_ACCOUNTS = 60  # the accounts with the most findings; the compliance page has them all


def layout(database: Database, filters: Filters, date: dt.date, accounts: list[str] | None) -> list[Any]:
    reports = questions.as_of(database, date, accounts)
    if not reports:
        return [notice(f"No snapshot on or before {date} for these accounts. Pick another date or account.")]
    stale = [r for r in reports if r["snapshot_date"] < date - dt.timedelta(days=1)]
    failed = [h for h in questions.health(database, accounts, date) if h["last_status"] == "failed"]
    evaluation = evaluate(database, date, accounts, with_first_seen=False)
    failing: dict[str, int] = {}
    per_account: dict[str, dict[str, int]] = {}
    for row in evaluation.results.to_pylist():
        failing[row["rule"]] = failing.get(row["rule"], 0) + row["failed"]
        per_account.setdefault(row["account_id"], {})[row["rule"]] = row["failed"]
    cards = [
        card("accounts covered", len(reports) - len(stale)),
        card("accounts stale (no snapshot for 2+ days)", len(stale), warn=bool(stale)),
        card("accounts whose last collection failed", len(failed), warn=bool(failed)),
        card("human IAM users", sum(r["humans"] for r in reports)),
        card("machine IAM users", sum(r["machines"] for r in reports)),
        card("dormant IAM users", sum(r["dormant"] for r in reports)),
    ]
    risks = [card(label, failing.get(rule, 0), warn=failing.get(rule, 0) > 0) for rule, label in questions.HEADLINES]
    worst = sorted(per_account, key=lambda a: -sum(per_account[a].values()))[:HEATMAP_ACCOUNTS]
    rules = [r.id for r in evaluation.rules if r.decidable]
    heatmap = figures.findings_heatmap(
        rules,
        worst,
        [[per_account[a].get(rule, 0) for a in worst] for rule in rules],
        f"Failing users per rule on {date}",
    )
    start = filters.start or date - dt.timedelta(days=89)
    days = questions.per_day(database, start, filters.end or date, accounts)
    trend = figures.users_by_class(
        [d["snapshot_date"] for d in days],
        {name: [d[name] for d in days] for name in ("humans", "machines", "dormant")},
        f"IAM users by class, {start} to {filters.end or date}",
    )
    return [
        html.H1(f"Overview on {date} (UTC)"),
        html.Div(cards, className="cards"),
        html.H2("Headline risks"),
        html.Div(risks, className="cards"),
        dcc.Graph(id="overview-heatmap", figure=heatmap),
        dcc.Graph(id="overview-trend", figure=trend),
    ]
