"""What the benchmarks share: demo stores built once and kept under bench/data, timing, sizes."""

from __future__ import annotations

import argparse
import gc
import os
import platform
import socket
import statistics
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from credsight.demo import DemoOrganization
from credsight.demo.store import build_demo_store
from credsight.query.maintenance import compact_and_summarise
from credsight.rules.summaries import SUMMARY_KINDS
from credsight.store import Store

DATA = Path(__file__).parent / "data"


def demo_store(accounts: int, days: int, users: int | None = None, seed: int = 0, compact: bool = True) -> Store:
    """A demo store, built on first use and kept (bench/data is git-ignored)."""
    folder = DATA / f"demo-{accounts}x{users or 'v'}x{days}-s{seed}{'-c' if compact else ''}"
    store = Store(str(folder))
    if not (folder / "built").exists():
        started = time.perf_counter()
        build_demo_store(store, DemoOrganization(accounts=accounts, days=days, seed=seed, users_per_account=users))
        if compact:
            compact_and_summarise(store, SUMMARY_KINDS)
        (folder / "built").write_text(f"{time.perf_counter() - started:.0f} s\n")
    return store


def demo_size_arguments(repeat: int = 3) -> argparse.Namespace:
    """--accounts, --users, --days (the demo store measured) and --repeat, as every benchmark takes them."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--accounts", type=int, default=1000)
    parser.add_argument("--users", type=int, default=100)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--repeat", type=int, default=repeat)
    return parser.parse_args()


def folder_bytes(folder: str | Path) -> int:
    return sum(p.stat().st_size for p in Path(folder).rglob("*") if p.is_file() and not p.name.startswith("."))


def times(action: Callable[[], object], repeat: int = 9, warmup: int = 1) -> list[float]:
    """Wall-clock seconds of each of `repeat` runs after `warmup` unmeasured ones."""
    for _ in range(warmup):
        action()
    measured = []
    for _ in range(repeat):
        started = time.perf_counter()
        action()
        measured.append(time.perf_counter() - started)
    return measured


def median_ms(values: list[float]) -> str:
    return f"{statistics.median(values) * 1000:.0f} ms"


def machine() -> str:
    return (
        f"{platform.python_implementation()} {platform.python_version()}, {os.cpu_count()} cores, {platform.machine()}"
    )


def resident_bytes() -> int:
    return int(Path("/proc/self/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE")


class MemoryPeak:
    """The highest resident memory while inside, sampled every 10 ms (Linux /proc)."""

    def __enter__(self) -> MemoryPeak:
        self.start = self.peak = resident_bytes()
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._done.set()
        self._thread.join()
        self.peak = max(self.peak, resident_bytes())

    def _sample(self) -> None:
        while not self._done.wait(0.01):
            self.peak = max(self.peak, resident_bytes())


class GarbageCollections:
    """CPU time spent in Python's cyclic garbage collector while inside, in any thread."""

    def __enter__(self) -> GarbageCollections:
        self.cpu = 0.0
        self.full = 0  # collections of the oldest generation: they scan every object not frozen
        self._started = 0.0
        gc.callbacks.append(self._callback)
        return self

    def __exit__(self, *exc: object) -> None:
        gc.callbacks.remove(self._callback)

    def _callback(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":  # one collection at a time, under the GIL
            self._started = time.thread_time()
        else:
            self.cpu += time.thread_time() - self._started
            self.full += info["generation"] == 2


CHROMIUM = "/usr/bin/chromium"  # Debian's, driven by Playwright without a browser download (see FACTS.md)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def serving(command: list[str], port: int, what: str) -> Iterator[subprocess.Popen[bytes]]:
    """Run a server on 127.0.0.1:`port` as its own process, once it accepts connections; stop it after.

    Its output goes to a file (a pipe nobody reads would fill and stop the server), shown if it fails.
    """
    with tempfile.TemporaryFile() as log:
        server = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + 60
            while True:
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=1).close()
                    break
                except OSError:
                    if server.poll() is not None or time.monotonic() > deadline:
                        log.seek(0)
                        said = log.read().decode(errors="replace")[-2000:]
                        raise RuntimeError(f"{what} did not start: {said}") from None
                    time.sleep(0.1)
            yield server
        finally:
            server.terminate()
            server.wait(timeout=60)
