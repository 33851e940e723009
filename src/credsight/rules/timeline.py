"""The event timeline the /changes page shows: events per day by severity (its figure), and the events
ordered by severity then date, narrowed by severity and kind, with the informational ones folded into a
count unless asked for. Pure functions of an events table (rules.changes.events), so a page asks the
store once and draws both from the same rows.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc

from credsight.query import Database
from credsight.rules.changes import DEFAULT_SETTINGS, EventSettings, events
from credsight.rules.severity import SEVERITIES

PER_DAY_SCHEMA = pa.schema(
    [
        pa.field("snapshot_date", pa.date32(), nullable=False),
        pa.field("severity", pa.string(), nullable=False),
        pa.field("events", pa.int64(), nullable=False),
    ]
)


def per_day(found: pa.Table) -> pa.Table:
    """Events per day and severity (PER_DAY_SCHEMA), by day then severity from critical down; a day and
    severity without events has no row."""
    if found.num_rows == 0:
        return PER_DAY_SCHEMA.empty_table()
    counted = found.group_by(["snapshot_date", "severity"]).aggregate([("kind", "count")])
    table = pa.table(
        {
            "snapshot_date": counted.column("snapshot_date"),
            "severity": counted.column("severity"),
            "events": counted.column("kind_count"),
            "rank": pc.index_in(counted.column("severity"), pa.array(SEVERITIES)),
        }
    )
    ordered = table.sort_by([("snapshot_date", "ascending"), ("rank", "descending")])
    return ordered.drop_columns(["rank"]).cast(PER_DAY_SCHEMA)


def events_per_day(
    database: Database,
    start: dt.date,
    end: dt.date,
    accounts: Sequence[str] | None = None,
    settings: EventSettings = DEFAULT_SETTINGS,
) -> pa.Table:
    """The figure's rows for a period: per_day of the events seen from `start` to `end`."""
    return per_day(events(database, start, end, accounts, settings))


@dataclass(frozen=True)
class Timeline:
    """The table's rows and what was folded away."""

    rows: pa.Table  # rules.changes.EVENT_SCHEMA, worst first, then newest first
    folded: int  # informational events left out (shown as a count)


def timeline(
    found: pa.Table,
    *,
    severities: Sequence[str] = (),
    kinds: Sequence[str] = (),
    user: str | None = None,
    informational: bool = False,
) -> Timeline:
    """The events ordered by severity (critical first) then date (newest first), account and user; only
    `severities` and `kinds` when given (empty: all), only `user`'s; informational ones folded into a count
    unless `informational` (or asked for by `severities`)."""
    rows = found
    if severities:
        rows = rows.filter(pc.is_in(rows.column("severity"), pa.array(list(severities), pa.string())))
    if kinds:
        rows = rows.filter(pc.is_in(rows.column("kind"), pa.array(list(kinds), pa.string())))
    if user is not None:
        rows = rows.filter(pc.equal(rows.column("user"), user))
    folded = 0
    if not informational and "informational" not in severities:
        kept = rows.filter(pc.not_equal(rows.column("severity"), "informational"))
        folded, rows = rows.num_rows - kept.num_rows, kept
    ranked = rows.append_column("rank", pc.index_in(rows.column("severity"), pa.array(SEVERITIES)))
    ordered = ranked.sort_by(
        [
            ("rank", "descending"),
            ("snapshot_date", "descending"),
            ("account_id", "ascending"),
            ("user", "ascending"),
            ("kind", "ascending"),
        ]
    )
    return Timeline(ordered.drop_columns(["rank"]), folded)
