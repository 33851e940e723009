"""`credsight changes`: the changes between consecutive snapshots, as a table, CSV or JSON."""

from __future__ import annotations

import datetime as dt
import sys
from collections.abc import Sequence
from typing import IO, TYPE_CHECKING, Annotated

import typer

from credsight.cli.arguments import (
    DEFAULT_STORE,
    AccountsOption,
    EndpointOption,
    OuOption,
    StoreOption,
    TableFormat,
    TableFormatOption,
    maybe_date,
    open_store,
    parse_ids,
    split_values,
)
from credsight.cli.output import write_rows
from credsight.errors import ScopeError

if TYPE_CHECKING:
    from credsight.store import Store

DEFAULT_DAYS = 7
SHOWN = ("snapshot_date", "account_id", "account_name", "user", "kind", "access_key", "before", "after")


def changes(
    store: StoreOption = DEFAULT_STORE,
    since: Annotated[str | None, typer.Option(help="First day of changes (default: 7 days before the last).")] = None,
    until: Annotated[str | None, typer.Option(help="Last day of changes (default: the latest snapshot).")] = None,
    account: AccountsOption = None,
    ou: OuOption = None,
    kind: Annotated[list[str] | None, typer.Option(help="Only these kinds of change (repeat or commas).")] = None,
    format: TableFormatOption = TableFormat.table,
    endpoint_url: EndpointOption = None,
) -> None:
    """What changed between each account's consecutive snapshots: users, passwords, MFA, keys, root use."""
    run_changes(
        open_store(store, endpoint_url),
        maybe_date(since, "--since"),
        maybe_date(until, "--until"),
        parse_ids(account, "--account"),
        ou,
        split_values(kind),
        format,
    )


def run_changes(
    store: Store,
    since: dt.date | None,
    until: dt.date | None,
    accounts: Sequence[str],
    ou: str | None,
    kinds: Sequence[str],
    format: TableFormat,
    out: IO[str] = sys.stdout,
) -> None:
    import pyarrow as pa
    import pyarrow.compute as pc

    from credsight.query import Database
    from credsight.rules.changes import KINDS, changes

    unknown = [k for k in kinds if k not in KINDS]
    if unknown:
        raise ScopeError(f"--kind {unknown[0]!r} is not a kind of change; the kinds are: {', '.join(KINDS)}")
    with Database(store) as database:
        chosen = database.scope(accounts, ou)
        last = until or database.newest_snapshot() or dt.datetime.now(dt.UTC).date()
        found = changes(database, since or last - dt.timedelta(days=DEFAULT_DAYS - 1), until, chosen)
    if kinds:
        found = found.filter(pc.is_in(found.column("kind"), pa.array(list(kinds))))
    write_rows(found, format, out, shown=SHOWN, width=160, headers="words")
    if format is TableFormat.table:
        print(f"{found.num_rows} changes", file=out)
