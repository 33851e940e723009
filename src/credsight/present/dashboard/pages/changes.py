"""`/changes`: the event timeline: events per day by severity, then the events of the period, the worst
first (severity, then newest), narrowed by severity and kind; informational ones folded into a count
unless asked for. The severities and kinds chosen live in the URL like the other filters.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import plotly.graph_objects as go
import pyarrow as pa
from dash import Input, Output, State, dcc, html
from dash.exceptions import PreventUpdate

from credsight.present import figures
from credsight.present.dashboard.filters import parse, query_string
from credsight.present.dashboard.parts import Block, Figure, Page, Table, View
from credsight.rules.changes import EVERY_KIND, EventSettings, events
from credsight.rules.severity import SEVERITIES
from credsight.rules.timeline import per_day, timeline

if TYPE_CHECKING:
    import dash

COLUMNS = (
    ("severity", "severity"),
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
SHOWN_BY_DEFAULT = tuple(s for s in SEVERITIES if s != "informational")


def period(view: View) -> tuple[dt.date, dt.date]:
    end = view.filters.end or view.date
    return view.filters.start or end - dt.timedelta(days=DEFAULT_DAYS - 1), end


def page(allowed_regions: Sequence[str] = ()) -> Page:
    settings = EventSettings(allowed_regions=tuple(allowed_regions))

    def found(view: View) -> pa.Table:
        """The period's events (every severity, kind and user), computed once for the page's parts."""
        start, end = period(view)
        key = ("events", start, end, tuple(view.accounts) if view.accounts is not None else None)
        table: pa.Table = view.keep(key, lambda: events(view.database, start, end, view.accounts, settings))
        return table

    def shown(view: View) -> Any:
        # No severity chosen: every one, with the informational events folded into a count (timeline does it).
        return timeline(found(view), severities=view.filters.severity, kinds=view.filters.kind, user=view.filters.user)

    def heading(view: View) -> list[Any]:
        start, end = period(view)
        user = f" for {view.filters.user}" if view.filters.user else ""
        folded = shown(view).folded
        return [
            html.H1(f"Changes from {start} to {end} (UTC){user}"),
            html.Div(
                [
                    dcc.Checklist(
                        id="changes-severity",
                        options=[{"label": s, "value": s} for s in reversed(SEVERITIES)],
                        value=list(view.filters.severity or SHOWN_BY_DEFAULT),
                        inline=True,
                    ),
                    dcc.Dropdown(
                        id="changes-kind",
                        options=[{"label": k, "value": k} for k in EVERY_KIND],
                        value=list(view.filters.kind),
                        multi=True,
                        placeholder="Every kind of change",
                        className="filter",
                    ),
                ],
                className="filters",
            ),
            html.P(
                f"{folded} informational events (a known key's new service) are folded: tick informational to see them."
                if folded
                else "",
                id="changes-folded",
                className="note",
            ),
        ]

    def trend(view: View) -> go.Figure:
        counted = per_day(found(view))
        start, end = period(view)
        return figures.events_by_severity(
            counted.column("snapshot_date").to_pylist(),
            counted.column("severity").to_pylist(),
            counted.column("events").to_pylist(),
            f"Events per day by severity, {start} to {end}",
        )

    return Page(
        "/changes",
        [
            Block("changes-heading", heading),
            Figure("changes-per-day", trend, "Events per day by severity"),
            Table(
                "changes-table",
                COLUMNS,
                lambda view: shown(view).rows,
                lambda view: "credsight-changes-{}-{}.csv".format(*period(view)),
                kinds={"snapshot_date": "date", "previous_date": "date", "access_key": "number"},
                height=650,
                title=lambda view, rows: f"Events ({rows}), the worst first",
            ),
        ],
        callbacks=lambda app, _view: callbacks(app),
    )


def callbacks(app: dash.Dash) -> None:
    @app.callback(
        Output("url", "search", allow_duplicate=True),
        Input("changes-severity", "value"),
        Input("changes-kind", "value"),
        State("url", "search"),
        prevent_initial_call=True,
    )
    def narrow(severities: list[str] | None, kinds: list[str] | None, search: str | None) -> str:
        """The severities and kinds ticked, into the URL (the default, every severity but informational, as none)."""
        chosen = tuple(s for s in SEVERITIES if s in (severities or []))
        filters = parse(search).with_(severity=() if chosen == SHOWN_BY_DEFAULT else chosen, kind=tuple(kinds or ()))
        if filters == parse(search):
            raise PreventUpdate
        return query_string(filters)
