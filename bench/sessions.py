"""Browser sessions at once on one dashboard server (issue 11: 8 sessions, no errors, a median under
twice the single session's, the server under 1.5 GB).

Each session is a browser context of its own (its own cookies and cache, as another person's
browser), all in one Chromium: it opens a page by its URL, then types one date after another in the
date filter, each a view of that page the server has not drawn in this run (while the store has
such dates), timing each from the Enter key to the page drawn. The single-session baseline is the
same work one session at a time, measured in the same run on the same server, the time shared
equally over the pages the sessions use.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import math
import statistics
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from playwright.async_api import Browser, Error, Request, Response

from bench.browser import VIEWPORT, WAIT_MS, open_view, pick_date
from bench.common import CpuShare, percentile


@dataclass
class Dates:
    """For each page, the dates not drawn yet, newest first; when none are left they start again."""

    newest: dt.date
    oldest: dt.date
    drawn: set[tuple[str, dt.date]]  # views drawn before these sessions began
    repeated: int = 0  # dates given again, once a page had no new one
    _given: dict[str, list[dt.date]] = field(default_factory=dict)

    def next(self, path: str, current: dt.date | None) -> dt.date:
        given = self._given.setdefault(path, [])
        day = self.newest - dt.timedelta(days=1)
        while day >= self.oldest:
            if day not in given and (path, day) not in self.drawn and day != current:
                given.append(day)
                return day
            day -= dt.timedelta(days=1)
        self.repeated += 1
        again = [d for d in given if d != current] or [self.newest - dt.timedelta(days=1)]
        return again[self.repeated % len(again)]


@dataclass
class Session:
    path: str
    views: list[float] = field(default_factory=list)  # seconds per filter change
    answers: list[float] = field(default_factory=list)  # seconds from each callback's request sent to its answer
    errors: list[str] = field(default_factory=list)
    watching: bool = True


def median_of(values: list[float]) -> float:
    return statistics.median(values) if values else math.nan


@dataclass(frozen=True)
class Concurrency:
    sessions: int
    seconds: float
    single: list[Session]
    together: list[Session]
    repeated: int
    single_cpu: CpuShare  # where the machine's CPU went, one session at a time
    together_cpu: CpuShare  # and with every session at once

    @staticmethod
    def views(sessions: Sequence[Session]) -> list[float]:
        return [v for s in sessions for v in s.views]

    @staticmethod
    def answers(sessions: Sequence[Session]) -> list[float]:
        return [a for s in sessions for a in s.answers]

    @property
    def single_median(self) -> float:
        return median_of(self.views(self.single))

    @property
    def median(self) -> float:
        return median_of(self.views(self.together))

    @property
    def p95(self) -> float:
        views = self.views(self.together)
        return percentile(views, 0.95) if views else math.nan

    @property
    def single_answer(self) -> float:
        return median_of(self.answers(self.single))

    @property
    def together_answer(self) -> float:
        return median_of(self.answers(self.together))

    @property
    def errors(self) -> list[str]:
        return [e for s in self.together for e in s.errors]


async def run_session(browser: Browser, base: str, session: Session, dates: Dates, until: float) -> None:
    """Open the session's page, then change its date until `until` (perf_counter); at least one change."""
    context = await browser.new_context(viewport=VIEWPORT)  # type: ignore[arg-type]
    context.set_default_timeout(WAIT_MS)

    def failed_response(response: Response) -> None:
        if session.watching and response.status >= 400:
            session.errors.append(f"HTTP {response.status} {response.url}")

    def failed_request(request: Request) -> None:
        if session.watching:
            session.errors.append(f"request failed {request.url}: {request.failure}")

    def answered(request: Request) -> None:
        timing = request.timing  # milliseconds from the request's start; -1 when not known
        if session.watching and "_dash-update-component" in request.url and timing["responseEnd"] > 0:
            session.answers.append((timing["responseEnd"] - max(timing["requestStart"], 0)) / 1000)

    context.on("response", failed_response)
    context.on("requestfailed", failed_request)
    context.on("requestfinished", answered)
    page = await context.new_page()
    page.on("pageerror", lambda error: session.errors.append(f"page error: {error}") if session.watching else None)
    current: dt.date | None = None
    try:
        await open_view(page, base, session.path)
        while not session.views or time.perf_counter() < until:
            day = dates.next(session.path, current)
            try:
                session.views.append(await pick_date(page, day))
                current = day
            except (Error, RuntimeError) as e:  # not drawn in time, or the filter misbehaved: note it, start again
                session.errors.append(f"{session.path} on {day}: {str(e).splitlines()[0]}")
                if time.perf_counter() >= until:
                    break
                current = None
                await open_view(page, base, session.path)
    except Error as e:  # the page itself did not open
        session.errors.append(f"{session.path} did not open: {str(e).splitlines()[0]}")
    finally:
        session.watching = False  # what closing the page cuts short is not the server's error
        await context.close()


async def measure_sessions(
    browser: Browser, base: str, pages: Sequence[str], dates: Dates, sessions: int, seconds: float, server: int
) -> Concurrency:
    """One session at a time on each page the sessions use, then `sessions` at once for `seconds`, and where the
    machine's CPU went in each (`server`: the server's process id)."""
    paths = [pages[number % len(pages)] for number in range(sessions)]
    single = []
    with CpuShare(server) as single_cpu:
        for path in dict.fromkeys(paths):
            alone = Session(path)
            await run_session(browser, base, alone, dates, time.perf_counter() + seconds / len(set(paths)))
            single.append(alone)
    together = [Session(path) for path in paths]
    until = time.perf_counter() + seconds
    with CpuShare(server) as together_cpu:
        await asyncio.gather(*(run_session(browser, base, s, dates, until) for s in together))
    return Concurrency(sessions, seconds, single, together, dates.repeated, single_cpu, together_cpu)
