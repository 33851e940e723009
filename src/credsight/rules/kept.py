"""What each collection keeps beside the store so that the questions asked most read a small table: the
newest day's findings (findings.keep_findings), each month's events (kept_events.py) and the
SSO migration's rollup (people.keep_rollup, with the `[people]` settings of credsight.toml). Called by
`collect`, `ingest`, `compact`, the demo and the deployed Finish step, after the run's files are written;
what is kept describes the store as it then is (query/kept.py).
"""

from __future__ import annotations

import datetime as dt

import pyarrow as pa

from credsight.config import section
from credsight.errors import UserFixable
from credsight.query import Database
from credsight.rules.changes import events
from credsight.rules.events import DEFAULT_SETTINGS
from credsight.rules.findings import keep_findings
from credsight.rules.kept_events import keep_months
from credsight.rules.matching import people_settings
from credsight.rules.people import keep_rollup, mapping_lines
from credsight.store import Store


def keep_answers(store: Store) -> list[str]:
    """Keep the findings and the SSO migration's rollup of the store as it is; what could not be kept, and why,
    in words (bad `[people]` settings or mapping: the questions then compute their answers, and say so)."""
    troubles = []
    try:
        keep_findings(store)
    except UserFixable as e:
        troubles.append(f"the newest findings were not kept: {e}")
    try:
        keep_events(store)
    except UserFixable as e:
        troubles.append(f"the newest events were not kept: {e}")
    try:
        settings = people_settings(section("people"))
        keep_rollup(store, settings, *mapping_lines(store, settings))
    except UserFixable as e:
        troubles.append(f"the SSO migration's rollup was not kept: {e}")
    return troubles


def keep_events(store: Store) -> list[str]:
    """Keep the events of each month with the default settings (kept_events.py); the months computed (none when
    the store is empty or holds them already)."""
    with Database(store) as database:

        def compute(since: dt.date, until: dt.date) -> pa.Table:
            return events(database, since, until, None, DEFAULT_SETTINGS, use_summaries=True, use_kept=False)

        return keep_months(database, compute)
