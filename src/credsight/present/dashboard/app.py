"""The Dash app: one callback renders the page named by the URL, one puts the filters in the URL."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import dash
from dash import Input, Output, State, html

from credsight.errors import UserFixable
from credsight.present.dashboard import data
from credsight.present.dashboard.filters import Filters, parse, query_string
from credsight.present.dashboard.pages import health, overview
from credsight.present.dashboard.security import Auth, protect
from credsight.present.dashboard.shell import filter_bar, frame, notice
from credsight.query import Database
from credsight.store import Store

Page = Callable[[Database, Filters, dt.date, "list[str] | None"], list[Any]]
PAGES: dict[str, Page] = {"/": overview.layout, "/health": health.layout}
STYLE = """
body { font-family: system-ui, sans-serif; margin: 0; color: #222; }
.top { display: flex; gap: 1.5em; align-items: center; padding: .6em 1em; background: #232f3e; }
.top a { color: #fff; text-decoration: none; margin-right: 1em; } .brand { color: #ff9900; }
main { padding: 1em 1.5em; } .filters { display: flex; gap: .8em; align-items: center; margin-bottom: 1em; }
.filter { min-width: 16em; } .note { color: #666; font-size: .85em; }
.cards { display: flex; flex-wrap: wrap; gap: .8em; margin: .5em 0 1em; }
.card { border: 1px solid #ddd; border-radius: 6px; padding: .6em 1em; min-width: 10em; }
.card.warn { border-color: #d62728; } .value { font-size: 1.6em; font-weight: 600; } .label { color: #555; }
.notice { padding: 2em; font-size: 1.1em; color: #444; background: #f6f6f6; border-radius: 6px; }
"""


def create_app(store: Store, auth: Auth | None = None) -> dash.Dash:
    """A dashboard over `store`; every request opens the store afresh, so new runs show up."""
    app = dash.Dash(__name__, title="credsight", serve_locally=True, update_title="", suppress_callback_exceptions=True)
    app.index_string = app.index_string.replace("{%css%}", "{%css%}<style>" + STYLE + "</style>")
    app.layout = frame()
    protect(app.server, auth or Auth())

    @app.callback(Output("page", "children"), Input("url", "pathname"), Input("url", "search"))
    def render(pathname: str | None, search: str | None) -> list[Any]:
        return render_page(store, pathname or "/", parse(search))

    @app.callback(
        Output("url", "search"),
        Input("filter-accounts", "value"),
        Input("filter-ou", "value"),
        Input("filter-date", "date"),
        State("url", "search"),
        prevent_initial_call=True,
    )
    def to_url(accounts: list[str] | None, ou: str | None, date: str | None, search: str | None) -> str:
        chosen = parse(search).with_(
            accounts=tuple(accounts or ()), ou=ou or None, date=dt.date.fromisoformat(date[:10]) if date else None
        )
        return query_string(chosen)

    return app


def render_page(store: Store, pathname: str, filters: Filters) -> list[Any]:
    """The filter bar and the page for a URL; an empty store or a bad filter gives words, not a trace."""
    page = PAGES.get(pathname)
    if page is None:
        return [html.H1("Not built yet"), notice(f"The page {pathname} is not part of this version of credsight.")]
    with Database(store) as database:
        newest = database.newest_snapshot()
        if newest is None:
            return [
                notice(
                    "The store holds no snapshots yet: run 'credsight collect', 'credsight ingest' or 'credsight demo'."
                )
            ]
        bar = filter_bar(filters, data.account_choices(database), data.ou_choices(database), newest)
        try:
            accounts = data.scope(database, filters.accounts, filters.ou)
        except UserFixable as e:
            return [bar, notice(str(e))]
        return [bar, *page(database, filters, filters.date or newest, accounts)]
