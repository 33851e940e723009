"""`credsight trends`: the per-day totals of the selected accounts, and the SSO migration projection."""

from __future__ import annotations

import datetime as dt
import json
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
)
from credsight.cli.output import write_rows

if TYPE_CHECKING:
    from credsight.store import Store

DEFAULT_DAYS = 90
SHOWN = (
    "snapshot_date",
    "accounts",
    "users",
    "humans",
    "machines",
    "dormant",
    "console_without_mfa",
    "old_active_keys",
)


def trends(
    store: StoreOption = DEFAULT_STORE,
    since: Annotated[str | None, typer.Option("--from", help="First day (default: 90 days before the last).")] = None,
    until: Annotated[str | None, typer.Option("--to", help="Last day (default: the latest snapshot).")] = None,
    account: AccountsOption = None,
    ou: OuOption = None,
    format: TableFormatOption = TableFormat.table,
    endpoint_url: EndpointOption = None,
) -> None:
    """Per day: IAM users by class, console users without MFA, old keys, failing findings per rule, SSO projection."""
    run_trends(
        open_store(store, endpoint_url),
        maybe_date(since, "--from"),
        maybe_date(until, "--to"),
        parse_ids(account, "--account"),
        ou,
        format,
    )


def run_trends(
    store: Store,
    start: dt.date | None,
    end: dt.date | None,
    accounts: Sequence[str],
    ou: str | None,
    format: TableFormat,
    out: IO[str] = sys.stdout,
) -> None:
    from credsight.query import Database
    from credsight.rules.trends import migration_projection, totals_per_day

    with Database(store) as database:
        chosen = database.scope(accounts, ou)
        end = end or database.newest_snapshot() or dt.datetime.now(dt.UTC).date()
        start = start or end - dt.timedelta(days=DEFAULT_DAYS - 1)
        totals = totals_per_day(database, start, end, chosen)
        projection = migration_projection(database, end, chosen)
    if format is TableFormat.json:
        record = {
            "zero_on": projection.zero_on and str(projection.zero_on),
            "per_day": round(projection.per_day, 3),
            "humans_now": projection.humans_now,
        }
        json.dump({"projection": record}, out)
        out.write("\n")
    write_rows(totals, format, out, shown=SHOWN, headers="words")
    if format is TableFormat.table:
        print(f"SSO migration: {projection.describe()}", file=out)
