"""User search: the /users search box as someone types, over 1,000 accounts x 100 users x 365 days.

    python -m bench.search [--accounts 1000] [--users 100] [--days 365] [--repeat 3] [--store PATH]

Each query is `credsight.rules.users.find_users` on one open Database (as the dashboard keeps one), for every
prefix of what a person types: user names picked from the store (a human, a service user, root), an account
id and an account name, letter by letter. The goal (issue 13): every answer under 300 ms. Then `credsight
user NAME` from process start to exit, as a person runs it. `--store` measures a copy of the store instead.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

import duckdb

from bench.common import demo_store, machine
from credsight.query import Database
from credsight.rules.users import find_users
from credsight.store import Store

GOAL_MS = 300.0
TYPED = """
    SELECT * FROM (
        (SELECT "user" AS typed FROM latest WHERE user_class = 'human' ORDER BY "user" LIMIT 1)
        UNION ALL (SELECT "user" FROM latest WHERE user_class = 'machine' ORDER BY "user" DESC LIMIT 1)
        UNION ALL (SELECT account_id FROM latest ORDER BY account_id DESC LIMIT 1)
        UNION ALL (SELECT account_name FROM latest WHERE account_name IS NOT NULL ORDER BY account_name LIMIT 1)
        UNION ALL (SELECT 'root')
    )"""


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    parser.add_argument("--accounts", type=int, default=1000)
    parser.add_argument("--users", type=int, default=100)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--repeat", type=int, default=3, help="times each prefix is asked")
    parser.add_argument("--store", help="a store to measure instead of the demo one (e.g. a copy)")
    return parser.parse_args()


def load() -> str:
    return " / ".join(Path("/proc/loadavg").read_text().split()[:3])


def main() -> None:
    args = arguments()
    store = Store(args.store) if args.store else demo_store(args.accounts, args.days, users=args.users)
    load_before = load()
    started = time.perf_counter()
    database = Database(store)
    opened = time.perf_counter() - started
    typed = [row["typed"] for row in database.sql(TYPED).rows]
    find_users(database, typed[0][:1])  # the first question of a page, not counted (its files not yet cached)
    seconds: list[float] = []
    cpu: list[
        float
    ] = []  # this process's CPU time per search (DuckDB's threads included): the load does not stretch it
    found: dict[str, int] = {}
    for text in typed:
        for end in range(1, len(text) + 1):
            for _ in range(args.repeat):
                began, used = time.perf_counter(), time.process_time()
                rows = find_users(database, text[:end])
                seconds.append(time.perf_counter() - began)
                cpu.append(time.process_time() - used)
            found[text] = rows.num_rows
    user = typed[0]
    command = [str(Path(sys.executable).with_name("credsight")), "user", user, "--store", store.url, "--format", "json"]
    began = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    one_user = time.perf_counter() - began
    if done.returncode != 0:
        raise SystemExit(f"credsight user failed: {done.stderr}")
    database.close()
    rows = database_rows(store)
    median, worst = statistics.median(seconds) * 1000, max(seconds) * 1000

    print(f"## User search ({args.accounts:,} accounts x {args.users} users x {args.days} days: {rows:,} rows)\n")
    print(
        f"`python -m bench.search --accounts {args.accounts} --users {args.users} --days {args.days}` on {machine()}, "
        f"duckdb {duckdb.__version__}; load average {load_before} before, {load()} after (the machine is shared).\n"
    )
    print(
        f"{len(seconds)} searches: every prefix of {len(typed)} typed texts ({', '.join(f'`{t}`' for t in typed)}), "
        f"each asked {args.repeat} times, on one open store (opened in {opened * 1000:.0f} ms, not counted).\n"
    )
    print("| measure | time |")
    print("|---|---:|")
    print(f"| a search as someone types, median | {median:.0f} ms |")
    print(f"| a search as someone types, worst | {worst:.0f} ms |")
    print(f"| CPU time of a search, median | {statistics.median(cpu) * 1000:.0f} ms |")
    print(f"| `credsight user {user}` from start to exit | {one_user:.2f} s |")
    verdict = "met" if worst < GOAL_MS else "NOT met"
    print(f"\nGoal: every search under {GOAL_MS:.0f} ms: {verdict}. Rows found by the full texts: {found}.")


def database_rows(store: Store) -> int:
    with Database(store) as database:
        return int(database.sql("SELECT count(*) AS n FROM reports").rows[0]["n"])


if __name__ == "__main__":
    main()
