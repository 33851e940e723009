"""Every benchmark under bench/ runs at a tiny size here, so that one that no longer runs fails the suite.

Each runs as `make bench` runs it (`python -m bench.<module>`, its own process), over tiny demo stores
built once under bench/data like the big ones; its markdown must have its heading and a measured
figure. The dashboard's drives Debian's Chromium (`make test` installs it) against `credsight serve`.
"""

from __future__ import annotations

import itertools
import re
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from bench.commands import COMMANDS
from bench.steady_load import steady_load

REPO = Path(__file__).resolve().parent.parent
TINY = ["--accounts", "3", "--users", "5", "--days", "8"]

# module: its tiny arguments, its heading, and what else its markdown must show
BENCHMARKS: dict[str, tuple[list[str], str, list[str]]] = {
    "storage": (["--accounts", "2", "--days", "5"], "## Storage", ["after `credsight compact`"]),
    "ingest": (["--accounts", "2", "--days", "3", "--users", "5"], "## Ingest", ["rows/s"]),
    "query": ([*TINY, "--repeat", "1"], "## Query", ["| user_history |"]),
    "collect": (
        [
            *["--accounts", "4", "--latency-ms", "5", "--concurrency", "4", "--reference-accounts", "1"],
            *["--scale", "2,3", "--scale-concurrency", "2"],
        ],
        "## Collector",
        ["### CPU per account", "### Scale"],
    ),
    "findings": ([*TINY, "--repeat", "1"], "## Findings and trends", ["first-seen"]),
    "changes": ([*TINY, "--repeat", "1"], "## Changes", ["every change of the year"]),
    "compact": (TINY, "## Compaction", ["peak resident memory"]),
    "identity:collect": (
        ["--part", "collect", "--users", "50", "--groups", "5", "--accounts", "10", "--latency-ms", "1"],
        "## Identity Center collection",
        ["AWS calls", "time to collect"],
    ),
    "identity:states": (
        ["--part", "states", "--store-accounts", "3", "--store-users", "5", "--days", "8", "--repeat", "1"],
        "## SSO migration states",
        ["`credsight migration --format json`", "burn-down"],
    ),
    "notify": ([*TINY, "--repeat", "1"], "## Notifications", ["never told"]),
    "search": ([*TINY, "--repeat", "1"], "## User search", ["a search as someone types, median"]),
    "startup": (["--repeat", "1"], "## Start-up", ["`credsight --help`", "a usage error", "`python -c pass`"]),
    "commands": ([*TINY, "--repeat", "1"], "## Commands", [f"`{c.shown()}`" for c in COMMANDS]),
    "dashboard": (
        [
            *[*TINY, "--repeat", "1", "--pages", "/users", "--report-accounts", "3", "--report-days", "8"],
            *["--sessions", "2", "--seconds", "1", "--load-seconds", "1"],
        ],
        "## Dashboard",
        [
            "| `/users` |",
            "browser sessions at once",
            "Where the machine's CPU went",
            "The server's answers",
            "### Steady load",
            "| `/_dash-layout` |",
        ],
    ),
}

# A table cell that is a measured figure: a number with a unit (0.25 s, 12 ms, 4.8 MB, 2.0x) or a fraction (0.06).
FIGURE = re.compile(
    r"^\|(?:.*\|)?\s*\d[\d,]*(?:\.\d+\s?(?:ms|s|kB|MB|GB|x)?|\s?(?:ms|s|kB|MB|GB|x))\s*[|(]", re.MULTILINE
)


@pytest.mark.parametrize("module", BENCHMARKS)
def test_benchmark_runs_at_a_tiny_size(module: str) -> None:
    arguments, heading, shown = BENCHMARKS[module]
    done = subprocess.run(
        [sys.executable, "-m", f"bench.{module.split(':')[0]}", *arguments],  # identity:states is bench.identity
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    assert re.search(rf"^{re.escape(heading)}\b", done.stdout, re.MULTILINE), done.stdout
    assert FIGURE.search(done.stdout), f"no measured figure in:\n{done.stdout}"
    for text in shown:
        assert text in done.stdout, f"{text!r} not in:\n{done.stdout}"


def test_every_benchmark_has_a_tiny_run() -> None:
    """A module of bench/ that runs as a program (`python -m bench.x`) is a benchmark: it must be listed above."""
    programs = {path.stem for path in (REPO / "bench").glob("*.py") if 'if __name__ == "__main__":' in path.read_text()}
    listed = {name.split(":")[0] for name in BENCHMARKS}
    assert sorted(programs - listed) == [], "benchmarks with no tiny run in tests/test_benchmarks.py"


class Recorder(BaseHTTPRequestHandler):
    """Answers /ok with 200 and anything else with 404, noting when each request arrived."""

    arrived: list[float]

    def do_GET(self) -> None:
        self.arrived.append(time.perf_counter())
        body = b"ok" if self.path == "/ok" else b"no such page"
        self.send_response(200 if self.path == "/ok" else 404)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def recorder() -> Iterator[tuple[ThreadingHTTPServer, list[float]]]:
    arrived: list[float] = []
    handler = type("Handler", (Recorder,), {"arrived": arrived, "protocol_version": "HTTP/1.1"})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server, arrived
    server.shutdown()
    server.server_close()


def test_steady_load_paces_its_requests_and_counts_errors(recorder: tuple[ThreadingHTTPServer, list[float]]) -> None:
    server, arrived = recorder
    run = steady_load("127.0.0.1", server.server_address[1], ["/ok", "/missing"], rate=40, seconds=1.5)
    assert run.due == 60
    ok, missing = run.routes
    assert (len(ok.latencies), ok.errors) == (30, [])
    assert (missing.latencies, missing.errors) == ([], ["HTTP 404"] * 30)
    assert len(arrived) == 60
    # Paced, not a burst: the requests arrive over the whole 1.5 s (the last is due at 1.475 s), about 25 ms apart.
    assert max(arrived) - min(arrived) > 1.4
    gaps = sorted(b - a for a, b in itertools.pairwise(arrived))
    assert gaps[len(gaps) // 2] > 0.015
