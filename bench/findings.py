"""Findings and trends over 1,000 accounts x 100 users x 365 days of the demo organization.

    python -m bench.findings [--accounts 1000] [--users 100] [--days 365]

Targets (issue 4): one date's findings, all rules, all accounts, in under 1 s. Measured in
parts, so the cost of each is visible: the snapshot's findings with evidence, and the
first-seen dates (a pass over the history of the users found).
"""

from __future__ import annotations

import statistics
import time

from bench.common import demo_size_arguments, demo_store, machine
from credsight.query import Database
from credsight.rules.findings import evaluate
from credsight.rules.trends import migration_projection, per_day


def timed_sql(database: Database) -> dict[str, float]:
    """Seconds spent in each statement of one evaluation, by the table it creates."""
    spent: dict[str, float] = {}
    connection = database.connection
    real = connection.execute

    class Timed:
        def execute(self, text: str, parameters: object = None) -> object:
            started = time.perf_counter()
            answer = real(text) if parameters is None else real(text, parameters)
            words = text.split()
            name = words[5] if words[:4] == ["CREATE", "OR", "REPLACE", "TEMP"] else "other"
            spent[name] = spent.get(name, 0.0) + time.perf_counter() - started
            return answer

        def __getattr__(self, name: str) -> object:
            return getattr(connection, name)

    database.connection = Timed()  # type: ignore[assignment]
    try:
        evaluate(database)
    finally:
        database.connection = connection
    return dict(spent)


def main() -> None:
    args = demo_size_arguments()
    store = demo_store(args.accounts, args.days, users=args.users)
    with Database(store) as database:
        evaluate(database)  # warm the file cache
        runs = []
        for _ in range(args.repeat):
            started = time.perf_counter()
            evaluation = evaluate(database)
            runs.append(time.perf_counter() - started)
        parts = timed_sql(database)
        last = evaluation.date
        first = database.sql("SELECT min(snapshot_date) AS d FROM daily").rows[0]["d"]
        started = time.perf_counter()
        year = per_day(database, first, last)
        trend_seconds = time.perf_counter() - started
        started = time.perf_counter()
        projection = migration_projection(database, last)
        projection_seconds = time.perf_counter() - started
    snapshot = parts.get("snapshot", 0) + parts.get("found", 0)
    history = parts.get("last_passed", 0) + parts.get("first_seen", 0)
    median = statistics.median(runs)
    verdict = "under 1 s: " + ("met" if median < 1 else "NOT met")
    print(f"""
## Findings and trends

`.venv/bin/python -m bench.findings --accounts {args.accounts} --users {args.users} --days {args.days}` on {machine()}.
{evaluation.findings.num_rows} findings on {last} over {year.num_rows} reports of history.

| measure | seconds | target |
|---|---|---|
| one date's findings, all rules and accounts, with first-seen (median of {args.repeat}) | {median:.2f} | {verdict} |
| of which: the snapshot's findings with evidence | {snapshot:.2f} | |
| of which: first-seen, a pass over the found users' history | {history:.2f} | |
| a year of trends per day and account (counts and failing rows per rule) | {trend_seconds:.2f} | |
| SSO migration projection (60-day fit) | {projection_seconds:.2f} | |

Projection: {projection.describe()}.
""")


if __name__ == "__main__":
    main()
