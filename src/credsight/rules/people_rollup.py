"""The SSO migration's rollup: what the people questions are asked most, kept in the store so that a command
or a page reads two small tables instead of working out who each IAM user is over a year (seconds at 1,000
accounts).

Written after each collection (`collect`, `ingest`, `compact`, the demo, the deployed Finish step) for the
store as it then is and the `[people]` settings then in force, under `<store>/derived/people/key=<digest>/`:

- `counts.parquet`: per day from the first Identity Center snapshot, account, state and human or not, the
  people's IAM users and how many of them are seen for the last time that day (the burn-down's input);
- `states.parquet`: each person's IAM user in each account's newest snapshot, with its state (the newest
  day's `migration` rows, its worklists and person pages); its metadata holds that day, whether any mapping
  line applies, and the mapping lines naming Identity Center users that do not exist.

The key (query/kept.py) covers every file the views read, the settings and the mapping's lines: a reader
whose store or settings differ finds no rollup of its key and computes its answer from the snapshots
instead, which gives the same rows, more slowly.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from dataclasses import dataclass

import pyarrow as pa

from credsight.query import Database
from credsight.query.kept import kept_key, read_kept, write_kept
from credsight.rules.matching import MappingLine, PeopleSettings
from credsight.store import Store

KIND = "people"
TABLES = ("counts", "states")  # written in this order; read when both are there
VERSION = "1"  # of what the files hold; a new version's readers ignore older rollups
COUNTS_SCHEMA = pa.schema(
    [
        ("snapshot_date", pa.date32()),
        ("account_id", pa.string()),
        ("state_number", pa.uint8()),
        ("human", pa.bool_()),
        ("users", pa.int64()),
        ("leaving", pa.int64()),
    ]
)


@dataclass(frozen=True)
class PeopleRollup:
    """A rollup of the store as it is now, read back."""

    day: dt.date  # the newest snapshot day, which `states` is of
    states: pa.Table  # People.states(day) over every account
    counts: pa.Table  # COUNTS_SCHEMA, every day
    mapped: bool  # whether any mapping line covers some account and name
    absent: list[str]  # the mapping lines naming Identity Center users that do not exist, in words


def rollup_key(database: Database, settings: PeopleSettings, lines: Sequence[MappingLine]) -> str:
    """The digest of what the people's answers depend on: the files the views read, the settings, the mapping."""
    return kept_key(database, [VERSION, repr(settings), *map(repr, lines)])


def read_rollup(database: Database, settings: PeopleSettings, lines: Sequence[MappingLine]) -> PeopleRollup | None:
    """The rollup of this store and these settings, or None when none was written for them."""
    found = read_kept(database, KIND, rollup_key(database, settings, lines), TABLES)
    if found is None:
        return None
    states = found["states"]
    meta = json.loads((states.schema.metadata or {}).get(b"credsight", b"{}"))
    return PeopleRollup(
        dt.date.fromisoformat(meta["day"]),
        states.replace_schema_metadata(None),
        found["counts"],
        bool(meta["mapped"]),
        list(meta["absent"]),
    )


def write_rollup(
    store: Store, key: str, day: dt.date, states: pa.Table, counts: pa.Table, mapped: bool, absent: Sequence[str]
) -> None:
    """Write a rollup under its key (counts first: a reader wants both), removing every other key's."""
    meta = json.dumps({"day": day.isoformat(), "mapped": mapped, "absent": list(absent)}).encode()
    tables = {"counts": counts.cast(COUNTS_SCHEMA), "states": states.replace_schema_metadata({b"credsight": meta})}
    write_kept(store, KIND, key, tables)
