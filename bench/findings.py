"""Findings and trends over 1,000 accounts x 100 users x 365 days of the demo organization.

    python -m bench.findings [--accounts 1000] [--users 100] [--days 365]

Targets (issue 4): one date's findings, all rules, all accounts, in under 1 s. Measured in
parts, so the cost of each is visible: the snapshot's findings with evidence, and the
first-seen dates (a pass over the history of the users found).
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Mapping
from unittest import mock

from bench.common import demo_size_arguments, demo_store, load_average, machine
from credsight.query import Database
from credsight.query.database import Scratch
from credsight.rules.findings import evaluate
from credsight.rules.trends import migration_projection, per_day


def timed_steps(database: Database) -> dict[str, float]:
    """Seconds spent computing each intermediate table of one evaluation, by its name.

    Every step of `evaluate` that computes rows keeps them with `Scratch.keep` (the snapshot, the
    rows found, the last passes, the first-seen dates): timing that method times each step.
    """
    spent: dict[str, float] = {}
    real = Scratch.keep

    def keep(work: Scratch, name: str, text: str, parameters: Mapping[str, object] | None = None) -> None:
        started = time.perf_counter()
        try:
            real(work, name, text, parameters)
        finally:
            spent[name] = spent.get(name, 0.0) + time.perf_counter() - started

    with mock.patch.object(Scratch, "keep", keep):
        evaluate(database)
    return spent


def main() -> None:
    args = demo_size_arguments()
    store = demo_store(args.accounts, args.days, users=args.users)
    load = load_average()
    with Database(store) as database:
        evaluate(database)  # warm the file cache
        runs = []
        for _ in range(args.repeat):
            started = time.perf_counter()
            evaluation = evaluate(database)
            runs.append(time.perf_counter() - started)
        parts = timed_steps(database)
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

`.venv/bin/python -m bench.findings --accounts {args.accounts} --users {args.users} --days {args.days} \
--repeat {args.repeat}` on {machine()}; load average {load} before, {load_average()} after (1 / 5 / 15 min).
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
