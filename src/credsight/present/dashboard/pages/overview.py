"""`/`: coverage, IAM users by class, headline risks, failing users per rule and account, and the trend."""

from __future__ import annotations

import datetime as dt
from typing import Any

import plotly.graph_objects as go
from dash import html

from credsight.present import figures, questions
from credsight.present.dashboard.parts import Block, Figure, NoView, Page, View
from credsight.present.dashboard.shell import cards
from credsight.rules.counts import DECIDABLE, results, rule_counts_as_of

HEATMAP_ACCOUNTS = 60  # the accounts with the most findings; the compliance page has them all


def headline(view: View) -> questions.Headline:
    """The cards and the heatmap's counts: one question for both parts."""

    def asked() -> questions.Headline | None:
        counts = rule_counts_as_of(view.database, view.date, view.accounts)
        return questions.headline(view.database, view.date, view.accounts, results(counts))

    key = ("headline", view.date, tuple(view.accounts) if view.accounts is not None else None)
    opening: questions.Headline | None = view.keep(key, asked)
    if opening is None:
        raise NoView(f"No snapshot on or before {view.date} for these accounts. Pick another date or account.")
    return opening


def heading(view: View) -> list[Any]:
    return [html.H1(f"Overview on {view.date} (UTC)")]


def opening_cards(view: View) -> list[Any]:
    opening = headline(view)
    return [cards(opening.cards), html.H2("Headline risks"), cards(opening.risks)]


def heatmap(view: View) -> go.Figure:
    per_account = headline(view).failing
    worst = sorted(per_account, key=lambda a: -sum(per_account[a].values()))[:HEATMAP_ACCOUNTS]
    rules = [rule.id for rule in DECIDABLE]
    failed = [[per_account[a].get(rule, 0) for a in worst] for rule in rules]
    return figures.findings_heatmap(rules, worst, failed, f"Failing users per rule on {view.date}")


def trend(view: View) -> go.Figure:
    start = view.filters.start or view.date - dt.timedelta(days=89)
    end = view.filters.end or view.date
    days = questions.per_day(view.database, start, end, view.accounts)
    return figures.users_by_class(*questions.by_class(days), f"IAM users by class, {start} to {end}")


def page() -> Page:
    return Page(
        "/",
        [
            Block("overview-heading", heading),
            Block("overview-cards", opening_cards),
            Figure("overview-heatmap", heatmap, "Failing users per rule"),
            Figure("overview-trend", trend, "IAM users by class"),
        ],
    )
