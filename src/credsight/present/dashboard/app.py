"""The Dash app: the frame (navigation and filters) drawn once, each page a skeleton of parts, and each
part drawn by a callback of its own for the view the URL names (see parts.py).

The filters live in the URL's query string, so a copied link opens the same view; moving them between
the filter bar and the URL happens in the browser (no round trip). Answers are kept per state of the
store (view.StoreView), so a view drawn once is answered from memory until the store changes.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import dash
import flask
import plotly.graph_objects as go
from dash import ALL, ClientsideFunction, Input, Output, State, html
from dash.exceptions import PreventUpdate

from credsight.present import figures, questions
from credsight.present.dashboard import grid
from credsight.present.dashboard.filters import matching_choices, parse
from credsight.present.dashboard.pages import changes, compliance, health, migration, overview, regions, users
from credsight.present.dashboard.parts import Block, Figure, NoView, Page, Table, View, in_words, mark, view_of
from credsight.present.dashboard.security import LOGOUT_PATH, Auth, can_sign_out, harden, signed_in_user
from credsight.present.dashboard.shell import NAVIGATION, frame, notice
from credsight.present.dashboard.view import StoreView
from credsight.present.dashboard.warm import keep_warm
from credsight.query import Database
from credsight.rules.exceptions import AcceptedRisk
from credsight.rules.matching import PeopleSettings
from credsight.store import Store

ASSETS = Path(__file__).parent / "assets"
# Scripts the components load only once they draw (each a round trip, then a wait for the others to finish):
# fetched with the page instead, those its parts will ask for, so they are at hand (evaluated only when asked).
DCC = "_dash-component-suites/dash/dcc/"
FILTER_SCRIPTS = (f"{DCC}async-dropdown.js", f"{DCC}async-datepicker.js")  # the filter bar: every page
FIGURE_SCRIPTS = (f"{DCC}async-graph.js", "assets/vendor/plotly-cartesian.min.js")
TABLE_SCRIPTS = ("_dash-component-suites/dash_ag_grid/async-community.js",)


def create_app(
    store: Store,
    auth: Auth | None = None,
    risks: Sequence[AcceptedRisk] = (),
    allowed_regions: Sequence[str] = (),
    people: PeopleSettings | None = None,
    warm_up: Callable[[str], None] | None = None,
) -> dash.Dash:
    """A dashboard over `store`; new runs show up within seconds (see view.StoreView). `people`: how IAM users
    are matched to people on /migration (credsight.toml's [people]). `warm_up`: draw each page's newest view
    when the app starts and when the store changes (warm.py), saying how long it took to `warm_up`."""
    view = StoreView(store)
    pages = [
        overview.page(),
        migration.page(people),
        compliance.page(risks),
        users.page(),
        regions.page(allowed_regions),
        changes.page(allowed_regions),
        health.page(),
    ]
    app = dash.Dash(
        __name__,
        title="credsight",
        serve_locally=True,
        update_title="",
        suppress_callback_exceptions=True,
        assets_folder=str(ASSETS),
        assets_path_ignore=["vendor"],  # served when asked (the figures' plotly.js), never included in every page
    )
    app.layout = frame()
    harden(app, auth or Auth())  # authentication, security headers, compression (security.py)
    by_path = {page.path: page for page in pages}
    preload(app, by_path)

    @app.callback(Output("page", "children"), Input("url", "pathname"))
    def skeleton(pathname: str | None) -> list[Any]:
        page = by_path.get(pathname or "/")
        if page is None:
            return [html.H1("Not built yet"), notice(f"The page {pathname} is not part of this version of credsight.")]
        return page.components()

    app.clientside_callback(  # type: ignore[no-untyped-call]
        ClientsideFunction("credsight", "filtersAndUrl"),
        Output("url", "search"),
        Output("filter-accounts", "value"),
        Output("filter-ou", "value"),
        Output("filter-date", "date"),
        Input("url", "search"),
        Input("filter-accounts", "value"),
        Input("filter-ou", "value"),
        Input("filter-date", "date"),
        State("filter-accounts", "options"),
        State("filter-ou", "options"),
    )
    app.clientside_callback(  # type: ignore[no-untyped-call]
        ClientsideFunction("credsight", "choicesArrived"),
        Output("filter-accounts", "value", allow_duplicate=True),
        Output("filter-ou", "value", allow_duplicate=True),
        Input("filter-accounts", "options"),
        Input("filter-ou", "options"),
        State("url", "search"),
        prevent_initial_call=True,
    )
    app.clientside_callback(  # type: ignore[no-untyped-call]
        ClientsideFunction("credsight", "navigation"),
        [Output(f"nav-{path.strip('/') or 'overview'}", "href") for path, _label in NAVIGATION],
        Input("url", "search"),
    )
    app.clientside_callback(  # type: ignore[no-untyped-call]
        ClientsideFunction("credsight", "drawn"),
        Output("drawn", "children"),
        Input({"type": "drawn", "part": ALL}, "children"),
        State("url", "pathname"),
        State("url", "search"),
    )

    @app.callback(Output("signed-in", "children"), Input("url", "pathname"))
    def who(_pathname: str | None) -> list[Any]:
        """Who is signed in, and a way out for a token's session; asked of each request, never kept."""
        name = signed_in_user()
        if name is None:
            return []
        out = [html.A("Sign out", href=LOGOUT_PATH, id="logout")] if can_sign_out() else []
        return [html.Span(f"signed in: {name}"), *out]

    def choices() -> tuple[list[dict[str, str]], list[dict[str, str]], str]:
        def compute(database: Database) -> tuple[list[dict[str, str]], list[dict[str, str]], str]:
            newest = database.newest_snapshot()
            accounts = [
                {"label": f"{a['account_id']} {a['name'] or ''}".strip(), "value": a["account_id"]}
                for a in questions.account_choices(database)
            ]
            ous = [{"label": ou, "value": ou} for ou in questions.ou_choices(database)]
            return accounts, ous, f"{newest} (newest)" if newest else "no snapshots"

        return view.answer(("filter choices",), compute)

    @app.callback(
        Output("filter-accounts", "options"),
        Output("filter-ou", "options"),
        Output("filter-date", "placeholder"),
        Input("url", "pathname"),
        State("url", "search"),
    )
    def filter_choices(
        _pathname: str | None, search: str | None
    ) -> tuple[list[dict[str, str]], list[dict[str, str]], str]:
        accounts, ous, placeholder = choices()
        return matching_choices(accounts, list(parse(search).accounts), None), ous, placeholder

    @app.callback(
        Output("filter-accounts", "options", allow_duplicate=True),
        Input("filter-accounts", "search_value"),
        State("filter-accounts", "value"),
        prevent_initial_call=True,
    )
    def account_search(typed: str | None, chosen: list[str] | None) -> list[dict[str, str]]:
        """The accounts matching what is typed in the account filter (and those chosen), found on the server."""
        return matching_choices(choices()[0], chosen, typed)

    for page in pages:
        for part in page.parts:
            register(app, view, page, part)
    grid_callbacks(app, view, {p.id: p for page in pages for p in page.parts if isinstance(p, Table)})
    for page in pages:
        if page.callbacks is not None:
            page.callbacks(app, view)
    if warm_up is not None:

        def draw() -> None:
            choices()
            draw_newest(view, pages)

        keep_warm(view, draw, warm_up)
    return app


def preload(app: dash.Dash, by_path: dict[str, Page]) -> None:
    """Each page's HTML names the scripts its parts will load (see FILTER_SCRIPTS) for the browser to fetch."""
    prefix = app.config.requests_pathname_prefix
    interpolate = app.interpolate_index

    def scripts(path: str) -> list[str]:
        page = by_path.get(path[len(prefix) - 1 :] if path.startswith(prefix) else path)
        parts = page.parts if page else []
        return [
            *FILTER_SCRIPTS,
            *(FIGURE_SCRIPTS if any(isinstance(p, Figure) for p in parts) else ()),
            *(TABLE_SCRIPTS if any(isinstance(p, Table) for p in parts) else ()),
        ]

    def with_preloads(**parts: str) -> str:
        links = "".join(f'<link rel="preload" as="script" href="{prefix}{s}">' for s in scripts(flask.request.path))
        return interpolate(**{**parts, "css": parts.get("css", "") + links})  # type: ignore[no-any-return,no-untyped-call]

    app.interpolate_index = with_preloads  # type: ignore[method-assign,assignment]


def register(app: dash.Dash, view: StoreView, page: Page, part: Any) -> None:
    """The callback that draws one part for the view the URL names."""
    if isinstance(part, Table):
        return
    output = "figure" if isinstance(part, Figure) else "children"

    @app.callback(
        Output(part.id, output),
        Output({"type": "drawn", "part": part.id}, "children"),
        Input("url", "search"),
        State("url", "pathname"),
    )
    def draw(search: str | None, pathname: str | None) -> tuple[Any, str]:
        if (pathname or "/") != page.path:
            raise PreventUpdate
        return drawn_part(view, page, part, search), mark(pathname, search)


def drawn_part(view: StoreView, page: Page, part: Figure | Block, search: str | None) -> Any:
    """A part as drawn for the view the query string names (kept for the state of the store)."""
    key = (part.id, mark(page.path, search))
    try:
        return view.answer(key, lambda database: _drawn(part, view_of(database, page.path, search, view)))
    except NoView as e:
        return figures.empty(part.title, str(e)) if isinstance(part, Figure) else [notice(str(e))]


def table_rows(view: StoreView, part: Table, search: str | None, pathname: str | None) -> Any:
    """The rows behind a paged table for the view the URL names (kept for the state of the store)."""
    key = (part.id, mark(pathname, search))
    return view.table(key, lambda database: _rows(part, view_of(database, pathname or "/", search, view)))


def draw_newest(view: StoreView, pages: Sequence[Page]) -> None:
    """Every part of every page for its newest view (every account), as the first visitor would ask."""
    for page in pages:
        for part in page.parts:
            if isinstance(part, Table):
                try:
                    table_rows(view, part, "", page.path)
                except NoView:
                    continue
            elif isinstance(part, (Figure, Block)):
                drawn_part(view, page, part, "")


def _drawn(part: Figure | Block, shown: View) -> Any:
    with in_words():
        drawn = part.draw(shown)
    return drawn.to_plotly_json() if isinstance(drawn, go.Figure) else drawn


def _rows(part: Table, shown: View) -> Any:
    with in_words():
        return part.rows(shown)


def grid_callbacks(app: dash.Dash, view: StoreView, tables: dict[str, Table]) -> None:
    """Rows for every paged table, a block at a time; its download; a refresh when the URL changes."""
    for part in tables.values():
        table_callbacks(app, view, part)


def table_callbacks(app: dash.Dash, view: StoreView, part: Table) -> None:
    def rows_of(search: str | None, pathname: str | None) -> Any:
        return table_rows(view, part, search, pathname)

    @app.callback(
        Output(part.grid, "getRowsResponse"),
        Output({"type": "drawn", "part": part.id}, "children"),
        Input(part.grid, "getRowsRequest"),
        State("url", "search"),
        State("url", "pathname"),
        prevent_initial_call=True,  # the grid asks for its rows once it has drawn (not with a null request)
    )
    def rows(request: dict[str, Any] | None, search: str | None, pathname: str | None) -> Any:
        if request is None:
            raise PreventUpdate
        try:
            found = rows_of(search, pathname)
        except NoView:
            return {"rowData": [], "rowCount": 0}, mark(pathname, search)
        return grid.block(found, request), mark(pathname, search)

    if part.title is not None:
        title = part.title

        @app.callback(
            Output(f"{part.id}-title", "children"),
            Input("url", "search"),
            State("url", "pathname"),
        )
        def heading(search: str | None, pathname: str | None) -> str:
            try:
                found = rows_of(search, pathname)
                with view.open() as database:
                    shown = view_of(database, pathname or "/", search)
            except NoView:
                raise PreventUpdate from None
            return title(shown, found.num_rows)

    @app.callback(
        Output(f"{part.id}-csv", "data"),
        Input(f"{part.id}-download", "n_clicks"),
        State(part.grid, "getRowsRequest"),
        State("url", "search"),
        State("url", "pathname"),
        prevent_initial_call=True,
    )
    def download(clicks: int | None, request: dict[str, Any] | None, search: str | None, pathname: str | None) -> Any:
        """Every row as the table shows it (filtered, sorted), as CSV with spreadsheet formulas neutralised."""
        found = rows_of(search, pathname)
        with view.open() as database:
            name = part.file_name(view_of(database, pathname or "/", search))
        return {
            "content": grid.csv_of(found, request, part.fields),
            "filename": name,
            "base64": False,
            "type": "text/csv",
        }

    app.clientside_callback(  # type: ignore[no-untyped-call]
        ClientsideFunction("credsight", "refreshGrid"),
        Output(f"{part.id}-refreshed", "data"),
        Input("url", "search"),
        State(part.grid, "id"),
        prevent_initial_call=True,
    )


__all__ = ["Block", "Figure", "Page", "Table", "View", "create_app"]
