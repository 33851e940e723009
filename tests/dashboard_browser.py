"""What the dashboard's browser tests share: the story store, a server in-process, Debian's Chromium through
Playwright, and how a test reads a page as a person sees it (cards, figures through plotly, tables through
the grid) and acts on it (the filter bar, a table's sort, filter and Download CSV).

A test module imports the fixtures it uses (`from tests.dashboard_browser import browser, story, tab, ...`):
one server and one browser per module. Every page waits for the #drawn mark to name its view (every part
has drawn it) and for nothing to be loading; nothing sleeps.
"""

from __future__ import annotations

import csv
import io
import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

import dash
import pytest
from bench.common import CHROMIUM  # Debian's Chromium: Playwright downloads no browser
from playwright.sync_api import (
    Browser,
    BrowserContext,
    ConsoleMessage,
    Locator,
    Page,
    Request,
    Response,
    expect,
    sync_playwright,
)
from werkzeug.serving import make_server

from credsight.present.dashboard import create_app
from credsight.present.dashboard.grid import BLOCK_ROWS  # the rows a grid asks for at a time
from credsight.query import Database
from credsight.store import Store
from tests.conftest import CHROMIUM_ARGS
from tests.dashboard_story import Story, build_story

WAIT_MS = 30_000  # the machine is shared: a first draw can take seconds
SCREENSHOTS = Path(__file__).resolve().parent.parent / "test-artifacts" / "screenshots"
expect.set_options(timeout=WAIT_MS)

DRAWN = """view => {
    const mark = document.querySelector('#drawn');
    return !!mark && mark.textContent === view && !document.querySelector('[data-dash-is-loading]');
}"""
# A figure's data as plotly holds it (dcc.Graph puts the plot in a child div).
TRACES = """id => {
    const plot = document.querySelector(`#${id} .js-plotly-plot`);
    return plot && plot.data ? plot.data.map(t => ({type: t.type, name: t.name ?? null, x: t.x ?? null,
                                                     y: t.y ?? null, z: t.z ?? null})) : null;
}"""
CARDS = """selector => Object.fromEntries(Array.from(document.querySelectorAll(`${selector} .card`)).map(
    card => [card.querySelector('.label').textContent, card.querySelector('.value').textContent]))"""
GRID = "id => window.dash_ag_grid.getApi(id)"
# Rows from..to of a grid are loaded (the infinite row model holds a row with no data until its block comes).
LOADED = """([id, from, to]) => {
    const api = window.dash_ag_grid && window.dash_ag_grid.getApi(id);
    if (!api || document.querySelector('[data-dash-is-loading]')) return false;
    const count = api.getDisplayedRowCount();
    for (let i = from; i < Math.min(to, count); i++) {
        const node = api.getDisplayedRowAtIndex(i);
        if (!node || !node.data) return false;
    }
    return true;
}"""
ROWS = """([id, to]) => {
    const api = window.dash_ag_grid.getApi(id), rows = [];
    for (let i = 0; i < Math.min(to, api.getDisplayedRowCount()); i++) rows.push(api.getDisplayedRowAtIndex(i).data);
    return rows;
}"""
# A table sent whole (a click's detail), once its grid is drawn.
SMALL_ROWS = """id => {
    try {
        const api = window.dash_ag_grid.getApi(id), rows = [];
        api.forEachNode(node => rows.push(node.data));
        return rows;
    } catch (e) {
        return null;  // not drawn yet
    }
}"""
# A grid has drawn a row.
ROW_THERE = """([id, row]) => {
    try {
        return !!window.dash_ag_grid.getApi(id).getDisplayedRowAtIndex(row);
    } catch (e) {
        return false;  // the grid is not drawn yet
    }
}"""
# The grid shows `count` rows in all and its first rows' `field` are `values` (a sort or filter has come back).
GRID_SHOWS = """([id, field, values, count]) => {
    const api = window.dash_ag_grid.getApi(id);
    if (!api || api.getDisplayedRowCount() !== count) return false;
    return values.every((value, i) => {
        const node = api.getDisplayedRowAtIndex(i);
        return node && node.data && node.data[field] === value;
    });
}"""
# Every element added to the page that would run markup: an <img> or <script> made from a value.
WATCH_INJECTIONS = """
window.__injected = [];
new MutationObserver(changes => {
    for (const change of changes) for (const node of change.addedNodes) {
        if (!(node instanceof Element)) continue;
        for (const found of [node, ...node.querySelectorAll('*')]) {
            const tag = found.tagName.toLowerCase();
            const handlers = Array.from(found.attributes).some(a => a.name.startsWith('on'));
            if (tag === 'img' || handlers || tag === 'script' && found.textContent.includes('__xss')) {
                window.__injected.push(found.outerHTML.slice(0, 200));
            }
        }
    }
}).observe(document, {childList: true, subtree: true});
"""


def view(path: str, **filters: str) -> str:
    """The mark a page writes once drawn: its path and filters in the query string's order."""
    order = ("accounts", "ou", "date", "from", "to", "user", "severity", "kind", "person")
    pairs = {key: filters[key] for key in order if filters.get(key)}
    return path + ("?" + urlencode(pairs, safe=",/") if pairs else "")


@dataclass
class Server:
    url: str
    errors: list[str] = field(default_factory=list)  # what the server logged as errors


class ErrorLog(logging.Handler):
    def __init__(self, into: list[str]) -> None:
        super().__init__(logging.ERROR)
        self.into = into

    def emit(self, record: logging.LogRecord) -> None:
        self.into.append(self.format(record))


@contextmanager
def serving(app: dash.Dash) -> Iterator[Server]:
    """The app's Flask server on 127.0.0.1, a free port, in a daemon thread, its errors logged."""
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one line per request otherwise
    server = make_server("127.0.0.1", 0, app.server, threaded=True)
    served = Server(f"http://127.0.0.1:{server.server_port}")
    log = ErrorLog(served.errors)
    logging.getLogger().addHandler(log)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield served
    finally:
        logging.getLogger().removeHandler(log)
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


_STORY: list[Story] = []


@pytest.fixture(scope="module")
def story(tmp_path_factory: pytest.TempPathFactory) -> Story:
    """The story store, built once per test process (the modules only read it)."""
    if not _STORY:
        _STORY.append(build_story(Store(str(tmp_path_factory.mktemp("dashboard") / "store"))))
    return _STORY[0]


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: 'make test' installs it, or apt-get install chromium")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@dataclass
class Tab:
    """A fresh browser page on one server, with the console errors, failed responses and URLs it saw."""

    page: Page
    server: Server
    errors: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)

    @property
    def base(self) -> str:
        return self.server.url

    def open(self, path: str, mark: str | None = None) -> None:
        """Open a URL and wait until every part of its page is drawn (`mark`: the view, when not `path`)."""
        self.page.goto(self.base + path)
        self.drawn(mark or path)

    def drawn(self, mark: str) -> None:
        try:
            self.page.wait_for_function(DRAWN, arg=mark, timeout=WAIT_MS)
        except Exception:
            shown = self.page.locator("#drawn").text_content()
            raise AssertionError(f"the page never drew {mark!r} (#drawn says {shown!r})") from None

    def clean(self) -> None:
        """No console error, no failed response, no error in the server's log."""
        assert self.errors == [], self.errors
        assert self.server.errors == [], self.server.errors


@pytest.fixture(scope="module")
def context(browser: Browser) -> Iterator[BrowserContext]:
    """One browser profile per module: its pages share the HTTP cache (Dash, plotly and AG Grid load once)."""
    opened = browser.new_context(viewport={"width": 1400, "height": 1000}, accept_downloads=True)
    opened.set_default_timeout(WAIT_MS)
    opened.add_init_script(WATCH_INJECTIONS)
    yield opened
    opened.close()


def new_tab(context: BrowserContext, server: Server) -> Tab:
    tab = Tab(context.new_page(), server)

    def console(message: ConsoleMessage) -> None:
        if message.type == "error":
            tab.errors.append(message.text)

    def answered(response: Response) -> None:
        if response.status >= 400:
            tab.errors.append(f"{response.status} from {response.url}")

    def requested(request: Request) -> None:
        tab.requests.append(request.url)

    tab.page.on("console", console)
    tab.page.on("pageerror", lambda error: tab.errors.append(f"uncaught: {error}"))
    tab.page.on("response", answered)
    tab.page.on("request", requested)
    return tab


@contextmanager
def opened_tab(context: BrowserContext, server: Server) -> Iterator[Tab]:
    """A page for one test; it must end clean (no console error, failed response or server error)."""
    tab = new_tab(context, server)
    errors_before = len(server.errors)
    try:
        yield tab
        del server.errors[:errors_before]  # a test answers for the server's errors of its own time only
        tab.clean()
        assert_left_nothing(tab)
    finally:
        tab.page.close()


def assert_left_nothing(tab: Tab) -> None:
    """No request left the machine, and no markup from a value became an element."""
    port = urlsplit(tab.base).port
    assert [u for u in tab.requests if urlsplit(u).hostname != "127.0.0.1" or urlsplit(u).port != port] == []
    assert tab.page.evaluate("() => window.__injected") == []
    assert tab.page.evaluate("() => window.__xss") is None


# Reading a page


def traces(page: Page, graph: str) -> list[dict[str, Any]]:
    """A figure's traces, once plotly has drawn it."""
    try:
        page.wait_for_function(TRACES, arg=graph, timeout=WAIT_MS)
    except Exception:
        raise AssertionError(f"#{graph} has no plotly figure") from None
    return list(page.evaluate(TRACES, graph))


def cards(page: Page, selector: str) -> dict[str, str]:
    """The cards under `selector`: label -> the value as shown."""
    return dict(page.evaluate(CARDS, selector))


def numbers(page: Page, selector: str) -> dict[str, int]:
    return {label: int(value) for label, value in cards(page, selector).items() if value.lstrip("-").isdigit()}


def grid_rows(page: Page, grid: str) -> list[dict[str, Any]]:
    """Every row of a paged table as the grid holds it, asking for each block as a person scrolling would."""
    page.wait_for_function(LOADED, arg=[grid, 0, 1])
    count = int(page.evaluate(f"id => ({GRID})(id).getDisplayedRowCount()", grid))
    for start in range(0, count, BLOCK_ROWS):
        page.evaluate(f"([id, i]) => ({GRID})(id).ensureIndexVisible(i, 'top')", [grid, start])
        page.wait_for_function(LOADED, arg=[grid, start, start + BLOCK_ROWS])
    return list(page.evaluate(ROWS, [grid, count]))


def loaded_rows(page: Page, grid: str, to: int = BLOCK_ROWS) -> list[dict[str, Any]]:
    """The rows of the grid's first block (what it has without scrolling)."""
    page.wait_for_function(LOADED, arg=[grid, 0, to])
    return list(page.evaluate(ROWS, [grid, to]))


def small_rows(page: Page, grid: str) -> list[dict[str, Any]]:
    """The rows of a table sent whole (a click's detail), once its grid is drawn."""
    page.wait_for_function(SMALL_ROWS, arg=grid)
    return list(page.evaluate(SMALL_ROWS, grid))


def cell(page: Page, grid: str, row: int, column: str) -> Locator:
    """A grid's cell as drawn, scrolled into view first (a grid draws only the rows and columns in view)."""
    page.wait_for_function(ROW_THERE, arg=[grid, row])
    scroll = "([id, row, column]) => { const api = window.dash_ag_grid.getApi(id); "
    page.evaluate(scroll + "api.ensureIndexVisible(row); api.ensureColumnVisible(column); }", [grid, row, column])
    return page.locator(f"#{grid} .ag-row[row-index='{row}'] [col-id='{column}'].ag-cell")


def wait_for_grid(page: Page, grid: str, column: str, first: list[Any], count: int) -> None:
    """Wait until the grid shows `count` rows whose first ones have `first` in `column`."""
    try:
        page.wait_for_function(GRID_SHOWS, arg=[grid, column, first, count], timeout=WAIT_MS)
    except Exception:
        shown = page.evaluate(f"id => ({GRID})(id).getDisplayedRowCount()", grid)
        rows = [row.get(column) for row in page.evaluate(ROWS, [grid, len(first)]) if row]
        raise AssertionError(f"{grid} shows {shown} rows starting {rows}, not {count} starting {first}") from None


# Acting on a page


def choose_ou(page: Page, ou: str) -> None:
    page.locator("#filter-ou").click()
    page.get_by_role("option", name=ou, exact=True).click()


def choose_account(page: Page, account: str) -> None:
    page.locator("#filter-accounts").click()
    page.get_by_role("option").filter(has_text=account).first.click()
    page.keyboard.press("Escape")


def type_date(page: Page, day: str) -> None:
    field = page.locator("input#filter-date")
    field.click()
    field.fill(day)
    field.press("Enter")


def sort_by(page: Page, part: str, column: str, direction: str) -> None:
    """Click a column's header until it sorts `ascending` or `descending`."""
    header = page.locator(f"#{part} .ag-header-cell[col-id='{column}']")
    for _ in range(3):  # none -> ascending -> descending -> none
        before = header.get_attribute("aria-sort") or "none"
        if before == direction:
            return
        header.locator(".ag-header-cell-label").click()
        expect(header).not_to_have_attribute("aria-sort", before)
    expect(header).to_have_attribute("aria-sort", direction)


def filter_text(page: Page, part: str, column: str, text: str) -> None:
    """Type into a column's filter (its default: contains), then close it."""
    page.locator(f"#{part} .ag-header-cell[col-id='{column}'] .ag-header-cell-filter-button").click()
    box = page.locator(".ag-filter input[placeholder='Filter...']").first
    box.fill(text)
    box.press("Enter")
    page.keyboard.press("Escape")


def download(page: Page, part: str) -> tuple[str, str]:
    """Click a table's Download CSV: the file's name and its text."""
    with page.expect_download() as started:
        page.locator(f"#{part}-download").click()
    saved = started.value
    return saved.suggested_filename, Path(saved.path()).read_bytes().decode()


def screenshot(page: Page, name: str) -> None:
    """A picture of the page for a person to look at (test-artifacts/ is not kept in git)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def csv_rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text, newline="")))


# The dashboard over the story store, served once per module


ALLOWED_REGIONS = ("us-east-1", "eu-west-1")


@pytest.fixture(scope="module")
def server(story: Story) -> Iterator[Server]:
    """The story's dashboard, with its accepted risk and allowed regions."""
    with serving(create_app(story.store, risks=[story.risk], allowed_regions=ALLOWED_REGIONS)) as served:
        yield served


@pytest.fixture
def tab(context: BrowserContext, server: Server) -> Iterator[Tab]:
    with opened_tab(context, server) as opened:
        yield opened


@pytest.fixture(scope="module")
def database(story: Story) -> Iterator[Database]:
    """The store read straight with DuckDB, for what the pages should show."""
    with Database(story.store) as opened:
        yield opened
