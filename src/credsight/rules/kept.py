"""What each collection keeps beside the store so that the questions asked most read a small table: the
newest day's findings (findings.keep_findings), the newest month's events (kept_events.py) and the
SSO migration's rollup (people.keep_rollup, with the `[people]` settings of credsight.toml). Called by
`collect`, `ingest`, `compact`, the demo and the deployed Finish step, after the run's files are written;
what is kept describes the store as it then is (query/kept.py).
"""

from __future__ import annotations

import datetime as dt

from credsight.config import section
from credsight.errors import UserFixable
from credsight.query import Database
from credsight.query.kept import has_kept, write_kept
from credsight.rules.changes import events
from credsight.rules.events import DEFAULT_SETTINGS
from credsight.rules.findings import keep_findings
from credsight.rules.kept_events import KEPT_DAYS, KEPT_KIND, kept_events_key
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


def keep_events(store: Store) -> bool:
    """Keep the events of the newest KEPT_DAYS days with the default settings; False when the store is empty or
    holds them already."""
    with Database(store) as database:
        newest = database.newest_snapshot()
        if newest is None:
            return False
        key = kept_events_key(database)
        if has_kept(database, KEPT_KIND, key, ("events",)):
            return False
        since = newest - dt.timedelta(days=KEPT_DAYS - 1)
        found = events(database, since, None, None, DEFAULT_SETTINGS, use_summaries=True, use_kept=False)
        write_kept(store, KEPT_KIND, key, {"events": found})
    return True
