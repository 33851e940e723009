"""`credsight changes`: the changes between consecutive snapshots, ranked by severity, as a table, CSV or JSON."""

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
from credsight.rules.severity import Severity

if TYPE_CHECKING:
    from credsight.rules.changes import EventSettings
    from credsight.store import Store

DEFAULT_DAYS = 7
SHOWN = ("snapshot_date", "account_id", "account_name", "user", "kind", "severity", "access_key", "before", "after")
# Shared with `credsight serve` and `credsight notify` (a top-level allowed-regions in credsight.toml sets all).
AllowedRegionsOption = Annotated[
    list[str] | None,
    typer.Option(help="Regions keys may be used in (repeat or commas); others are key_outside_allowed_regions."),
]
RevivedDaysOption = Annotated[
    int, typer.Option(min=1, help="credential_revived: a password or key used again after this many days unused.")
]
MinSeverityOption = Annotated[
    Severity | None, typer.Option(help="Only events at or above this severity (informational ... critical).")
]


def changes(
    store: StoreOption = DEFAULT_STORE,
    since: Annotated[str | None, typer.Option(help="First day of changes (default: 7 days before the last).")] = None,
    until: Annotated[str | None, typer.Option(help="Last day of changes (default: the latest snapshot).")] = None,
    account: AccountsOption = None,
    ou: OuOption = None,
    kind: Annotated[list[str] | None, typer.Option(help="Only these kinds of change (repeat or commas).")] = None,
    min_severity: MinSeverityOption = None,
    revived_days: RevivedDaysOption = 90,
    allowed_regions: AllowedRegionsOption = None,
    format: TableFormatOption = TableFormat.table,
    endpoint_url: EndpointOption = None,
) -> None:
    """What changed between each account's consecutive snapshots, with each change's severity."""
    from credsight.rules.changes import EventSettings

    run_changes(
        open_store(store, endpoint_url),
        maybe_date(since, "--since"),
        maybe_date(until, "--until"),
        parse_ids(account, "--account"),
        ou,
        split_values(kind),
        format,
        min_severity=min_severity,
        settings=EventSettings(revived_days, tuple(split_values(allowed_regions))),
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
    *,
    min_severity: Severity | None = None,
    settings: EventSettings | None = None,
) -> None:
    import pyarrow as pa
    import pyarrow.compute as pc

    from credsight.query import Database
    from credsight.rules.changes import EVERY_KIND, EventSettings, events
    from credsight.rules.events import at_or_above

    unknown = [k for k in kinds if k not in EVERY_KIND]
    if unknown:
        raise ScopeError(f"--kind {unknown[0]!r} is not a kind of change; the kinds are: {', '.join(EVERY_KIND)}")
    with Database(store) as database:
        chosen = database.scope(accounts, ou)
        last = until or database.newest_snapshot() or dt.datetime.now(dt.UTC).date()
        start = since or last - dt.timedelta(days=DEFAULT_DAYS - 1)
        found = events(database, start, until, chosen, settings or EventSettings())
    if kinds:
        found = found.filter(pc.is_in(found.column("kind"), pa.array(list(kinds))))
    if min_severity is not None:
        found = found.filter(pc.is_in(found.column("severity"), pa.array(at_or_above(min_severity.value))))
    write_rows(found, format, out, shown=SHOWN, headers="words")
    if format is TableFormat.table:
        print(f"{found.num_rows} changes", file=out)
