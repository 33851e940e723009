"""Keeping the store fast to read: compaction, then the summaries readers use instead of a month's rows.

The CLI's `compact`, the demo, the benchmarks and the deployed collector's Finish step all call
`compact_and_summarise`. What is summarised is given as data (SummaryKind: SQL over one part's
rows): the rules define theirs (rules/summaries.py), the store only keeps them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

from credsight.query.database import Database
from credsight.store import Store
from credsight.store.compaction import compact
from credsight.store.derived import SummaryKind, place, summaries_of, summary_name
from credsight.store.outcomes import compact_outcomes
from credsight.store.schemas import STORED_SCHEMA


def summarise(store: Store, kinds: Sequence[SummaryKind]) -> int:
    """Summarise every live report part that has no summary of each kind; remove summaries of replaced
    parts and of other versions. Returns how many summaries were written.

    Run after compaction, when a month is one large part: later reads skip its rows.
    """
    written = 0
    with Database(store) as database:
        parts = database.report_parts
        done = {kind.name: summaries_of(store, parts, kind) for kind in kinds}
        for part in parts:
            missing = [kind for kind in kinds if place(part.path) not in done[kind.name]]
            if not missing:
                continue
            with database.scratch() as work:
                work.files("part_rows", [part.path], STORED_SCHEMA)
                last = work.sql("SELECT max(snapshot_date) AS d FROM part_rows").rows[0]["d"]
                if last is None:
                    continue
                for kind in missing:
                    table = work.sql(kind.over("part_rows"), kind.parameters).table
                    store.write_derived(kind.name, place(part.path)[0], summary_name(part.name, last, kind), table)
                    written += 1
        for kind in kinds:
            kept = {path for path, _last in summaries_of(store, parts, kind).values()}
            for path in store.derived_files(kind.name).values():
                if path not in kept:
                    store.delete(path)
    return written


class Compacted(NamedTuple):
    parts: int  # month parts merged
    summaries: int  # summaries written
    outcomes: int  # outcome files merged


def compact_and_summarise(store: Store, kinds: Sequence[SummaryKind]) -> Compacted:
    """Merge each month's parts into one file, then summarise the new files; merge the runs' outcome files."""
    merged = compact(store)
    return Compacted(merged, summarise(store, kinds), compact_outcomes(store))
