"""The events each collection keeps (rules/kept.py writes them), a month at a time, with the default settings,
and how `changes.events` reads any period back from them.

The events of a day depend only on the snapshots up to it (each is compared with its account's previous one;
a key's regions and services are new against its history before), so a month's events stay right while the
report, daily and key-use files of that month and the months before stay as they were: a collection
computes again only the months whose files changed (usually the current one). Each month's events are kept
under derived/events-YYYY-MM/, keyed by those files; the account names, which change with the newest
snapshot, are joined when they are read.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable

import pyarrow as pa
import pyarrow.compute as pc

from credsight.query import Database
from credsight.query.kept import has_kept, kept_key, read_kept, write_kept
from credsight.rules.events import DEFAULT_SETTINGS, EVENTS
from credsight.store import Store

KIND_PREFIX = "events-"  # derived/events-YYYY-MM/: one month's events, kept after each collection
FORMER_KIND = "events"  # derived/events/: the newest 31 days, as kept before months were
SOURCES = ("report_parts", "daily_parts", "key_use_parts")  # what events read, by month; account names apart
MONTH = re.compile(r"/snapshot_month=(\d{4}-\d{2})/")

Compute = Callable[[dt.date, dt.date], pa.Table]  # the events from one day to another, computed


def kept_kind(month: str) -> str:
    return f"{KIND_PREFIX}{month}"


def months(database: Database) -> list[str]:
    """The months (YYYY-MM) the store holds snapshots of, in order."""
    return list(month_keys(database))


def month_keys(database: Database) -> dict[str, str]:
    """Each month the store holds, in order, and what its kept events depend on: the files of that month and
    before, the catalogue's severities, the default settings."""
    paths = [
        (m.group(1), path)
        for path in database.source_paths()
        if path.split(":", 1)[0] in SOURCES and (m := MONTH.search(path))
    ]
    settings = [repr(DEFAULT_SETTINGS), *(repr(e) for e in EVENTS)]
    return {
        month: kept_key(database, ["events 2", month, *settings], [path for of, path in paths if of <= month])
        for month in sorted({month for month, _path in paths})
    }


def kept_events(database: Database, since: dt.date, until: dt.date, accounts: list[str] | None) -> pa.Table | None:
    """The kept events from `since` to `until` of `accounts`, when every month of that period is kept (each
    snapshot is compared with its account's previous one, whatever `since` is: the rows of a later start are
    the same); account names as the store's newest metadata says."""
    newest = database.newest_snapshot()
    if newest is None:
        return None
    last = min(until, newest)
    keys = month_keys(database)
    tables = []
    for month in [m for m in keys if _first_day(since) <= _first_day_of(m) <= last]:
        found = read_kept(database, kept_kind(month), keys[month], ("events",))
        if found is None:
            return None
        tables.append(found["events"])
    if not tables:
        return None
    table = pa.concat_tables(tables)
    keep = pc.and_(
        pc.greater_equal(table.column("snapshot_date"), since), pc.less_equal(table.column("snapshot_date"), last)
    )
    if accounts is not None:
        keep = pc.and_(keep, pc.is_in(table.column("account_id"), pa.array(accounts, pa.string())))
    return _named(database, table.filter(keep))


def keep_months(database: Database, compute: Compute) -> list[str]:
    """Keep the events of every month not kept as the store now is (computed at once, from the first such
    month to the newest snapshot, then split by month); the months written. Removes what the former kind kept."""
    store = database.store
    newest = database.newest_snapshot()
    if newest is None:
        return []
    keys = month_keys(database)
    missing = [m for m, key in keys.items() if not has_kept(database, kept_kind(m), key, ("events",))]
    if missing:
        found = compute(_first_day_of(missing[0]), newest).drop_columns(["account_name"])
        month_of = pc.strftime(found.column("snapshot_date"), "%Y-%m")
        for month in missing:
            rows = found.filter(pc.equal(month_of, month))
            write_kept(store, kept_kind(month), keys[month], {"events": rows})
    _remove_former(store)
    return missing


def _named(database: Database, table: pa.Table) -> pa.Table:
    """The events with each account's name (the store's newest metadata) after its id."""
    names = database.sql("SELECT account_id, name FROM account_metadata").table
    where = pc.index_in(table.column("account_id"), names.column("account_id"))
    at = table.schema.get_field_index("account_id") + 1
    return table.add_column(at, pa.field("account_name", pa.string()), names.column("name").take(where))


def _remove_former(store: Store) -> None:
    for path in store.derived_files(FORMER_KIND).values():
        store.delete(path)


def _first_day_of(month: str) -> dt.date:
    return dt.date.fromisoformat(f"{month}-01")


def _first_day(day: dt.date) -> dt.date:
    return day.replace(day=1)
