"""`credsight trends`: the per-day totals of the selected accounts, and the SSO migration projection."""

from __future__ import annotations

import datetime as dt
import json
import sys
from collections.abc import Sequence
from typing import IO

import pyarrow as pa
from rich.console import Console
from rich.table import Table

from credsight.present.exports import write_csv, write_json
from credsight.query import Database
from credsight.rules.trends import migration_projection, per_day
from credsight.store import Store

DEFAULT_DAYS = 90

TOTALS = """
    SELECT snapshot_date, count(*) AS accounts, {sums}
    FROM per_account GROUP BY snapshot_date ORDER BY snapshot_date"""


def run_trends(
    store: Store,
    start: dt.date | None,
    end: dt.date | None,
    accounts: Sequence[str],
    ou: str | None,
    format: str,
    out: IO[str] = sys.stdout,
) -> None:
    with Database(store) as database:
        chosen = database.scope(accounts, ou)
        end = end or database.newest_snapshot() or dt.datetime.now(dt.UTC).date()
        start = start or end - dt.timedelta(days=DEFAULT_DAYS - 1)
        table = per_day(database, start, end, chosen)
        database.connection.register("per_account", table)
        numbers = [name for name in table.column_names if name not in ("snapshot_date", "account_id")]
        totals = database.sql(TOTALS.format(sums=", ".join(f'sum("{n}")::BIGINT AS "{n}"' for n in numbers))).table
        projection = migration_projection(database, end, chosen)
    if format == "csv":
        write_csv(totals, out)
    elif format == "json":
        record = {
            "zero_on": projection.zero_on,
            "per_day": round(projection.per_day, 3),
            "humans_now": projection.humans_now,
        }
        json.dump({"projection": {**record, "zero_on": record["zero_on"] and str(record["zero_on"])}}, out)
        out.write("\n")
        write_json(totals, out)
    else:
        print_totals(totals, out)
        print(f"SSO migration: {projection.describe()}", file=out)


def print_totals(totals: pa.Table, out: IO[str]) -> None:
    shown = [
        "snapshot_date",
        "accounts",
        "users",
        "humans",
        "machines",
        "dormant",
        "console_without_mfa",
        "old_active_keys",
    ]
    table = Table(*[name.replace("_", " ") for name in shown])
    for row in totals.select(shown).to_pylist():
        table.add_row(*[str(v) for v in row.values()])
    Console(file=out, highlight=False, markup=False, width=140).print(table)
