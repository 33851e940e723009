"""Query: the questions a dashboard asks, over 1,000 accounts x 100 users x 365 days.

    python -m bench.query [--accounts 1000] [--users 100] [--days 365] [--repeat 9] [--no-baseline]

Each question runs through credsight's views (month files sorted by account, user and date,
plus the daily rollups written with them), and, in the same run, as plain DuckDB SQL over one
unsorted Parquet file per day: the layout the issue measured as the reference.
"""

from __future__ import annotations

import argparse
import functools
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import duckdb

from bench.common import demo_store, load_average, machine, times
from credsight.query import Database

BASELINE = {
    "users_per_day": """
        SELECT snapshot_date, account_id, count(*) FILTER (WHERE "user" <> '<root_account>') AS users
        FROM days GROUP BY ALL ORDER BY ALL""",
    "console_without_mfa_per_day": """
        SELECT snapshot_date, count(*) FILTER (WHERE password_enabled AND NOT mfa_active) AS console_without_mfa
        FROM days GROUP BY ALL ORDER BY ALL""",
    "latest_snapshot": """
        SELECT * FROM days SEMI JOIN (SELECT account_id, max(snapshot_date) AS snapshot_date FROM days GROUP BY ALL)
        USING (account_id, snapshot_date)""",
    "user_history": """SELECT * FROM days WHERE account_id = $account AND "user" = $user ORDER BY snapshot_date""",
    "key_use_per_day": """
        SELECT snapshot_date, access_key_1_last_used_region AS region, count(*) AS keys FROM days
        WHERE access_key_1_active GROUP BY ALL ORDER BY ALL""",
}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--accounts", type=int, default=1000)
    parser.add_argument("--users", type=int, default=100)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--repeat", type=int, default=9, help="measured runs of each question")
    parser.add_argument("--no-baseline", action="store_true")
    args = parser.parse_args()
    store = demo_store(args.accounts, args.days, users=args.users)
    build_note = (Path(store.root) / "built").read_text().strip()
    database = Database(store)
    first_day, last_day = (
        database.sql("SELECT min(snapshot_date) AS a, max(snapshot_date) AS b FROM daily").rows[0].values()
    )
    someone = database.sql('SELECT account_id, "user" FROM latest WHERE NOT is_root LIMIT 1').rows[0]
    parameters: dict[str, dict[str, object]] = {
        "users_per_day": {"from": first_day, "to": last_day},
        "console_without_mfa_per_day": {"from": first_day, "to": last_day},
        "latest_snapshot": {},
        "user_history": {"account": someone["account_id"], "user": someone["user"]},
        "key_use_per_day": {"from": first_day, "to": last_day},
    }
    rows = database.sql("SELECT count(*) AS n FROM reports").rows[0]["n"]
    files = len(store.live_parts()["reports"])
    opened = times(lambda: Database(store).close(), repeat=5)
    load = load_average()
    ours = {
        name: times(functools.partial(database.named, name, **params), repeat=args.repeat)
        for name, params in parameters.items()
    }
    baseline: dict[str, list[float]] = {}
    if not args.no_baseline:
        baseline = measure_baseline(database, parameters, args.repeat)
    print(f"## Query ({args.accounts:,} accounts x {args.users} users x {args.days} days: {rows:,} rows)\n")
    print(
        f"`python -m bench.query --accounts {args.accounts} --users {args.users} --days {args.days} "
        f"--repeat {args.repeat}` on {machine()}, duckdb {duckdb.__version__}; load average {load} before, "
        f"{load_average()} after (1 / 5 / 15 min). Store: {files} report files after `compact` "
        f"({files / args.days:.2f} per day); "
        f"built in {build_note}.\n"
    )
    print(f"Median (and worst) of {args.repeat} runs after one warm-up, the views already open.\n")
    print("| question | credsight | one unsorted file per day | speed-up |")
    print("|---|---:|---:|---:|")
    for name, measured in ours.items():
        ref = baseline.get(name)
        ref_text = f"{statistics.median(ref) * 1000:.0f} ms" if ref else "-"
        ratio = f"{statistics.median(ref) / statistics.median(measured):.1f}x" if ref else "-"
        ours_text = f"{statistics.median(measured) * 1000:.0f} ms ({max(measured) * 1000:.0f})"
        print(f"| {name} | {ours_text} | {ref_text} | {ratio} |")
    print(f"| opening the store (list files, create views) | {statistics.median(opened) * 1000:.0f} ms | - | - |")
    slowest = max(statistics.median(m) for m in ours.values())
    print(f"\nTarget: each under 200 ms. Slowest median: {slowest * 1000:.0f} ms.\n")
    if baseline:
        print(f"The per-day baseline was written from the store in {baseline['written'][0]:.0f} s.\n")


def answer(connection: duckdb.DuckDBPyConnection, sql: str, parameters: dict[str, object]) -> object:
    return connection.sql(sql, params=parameters).to_arrow_table()


def measure_baseline(
    database: Database, parameters: dict[str, dict[str, object]], repeat: int
) -> dict[str, list[float]]:
    folder = tempfile.mkdtemp(prefix="credsight-bench-days-")
    try:
        started = time.perf_counter()
        database.sql(
            f"COPY (SELECT * FROM report_parts ORDER BY random()) TO '{folder}' "  # noqa: S608 (our temp folder)
            "(FORMAT parquet, COMPRESSION zstd, PARTITION_BY (snapshot_date))"
        )
        written = time.perf_counter() - started
        plain = duckdb.connect()
        plain.read_parquet(f"{folder}/*/*.parquet", hive_partitioning=True).create_view("days")
        result: dict[str, list[float]] = {}
        for name, sql in BASELINE.items():
            bound = {k: v for k, v in parameters[name].items() if f"${k}" in sql}
            result[name] = times(functools.partial(answer, plain, sql, bound), repeat=repeat)
        result["written"] = [written]
        return result
    finally:
        shutil.rmtree(folder)


if __name__ == "__main__":
    main()
