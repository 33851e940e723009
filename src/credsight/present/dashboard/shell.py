"""What every page shares: the navigation, the filter bar, and the messages for empty views."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

import dash_ag_grid as dag
from dash import dcc, html

from credsight.present.dashboard.filters import Filters

NAVIGATION = (
    ("/", "Overview"),
    ("/migration", "SSO migration"),
    ("/compliance", "Compliance"),
    ("/users", "Users"),
    ("/regions", "Regions and services"),
    ("/changes", "Changes"),
    ("/health", "Collection health"),
)


def frame() -> html.Div:
    """The page frame; the callback in the app fills `page` from the URL."""
    return html.Div(
        [
            dcc.Location(id="url", refresh=False),
            html.Header(
                [
                    html.Strong("credsight", className="brand"),
                    html.Nav(
                        [
                            dcc.Link(label, href=path, id=f"nav-{path.strip('/') or 'overview'}")
                            for path, label in NAVIGATION
                        ]
                    ),
                ],
                className="top",
            ),
            html.Main(id="page"),
        ]
    )


def filter_bar(filters: Filters, accounts: list[dict[str, Any]], ous: list[str], newest: dt.date | None) -> html.Div:
    """Accounts, OU and date; their values go to the URL (see app.py), so links keep them."""
    return html.Div(
        [
            dcc.Dropdown(
                id="filter-accounts",
                options=[
                    {"label": f"{a['account_id']} {a['name'] or ''}".strip(), "value": a["account_id"]}
                    for a in accounts
                ],
                value=list(filters.accounts),
                multi=True,
                placeholder="All accounts",
                className="filter",
            ),
            dcc.Dropdown(
                id="filter-ou",
                options=[{"label": ou, "value": ou} for ou in ous],
                value=filters.ou,
                placeholder="All OUs",
                className="filter",
            ),
            dcc.DatePickerSingle(
                id="filter-date",
                # Only a date from the URL: without one the view follows the newest snapshot.
                date=filters.date.isoformat() if filters.date else None,
                placeholder=f"{newest} (newest)" if newest else "no snapshots",
                display_format="YYYY-MM-DD",
                className="filter",
            ),
            html.Span("dates in UTC", className="note"),
        ],
        className="filters",
    )


def notice(message: str) -> html.Div:
    """A view with nothing to show says so in words."""
    return html.Div(message, className="notice")


def card(label: str, value: object, warn: bool = False) -> html.Div:
    return html.Div(
        [html.Div(str(value), className="value"), html.Div(label, className="label")],
        className="card warn" if warn else "card",
    )


def table(
    id: str,
    rows: list[dict[str, Any]],
    columns: Sequence[tuple[str, str]],
    file_name: str,
    height: int = 500,
    row_id: str | None = None,
) -> html.Div:
    """A table that sorts and filters; its download is written by the server (formulas neutralised)."""
    extra = {"getRowId": f"params.data.{row_id}"} if row_id else {}
    plain = [{k: (v.isoformat() if isinstance(v, dt.date) else v) for k, v in row.items()} for row in rows]
    return html.Div(
        [
            html.Button("Download CSV", id={"type": "download", "table": id}, className="download"),
            dcc.Download(id={"type": "csv", "table": id}),
            dcc.Store(id={"type": "csv-name", "table": id}, data=file_name),
            dag.AgGrid(
                id={"type": "grid", "table": id},
                rowData=plain,
                columnDefs=[{"field": field, "headerName": name} for field, name in columns],
                defaultColDef={"sortable": True, "filter": True, "resizable": True},
                dashGridOptions={"pagination": True, "paginationPageSize": 50},
                style={"height": f"{height}px"},
                **extra,
            ),
        ],
        id=id,
    )
