"""A page is parts, each drawn by a callback of its own: a filter change redraws every part in parallel
(requests are answered by several threads), and each answer is kept for the state of the store.

- `Figure`: a plotly figure from the view.
- `Block`: components from the view (headings, cards, notices, small tables).
- `Table`: rows from the view, paged on the server (AG Grid's infinite row model: a block of rows at a
  time, sorted and filtered over all of them), with a Download CSV of every row as shown.

Each part also writes a hidden mark naming the view it drew; the page's `#drawn` mark names the view
once every part has drawn it (what the tests and the benchmark wait for).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Hashable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import dash_ag_grid as dag
import plotly.graph_objects as go
import pyarrow as pa
from dash import dcc, html

from credsight.errors import UserFixable
from credsight.present.dashboard.filters import Filters, parse, query_string
from credsight.present.dashboard.view import StoreView
from credsight.query import Database

if TYPE_CHECKING:
    import dash

GRID_HEIGHT = 500
EMPTY_STORE = "The store holds no snapshots yet: run 'credsight collect', 'credsight ingest' or 'credsight demo'."


class NoView(Exception):
    """Nothing can be drawn for these filters (an empty store, an OU with no accounts); says so in words."""


@dataclass(frozen=True)
class View:
    """What a page is drawn for: the filters, the snapshot date looked at, the accounts they choose."""

    database: Database
    path: str
    filters: Filters
    newest: dt.date
    accounts: list[str] | None  # None: every account
    # An answer several parts of a page share (the events of a period, say), computed once for the state
    # of the store: keep(key, compute).
    keep: Callable[[Hashable, Callable[[], Any]], Any] = field(default=lambda key, compute: compute(), compare=False)

    @property
    def date(self) -> dt.date:
        return self.filters.date or self.newest

    @property
    def key(self) -> tuple[str, str]:
        """What identifies the view: its path and filters (the answers of a state of the store are kept by it)."""
        return self.path, query_string(self.filters)

    @property
    def mark(self) -> str:
        return self.path + query_string(self.filters)


@contextmanager
def in_words() -> Iterator[None]:
    """A question the view cannot answer (an unknown OU, a date before Identity Center: a UserFixable) becomes
    NoView, which the part draws as its message."""
    try:
        yield
    except UserFixable as e:
        raise NoView(str(e)) from None


def view_of(database: Database, path: str, search: str | None, kept: StoreView | None = None) -> View:
    """The view the URL names, or NoView saying in words why there is nothing to draw."""
    newest = database.newest_snapshot()
    if newest is None:
        raise NoView(EMPTY_STORE)
    filters = parse(search)
    with in_words():
        accounts = database.scope(filters.accounts, filters.ou)
    if kept is None:
        return View(database, path, filters, newest, accounts)
    store_view = kept

    def keep(key: Any, compute: Any) -> Any:
        return store_view.answer(("kept", key), lambda _database: compute())

    return View(database, path, filters, newest, accounts, keep)


def mark(path: str | None, search: str | None) -> str:
    return (path or "/") + query_string(parse(search))


def drawn_mark(part: str) -> html.Span:
    return html.Span(id={"type": "drawn", "part": part}, hidden=True)


@dataclass(frozen=True)
class Part:
    id: str

    def component(self) -> Any:
        raise NotImplementedError


@dataclass(frozen=True)
class Figure(Part):
    draw: Callable[[View], go.Figure]
    title: str = ""  # the empty figure's title when the view cannot be drawn

    def component(self) -> Any:
        return html.Div([dcc.Graph(id=self.id, config={"displaylogo": False}), drawn_mark(self.id)])


@dataclass(frozen=True)
class Block(Part):
    draw: Callable[[View], list[Any]]

    def component(self) -> Any:
        return html.Div([html.Div(id=self.id), drawn_mark(self.id)])


@dataclass(frozen=True)
class Table(Part):
    """A table of the rows `rows` gives for a view; only the shown columns go to the browser."""

    columns: Sequence[tuple[str, str]]  # (field, header)
    rows: Callable[[View], pa.Table]
    file_name: Callable[[View], str]
    kinds: Mapping[str, str] = field(default_factory=dict)  # a column's filter: "number" or "date" (else text)
    row_id: str | None = None
    height: int = GRID_HEIGHT
    title: Callable[[View, int], str] | None = None  # a heading with the row count, drawn with the rows

    @property
    def fields(self) -> list[str]:
        return [name for name, _header in self.columns]

    @property
    def grid(self) -> str:
        """The grid's own id (a string: AG Grid's API is looked up by it in the browser)."""
        return f"{self.id}-grid"

    def component(self) -> Any:
        from credsight.present.dashboard.grid import BLOCK_ROWS, column_defs

        extra = {"getRowId": f"params.data.{self.row_id}"} if self.row_id else {}
        return html.Div(
            [
                html.H2(id=f"{self.id}-title") if self.title else None,
                html.Button("Download CSV", id=f"{self.id}-download", className="download"),
                dcc.Download(id=f"{self.id}-csv"),
                dcc.Store(id=f"{self.id}-refreshed"),
                dag.AgGrid(
                    id=self.grid,
                    rowModelType="infinite",
                    columnDefs=column_defs(self.columns, self.kinds),
                    defaultColDef={"sortable": True, "filter": True, "resizable": True},
                    dashGridOptions={
                        "cacheBlockSize": BLOCK_ROWS,
                        "maxBlocksInCache": 20,
                        "infiniteInitialRowCount": 1,
                        "rowBuffer": 0,
                        "suppressColumnVirtualisation": True,  # every column drawn, however wide the table
                    },
                    style={"height": f"{self.height}px"},
                    **extra,
                ),
                drawn_mark(self.id),
            ],
            id=self.id,
        )


@dataclass(frozen=True)
class Page:
    """A page: its parts in order, and what it draws when the view cannot be drawn."""

    path: str
    parts: Sequence[Part]
    layout: Callable[[Sequence[Part]], list[Any]] | None = None  # default: the parts one after another
    # The callbacks of the page's own controls (beyond drawing its parts), given the app and the store's view.
    callbacks: Callable[[dash.Dash, StoreView], None] | None = None

    def components(self) -> list[Any]:
        return self.layout(self.parts) if self.layout else [part.component() for part in self.parts]


def small_table(id: str, rows: Sequence[dict[str, Any]], columns: Sequence[tuple[str, str]], height: int = 300) -> Any:
    """A table whose rows are few enough to send whole (a click's detail): sorted and filtered in the browser."""
    plain = [{k: (v.isoformat() if isinstance(v, dt.date) else v) for k, v in row.items()} for row in rows]
    return dag.AgGrid(
        id=id,
        rowData=plain,
        columnDefs=[{"field": name, "headerName": header} for name, header in columns],
        defaultColDef={"sortable": True, "filter": True, "resizable": True},
        style={"height": f"{height}px"},
    )
