"""Changes: every change of a year of the demo organization, 1,000 accounts x 100 users x 365 days.

    python -m bench.changes [--accounts 1000] [--users 100] [--days 365] [--repeat 3]

Times `credsight.rules.changes.changes` over the whole store (the target: under 20 s), and over the
last week only (what a daily `credsight changes --since` asks), then counts the rows of each kind.
"""

from __future__ import annotations

import datetime as dt
import os
import statistics
from pathlib import Path

import duckdb
import pyarrow as pa

from bench.common import demo_size_arguments, demo_store, machine, times
from credsight.query import Database
from credsight.rules.changes import KINDS, changes


def main() -> None:
    args = demo_size_arguments()
    store = demo_store(args.accounts, args.days, users=args.users)
    build_note = (Path(store.root) / "built").read_text().strip()
    database = Database(store)
    rows = database.sql("SELECT count(*) AS n FROM reports").rows[0]["n"]
    last_day = database.sql("SELECT max(snapshot_date) AS d FROM daily").rows[0]["d"]
    week = last_day - dt.timedelta(days=6)

    found: list[pa.Table] = []
    year = times(lambda: found.append(changes(database)), repeat=args.repeat, warmup=1)
    recent = times(lambda: changes(database, since=week), repeat=args.repeat, warmup=0)
    table = found[-1]
    counts = dict.fromkeys(KINDS, 0)
    for row in table.group_by("kind").aggregate([("kind", "count")]).to_pylist():
        counts[row["kind"]] = row["kind_count"]
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())

    print(f"## Changes ({args.accounts:,} accounts x {args.users} users x {args.days} days: {rows:,} rows)\n")
    print(
        f"`python -m bench.changes --accounts {args.accounts} --users {args.users} --days {args.days}` on {machine()}, "
        f"duckdb {duckdb.__version__}; load average {load} at the end (the machine is shared). "
        f"Store built in {build_note}.\n"
    )
    print(f"Median (and worst) of {args.repeat} runs, the views already open; the year's run after one warm-up.\n")
    print("| question | time |")
    print("|---|---:|")
    print(f"| every change of the year | {statistics.median(year):.1f} s ({max(year):.1f}) |")
    print(f"| changes since {week} (7 snapshots per account) | {statistics.median(recent):.1f} s ({max(recent):.1f}) |")
    print(f"\nTarget: the year under 20 s. {table.num_rows:,} changes found:\n")
    print("| kind | rows |")
    print("|---|---:|")
    for kind, count in counts.items():
        print(f"| {kind} | {count:,} |")
    missing = [kind for kind, count in counts.items() if count == 0]
    if missing:
        print(f"\nNone of {', '.join(f'`{k}`' for k in missing)}: the demo organization tells no such story.\n")


if __name__ == "__main__":
    main()
