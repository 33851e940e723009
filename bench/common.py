"""What the benchmarks share: demo stores built once and kept under bench/data, timing, sizes."""

from __future__ import annotations

import argparse
import functools
import gc
import math
import os
import platform
import re
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from credsight.demo import DemoOrganization
from credsight.demo.store import build_demo_store
from credsight.query.maintenance import compact_and_summarise
from credsight.rules.kept import keep_answers
from credsight.rules.summaries import SUMMARY_KINDS
from credsight.store import Store

DATA = Path(__file__).parent / "data"


def demo_store(accounts: int, days: int, users: int | None = None, seed: int = 0, compact: bool = True) -> Store:
    """A demo store, built on first use and kept (bench/data is git-ignored), keyed by its size.

    It is built under a temporary name and renamed when whole, so two benchmarks (or a test and a
    person) asking for the same store at once never read a half-built one.
    """
    folder = DATA / f"demo-{accounts}x{users or 'v'}x{days}-s{seed}{'-c' if compact else ''}"
    if not (folder / "built").exists():
        DATA.mkdir(parents=True, exist_ok=True)
        building = DATA / f".{folder.name}.building-{os.getpid()}"
        shutil.rmtree(building, ignore_errors=True)
        started = time.perf_counter()
        store = Store(str(building))
        build_demo_store(store, DemoOrganization(accounts=accounts, days=days, seed=seed, users_per_account=users))
        if compact:
            compact_and_summarise(store, SUMMARY_KINDS)
        (building / "built").write_text(f"{time.perf_counter() - started:.0f} s\n")
        try:
            building.rename(folder)
        except OSError:  # built meanwhile by another process (or a half-built folder of an old version)
            if (folder / "built").exists():
                shutil.rmtree(building)
            else:
                shutil.rmtree(folder)
                building.rename(folder)
    store = Store(str(folder))
    if compact:  # as `credsight demo` and every collection leave a store (again when this code changed what is kept)
        keep_answers(store)
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


def percentile(values: list[float], share: float) -> float:
    """The value below which `share` (0..1) of `values` lie (nearest rank; the largest for a few values)."""
    ordered = sorted(values)
    return ordered[min(len(ordered), max(1, math.ceil(share * len(ordered)))) - 1]


def load_average() -> str:
    """The machine's load average over 1, 5 and 15 minutes, as /proc/loadavg says (the machine is shared)."""
    return " / ".join(Path("/proc/loadavg").read_text().split()[:3])


def verdict(met: bool) -> str:
    return "met" if met else "NOT met"


def credsight_command() -> str:
    """The `credsight` entry point installed beside this interpreter, as a person runs it."""
    return shutil.which("credsight", path=str(Path(sys.executable).parent)) or "credsight"


@dataclass(frozen=True)
class Exited:
    """One process run from start to exit."""

    seconds: float  # wall clock, from start to exit (or to the timeout)
    cpu: float  # CPU seconds (user and system) of the process and the children it waited for
    code: int | None  # None: killed at the timeout
    said: str  # its error, as the last line of stderr that names one (or the last line)

    @property
    def timed_out(self) -> bool:
        return self.code is None


def run_to_exit(
    command: list[str], out: Path, timeout: float, cwd: Path | None = None, env: dict[str, str] | None = None
) -> Exited:
    """Run `command` with its output to the file `out`, timed from process start to exit; killed at `timeout`."""
    with out.open("wb") as stdout, tempfile.TemporaryFile() as stderr:
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.perf_counter()
        process = subprocess.Popen(command, stdout=stdout, stderr=stderr, cwd=cwd, env=env)
        try:
            code: int | None = process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
            code = None
        seconds = time.perf_counter() - started
        after = resource.getrusage(resource.RUSAGE_CHILDREN)  # this process waits for one child at a time
        cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
        stderr.seek(0)
        lines = stderr.read().decode(errors="replace").strip().splitlines()
    # A one-line error ends with it; a traceback names the exception on the line that starts with it.
    named = [line for line in lines if re.match(r"(error: |[\w.]+(Error|Exception)\b)", line)]
    return Exited(seconds, cpu, code, (named or lines or [""])[-1])


def quiet_environment() -> dict[str, str]:
    """This process's environment without CREDSIGHT_ settings, so that commands run with their defaults; with
    credsight's modules compiled, as a person's installed copy starts (see compiled)."""
    compiled()
    return {k: v for k, v in os.environ.items() if not k.startswith("CREDSIGHT_")}


@functools.cache
def compiled() -> None:
    """Compile credsight's modules to bytecode where they are not yet, as `pip install` does for an installed
    package: this checkout's is editable, and a machine may set PYTHONDONTWRITEBYTECODE (these sandboxes do),
    which would have every timed command compile them again."""
    import compileall

    import credsight

    compileall.compile_dir(str(Path(credsight.__file__).parent), quiet=1)


def machine() -> str:
    return (
        f"{platform.python_implementation()} {platform.python_version()}, {os.cpu_count()} cores, {platform.machine()}"
    )


def resident_bytes() -> int:
    return int(Path("/proc/self/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE")


class _Sampled:
    """The highest of `measure()` while inside, sampled every `every` seconds by a thread, and once more at
    both ends."""

    every = 0.01
    peak = 0

    def measure(self) -> int:
        raise NotImplementedError

    def __enter__(self) -> _Sampled:
        self.peak = max(self.peak, self.measure())
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._done.set()
        self._thread.join()
        self.peak = max(self.peak, self.measure())

    def _sample(self) -> None:
        while not self._done.wait(self.every):
            self.peak = max(self.peak, self.measure())


class MemoryPeak(_Sampled):
    """The highest resident memory of this process while inside, sampled every 10 ms (Linux /proc)."""

    def __enter__(self) -> MemoryPeak:
        self.start = resident_bytes()
        super().__enter__()
        return self

    def measure(self) -> int:
        return resident_bytes()


def _status_bytes(pid: int, field: str) -> int:
    """A memory figure of /proc/PID/status (VmRSS, VmHWM), in bytes; 0 once the process is gone."""
    try:
        lines = Path(f"/proc/{pid}/status").read_text().splitlines()
    except OSError:
        return 0
    return next((int(line.split()[1]) * 1024 for line in lines if line.startswith(f"{field}:")), 0)


def peak_resident_bytes(pid: int) -> int:
    """The process's own high-water mark of resident memory (VmHWM), from /proc."""
    return _status_bytes(pid, "VmHWM")


def processes() -> dict[int, tuple[str, int, int]]:
    """Every process now, from one read of each /proc/PID/stat: its name, its parent, and the CPU it has used
    (user + system, in clock ticks)."""
    found: dict[int, tuple[str, int, int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
            after = text.rsplit(")", 1)[1].split()
            found[int(stat.parent.name)] = (
                text[text.index("(") + 1 : text.rindex(")")],
                int(after[1]),
                int(after[11]) + int(after[12]),
            )
        except (OSError, IndexError, ValueError):
            continue
    return found


def process_tree(pid: int, every: dict[int, tuple[str, int, int]] | None = None) -> list[int]:
    """The process and every process below it (a server's workers), from /proc (or from `every`, processes())."""
    parents = {child: parent for child, (_name, parent, _ticks) in (every or processes()).items()}
    tree = [pid]
    for member in tree:
        tree.extend(child for child, parent in parents.items() if parent == member)
    return tree


class TreeMemoryPeak(_Sampled):
    """The highest resident memory of a process and its children together while inside, sampled every 50 ms."""

    every = 0.05

    def __init__(self, pid: int) -> None:
        self.pid = pid

    def __enter__(self) -> TreeMemoryPeak:
        super().__enter__()
        return self

    def measure(self) -> int:
        return sum(_status_bytes(pid, "VmRSS") for pid in process_tree(self.pid))


def _machine_ticks() -> tuple[int, int]:
    """Busy and total clock ticks of every core since boot (/proc/stat)."""
    fields = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle, iowait
    return sum(fields) - idle, sum(fields)


class CpuShare:
    """Where the machine's CPU went while inside: a server's process tree, every Chromium process, the rest.

    Each process's CPU is sampled every half second, so one that ends inside (a closed browser tab) keeps
    what it had used by its last sample."""

    every = 0.5

    def __init__(self, server: int) -> None:
        self.server = server

    def _sample(self) -> dict[int, tuple[str, int]]:
        """Every process now: its kind (server, browser, other) and the CPU it has used."""
        every = processes()
        tree = set(process_tree(self.server, every))
        return {
            pid: ("server" if pid in tree else "browser" if "chrom" in name else "other", ticks)
            for pid, (name, _parent, ticks) in every.items()
        }

    def __enter__(self) -> CpuShare:
        self._before = {pid: ticks for pid, (_kind, ticks) in self._sample().items()}
        self._last: dict[int, tuple[str, int]] = {}
        self._busy, self._total = _machine_ticks()
        self._wall = time.monotonic()
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()
        return self

    def _loop(self) -> None:
        while not self._done.wait(self.every):
            self._last.update(self._sample())

    def __exit__(self, *exc: object) -> None:
        self._done.set()
        self._thread.join()
        self._last.update(self._sample())
        busy, total = _machine_ticks()
        tick = os.sysconf("SC_CLK_TCK")
        self.wall = time.monotonic() - self._wall
        self.cores = os.cpu_count() or 1
        self.machine_busy = (busy - self._busy) / tick  # core-seconds
        self.machine_total = (total - self._total) / tick
        self.seconds = {kind: 0.0 for kind in ("server", "browser", "other")}
        for pid, (kind, ticks) in self._last.items():  # a process born inside started from nothing
            self.seconds[kind] += (ticks - self._before.get(pid, 0)) / tick

    def text(self) -> str:
        """One line: core-seconds available, busy, and each part's share."""
        parts = ", ".join(f"{kind} {used:.0f}" for kind, used in self.seconds.items())
        return (
            f"{self.machine_total:.0f} core-seconds over {self.wall:.0f} s on {self.cores} cores, "
            f"{self.machine_busy / max(self.machine_total, 1e-9):.0%} busy: {parts} core-seconds"
        )


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
def serving(command: list[str], port: int, what: str, said: str | None = None) -> Iterator[subprocess.Popen[bytes]]:
    """Run a server on 127.0.0.1:`port` as its own process, once it accepts connections (and, with `said`,
    once its output says that); stop it after.

    Its output goes to a file (a pipe nobody reads would fill and stop the server), shown if it fails.
    """
    with tempfile.TemporaryFile() as log:
        server = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + (60 if said is None else 900)  # what it says may take minutes
            while True:
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=1).close()
                    log.seek(0)
                    if said is None or said in log.read().decode(errors="replace"):
                        break
                    raise OSError(f"not said {said!r} yet")
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
