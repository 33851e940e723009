"""`credsight changes`: the changes between consecutive snapshots, as a table, CSV or JSON."""

from __future__ import annotations

import datetime as dt
import sys
from collections.abc import Sequence
from typing import IO

import pyarrow as pa
import pyarrow.compute as pc
from rich.console import Console
from rich.table import Table

from credsight.present.exports import write_csv, write_json
from credsight.query import Database
from credsight.rules.changes import KINDS, changes
from credsight.scope import ScopeError
from credsight.store import Store

DEFAULT_DAYS = 7


def run_changes(
    store: Store,
    since: dt.date | None,
    until: dt.date | None,
    accounts: Sequence[str],
    ou: str | None,
    kinds: Sequence[str],
    format: str,
    out: IO[str] = sys.stdout,
) -> None:
    unknown = [k for k in kinds if k not in KINDS]
    if unknown:
        raise ScopeError(f"--kind {unknown[0]!r} is not a kind of change; the kinds are: {', '.join(KINDS)}")
    with Database(store) as database:
        chosen = database.scope(accounts, ou)
        last = until or database.newest_snapshot() or dt.datetime.now(dt.UTC).date()
        found = changes(database, since or last - dt.timedelta(days=DEFAULT_DAYS - 1), until, chosen)
    if kinds:
        found = found.filter(pc.is_in(found.column("kind"), pa.array(list(kinds))))
    if format == "csv":
        write_csv(found, out)
    elif format == "json":
        write_json(found, out)
    else:
        print_changes(found, out)


def print_changes(found: pa.Table, out: IO[str]) -> None:
    shown = ["snapshot_date", "account_id", "account_name", "user", "kind", "access_key", "before", "after"]
    table = Table(*[name.replace("_", " ") for name in shown])
    for row in found.select(shown).to_pylist():
        table.add_row(*["" if v is None else str(v) for v in row.values()])
    console = Console(file=out, highlight=False, markup=False, width=160)
    console.print(table)
    console.print(f"{found.num_rows} changes")
