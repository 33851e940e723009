"""The dashboard over 1,000 accounts x 100 users x 365 days, measured in a real browser (issues 5, 11, 14).

    python -m bench.dashboard [--accounts 1000] [--users 100] [--days 365] [--repeat 3]
                              [--sessions 8] [--seconds 60] [--load-seconds 30] [--rate 200]
                              [--report-accounts 25] [--report-days 180]

`credsight serve --store S --port P` runs as its own process, started through its command line
only (so the benchmark measures whatever server that command runs); headless Chromium (Debian's)
drives it through Playwright. On that one server, in turn:

1. Pages: for each page, the first draw (the page opened by its URL in a browser with nothing cached,
   once the server has started and drawn each page's newest view, as it does when it starts and when
   the store changes: see credsight/present/dashboard/warm.py), a link to another date (the page
   opened by its URL for a date the server has not drawn, in a new browser context: computed on the
   click), then `--repeat` filter changes made as a person makes them (a date typed in the date filter
   over all accounts, then an account picked in the account filter, one more each time), each a
   view the server has not drawn before, timed from the click or key to the page drawn for the new
   URL (see browser.py); and the largest response the browser received on that page, in bytes as
   sent (compressed, when the server compressed it: the encoding is shown) and decoded.
2. Sessions: `--sessions` browser sessions changing filters at once for `--seconds` (sessions.py),
   against one session at a time measured just before.
3. Steady load: `--rate` requests a second of the cheap routes for `--load-seconds` (steady_load.py).

The server's memory is its peak resident memory, of the process and any workers it starts, sampled
every 50 ms over the whole run (and its own high-water mark from /proc). Then the size of
`credsight report` over the `--report-accounts` x `--report-days` demo.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import re
import statistics
import urllib.request
from dataclasses import dataclass

from playwright.async_api import Browser, async_playwright

from bench.browser import VIEWPORT, Received, Responses, launch, open_view, pick_account, pick_date
from bench.common import (
    TreeMemoryPeak,
    credsight_command,
    demo_store,
    free_port,
    load_average,
    machine,
    peak_resident_bytes,
    percentile,
    serving,
    verdict,
)
from bench.sessions import Concurrency, Dates, measure_sessions
from bench.steady_load import LoadRun, steady_load
from credsight.present.dashboard.shell import NAVIGATION
from credsight.present.report import write_report
from credsight.query import Database

PAGES = tuple(path for path, _label in NAVIGATION)
WARMED = "newest view drawn"  # what `credsight serve` says once it has drawn each page's newest view
GB = 2**30
MB = 1e6


@dataclass(frozen=True)
class PageMeasured:
    first: float  # seconds to the first draw, nothing cached in the browser
    again: float  # seconds to the same, opened again in that browser (its scripts cached)
    link: float  # seconds to the draw of a link to a date the server has not drawn
    changes: list[float]  # seconds per filter change
    largest: Received | None  # the largest response that is not a static asset
    largest_asset: Received | None

    @property
    def median(self) -> float:
        return statistics.median(self.changes)


@dataclass(frozen=True)
class Measured:
    pages: dict[str, PageMeasured]
    concurrency: Concurrency | None
    load: LoadRun | None
    load_routes: list[str]
    memory_peak: int  # bytes, the server and its workers
    memory_hwm: int  # bytes, the server process's own high-water mark
    loads: dict[str, str]  # load average before each part


async def opened_link(browser: Browser, base: str, view: str) -> float:
    """Seconds to draw a view opened by its URL in a browser context of its own (nothing cached)."""
    context = await browser.new_context(viewport=VIEWPORT)  # type: ignore[arg-type]
    seconds = await open_view(await context.new_page(), base, view)
    await context.close()
    return seconds


async def measure_page(
    browser: Browser, base: str, path: str, days: list[dt.date], accounts: list[str], link: dt.date
) -> PageMeasured:
    context = await browser.new_context(viewport=VIEWPORT)  # type: ignore[arg-type]
    page = await context.new_page()
    responses = Responses(page)
    first = await open_view(page, base, path)
    again = await open_view(page, base, path)
    linked = await opened_link(browser, base, f"{path}?date={link}")
    changes = [await pick_date(page, day) for day in days] + [await pick_account(page, a) for a in accounts]
    received = await responses.received()
    await context.close()
    data = [r for r in received if not r.is_asset]
    assets = [r for r in received if r.is_asset]
    return PageMeasured(
        first,
        again,
        linked,
        changes,
        max(data, key=lambda r: r.sent, default=None),
        max(assets, key=lambda r: r.sent, default=None),
    )


def cheap_routes(base: str) -> list[str]:
    """Routes that do no work on the store: the page shell, one of Dash's scripts, its layout and callbacks."""
    with urllib.request.urlopen(base + "/", timeout=60) as answer:  # our own server, on loopback
        shell = answer.read().decode()
    scripts = re.findall(r'src="(/_dash-component-suites/[^"]+)"', shell)
    return ["/", *scripts[:1], "/_dash-layout", "/_dash-dependencies"]


def back(newest: dt.date, first: dt.date, days: int) -> dt.date:
    """The day `days` before the newest, wrapped within the store's snapshots (a short store has few weeks)."""
    span = (newest - first).days
    return newest - dt.timedelta(days=(days % span or 1) if span and days > span else days)


async def measure(
    args: argparse.Namespace, store: str, accounts: list[str], first: dt.date, newest: dt.date
) -> Measured:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    command = [credsight_command(), "serve", "--store", store, "--port", str(port)]
    loads = {"pages": load_average()}
    spread = accounts[:: max(1, len(accounts) // (len(args.pages) * args.repeat))]
    with (
        serving(command, port, "credsight serve", said=WARMED) as server,
        TreeMemoryPeak(server.pid) as memory,
    ):
        async with async_playwright() as playwright:
            browser = await launch(playwright)
            pages: dict[str, PageMeasured] = {}
            drawn: set[tuple[str, dt.date]] = set()
            for number, path in enumerate(args.pages):
                # New dates and accounts for each page, so that no change is answered from the page cache.
                days = [back(newest, first, 7 * (number * args.repeat + k + 1)) for k in range(args.repeat)]
                picked = spread[number * args.repeat : (number + 1) * args.repeat]
                link = back(newest, first, 3 + 7 * number)  # not one of the changes' dates (in a long store)
                pages[path] = await measure_page(browser, base, path, days, picked, link)
                drawn.update((path, day) for day in [*days, link])
            concurrency = None
            if args.sessions:
                loads["sessions"] = load_average()
                dates = Dates(newest, first, drawn)
                concurrency = await measure_sessions(
                    browser, base, args.pages, dates, args.sessions, args.seconds, server.pid
                )
            await browser.close()
        load, routes = None, []
        if args.load_seconds:
            loads["steady load"] = load_average()
            routes = cheap_routes(base)
            load = steady_load("127.0.0.1", port, routes, args.rate, args.load_seconds)
        loads["end"] = load_average()
        hwm = peak_resident_bytes(server.pid)
    return Measured(pages, concurrency, load, routes, memory.peak, hwm, loads)


def report_bytes(accounts: int, days: int) -> int:
    """The size of `credsight report` over the demo of that size."""
    with Database(demo_store(accounts, days)) as database:
        return len(write_report(database, None, None, False, "all accounts", ()).encode())


def received_text(received: Received | None) -> str:
    if received is None:
        return "-"
    decoded = f", {received.decoded / MB:.2f} decoded" if received.decoded is not None else ""
    return f"`{received.path}` {received.sent / MB:.2f} MB as sent ({received.encoding}){decoded}"


def print_pages(args: argparse.Namespace, measured: Measured, report: int) -> None:
    pages = measured.pages
    print(f"""
A filter change is made as a person makes it: a date typed in the date filter over all accounts
({args.repeat} times), then an account picked in the account filter ({args.repeat} times), each a view the
server has not drawn before; timed from the click or key to the page drawn for the new URL with
every figure and table rendered. The first draw is the page opened by its URL, in a browser with
nothing cached, once the server has drawn each page's newest view (which it does when it starts and
when the store changes); a link to another date is a page opened by its URL, nothing cached, for a
date the server has not drawn (what the server computes on the click); opened again: the first draw's
URL opened a second time in that browser, as a person who has used the dashboard before (the scripts
come from the browser's cache). Largest response: of the page's
callbacks and data (first draw and changes), in bytes as the browser received them, with the
Content-Encoding the server chose; the largest static file (scripts, styles) is shown beside it
(the same for every view, and cached by the browser after the first).

Load average before the pages: {measured.loads["pages"]} (1 / 5 / 15 min).

| page | first draw | opened again | a link to another date | filter change (median of {2 * args.repeat}) | \
worst change | largest response | largest static file |
|---|---:|---:|---:|---:|---:|---|---|""")
    for path, page in pages.items():
        print(
            f"| `{path}` | {page.first:.2f} s | {page.again:.2f} s | {page.link:.2f} s | {page.median:.2f} s | "
            f"{max(page.changes):.2f} s | "
            f"{received_text(page.largest)} | {received_text(page.largest_asset)} |"
        )
    median = statistics.median(page.median for page in pages.values())
    worst = max(pages, key=lambda p: pages[p].median)
    slowest_first = max(pages, key=lambda p: pages[p].first)
    slowest_link = max(pages, key=lambda p: pages[p].link)
    slowest_again = max(pages, key=lambda p: pages[p].again)
    sizes = {p: page.largest.sent for p, page in pages.items() if page.largest is not None}
    biggest = max(sizes, key=lambda p: sizes[p], default=None)
    peak = max(measured.memory_peak, measured.memory_hwm)
    print(f"""
| goal | measured | issue 11 | issue 5 |
|---|---|---|---|
| first draw of each page | slowest `{slowest_first}` {pages[slowest_first].first:.2f} s | <= 1.5 s: \
{verdict(pages[slowest_first].first <= 1.5)} | - |
| the same, opened again (scripts cached) | slowest `{slowest_again}` {pages[slowest_again].again:.2f} s | (<= 1.5 s: \
{verdict(pages[slowest_again].again <= 1.5)}) | - |
| a link to another date, each page | slowest `{slowest_link}` {pages[slowest_link].link:.2f} s | (<= 1.5 s: \
{verdict(pages[slowest_link].link <= 1.5)}) | - |
| filter change, median of the pages | {median:.2f} s | <= 0.4 s: {verdict(median <= 0.4)} | < 1 s: \
{verdict(median < 1)} |
| filter change, worst page | `{worst}` {pages[worst].median:.2f} s | <= 1.0 s: {verdict(pages[worst].median <= 1)} \
| < 2 s: {verdict(pages[worst].median < 2)} |
| largest response | {f"`{biggest}` {sizes[biggest] / MB:.2f} MB as sent" if biggest else "-"} | <= 1 MB: \
{verdict(biggest is None or sizes[biggest] <= MB)} | - |
| server peak resident memory, the whole run | {peak / GB:.2f} GB | - | < 2 GB: {verdict(peak < 2 * GB)} |
| `credsight report` of the {args.report_accounts}-account, {args.report_days}-day demo | {report / MB:.1f} MB | - \
| < 10 MB: {verdict(report < 10 * MB)} |""")


def print_sessions(measured: Measured) -> None:
    c = measured.concurrency
    if c is None:
        return
    peak = max(measured.memory_peak, measured.memory_hwm)
    single, together = Concurrency.views(c.single), Concurrency.views(c.together)
    single_errors = [e for s in c.single for e in s.errors]
    print(f"""
### {c.sessions} browser sessions at once ({c.seconds:g} s)

Each session a browser context of its own in one Chromium, on one page (session i on the i-th page
measured, in turn), typing one date after another, each a view not drawn before while the store has
such dates; the single session did the same work just before on the same server, one page at a time,
the time shared equally over those pages. Load average before: {measured.loads["sessions"]}.
{f"Dates given again once a page had no new one: {c.repeated}." if c.repeated else ""}

| sessions | views | median view | p95 view | errors |
|---|---:|---:|---:|---:|
| 1 at a time | {len(single)} | {c.single_median:.2f} s | - | {len(single_errors)} |
| {c.sessions} at once | {len(together)} | {c.median:.2f} s | {c.p95:.2f} s | {len(c.errors)} |

- Errors (failed responses, page errors, views not drawn): {len(c.errors)} (goal 0: {verdict(not c.errors)})
- Median view, {c.sessions} at once / 1 at a time: {c.median / c.single_median:.2f}x \
(goal under 2x: {verdict(c.median < 2 * c.single_median)})
- The server's answers (each callback, from its request sent to its answer received, as the browser timed it),
  median: {c.single_answer * 1000:.0f} ms one session at a time, {c.together_answer * 1000:.0f} ms {c.sessions} at \
once ({c.together_answer / c.single_answer:.2f}x; of {len(Concurrency.answers(c.single))} and \
{len(Concurrency.answers(c.together))} answers)
- Server peak resident memory: {peak / GB:.2f} GB (goal under 1.5 GB: {verdict(peak < 1.5 * GB)})""")
    print(f"""- Where the machine's CPU went (`/proc`, each process sampled every 0.5 s; browser: every Chromium
  process; other: the benchmark's driver and the rest of the machine): one session at a time,
  {c.single_cpu.text()}; {c.sessions} at once, {c.together_cpu.text()}""")
    for error in (single_errors + c.errors)[:5]:
        print(f"- e.g. `{error[:200]}`")


def print_load(measured: Measured) -> None:
    run = measured.load
    if run is None:
        return
    every = [v for r in run.routes for v in r.latencies]
    print(f"""
### Steady load: {run.rate:g} requests a second for {run.seconds:g} s

The cheap routes in turn (the page shell, one of Dash's scripts, its layout and its callback list;
the server has no health route) from `bench/steady_load.py`: requests due at a fixed rate whatever
the server does, gzip accepted, latency counted from when each request was due. Load average before:
{measured.loads["steady load"]}; at the end: {measured.loads["end"]}.

| route | answered | errors | p50 | p90 | p99 | max |
|---|---:|---:|---:|---:|---:|---:|""")
    for route in [*run.routes, None]:
        path, latencies, errors = (
            (f"`{route.path}`", route.latencies, len(route.errors)) if route else ("all", every, run.errors)
        )
        cells = " | ".join(f"{percentile_ms(latencies, q)}" for q in (0.5, 0.9, 0.99, 1.0))
        print(f"| {path} | {len(latencies):,} | {errors:,} | {cells} |")
    print(
        f"\n- {run.due:,} requests due over {run.seconds:g} s, the last answered {run.finished:.1f} s after the first "
        f"was due; errors {run.errors} "
        f"(goal 0: {verdict(run.errors == 0)})"
    )
    for error in [e for r in run.routes for e in r.errors][:5]:
        print(f"- e.g. `{error[:200]}`")


def percentile_ms(values: list[float], share: float) -> str:
    return f"{percentile(values, share) * 1000:.0f} ms" if values else "-"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--accounts", type=int, default=1000)
    parser.add_argument("--users", type=int, default=100)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--repeat", type=int, default=3, help="date changes, then account picks, per page")
    parser.add_argument("--pages", default=",".join(PAGES), help="the pages measured, comma separated")
    parser.add_argument("--sessions", type=int, default=8, help="browser sessions at once (0: none)")
    parser.add_argument("--seconds", type=float, default=60, help="of the sessions at once")
    parser.add_argument("--load-seconds", type=float, default=30, help="of the steady load (0: none)")
    parser.add_argument("--rate", type=float, default=200, help="requests a second of the steady load")
    parser.add_argument("--report-accounts", type=int, default=25)
    parser.add_argument("--report-days", type=int, default=180)
    args = parser.parse_args()
    args.pages = [p.strip() for p in args.pages.split(",") if p.strip()]
    unknown = [p for p in args.pages if p not in PAGES]
    if unknown:
        parser.error(f"no page {unknown[0]!r}; the pages are: {', '.join(PAGES)}")
    store = demo_store(args.accounts, args.days, users=args.users)
    with Database(store) as database:
        accounts = [r["account_id"] for r in database.sql("SELECT DISTINCT account_id FROM daily ORDER BY 1").rows]
        span = database.sql("SELECT min(snapshot_date) AS first, max(snapshot_date) AS newest FROM daily").rows[0]
    measured = asyncio.run(measure(args, store.url, accounts, span["first"], span["newest"]))
    report = report_bytes(args.report_accounts, args.report_days)
    pages = "" if tuple(args.pages) == PAGES else f" --pages {','.join(args.pages)}"
    print(f"""
## Dashboard (issues 5, 11 and 14)

`python -m bench.dashboard --accounts {args.accounts} --users {args.users} --days {args.days} --repeat {args.repeat} \
--sessions {args.sessions} --seconds {args.seconds:g} --load-seconds {args.load_seconds:g} --rate {args.rate:g}{pages}`
({machine()}; `credsight serve` in its own process, Debian's headless Chromium through Playwright;
load average {measured.loads["pages"]} before, {measured.loads["end"]} after: the machine is shared)""")
    print_pages(args, measured, report)
    print_sessions(measured)
    print_load(measured)
    print()


if __name__ == "__main__":
    main()
