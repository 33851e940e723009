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
    evaluation = evaluate(database, date, accounts, with_first_seen=False)
    opening = questions.headline(database, date, accounts, evaluation.results)
    if opening is None:
        return [notice(f"No snapshot on or before {date} for these accounts. Pick another date or account.")]
    per_account = opening.failing
    cards = [card(c.label, c.value, warn=c.warn) for c in opening.cards]
    risks = [card(c.label, c.value, warn=c.warn) for c in opening.risks]
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
    trend = figures.users_by_class(*questions.by_class(days), f"IAM users by class, {start} to {filters.end or date}")
    return [
        html.H1(f"Overview on {date} (UTC)"),
        html.Div(cards, className="cards"),
        html.H2("Headline risks"),
        html.Div(risks, className="cards"),
        dcc.Graph(id="overview-heatmap", figure=heatmap),
        dcc.Graph(id="overview-trend", figure=trend),
    ]
