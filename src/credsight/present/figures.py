"""Figures: pure functions from query answers to plotly figures, shared by the dashboard and the
static report. Text that comes from the reports is escaped: plotly renders a little HTML in
labels and hover text, and a user name is data, never markup.
"""

from __future__ import annotations

import datetime as dt
import html
from collections.abc import Mapping, Sequence
from typing import Any

import plotly.graph_objects as go

CLASS_COLOURS = {"humans": "#d62728", "machines": "#1f77b4", "dormant": "#7f7f7f"}
# The SSO migration's states, from what is left to do to what is done (people.py).
STATE_COLOURS = {
    "no_sso_user": "#d62728",
    "ambiguous": "#9467bd",
    "sso_user_no_access": "#ff9900",
    "dual_use": "#e377c2",
    "ready_to_remove": "#17becf",
    "migrated": "#2ca02c",
    "removed": "#bbbbbb",
}
SEVERITY_COLOURS = {
    "critical": "#7f0000",
    "high": "#d62728",
    "medium": "#ff9900",
    "low": "#1f77b4",
    "informational": "#bbbbbb",
}
UTC_NOTE = "dates in UTC"


def text(value: object) -> str:
    """A value from a report, made safe to show in a figure."""
    return html.escape("" if value is None else str(value), quote=False)  # plotly shows &quot; as written


def _layout(figure: go.Figure, title: str, **extra: Any) -> go.Figure:
    figure.update_layout(
        title={"text": text(title), "x": 0.01},
        margin={"l": 50, "r": 20, "t": 50, "b": 40},
        template="plotly_white",
        legend={"orientation": "h", "y": -0.15},
        **extra,
    )
    return figure


def empty(title: str, message: str) -> go.Figure:
    """A figure that says why it is empty, rather than an empty frame."""
    figure = go.Figure()
    figure.add_annotation(
        text=text(message), showarrow=False, font={"size": 14}, x=0.5, y=0.5, xref="paper", yref="paper"
    )
    figure.update_xaxes(visible=False)
    figure.update_yaxes(visible=False)
    return _layout(figure, title)


def users_by_class(days: Sequence[dt.date], counts: Mapping[str, Sequence[int]], title: str) -> go.Figure:
    """IAM users per day, stacked by class (human, machine, dormant)."""
    if not days:
        return empty(title, "no snapshots in this period")
    figure = go.Figure()
    for name, colour in CLASS_COLOURS.items():
        if name in counts:
            figure.add_trace(
                go.Scatter(x=list(days), y=list(counts[name]), name=name, stackgroup="users", line={"color": colour})
            )
    return _layout(figure, title, xaxis_title=f"snapshot date ({UTC_NOTE})", yaxis_title="IAM users")


def findings_heatmap(
    rules: Sequence[str], accounts: Sequence[str], failed: Sequence[Sequence[int]], title: str
) -> go.Figure:
    """Failing users per rule (rows) and account (columns)."""
    if not rules or not accounts:
        return empty(title, "no findings for these accounts on this date")
    figure = go.Figure(
        go.Heatmap(
            z=[list(row) for row in failed],
            x=[text(a) for a in accounts],
            y=[text(r) for r in rules],
            colorscale="Reds",
            hovertemplate="%{y}<br>%{x}<br>%{z} failing<extra></extra>",
        )
    )
    return _layout(figure, title, xaxis={"type": "category"}, yaxis={"type": "category", "autorange": "reversed"})


def bars(labels: Sequence[str], values: Sequence[int], title: str, axis: str) -> go.Figure:
    if not labels:
        return empty(title, "nothing to show for these filters")
    figure = go.Figure(go.Bar(x=[text(label) for label in labels], y=list(values)))
    return _layout(figure, title, yaxis_title=axis, xaxis={"type": "category"})


def events_by_severity(
    days: Sequence[dt.date], severities: Sequence[str], counts: Sequence[int], title: str
) -> go.Figure:
    """Events per day, stacked by severity (critical at the bottom, where the eye starts)."""
    if not days:
        return empty(title, "no change in this period for these accounts")
    figure = go.Figure()
    for severity, colour in SEVERITY_COLOURS.items():
        points = [(d, n) for d, s, n in zip(days, severities, counts, strict=True) if s == severity]
        if points:
            figure.add_trace(
                go.Bar(x=[d for d, _ in points], y=[n for _, n in points], name=severity, marker={"color": colour})
            )
    return _layout(figure, title, barmode="stack", xaxis_title=f"seen on ({UTC_NOTE})", yaxis_title="events")


def by_state(days: Sequence[dt.date], counts: Mapping[str, Sequence[int]], title: str) -> go.Figure:
    """The people's IAM users per day, stacked by migration state (what is left at the bottom)."""
    if not days:
        return empty(title, "no Identity Center snapshot in this period")
    figure = go.Figure()
    for state, colour in STATE_COLOURS.items():
        if state in counts:
            figure.add_trace(
                go.Scatter(x=list(days), y=list(counts[state]), name=state, stackgroup="users", line={"color": colour})
            )
    return _layout(figure, title, xaxis_title=f"snapshot date ({UTC_NOTE})", yaxis_title="IAM users of people")


def states_by_place(places: Sequence[str], counts: Mapping[str, Sequence[int]], title: str) -> go.Figure:
    """Per OU (or account), the people's IAM users by migration state on one day."""
    if not places:
        return empty(title, "nothing to show for these filters")
    figure = go.Figure()
    for state, colour in STATE_COLOURS.items():
        if state in counts and any(counts[state]):
            figure.add_trace(
                go.Bar(x=[text(p) for p in places], y=list(counts[state]), name=state, marker={"color": colour})
            )
    return _layout(figure, title, barmode="stack", yaxis_title="IAM users", xaxis={"type": "category"})
