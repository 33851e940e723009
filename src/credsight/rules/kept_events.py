"""The events each collection keeps (rules/kept.py writes them): those of the newest KEPT_DAYS days with the
default settings, and how `changes.events` reads a period back from them."""

from __future__ import annotations

import datetime as dt

import pyarrow as pa
import pyarrow.compute as pc

from credsight.query import Database
from credsight.query.kept import kept_key, read_kept
from credsight.rules.events import DEFAULT_SETTINGS, EVENTS

KEPT_KIND = "events"  # derived/events/: the events of the newest KEPT_DAYS days, kept after each collection
KEPT_DAYS = 31


def kept_events_key(database: Database) -> str:
    """What the kept events depend on besides the store: the catalogue's severities, the default settings."""
    return kept_key(database, ["events 1", repr(DEFAULT_SETTINGS), *(repr(e) for e in EVENTS)])


def kept_events(database: Database, since: dt.date, until: dt.date, accounts: list[str] | None) -> pa.Table | None:
    """The kept events from `since` to `until` of `accounts`, when they cover that period (each snapshot is
    compared with its account's previous one, whatever `since` is: the rows of a later start are the same)."""
    newest = database.newest_snapshot()
    if newest is None or until < newest or since < newest - dt.timedelta(days=KEPT_DAYS - 1):
        return None
    found = read_kept(database, KEPT_KIND, kept_events_key(database), ("events",))
    if found is None:
        return None
    table = found["events"]
    keep = pc.greater_equal(table.column("snapshot_date"), since)
    if accounts is not None:
        keep = pc.and_(keep, pc.is_in(table.column("account_id"), pa.array(accounts, pa.string())))
    return table.filter(keep)
