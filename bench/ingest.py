"""Ingest: rows per second from CSV files on disk (the pattern's layout) to the store.

    python -m bench.ingest [--accounts 100] [--days 30] [--users 100]

One unmeasured ingest to warm up, then three into fresh stores; the median is reported, with
parsing alone for a breakdown.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from bench.common import machine
from credsight.demo import DemoOrganization
from credsight.report.model import ReportInput
from credsight.report.parser import parse_reports
from credsight.sources.files import ingest
from credsight.store import Store


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--accounts", type=int, default=100)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--users", type=int, default=100)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="credsight-bench-"))
    try:
        bucket = folder / "bucket"
        inputs = []
        organization = DemoOrganization(accounts=args.accounts, days=args.days, seed=1, users_per_account=args.users)
        for reports in organization.reports():
            for r in reports:
                path = bucket / r.snapshot_date.isoformat() / r.account_id / f"credentialReport_{r.account_id}.csv"
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(r.content)
                inputs.append(ReportInput(r.content, str(path), r.snapshot_date, r.account_id))
        csv_bytes = sum(len(i.content) for i in inputs)
        rows = 0
        ingest_seconds = []
        ingest(Store(str(folder / "warm-up")), [str(bucket)])
        for attempt in range(3):
            store = Store(str(folder / f"store{attempt}"))
            started = time.perf_counter()
            summary = ingest(store, [str(bucket)])
            ingest_seconds.append(time.perf_counter() - started)
            rows = summary.rows
        parse_seconds = []
        for _ in range(3):
            started = time.perf_counter()
            parse_reports(inputs)
            parse_seconds.append(time.perf_counter() - started)
    finally:
        shutil.rmtree(folder)
    ingest_median, parse_median = statistics.median(ingest_seconds), statistics.median(parse_seconds)
    print(f"## Ingest ({len(inputs):,} files, {rows:,} rows, {csv_bytes / 1e6:.0f} MB of CSV)\n")
    print(
        f"`python -m bench.ingest --accounts {args.accounts} --days {args.days} --users {args.users}` on {machine()}\n"
    )
    print("| step | median of 3 | rows/s |")
    print("|---|---:|---:|")
    print(f"| `credsight ingest` (read, parse, roll up, write) | {ingest_median:.2f} s | {rows / ingest_median:,.0f} |")
    print(f"| parsing alone (in memory) | {parse_median:.2f} s | {rows / parse_median:,.0f} |")
    speed = rows / ingest_median
    verdict = "met" if speed >= 300_000 else "**missed**"
    print(
        f"\nTarget: at least 300,000 rows/s from CSV to store. Measured: {speed:,.0f} rows/s, {verdict} "
        f"(load average {os.getloadavg()[0]:.1f}; the machine is shared).\n"
    )


if __name__ == "__main__":
    main()
