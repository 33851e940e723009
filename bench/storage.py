"""Storage: bytes per user-day in the store versus the raw CSV the QuickSight pattern keeps.

    python -m bench.storage [--accounts 25] [--days 180]

The same run also writes the rows one file per day (the layout credsight did not choose),
so the month layout's gain is measured, not claimed.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile

import duckdb

from bench.common import folder_bytes, machine
from credsight.demo import DemoOrganization
from credsight.demo.store import build_demo_store
from credsight.query import Database
from credsight.query.maintenance import summarise
from credsight.rules.summaries import SUMMARY_KINDS
from credsight.store import Store
from credsight.store.compaction import compact


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--accounts", type=int, default=25)
    parser.add_argument("--days", type=int, default=180)
    args = parser.parse_args()
    organization = DemoOrganization(accounts=args.accounts, days=args.days, seed=0)
    csv_bytes = 0
    for reports in organization.reports():
        csv_bytes += sum(len(r.content) for r in reports)
    folder = tempfile.mkdtemp(prefix="credsight-bench-")
    try:
        store = Store(f"{folder}/store")
        summary = build_demo_store(store, organization)
        written = folder_bytes(store.root)
        compact(store)
        compacted = folder_bytes(store.root)
        summarise(store, SUMMARY_KINDS)  # with compact, what `credsight compact` does
        summarised = folder_bytes(store.root)
        with Database(store) as database:
            database.sql(
                f"COPY (SELECT * FROM report_parts ORDER BY snapshot_date, account_id, \"user\") TO '{folder}/daily' "  # noqa: S608
                "(FORMAT parquet, COMPRESSION zstd, PARTITION_BY (snapshot_date))"
            )
        per_day = folder_bytes(f"{folder}/daily")
    finally:
        shutil.rmtree(folder)
    rows = summary.rows
    print(f"## Storage ({args.accounts} accounts x {args.days} days of the demo organization)\n")
    print(
        f"`python -m bench.storage --accounts {args.accounts} --days {args.days}` on {machine()}, "
        f"duckdb {duckdb.__version__}\n"
    )
    print(f"{rows:,} user-days (rows, root rows included) in {summary.reports:,} reports.\n")
    print("| what | bytes | bytes per user-day | CSV / this |")
    print("|---|---:|---:|---:|")
    for label, size in (
        ("raw CSV, as the QuickSight pattern keeps it", csv_bytes),
        ("credsight store as written (all tables, runs included)", written),
        ("credsight store after compaction", compacted),
        ("credsight store after `credsight compact` (compaction and the summaries readers use)", summarised),
        ("report rows one Parquet file per day (zstd), for comparison", per_day),
    ):
        print(f"| {label} | {size:,} | {size / rows:.1f} | {csv_bytes / size:.1f}x |")
    print(
        f"\nTarget: the store at most 1/20 of the CSV. After compaction: 1/{csv_bytes / compacted:.0f}; "
        f"with the summaries: 1/{csv_bytes / summarised:.0f}.\n"
    )


if __name__ == "__main__":
    main()
