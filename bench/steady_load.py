"""Requests at a steady rate (open loop), from the standard library: what a fixed-rate load tool does.

Debian's `wrk` (4.1) has no rate limit (its fixed-rate mode is wrk2, not in Debian): it sends as
fast as the server answers, which measures throughput, not whether a server keeps up with a rate.
Here request i is due at start + i / rate whatever happened to the earlier ones; worker threads
with keep-alive connections send them, and each latency is counted from the moment the request was
due, so a server that falls behind shows it in the latency instead of slowing the load down
(what wrk2 calls correcting for coordinated omission).
"""

from __future__ import annotations

import http.client
import queue
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

ANSWER_TIMEOUT = 30.0  # seconds a request may take before it counts as an error


@dataclass
class RouteLoad:
    """What one route answered."""

    path: str
    latencies: list[float] = field(default_factory=list)  # seconds from due to answered, for each answer
    errors: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class LoadRun:
    rate: float  # asked, requests per second
    seconds: float  # of sending
    routes: list[RouteLoad]
    finished: float  # seconds from the first request due to the last answered

    @property
    def due(self) -> int:
        return round(self.rate * self.seconds)

    @property
    def answered(self) -> int:
        return sum(len(r.latencies) for r in self.routes)

    @property
    def errors(self) -> int:
        return sum(len(r.errors) for r in self.routes)


def steady_load(host: str, port: int, paths: Sequence[str], rate: float, seconds: float, workers: int = 32) -> LoadRun:
    """GET `paths` in turn at `rate` requests a second for `seconds`, as a browser asks (gzip accepted)."""
    routes = {path: RouteLoad(path) for path in paths}
    due: queue.Queue[tuple[str, float] | None] = queue.Queue()
    lock = threading.Lock()
    last_answer = [0.0]

    def work() -> None:
        connection: http.client.HTTPConnection | None = None
        while (item := due.get()) is not None:
            path, when = item
            try:
                if connection is None:
                    connection = http.client.HTTPConnection(host, port, timeout=ANSWER_TIMEOUT)
                connection.request("GET", path, headers={"Accept-Encoding": "gzip"})
                response = connection.getresponse()
                response.read()
                answered = time.perf_counter()
                if response.will_close:
                    connection.close()
                    connection = None
                problem = f"HTTP {response.status}" if response.status >= 400 else None
            except (OSError, http.client.HTTPException) as e:
                answered, problem = time.perf_counter(), f"{type(e).__name__}: {e}"
                if connection is not None:
                    connection.close()
                connection = None
            with lock:
                last_answer[0] = max(last_answer[0], answered)
                if problem is None:
                    routes[path].latencies.append(answered - when)
                else:
                    routes[path].errors.append(problem)
        if connection is not None:
            connection.close()

    threads = [threading.Thread(target=work, daemon=True) for _ in range(workers)]
    for thread in threads:
        thread.start()
    count = round(rate * seconds)
    started = time.perf_counter()
    for number in range(count):
        when = started + number / rate
        wait = when - time.perf_counter()
        if wait > 0:
            time.sleep(wait)
        due.put((paths[number % len(paths)], when))
    for _ in threads:
        due.put(None)
    deadline = time.perf_counter() + ANSWER_TIMEOUT * 2
    for thread in threads:
        thread.join(timeout=max(0.0, deadline - time.perf_counter()))
    with lock:  # threads still waiting for an answer hold requests that never came back
        missing = count - sum(len(r.latencies) + len(r.errors) for r in routes.values())
        routes[paths[0]].errors.extend(["no answer before the run ended"] * missing)
        return LoadRun(
            rate,
            seconds,
            [RouteLoad(r.path, list(r.latencies), list(r.errors)) for r in routes.values()],
            max(last_answer[0] - started, 0.0),
        )
