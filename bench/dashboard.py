"""The dashboard over 1,000 accounts x 100 users x 365 days, measured in a real browser.

    python -m bench.dashboard [--accounts 1000] [--users 100] [--days 365] [--repeat 3]

Targets (issue 5): from a filter change to the figures updated, under 1 s for the median page
and 2 s for the worst, with the server process under 2 GB; the shareable report of the
25-account demo under 10 MB.

`credsight serve` runs as its own process (its peak resident memory is read from /proc); headless
Chromium (Debian's) drives it. For each page: the first draw of the page, then `--repeat` filter
changes made as a person makes them (an account picked in the account filter, one more each
time, and dates over all accounts, so no change is answered from the page cache). A change is
timed from the user's click or key to the page drawn for the new URL: its hidden #drawn mark names the new view, every
figure has drawn its SVG, every table its rows or its empty-table message.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

from playwright.sync_api import Page, sync_playwright

from bench.common import CHROMIUM, demo_size_arguments, demo_store, free_port, machine, serving
from credsight.present.dashboard.shell import NAVIGATION
from credsight.present.report import write_report
from credsight.query import Database

PAGES = tuple(path for path, _label in NAVIGATION)
WAIT_MS = 120_000
DRAWN = """view => {
    const mark = document.querySelector('#drawn');
    if (!mark || mark.textContent !== view || document.querySelector('[data-dash-is-loading]')) return false;
    const graphs = [...document.querySelectorAll('#page .dash-graph')];
    const grids = [...document.querySelectorAll('#page .ag-root')];
    return graphs.every(g => g.querySelector('.main-svg'))
        && grids.every(g => g.querySelector('.ag-row, .ag-overlay-no-rows-wrapper, .ag-overlay-no-rows-center'));
}"""


def peak_resident_bytes(pid: int) -> int:
    """The process's high-water mark of resident memory (VmHWM), from /proc."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("no VmHWM in /proc")


def view_of(page: Page) -> str:
    url = page.url.split("//", 1)[1]
    return url[url.index("/") :]


def wait_drawn(page: Page, view: str) -> None:
    page.wait_for_function(DRAWN, arg=view, timeout=WAIT_MS, polling="raf")


def timed_change(page: Page, change: Callable[[], None]) -> float:
    """Seconds from `change` (the user's last click or key) to the page drawn for the new URL."""
    before = view_of(page)
    started = time.perf_counter()
    change()
    page.wait_for_function("before => location.pathname + location.search !== before", arg=before, timeout=WAIT_MS)
    wait_drawn(page, view_of(page))
    seconds = time.perf_counter() - started
    page.keyboard.press("Escape")  # close the dropdown or calendar
    return seconds


def pick_account(page: Page, account: str) -> float:
    """Pick `account` in the account filter: open it, search for the id, click the option."""
    page.locator("#filter-accounts").click()
    page.locator("input.dash-dropdown-search").first.fill(account)
    option = page.get_by_role("option", name=account, exact=False).first
    option.wait_for(timeout=WAIT_MS)
    return timed_change(page, option.click)


def pick_date(page: Page, day: dt.date) -> float:
    """Type a date in the date filter and press Enter."""
    field = page.locator("input#filter-date")
    field.click()
    field.press("Control+a")
    field.press_sequentially(day.isoformat(), delay=20)  # a person's pace: the input re-renders per key
    assert field.input_value() == day.isoformat(), field.input_value()
    return timed_change(page, lambda: page.keyboard.press("Enter"))


def measure_pages(
    store: str, accounts: list[str], newest: dt.date, repeat: int
) -> tuple[dict[str, float], dict[str, list[float]], int]:
    """First draw and filter-change seconds per page, and the server's peak resident bytes."""
    port = free_port()
    credsight = shutil.which("credsight", path=str(Path(sys.executable).parent)) or "credsight"
    first: dict[str, float] = {}
    changes: dict[str, list[float]] = {}
    command = [credsight, "serve", "--store", store, "--port", str(port)]
    with serving(command, port, "credsight serve") as server, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
        for number, path in enumerate(PAGES):
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            started = time.perf_counter()
            page.goto(f"http://127.0.0.1:{port}{path}")
            wait_drawn(page, path)
            first[path] = time.perf_counter() - started
            # New dates and accounts for each page, so that no change is answered from the page cache.
            days = [newest - dt.timedelta(days=7 * (number * repeat + k + 1)) for k in range(repeat)]
            picked = accounts[number * repeat : (number + 1) * repeat]
            changes[path] = [pick_date(page, day) for day in days] + [pick_account(page, a) for a in picked]
            page.close()
        browser.close()
        return first, changes, peak_resident_bytes(server.pid)


def report_bytes() -> int:
    """The size of `credsight report` over the default 25-account, 180-day demo."""
    with Database(demo_store(25, 180)) as database:
        return len(write_report(database, None, None, False, "all accounts", None).encode())


def main() -> None:
    args = demo_size_arguments(repeat=3)
    store = demo_store(args.accounts, args.days, users=args.users)
    with Database(store) as database:
        accounts = [r["account_id"] for r in database.sql("SELECT DISTINCT account_id FROM daily ORDER BY 1").rows]
        newest = database.newest_snapshot()
    assert newest is not None
    spread = accounts[:: max(1, len(accounts) // (len(PAGES) * args.repeat))]
    load_before = os.getloadavg()[0]
    first, changes, peak = measure_pages(store.url, spread, newest, args.repeat)
    load_after = os.getloadavg()[0]
    per_page = {path: statistics.median(seconds) for path, seconds in changes.items()}
    median = statistics.median(per_page.values())
    worst_path = max(per_page, key=lambda p: per_page[p])
    size = report_bytes()
    rows = "\n".join(
        f"| `{path}` | {first[path]:.2f} s | {per_page[path]:.2f} s | {max(changes[path]):.2f} s |" for path in PAGES
    )
    print(f"""
## Dashboard (issue 5)

`python -m bench.dashboard --accounts {args.accounts} --users {args.users} --days {args.days} --repeat {args.repeat}`
({machine()}; `credsight serve` in its own process, Debian's headless Chromium through Playwright;
load average {load_before:.1f} before, {load_after:.1f} after: the machine is shared)

A filter change is made as a person makes it: a date typed in the date filter over all accounts
({args.repeat} times), then an account picked in the account filter ({args.repeat} times), each a view the
server has not drawn before; timed from the click or key to the page drawn for the new URL with
every figure and table rendered. The first draw is the page opened by its URL on a
server that has not drawn it before.

| page | first draw | filter change (median of {2 * args.repeat}) | worst change |
|---|---|---|---|
{rows}

- Median page, filter change: {median:.2f} s (target under 1 s: {"met" if median < 1 else "NOT met"})
- Worst page, filter change: `{worst_path}` {per_page[worst_path]:.2f} s \
(target under 2 s: {"met" if per_page[worst_path] < 2 else "NOT met"})
- Server peak resident memory: {peak / 2**30:.2f} GB (target under 2 GB: {"met" if peak < 2 * 2**30 else "NOT met"})
- `credsight report` of the 25-account, 180-day demo: {size / 1e6:.1f} MB \
(target under 10 MB: {"met" if size < 10e6 else "NOT met"})
""")


if __name__ == "__main__":
    main()
