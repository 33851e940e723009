"""Which summaries stand for their parts in a question up to a day, and which parts are read as rows.

A part's summary (store/derived.py) stands for its rows when every row is on or before the day
asked (or, for a summary of a row per day, whatever the day: the question reads its rows up to the
day), and when no report written after it (a part without a summary) re-collects an account and
day the part holds: the newer run replaces that day's rows, which the summary still counts. Such
a part is read as rows instead (re-collections are rare; the answer is the same, only slower).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from credsight.query.database import Database
from credsight.store.derived import SummaryKind, place, summaries_of
from credsight.store.schemas import DAILY_SCHEMA

# (account, day) reports that both a summarised part and a part read as rows hold.
REPORTED_IN_BOTH = """
    SELECT DISTINCT s.filename FROM summarised_reports AS s JOIN raw_reports AS r USING (account_id, snapshot_date)"""


@dataclass(frozen=True)
class Reading:
    """What a question up to a day reads: the summaries that stand, and the report parts read as rows."""

    summaries: list[str]
    rows: list[str]


def reading(database: Database, kind: SummaryKind, until: dt.date, use_summaries: bool = True) -> Reading:
    """The summaries of `kind` that stand for their parts up to `until`, and the parts to read as rows."""
    store = database.store
    found = summaries_of(store, database.report_parts, kind) if use_summaries else {}
    standing = {where: path for where, (path, last) in found.items() if last <= until or kind.by_day}
    raw = [part for part in database.report_parts if place(part.path) not in standing]
    if standing and raw:
        twins = {where: store.join("daily", *where) for where in standing}  # each part's daily file: its reports
        with database.scratch() as work:
            work.files("summarised_reports", list(twins.values()), DAILY_SCHEMA, filenames=True)
            work.files("raw_reports", [store.join("daily", *place(part.path)) for part in raw], DAILY_SCHEMA)
            replaced = {row["filename"] for row in work.sql(REPORTED_IN_BOTH).rows}
        standing = {where: path for where, path in standing.items() if twins[where] not in replaced}
        raw = [part for part in database.report_parts if place(part.path) not in standing]
    return Reading(list(standing.values()), [part.path for part in raw])
