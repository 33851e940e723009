"""What every page shares: the navigation and the filter bar (drawn once, in the frame), the page's
#drawn mark, and the messages and cards pages are made of."""

from __future__ import annotations

from typing import Any

from dash import dcc, html

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
    """The page frame: the callbacks of app.py fill `page` from the URL, and the filters' choices."""
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
                    html.Span(id="signed-in", className="who"),
                ],
                className="top",
            ),
            filter_bar(),
            html.Main(id="page"),
            # The view every part of the page has drawn (the tests and the benchmark wait for it).
            html.Div(id="drawn", hidden=True),
        ]
    )


def filter_bar() -> html.Div:
    """Accounts, OU and date; their values live in the URL, so a copied link keeps them."""
    return html.Div(
        [
            dcc.Dropdown(id="filter-accounts", options=[], multi=True, placeholder="All accounts", className="filter"),
            dcc.Dropdown(id="filter-ou", options=[], placeholder="All OUs", className="filter"),
            # Only a date from the URL: without one the view follows the newest snapshot.
            dcc.DatePickerSingle(id="filter-date", display_format="YYYY-MM-DD", className="filter"),
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


def cards(found: list[Any]) -> html.Div:
    """Cards from question Cards (label, value, warn)."""
    return html.Div([card(c.label, c.value, warn=c.warn) for c in found], className="cards")
