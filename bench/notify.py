"""Notifications: `credsight notify --dry-run` for a day, from process start to exit, over 1,000 accounts x
100 users x 365 days.

    python -m bench.notify [--accounts 1000] [--users 100] [--days 365] [--repeat 3] [--store PATH]

Two destinations, as a scheduler runs the command each morning:

- told through the day before (its watermark says so): the newest day's events and the findings first seen
  on it, which asks each finding's first-seen date;
- never told: the newest day's events and every finding open on it.

The measured store is never written: the command reads it through a folder of links to its tables, and the
day-before watermark is written there (`--dry-run` itself writes nothing). The goal (issue 13): under 2 s.
"""

from __future__ import annotations

import argparse
import datetime as dt
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import duckdb

from bench.common import demo_store, machine, quiet_environment
from credsight.notify import watermarks
from credsight.notify.routes import destination_key
from credsight.query import Database
from credsight.store import Store, new_run_id

GOAL_SECONDS = 2.0
TOLD = "json://127.0.0.1:9/told-through-the-day-before"
NEW = "json://127.0.0.1:9/never-told"


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    parser.add_argument("--accounts", type=int, default=1000)
    parser.add_argument("--users", type=int, default=100)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--store", help="a store to measure instead of the demo one (e.g. a copy)")
    return parser.parse_args()


def load() -> str:
    return " / ".join(Path("/proc/loadavg").read_text().split()[:3])


def linked(store: Store, folder: Path) -> Store:
    """A store in `folder` whose tables are links to `store`'s: read the same, written apart."""
    for entry in Path(store.root).iterdir():
        if entry.name != "notifications" and not entry.name.startswith("."):
            (folder / entry.name).symlink_to(entry)
    return Store(str(folder))


@dataclass(frozen=True)
class Timed:
    seconds: list[float]  # wall clock, process start to exit
    cpu: list[float]  # the process's CPU time (user + system, its threads together): the load does not stretch it
    said: str


def timed(command: list[str], repeat: int) -> Timed:
    seconds, cpu, said = [], [], ""
    for attempt in range(repeat + 1):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        began = time.perf_counter()
        done = subprocess.run(command, capture_output=True, text=True, check=False, env=quiet_environment())
        wall = time.perf_counter() - began
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        if done.returncode != 0:
            raise SystemExit(f"{' '.join(command)} exited {done.returncode}: {done.stderr[-2000:]}")
        if attempt:  # the first run warms the page cache, as yesterday's run did
            seconds.append(wall)
            cpu.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
        said = done.stdout
    return Timed(seconds, cpu, said)


def main() -> None:
    args = arguments()
    measured = Store(args.store) if args.store else demo_store(args.accounts, args.days, users=args.users)
    load_before = load()
    with tempfile.TemporaryDirectory(prefix="credsight-bench-notify-") as folder:
        store = linked(measured, Path(folder))
        with Database(store) as database:
            latest = {r["account_id"]: r["last_snapshot_date"] for r in database.sql("SELECT * FROM accounts").rows}
            rows = int(database.sql("SELECT count(*) AS n FROM reports").rows[0]["n"])
        day = max(latest.values())
        through = {account: last - dt.timedelta(days=1) for account, last in latest.items()}
        watermarks.write(store, destination_key(TOLD), new_run_id(), through, events=0, findings=0, sent=True)
        credsight = str(Path(sys.executable).with_name("credsight"))
        base = [credsight, "notify", "--store", store.url, "--dry-run"]
        told = timed([*base, "--to", TOLD], args.repeat)
        new = timed([*base, "--to", NEW], args.repeat)
    for run in (told, new):
        if "would send" not in run.said and "nothing new" not in run.said:
            raise SystemExit(f"unexpected output: {run.said[:2000]}")

    print(f"## Notifications ({args.accounts:,} accounts x {args.users} users x {args.days} days: {rows:,} rows)\n")
    print(
        f"`python -m bench.notify --accounts {args.accounts} --users {args.users} --days {args.days}` on {machine()}, "
        f"duckdb {duckdb.__version__}; load average {load_before} before, {load()} after (the machine is shared).\n"
    )
    print(
        f"`credsight notify --dry-run` for {day}, from process start to exit: median (and worst) of {args.repeat}, "
        "and the median CPU time of the process (its threads together), which the machine's load does not stretch.\n"
    )
    print("| destination | time | CPU time | digest |")
    print("|---|---:|---:|---|")
    for label, run in (("told through the day before", told), ("never told", new)):
        summary = run.said.splitlines()[0].split(": ", 1)[-1] if run.said else ""
        median, worst = statistics.median(run.seconds), max(run.seconds)
        print(f"| {label} | {median:.2f} s ({worst:.2f}) | {statistics.median(run.cpu):.2f} s | {summary} |")
    slowest = max(statistics.median(told.seconds), statistics.median(new.seconds))
    verdict = "met" if slowest < GOAL_SECONDS else "NOT met"
    print(f"\nGoal: under {GOAL_SECONDS:.0f} s: {verdict} (slowest median {slowest:.2f} s).")


if __name__ == "__main__":
    main()
