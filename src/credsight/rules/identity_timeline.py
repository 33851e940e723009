"""Who each IAM user is over time, and whom Identity Center lets into which account when: the small tables
that rules/people.py's questions read (see query/views.py's PEOPLE_* for what each holds), computed once
per Database from the Identity Center snapshots and the matching rules (matching.py).

Every fact of the snapshots (a user as named, an assignment, a membership) becomes unbroken runs of
snapshot numbers, counted from 1 (`idx`); a name's matches are decided over those runs, and a day reads
the snapshot as of it (the calendar).
"""

from __future__ import annotations

import bisect
import datetime as dt
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import pyarrow as pa

from credsight.errors import PeopleError
from credsight.query import Database
from credsight.query.database import Scratch
from credsight.query.views import (
    CALENDAR,
    EVERY_DAY,
    PEOPLE_FRAGMENTS,
    PEOPLE_MACROS,
    PEOPLE_STEPS,
    PEOPLE_VIEWS,
    READY_DAYS,
    STATE_NAME,
)
from credsight.rules.matching import (
    GLOB,
    Candidate,
    MappingLine,
    Match,
    PeopleSettings,
    Version,
    mapping_candidates,
    name_candidates,
    resolve,
)

MATCH = pa.struct(
    [
        ("status", pa.string()),
        ("rule", pa.string()),
        ("person", pa.int32()),
        ("user_id", pa.string()),
        ("user_name", pa.string()),
        ("candidates", pa.list_(pa.string())),
    ]
)
NAMES_SCHEMA = pa.schema(
    [("name_key", pa.string()), ("first_idx", pa.int32()), ("last_idx", pa.int32()), ("match", MATCH)]
)
KEYS_SCHEMA = pa.schema([("account_id", pa.string()), *NAMES_SCHEMA])

# The Identity Center snapshots, numbered from 1 (one per day: the views keep a day's newest run).
IDENTITY_DAYS = """
    SELECT snapshot_date, run_id, collected_at, row_number() OVER (ORDER BY snapshot_date) AS idx
    FROM identity_snapshots ORDER BY snapshot_date"""
# What each Identity Center snapshot (numbered: idx) lists, one row per fact and snapshot: the parts of each
# day's newest run (people_days holds it; the identity_* views take the same rows, a join later).
SEEN: dict[str, str] = {
    "user_versions": """
        SELECT u.user_id, coalesce(u.user_name, '') AS user_name, coalesce(u.emails, []) AS emails, d.idx
        FROM identity_users_parts AS u JOIN people_days AS d USING (snapshot_date, run_id)""",
    # an assignment of any permission set
    "assigned": """
        SELECT DISTINCT a.account_id, a.principal_type, a.principal_id, d.idx
        FROM identity_assignments_parts AS a JOIN people_days AS d USING (snapshot_date, run_id)""",
    "members": """
        SELECT m.group_id, m.user_id, d.idx
        FROM identity_memberships_parts AS m JOIN people_days AS d USING (snapshot_date, run_id)""",
}
RUN_KEYS = {
    "user_versions": "user_id, user_name, emails",
    "assigned": "account_id, principal_type, principal_id",
    "members": "group_id, user_id",
}
# Unbroken runs of snapshots of each fact: most have one, found by counting; only those with gaps are
# numbered into islands.
RUN_SPANS = """
    SELECT {keys}, min(idx) AS first_idx, max(idx) AS last_idx, count(*) AS n FROM ({seen}) GROUP BY {keys}"""
RUN_ISLANDS = """
    SELECT {keys}, min(idx) AS first_idx, max(idx) AS last_idx FROM (
        SELECT {keys}, idx, idx - row_number() OVER (PARTITION BY {keys} ORDER BY idx) AS island
        FROM ({seen}) SEMI JOIN (SELECT {keys} FROM spans WHERE n <> last_idx - first_idx + 1) USING ({keys}))
    GROUP BY {keys}, island"""
KNOWN_ACCOUNTS = "SELECT account_id FROM account_metadata UNION SELECT DISTINCT account_id FROM daily"
KNOWN_NAMES = """SELECT DISTINCT lower("user") AS name FROM report_parts WHERE user_class <> 'root'"""


NO_SNAPSHOT = (
    "the store holds no IAM Identity Center snapshot yet; run 'credsight collect' from the management account "
    "or the Identity Center delegated administrator (it collects Identity Center when an instance exists)"
)


def identity_days(database: Database) -> list[dt.date]:
    """The days of the Identity Center snapshots, oldest first; a PeopleError when there is none."""
    days: list[dt.date] = database.sql(IDENTITY_DAYS).table.column("snapshot_date").to_pylist()
    if not days:
        raise PeopleError(NO_SNAPSHOT)
    return days


@dataclass(frozen=True)
class AbsentPerson:
    """A mapping line naming an Identity Center user that the newest snapshot does not hold."""

    line: MappingLine
    source: str | None

    def describe(self) -> str:
        where = f"{self.source}: line {self.line.line}" if self.source else f"line {self.line.line}"
        return f"{where}: {self.line.identity_center_user!r} is not an Identity Center user"


@dataclass(frozen=True)
class Timeline:
    """What build_timeline made: the snapshots' days, the steps of the questions, the calendar."""

    days: list[dt.date]  # the Identity Center snapshots, oldest first
    absent: list[AbsentPerson]
    steps: dict[str, str]  # PEOPLE_STEPS as this store and mapping need them
    calendar: tuple[dt.date, list[int]]  # the first snapshot's day, and the snapshot as of each day from it on
    mapped: bool  # whether any mapping line covers some account and name


def build_timeline(
    database: Database, settings: PeopleSettings, mapping: Sequence[MappingLine] = (), source: str | None = None
) -> Timeline:
    """Compute who each IAM user name is over time and who reaches which account, then create the
    `people_rows` and `people_pairs` macros and the `people` view over them (on this Database, for every thread)."""
    days_table = database.sql(IDENTITY_DAYS).table
    if days_table.num_rows == 0:
        raise PeopleError(NO_SNAPSHOT)
    days = days_table.column("snapshot_date").to_pylist()
    horizon = len(days)
    with database.scratch() as work:
        work.table("days_found", days_table)
        work.sql(
            "CREATE OR REPLACE TABLE people_days AS SELECT idx, snapshot_date, run_id, collected_at FROM days_found"
        )
        runs = {name: _runs(work, name) for name in SEEN}
    versions = [
        Version(r["user_id"], r["user_name"], tuple(r["emails"]), r["first_idx"], r["last_idx"])
        for r in runs["user_versions"].to_pylist()
    ]
    persons = {user_id: number for number, user_id in enumerate(sorted({v.user_id for v in versions}))}
    by_name = name_candidates(versions, settings)
    names = [(key, match) for key, found in by_name.items() for match in resolve(found)]
    keys, absent = _mapped(database, settings, mapping, source, versions, by_name, horizon)
    newest = database.newest_snapshot() or days[-1]
    calendar_days = [days[0] + dt.timedelta(n) for n in range((max(newest, days[-1]) - days[0]).days + 1)]
    superseded = database.sql("SELECT count(*) AS n FROM superseded").first()
    fragments = PEOPLE_FRAGMENTS["with_mapping" if keys else "without_mapping"]
    unsuperseded = (
        "ANTI JOIN superseded USING (account_id, snapshot_date, run_id)" if superseded and superseded["n"] else ""
    )
    with database.scratch() as work:
        work.table("names_found", _names_table(names, persons))
        work.table("keys_found", _keys_table(keys, persons))
        work.table(
            "persons_found",
            pa.table({"user_id": list(persons), "person": pa.array(list(persons.values()), pa.int32())}),
        )
        calendar = pa.table(
            {
                "first_day": pa.array([days[0]], pa.date32()),
                "idxs": pa.array([[bisect.bisect_right(days, d) for d in calendar_days]], pa.list_(pa.int32())),
            }
        )
        work.table("calendar_found", calendar)
        work.sql("CREATE OR REPLACE TABLE people_names AS SELECT * FROM names_found")
        work.sql("CREATE OR REPLACE TABLE people_keys AS SELECT * FROM keys_found")
        work.sql("CREATE OR REPLACE TABLE people_persons AS SELECT * FROM persons_found")
        work.sql("CREATE OR REPLACE TABLE people_calendar AS SELECT * FROM calendar_found")
        work.table("assigned_found", runs["assigned"])
        work.table("members_found", runs["members"])
        work.sql("CREATE OR REPLACE TABLE people_assigned AS SELECT * FROM assigned_found")
        work.sql(
            """CREATE OR REPLACE TABLE people_members AS
               SELECT m.group_id, p.person, m.first_idx, m.last_idx FROM members_found AS m
               JOIN people_persons AS p USING (user_id)"""
        )
        work.sql(
            "CREATE OR REPLACE TABLE people_settings AS SELECT $days::INTEGER AS ready_days",
            {"days": settings.ready_days},
        )
        for name, body in PEOPLE_MACROS.items():
            work.sql(f"CREATE OR REPLACE MACRO {name}{body.format(unsuperseded=unsuperseded, **fragments)}")
        period = "$start, $stop, $accounts, $first_day, $idxs"
        steps = {
            name: body.format(period=period, ready_days="$ready_days", **fragments)
            for name, body in PEOPLE_STEPS.items()
        }
        whole = {
            name: body.format(period=f"{EVERY_DAY}, {CALENDAR}", ready_days=READY_DAYS, **fragments)
            for name, body in PEOPLE_STEPS.items()
        }
        for name, body in PEOPLE_VIEWS.items():
            work.sql(f"CREATE OR REPLACE VIEW {name} AS {body.format(every_day=EVERY_DAY, state=STATE_NAME, **whole)}")
    idxs = [bisect.bisect_right(days, d) for d in calendar_days]
    return Timeline(days, absent, steps, (days[0], idxs), bool(keys))


def _runs(work: Scratch, name: str) -> pa.Table:
    """The unbroken runs of snapshots of each fact SEEN[name] lists (by RUN_KEYS[name])."""
    keys, seen = RUN_KEYS[name], SEEN[name]
    work.sql("DROP TABLE IF EXISTS spans")
    work.keep("spans", RUN_SPANS.format(keys=keys, seen=seen))
    spans = work.sql(f"SELECT {keys}, first_idx, last_idx FROM spans WHERE n = last_idx - first_idx + 1").table  # noqa: S608
    gappy = work.sql("SELECT count(*) AS n FROM spans WHERE n <> last_idx - first_idx + 1").first()
    if not gappy or not gappy["n"]:
        return spans
    return pa.concat_tables([spans, work.sql(RUN_ISLANDS.format(keys=keys, seen=seen)).table.cast(spans.schema)])


def _mapped(
    database: Database,
    settings: PeopleSettings,
    lines: Sequence[MappingLine],
    source: str | None,
    versions: Sequence[Version],
    by_name: dict[str, list[Candidate]],
    horizon: int,
) -> tuple[list[tuple[str, str, Match]], list[AbsentPerson]]:
    """The matches of each (account, lower-cased name) that a mapping line covers, and the lines naming
    Identity Center users the newest snapshot does not hold."""
    rank = settings.rank("mapping")
    if rank is None or not lines:
        return [], []
    by_user_name: dict[str, list[Version]] = defaultdict(list)
    for v in versions:
        by_user_name[v.user_name.lower()].append(v)
    present = {v.user_name.lower() for v in versions if v.last == horizon}
    absent = [AbsentPerson(line, source) for line in lines if line.identity_center_user.lower() not in present]
    accounts = [r["account_id"] for r in database.sql(KNOWN_ACCOUNTS).rows]
    known_names: list[str] | None = None

    def names() -> list[str]:
        nonlocal known_names
        if known_names is None:
            known_names = [r["name"] for r in database.sql(KNOWN_NAMES).rows]
        return known_names

    targets: dict[tuple[str, str], set[str]] = defaultdict(set)
    for line in lines:
        users = line.users(names) if GLOB.search(line.user) else [line.user.lower()]
        for account in line.accounts(accounts):
            for user in users:
                targets[account, user].add(line.identity_center_user)
    keys = []
    for (account, name), wanted in sorted(targets.items()):
        candidates = mapping_candidates(wanted, by_user_name, rank, horizon) + by_name.get(name, [])
        keys += [(account, name, match) for match in resolve(candidates)]
    return keys, absent


def _match_record(match: Match, persons: dict[str, int]) -> dict[str, object]:
    return {
        "status": match.status,
        "rule": match.rule,
        "person": persons.get(match.user_id) if match.user_id else None,
        "user_id": match.user_id,
        "user_name": match.user_name,
        "candidates": list(match.candidates) or None,
    }


def _names_table(names: Iterable[tuple[str, Match]], persons: dict[str, int]) -> pa.Table:
    rows = [
        {"name_key": key, "first_idx": m.first, "last_idx": m.last, "match": _match_record(m, persons)}
        for key, m in names
    ]
    return pa.Table.from_pylist(rows, schema=NAMES_SCHEMA)


def _keys_table(keys: Iterable[tuple[str, str, Match]], persons: dict[str, int]) -> pa.Table:
    rows = [
        {
            "account_id": account,
            "name_key": key,
            "first_idx": m.first,
            "last_idx": m.last,
            "match": _match_record(m, persons),
        }
        for account, key, m in keys
    ]
    return pa.Table.from_pylist(rows, schema=KEYS_SCHEMA)
