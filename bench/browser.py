"""The dashboard as a person uses it, in Debian's headless Chromium through Playwright (asyncio API).

Shared by the dashboard benchmarks: open a page by its URL, change a filter as a person does (a date
typed in the date filter, an account picked in the account filter), and know when the page is drawn:
its hidden #drawn mark names the view, nothing is loading, every figure has drawn its SVG and every
table its rows or its empty-table message.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

from playwright.async_api import Browser, Error, Page, Playwright, Request

from bench.common import CHROMIUM

WAIT_MS = 120_000
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update"]
VIEWPORT = {"width": 1400, "height": 1000}
STATIC = ("/_dash-component-suites/", "/assets/", "/_favicon.ico")  # files served as they are, for any view
DRAWN = """view => {
    const mark = document.querySelector('#drawn');
    if (!mark || mark.textContent !== view || document.querySelector('[data-dash-is-loading]')) return false;
    const graphs = [...document.querySelectorAll('#page .dash-graph')];
    const grids = [...document.querySelectorAll('#page .ag-root')];
    return graphs.every(g => g.querySelector('.main-svg'))
        && grids.every(g => g.querySelector('.ag-row, .ag-overlay-no-rows-wrapper, .ag-overlay-no-rows-center'));
}"""


async def launch(playwright: Playwright) -> Browser:
    return await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)


def view_of(page: Page) -> str:
    """The view a page shows: its path and query string."""
    url = page.url.split("//", 1)[1]
    return url[url.index("/") :]


async def wait_drawn(page: Page, view: str) -> None:
    await page.wait_for_function(DRAWN, arg=view, timeout=WAIT_MS, polling="raf")


async def open_view(page: Page, base: str, view: str) -> float:
    """Seconds from asking for the URL to the page drawn."""
    started = time.perf_counter()
    await page.goto(base + view, timeout=WAIT_MS)
    await wait_drawn(page, view)
    return time.perf_counter() - started


async def timed_change(page: Page, change: Callable[[], Awaitable[None]]) -> float:
    """Seconds from `change` (the user's last click or key) to the page drawn for the new URL."""
    before = view_of(page)
    started = time.perf_counter()
    await change()
    await page.wait_for_function(
        "before => location.pathname + location.search !== before", arg=before, timeout=WAIT_MS
    )
    await wait_drawn(page, view_of(page))
    seconds = time.perf_counter() - started
    await page.keyboard.press("Escape")  # close the dropdown or calendar
    return seconds


async def pick_account(page: Page, account: str) -> float:
    """Pick `account` in the account filter: open it, search for the id, click the option."""
    await page.locator("#filter-accounts").click()
    await page.locator("input.dash-dropdown-search").first.fill(account)
    option = page.get_by_role("option", name=account, exact=False).first
    await option.wait_for(timeout=WAIT_MS)
    return await timed_change(page, option.click)


async def pick_date(page: Page, day: dt.date) -> float:
    """Type a date in the date filter and press Enter."""
    field = page.locator("input#filter-date")
    await field.click()
    await field.press("Control+a")
    await field.press_sequentially(day.isoformat(), delay=20)  # a person's pace: the input re-renders per key
    typed = await field.input_value()
    if typed != day.isoformat():
        raise RuntimeError(f"typed {day} in the date filter, it shows {typed!r}")
    return await timed_change(page, lambda: page.keyboard.press("Enter"))


@dataclass(frozen=True)
class Received:
    """One response the browser received: its size as sent on the wire and once decoded."""

    path: str
    sent: int  # the body's bytes as received (compressed, if the server compressed it)
    decoded: int | None  # None: the browser no longer had the body when asked
    encoding: str  # Content-Encoding, or "identity"

    @property
    def is_asset(self) -> bool:
        """A static file (scripts, styles, the icon): the same for every view, and cached by the browser."""
        return self.path.startswith(STATIC) or self.path.endswith((".js", ".css", ".ico", ".map"))


class Responses:
    """Every response a page receives, from the moment it is watched; each read as soon as it has arrived
    (a body is gone from the browser once the page navigates)."""

    def __init__(self, page: Page) -> None:
        self._reading: list[asyncio.Task[Received | None]] = []
        page.on("requestfinished", self._finish)

    def _finish(self, request: Request) -> None:
        self._reading.append(asyncio.ensure_future(self._read(request)))

    @staticmethod
    async def _read(request: Request) -> Received | None:
        try:
            response = await request.response()
        except Error:  # the page closed before its last response was read: not one of the measured views
            return None
        if response is None:
            return None
        sizes = await request.sizes()
        try:
            decoded: int | None = len(await response.body())
        except Error:
            decoded = None
        encoding = response.headers.get("content-encoding", "identity")
        return Received(urlsplit(request.url).path, sizes["responseBodySize"], decoded, encoding)

    async def received(self) -> list[Received]:
        """The responses received since the last call."""
        reading, self._reading[:] = list(self._reading), []
        return [r for r in await asyncio.gather(*reading) if r is not None]
