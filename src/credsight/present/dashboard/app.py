"""The Dash app: one callback renders the page named by the URL, one puts the filters in the URL."""

from __future__ import annotations

import datetime as dt
import functools
import io
from collections.abc import Callable, Sequence
from typing import Any

import dash
import pyarrow as pa
from dash import MATCH, Input, Output, State, html
from dash.exceptions import PreventUpdate

from credsight.errors import UserFixable
from credsight.formats.exports import write_csv
from credsight.present import questions
from credsight.present.dashboard.filters import Filters, parse, query_string
from credsight.present.dashboard.pages import changes, compliance, health, migration, overview, regions, users
from credsight.present.dashboard.security import Auth, protect
from credsight.present.dashboard.shell import filter_bar, frame, notice
from credsight.present.dashboard.view import StoreView
from credsight.query import Database
from credsight.rules.exceptions import AcceptedRisk
from credsight.store import Store

Page = Callable[[Database, Filters, dt.date, "list[str] | None"], list[Any]]
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


def create_app(
    store: Store, auth: Auth | None = None, risks: Sequence[AcceptedRisk] = (), allowed_regions: Sequence[str] = ()
) -> dash.Dash:
    """A dashboard over `store`; new runs show up on the next request (see view.StoreView)."""
    view = StoreView(store)
    pages: dict[str, Page] = {
        "/": overview.layout,
        "/migration": migration.layout,
        "/compliance": compliance.layout,
        "/users": users.layout,
        "/regions": functools.partial(regions.layout, allowed=allowed_regions),
        "/changes": changes.layout,
        "/health": health.layout,
    }
    app = dash.Dash(__name__, title="credsight", serve_locally=True, update_title="", suppress_callback_exceptions=True)
    app.index_string = app.index_string.replace("{%css%}", "{%css%}<style>" + STYLE + "</style>")
    app.layout = frame()
    protect(app.server, auth or Auth())

    @app.callback(Output("page", "children"), Input("url", "pathname"), Input("url", "search"))
    def render(pathname: str | None, search: str | None) -> list[Any]:
        return render_page(view, pages, pathname or "/", parse(search))

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
        return unless_same(query_string(chosen), search)

    @app.callback(
        Output("url", "search", allow_duplicate=True),
        Input("user-picker", "value"),
        State("url", "search"),
        prevent_initial_call=True,
    )
    def pick_user(user: str | None, search: str | None) -> str:
        return unless_same(query_string(parse(search).with_(user=user or None)), search)

    @app.callback(
        Output({"type": "csv", "table": MATCH}, "data"),
        Input({"type": "download", "table": MATCH}, "n_clicks"),
        State({"type": "grid", "table": MATCH}, "virtualRowData"),
        State({"type": "csv-name", "table": MATCH}, "data"),
        prevent_initial_call=True,
    )
    def download(clicks: int | None, rows: list[dict[str, Any]] | None, name: str) -> dict[str, Any]:
        """The rows as shown (filtered, sorted), as CSV with spreadsheet formulas neutralised."""
        buffer = io.StringIO()
        write_csv(pa.Table.from_pylist(rows or []), buffer)
        return {"content": buffer.getvalue(), "filename": name, "base64": False, "type": "text/csv"}

    @app.callback(
        Output("compliance-detail", "children"),
        Input({"type": "grid", "table": "compliance-matrix"}, "cellClicked"),
        State("url", "search"),
        prevent_initial_call=True,
    )
    def compliance_detail(cell: dict[str, Any] | None, search: str | None) -> list[Any]:
        account = (cell or {}).get("rowId")  # the matrix's rows are identified by account id
        with view.open() as database:
            date = parse(search).date or database.newest_snapshot()
            if not account or date is None:
                return [notice("Click a rule's cell to see its failing users.")]
            return compliance.detail(database, date, str(account), str((cell or {}).get("colId")), risks)

    return app


def unless_same(new: str, current: str | None) -> str:
    """The new query string, or no update at all when it is the current one.

    The filter bar is drawn again with each page, which fires its callbacks: writing the same
    query string back would draw the page again, and so on forever.
    """
    if parse(new) == parse(current):
        raise PreventUpdate
    return new


def render_page(view: StoreView, pages: dict[str, Page], pathname: str, filters: Filters) -> list[Any]:
    """The filter bar and the page for a URL; an empty store or a bad filter gives words, not a trace."""
    page = pages.get(pathname)
    if page is None:
        return [html.H1("Not built yet"), notice(f"The page {pathname} is not part of this version of credsight.")]

    def draw(database: Database) -> list[Any]:
        newest = database.newest_snapshot()
        if newest is None:
            return [
                notice(
                    "The store holds no snapshots yet: run 'credsight collect', 'credsight ingest' or 'credsight demo'."
                )
            ]
        bar = filter_bar(filters, questions.account_choices(database), questions.ou_choices(database), newest)
        try:
            accounts = database.scope(filters.accounts, filters.ou)
        except UserFixable as e:
            return [bar, notice(str(e))]
        return [bar, *page(database, filters, filters.date or newest, accounts)]

    # A hidden mark of the view drawn, for whoever waits on it (the tests, bench/dashboard.py).
    drawn = html.Div(pathname + query_string(filters), id="drawn", hidden=True)
    return [*view.page((pathname, filters), draw), drawn]
