"""Compaction in bounded memory: a month of report parts merged, with the peak resident memory it took.

    python -m bench.compact [--accounts 10000] [--users 100] [--days 31]

The month is the demo organization's, written as `ingest` and the collector write it (a part per
batch of reports, never compacted), and kept under bench/data. Each measured step runs in a
process of its own on a fresh copy, so its peak resident memory (the kernel's high-water mark,
VmHWM) is the step's alone: compaction, then the summaries `credsight compact` adds, then the
findings the deployed collector's Finish step evaluates. Together they are the Finish step.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

from bench.common import DATA, demo_store, folder_bytes, load_average, machine, peak_resident_bytes
from credsight.store import Store

GOAL_BYTES = 3 << 30  # compaction of a 10,000-account month under 3 GB
STEPS = ("compact", "summarise", "findings")


def step(name: str, store: str) -> dict[str, float]:
    """Run one step on the store in this process; its seconds and this process's peak resident memory."""
    started = time.perf_counter()
    if name == "compact":
        from credsight.store.compaction import compact

        merged = compact(Store(store))
    elif name == "summarise":
        from credsight.query.maintenance import summarise
        from credsight.rules.summaries import SUMMARY_KINDS

        merged = summarise(Store(store), SUMMARY_KINDS)
    else:
        from credsight.query import Database
        from credsight.rules.findings import evaluate

        with Database(Store(store)) as database:
            merged = len(evaluate(database).findings)
    seconds = time.perf_counter() - started
    used = resource.getrusage(resource.RUSAGE_SELF)
    return {
        "seconds": seconds,
        "cpu": used.ru_utime + used.ru_stime,
        "peak": float(peak_resident_bytes(os.getpid())),
        "count": float(merged),
    }


def scratch_bytes(folder: Path) -> int:
    """Bytes of every file under the folder now (files may vanish while it is walked)."""
    total = 0
    for path in folder.rglob("*"):
        try:
            total += path.stat().st_size if path.is_file() else 0
        except FileNotFoundError:
            continue
    return total


def measured(name: str, store: Path) -> dict[str, float]:
    """A step in a child process of its own (its own memory high-water mark), its temporary files in a
    folder of their own, whose largest size is sampled (the compaction's spill: Lambda's /tmp)."""
    scratch = store.parent / f".scratch-{store.name}"
    shutil.rmtree(scratch, ignore_errors=True)
    scratch.mkdir()
    done_event, peak = threading.Event(), [0]

    def sample() -> None:
        while not done_event.wait(0.5):
            peak[0] = max(peak[0], scratch_bytes(scratch))

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        done = subprocess.run(
            [sys.executable, "-m", "bench.compact", "--step", name, "--store", str(store)],
            capture_output=True,
            text=True,
            check=False,
            env={**os.environ, "TMPDIR": str(scratch)},
        )
    finally:
        done_event.set()
        sampler.join()
        shutil.rmtree(scratch, ignore_errors=True)
    if done.returncode != 0:
        raise RuntimeError(f"{name} failed: {done.stderr[-3000:]}")
    return {**json.loads(done.stdout.splitlines()[-1]), "disk": float(peak[0])}


def collect_a_day_again(store: Store) -> None:
    """The newest day of the first account collected a second time, as a retried batch would (a run of its own)."""
    from credsight.query import Database
    from credsight.query.database import original_report
    from credsight.store.runs import Run, Snapshot

    with Database(store) as database:
        newest = database.sql("SELECT account_id, snapshot_date FROM daily ORDER BY snapshot_date DESC, 1 LIMIT 1")
        account, day = newest.rows[0]["account_id"], newest.rows[0]["snapshot_date"]
        content = original_report(database, account, day)
    assert content is not None
    Run(store).write([Snapshot(content, "again", day, account)])


def rows_of(store: Path) -> int:
    import pyarrow.parquet as pq

    return sum(pq.read_metadata(p).num_rows for p in store.glob("reports/*/*.parquet"))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--accounts", type=int, default=10_000)
    parser.add_argument("--users", type=int, default=100)
    parser.add_argument("--days", type=int, default=31)
    parser.add_argument("--step", choices=STEPS)
    parser.add_argument("--store")
    args = parser.parse_args()
    if args.step:
        print(json.dumps(step(args.step, args.store)))
        return
    built = Path(demo_store(args.accounts, args.days, args.users, compact=False).root)
    work = DATA / f".compact-{built.name}"
    shutil.rmtree(work, ignore_errors=True)
    shutil.copytree(built, work)
    try:
        collect_a_day_again(Store(str(work)))
        rows, parts, size = rows_of(work), len(list(work.glob("reports/*/*.parquet"))), folder_bytes(work)
        before = load_average()
        results = {name: measured(name, work) for name in STEPS}
        after = load_average()
        compacted = folder_bytes(work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    command = f"python -m bench.compact --accounts {args.accounts} --users {args.users} --days {args.days}"
    print(f"## Compaction ({args.accounts:,} accounts x {args.users} users x {args.days} days: {rows:,} rows)\n")
    print(f"`{command}` on {machine()} (load average {before} before, {after} after).\n")
    print(
        f"The store as written: {parts:,} report parts, {size / 2**20:,.0f} MB; "
        f"after compaction and summaries: {compacted / 2**20:,.0f} MB. Each step in a process of its own.\n"
    )
    print("| step | time | CPU | peak resident memory | peak temporary files |")
    print("|---|---:|---:|---:|---:|")
    labels = {
        "compact": "compaction (every month's parts merged into one file per table)",
        "summarise": "summaries of the merged files (the rest of `credsight compact`)",
        "findings": "findings of the newest snapshots (the rest of the Finish step)",
    }
    for name in STEPS:
        result = results[name]
        print(
            f"| {labels[name]} | {result['seconds']:.1f} s | {result['cpu']:.1f} s | {result['peak'] / 2**20:,.0f} MB "
            f"| {result['disk'] / 2**20:,.0f} MB |"
        )
    peak = results["compact"]["peak"]
    met = "met" if peak < GOAL_BYTES else "NOT met"
    print(
        f"\nTarget: compaction under {GOAL_BYTES / 2**30:.0f} GB at its peak. Measured {peak / 2**20:,.0f} MB: {met}.\n"
    )


if __name__ == "__main__":
    main()
