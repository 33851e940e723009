"""The SSO migration per person: each person's IAM user's state on a day, the states over time (the
burn-down), when nothing is left to migrate, the worklists and one person's page, as Arrow tables.

States of each person's IAM user on a day (a day reads the newest Identity Center snapshot on or before it):

- `no_sso_user`: no person matched (see matching.py for the rules);
- `sso_user_no_access`: a person matched, but no Identity Center assignment reaches this account;
- `migrated`: an assignment, direct or through a group, reaches this account;
- `dual_use`: migrated, and the IAM password or an access key was used after the assignment was first
  seen (after the collection of the first snapshot that showed it);
- `ready_to_remove`: migrated, and the IAM user's password and keys unused for at least `ready_days`
  (never used counts from their creation, and from the user's);
- `ambiguous`: more than one person matched.

Unused long enough outranks dual use: an IAM user used after SSO came but not for 30 days is ready to go.
IAM Identity Center exposes no sign-in times (CloudTrail only), so "migrated" can only mean that an
assignment reaches the account. The burn-down adds `removed`: a person's IAM user that disappeared
(deleted, or without a password any more) while migrated. Machine users (keys only) are not people;
they are counted apart.

`open_people` computes, once per Database, who each IAM user name is over time and which person reaches
which account when (identity_timeline.py: small tables, one row per name, mapping line, assignment run),
and creates the `people` view over them; the questions below ask them.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from credsight.errors import MappingError, PeopleError
from credsight.query import Database
from credsight.query.database import Scratch
from credsight.query.kept import has_kept
from credsight.query.views import EVERY_DAY, STATE_NAME
from credsight.rules.identity_timeline import Timeline, build_timeline, identity_days
from credsight.rules.matching import MappingLine, PeopleSettings, read_mapping
from credsight.rules.people_rollup import KIND as ROLLUP_KIND
from credsight.rules.people_rollup import TABLES as ROLLUP_TABLES
from credsight.rules.people_rollup import PeopleRollup, read_rollup, rollup_key, write_rollup
from credsight.rules.trends import Projection, project_humans
from credsight.store import Store
from credsight.store.files import PEOPLE_MAPPING

STATES = ("no_sso_user", "sso_user_no_access", "ambiguous", "dual_use", "ready_to_remove", "migrated")
REMOVED = "removed"
MIGRATED = ("migrated", "dual_use", "ready_to_remove")
DONE = ("migrated", REMOVED)  # what the projection does not count as left to do
WORKLISTS = ("ready_to_remove", "dual_use", "no_sso_user")
FIT_DAYS = 60
LONG_PERIOD_DAYS = 32  # from this many days on, every pair of the store is looked up at once (see People._kept)

# Per day, account (numbered as in pairs) and state: the people's IAM users that some rule or mapping line ties to
# a name, split by human or not, and how many are seen for the last time that day (removed from the next snapshot
# on, when migrated then). Human IAM users no rule ties to anyone are the daily count of humans less these.
PER_DAY = """
    SELECT snapshot_date, account_id, state_number, human,
           count(*) AS users, count(*) FILTER (WHERE last_seen) AS leaving
    FROM states WHERE key_id IS NOT NULL
    GROUP BY snapshot_date, account_id, state_number, human"""


def mapping_lines(store: Store, settings: PeopleSettings) -> tuple[list[MappingLine], str | None]:
    """The mapping file's lines and where they came from: `[people] mapping`, else the store's own
    people-mapping.csv, else none. A file that cannot be read or parsed is a MappingError."""
    if "mapping" not in settings.rules:
        return [], None
    if settings.mapping:
        path = Path(settings.mapping)
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as e:
            raise MappingError(f"{path}: cannot read the mapping file ({e}); fix [people] mapping") from None
        return read_mapping(text, str(path)), str(path)
    data = store.read_sidecar(PEOPLE_MAPPING)
    if data is None:
        return [], None
    source = f"{store.url.rstrip('/')}/{PEOPLE_MAPPING}"
    try:
        return read_mapping(data.decode("utf-8"), source), source
    except UnicodeDecodeError:
        raise MappingError(f"{source}: not UTF-8 text; save the mapping file as UTF-8 CSV") from None


@dataclass
class People:
    """The people tables of one Database, and the questions asked of them: from the store's rollup
    (people_rollup.py) where it holds the answer, else from the timeline, built on the first such question."""

    database: Database
    settings: PeopleSettings
    days: list[dt.date]  # the Identity Center snapshots, oldest first
    build: Callable[[], Timeline]
    rollup: PeopleRollup | None = None
    _timeline: Timeline | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def absent(self) -> list[str]:
        """The mapping lines naming Identity Center users that do not exist, in words."""
        if self.rollup is not None:
            return self.rollup.absent
        return [a.describe() for a in self.timeline().absent]

    @property
    def mapped(self) -> bool:
        """Whether any mapping line covers some account and name."""
        return self.rollup.mapped if self.rollup is not None else self.timeline().mapped

    def timeline(self) -> Timeline:
        """Who each IAM user is over time (built once, on first use); it also creates the `people` view."""
        with self._lock:
            if self._timeline is None:
                self._timeline = self.build()
            return self._timeline

    # -- one day --------------------------------------------------------------------------------

    def states(self, day: dt.date | None = None, accounts: Sequence[str] | None = None) -> pa.Table:
        """Each person's IAM user in each account's snapshot as of `day` (default: the newest), with its state,
        person, rule, assigned-since date, last IAM use, days unused; ordered by account and user."""
        kept = self.rollup
        if kept is not None and day in (None, kept.day):
            if accounts is None:
                return kept.states
            return kept.states.filter(pc.is_in(kept.states.column("account_id"), pa.array(list(accounts), pa.string())))
        day, start = self._snapshot_range(day, accounts)
        with self.database.scratch() as work:
            states = self._kept(work, start, day, accounts)
            return work.sql(
                f"""WITH states AS ({states})
                    SELECT p.account_id, m.name AS account_name, m.ou_path, p."user", p.arn, p.user_class,
                           {STATE_NAME} AS state,
                           p.person, p.person_id, p.matched_by, p.candidates, p.note, p.assigned_since, p.last_iam_use,
                           p.days_unused, p.snapshot_date
                    FROM states AS p
                    SEMI JOIN snapshot_days($stop, $accounts) AS s USING (account_id, snapshot_date)
                    LEFT JOIN account_metadata AS m USING (account_id)
                    ORDER BY p.account_id, p."user"
                """,  # noqa: S608 (the steps' text, no values)
                self._asked(start, day, accounts),
            ).table

    def summary(self, states: pa.Table) -> pa.Table:
        """Per OU and state: how many of the people's IAM users (from `states`)."""
        with self.database.scratch() as work:
            work.table("day_states", states)
            return work.sql(
                """SELECT coalesce(ou_path, '') AS ou_path, state, count(*) AS users
                   FROM day_states GROUP BY ALL ORDER BY ou_path, state"""
            ).table

    def machines(
        self, day: dt.date | None = None, accounts: Sequence[str] | None = None, states: pa.Table | None = None
    ) -> int:
        """Machine users (keys only) in the snapshots as of `day` that no mapping line makes a person's
        (`states`: self.states(day, accounts), when the caller has it already)."""
        day, _start = self._snapshot_range(day, accounts)
        found = self.database.sql(
            """SELECT count(*) AS n FROM reports AS r
               SEMI JOIN snapshot_days($to, $accounts) USING (account_id, snapshot_date)
               WHERE r.user_class = 'machine'""",
            {"to": day, "accounts": _listed(accounts)},
        ).first()
        mapped = 0
        if self.mapped:  # machine users a mapping line makes a person's are among the states
            classes = (states if states is not None else self.states(day, accounts)).column("user_class")
            mapped = int(pc.sum(pc.equal(classes, "machine")).as_py() or 0)
        return (int(found["n"]) if found else 0) - mapped

    def worklist(self, state: str, day: dt.date | None = None, accounts: Sequence[str] | None = None) -> pa.Table:
        """The people's IAM users in one state on a day (the worklists: ready_to_remove, dual_use, no_sso_user)."""
        if state not in STATES:
            raise PeopleError(f"no state {state!r}; the states are {', '.join(STATES)}")
        states = self.states(day, accounts)
        return states.filter(pc.equal(states.column("state"), state))

    # -- one person ------------------------------------------------------------------------------

    def person_accounts(self, person: str, day: dt.date | None = None) -> pa.Table:
        """A person's IAM users in every account (by Identity Center user name or id), with state and last use."""
        states = self.states(day)
        wanted = person.lower()
        keep = [
            (name or "").lower() == wanted or (person_id or "") == person
            for name, person_id in zip(
                states.column("person").to_pylist(), states.column("person_id").to_pylist(), strict=True
            )
        ]
        return states.filter(pa.array(keep, pa.bool_()))

    def person_assignments(self, person: str, day: dt.date | None = None) -> pa.Table:
        """A person's Identity Center assignments on the snapshot as of `day`: account, permission set,
        direct or through which group, and since when the person has reached the account."""
        when = day or self.days[-1]
        return self.database.sql(
            """WITH day AS (SELECT max(snapshot_date) AS d FROM identity_snapshots WHERE snapshot_date <= $date),
               who AS (SELECT user_id FROM identity_users, day
                       WHERE snapshot_date = day.d AND (lower(user_name) = lower($person) OR user_id = $person)),
               granted AS (
                   SELECT a.account_id, a.permission_set_arn, 'direct' AS via, NULL AS group_name
                   FROM identity_assignments AS a, day, who
                   WHERE a.snapshot_date = day.d AND a.principal_type = 'USER' AND a.principal_id = who.user_id
                   UNION ALL
                   SELECT a.account_id, a.permission_set_arn, 'group' AS via, g.display_name AS group_name
                   FROM identity_memberships AS mm, day, who, identity_assignments AS a, identity_groups AS g
                   WHERE mm.snapshot_date = day.d AND mm.user_id = who.user_id
                     AND a.snapshot_date = day.d AND a.principal_type = 'GROUP' AND a.principal_id = mm.group_id
                     AND g.snapshot_date = day.d AND g.group_id = mm.group_id)
               SELECT g.account_id, m.name AS account_name, m.ou_path, g.permission_set_arn, g.via, g.group_name
               FROM granted AS g LEFT JOIN account_metadata AS m USING (account_id)
               ORDER BY g.account_id, g.permission_set_arn, g.via, g.group_name""",
            {"date": when, "person": person},
        ).table

    # -- over time --------------------------------------------------------------------------------

    def burn_down(
        self,
        start: dt.date | None = None,
        end: dt.date | None = None,
        accounts: Sequence[str] | None = None,
        every: int = 1,
    ) -> pa.Table:
        """Per day and OU, the people's IAM users by state, and `removed`: those that disappeared while
        migrated (since `start`). A day an account was not collected counts its last snapshot before it.
        Days before the first Identity Center snapshot are left out: who is who is not known then.

        `every` > 1 tells every that many days only, counting back from `end` (a chart of a year: 7), each as
        the daily burn-down tells it.
        """
        end = end or self.database.newest_snapshot() or self.days[-1]
        start = max(start or self.days[0], self.days[0])
        if end < start:
            return _burn_down_table([], [], [], [])
        where = {"start": start, "stop": end, "accounts": _listed(accounts)}
        collected = self.database.sql(
            """SELECT d.snapshot_date, d.account_id, coalesce(m.ou_path, '') AS ou_path, d.humans FROM daily AS d
               LEFT JOIN account_metadata AS m USING (account_id)
               WHERE d.snapshot_date BETWEEN $start AND $stop AND in_scope($accounts, d.account_id)""",
            where,
        ).table
        daily = _burn_down(self.counts(start, end, accounts), collected)
        if every <= 1:
            return daily
        told = [end - dt.timedelta(n) for n in range(0, (end - start).days + 1, every)]
        return daily.filter(pc.is_in(daily.column("snapshot_date"), pa.array(told, pa.date32())))

    def counts(self, start: dt.date, end: dt.date, accounts: Sequence[str] | None = None) -> pa.Table:
        """Per day from `start` to `end`, account, state and human or not: the people's IAM users some rule or
        mapping line ties to a name, and how many are seen for the last time that day (people_rollup's counts)."""
        kept = self.rollup
        if kept is not None and end <= kept.day:
            dates = kept.counts.column("snapshot_date")
            inside = pc.and_(pc.greater_equal(dates, start), pc.less_equal(dates, end))
            if accounts is not None:
                inside = pc.and_(
                    inside, pc.is_in(kept.counts.column("account_id"), pa.array(list(accounts), pa.string()))
                )
            return kept.counts.filter(inside)
        with self.database.scratch() as work:
            states = self._kept(work, start, end, accounts)
            return work.sql(f"WITH states AS ({states}) {PER_DAY}", self._asked(start, end, accounts)).table

    def projection(self, burn_down: pa.Table, fit_days: int = FIT_DAYS) -> Projection:
        """When nothing but migrated and removed IAM users is left, if the last `fit_days` days go on (a
        least-squares line over what is left to do per day)."""
        left: dict[dt.date, int] = defaultdict(int)
        for day, state, users in zip(
            *(burn_down.column(c).to_pylist() for c in ("snapshot_date", "state", "users")), strict=True
        ):
            left[day] += 0 if state in DONE else users
        days = sorted(left)
        return project_humans(days, [left[d] for d in days], fit_days)

    # -- helpers ----------------------------------------------------------------------------------

    def _kept(self, work: Scratch, start: dt.date, stop: dt.date, accounts: Sequence[str] | None) -> str:
        """Keep, in `work`, who each IAM user of the period is and when their person reaches the account
        (small tables of known size); returns the SQL of each row's state (parameters $start, $stop, $accounts).

        A few days' pairs are found from their rows; a longer period's are every pair of the store, found
        once per Database (more pairs than the period's change no answer; a pair's last day may then lie
        after the period, which is right: that IAM user was not removed within it)."""
        steps = self.timeline().steps
        if (stop - start).days < LONG_PERIOD_DAYS:
            where = {"start": start, "stop": stop, "accounts": _listed(accounts)}
            work.keep("pairs", "SELECT * FROM people_pairs($start, $stop, $accounts)", where)
        else:
            with self._lock:
                found = self.database.sql(
                    "SELECT count(*) AS n FROM duckdb_tables() WHERE table_name = 'people_all_pairs' AND NOT temporary"
                ).first()
                if not found or not found["n"]:
                    self.database.sql(f"CREATE TABLE people_all_pairs AS SELECT * FROM people_pairs({EVERY_DAY})")  # noqa: S608
            work.keep("pairs", "SELECT * FROM people_all_pairs")
        for name in ("key_matches", "key_people", "reach", "timeline"):
            work.keep(name, steps[name])
        return steps["states"]

    def _asked(self, start: dt.date, stop: dt.date, accounts: Sequence[str] | None) -> dict[str, object]:
        """The parameters of the states step."""
        return {
            "start": start,
            "stop": stop,
            "accounts": _listed(accounts),
            "first_day": self.timeline().calendar[0],
            "idxs": self.timeline().calendar[1],
            "ready_days": self.settings.ready_days,
        }

    def _snapshot_range(self, day: dt.date | None, accounts: Sequence[str] | None) -> tuple[dt.date, dt.date]:
        """The day asked (default: the newest snapshot) and the oldest account snapshot as of it."""
        day = day or self.database.newest_snapshot() or self.days[-1]
        if day < self.days[0]:
            raise PeopleError(
                f"{day} is before the first Identity Center snapshot ({self.days[0]}); who is who is not known then"
            )
        found = self.database.sql(
            "SELECT min(snapshot_date) AS d FROM snapshot_days($to, $accounts)",
            {"to": day, "accounts": _listed(accounts)},
        ).first()
        start = found["d"] if found and found["d"] else day
        return day, max(start, self.days[0])


def describe(projection: Projection) -> str:
    """The projection in words, for the CLI and the pages."""
    if projection.humans_now == 0:
        return "nothing left to migrate" if projection.zero_on else f"no snapshot in the last {FIT_DAYS} days to fit"
    if projection.zero_on is None:
        return (
            f"not converging ({projection.per_day:+.2f} IAM users left to migrate a day over the last {FIT_DAYS} days)"
        )
    return (
        f"nothing left but migrated and removed IAM users around {projection.zero_on} ({projection.per_day:+.2f} a day)"
    )


def open_people(
    database: Database,
    settings: PeopleSettings,
    mapping: Sequence[MappingLine] = (),
    source: str | None = None,
    rollup: bool = True,
) -> People:
    """The people of this Database: its store's rollup when one was kept for the store as it is and these
    settings (people_rollup.py; `rollup=False` never reads one), and the timeline (identity_timeline.py) for
    what the rollup does not hold. A PeopleError when the store holds no Identity Center snapshot."""
    days = identity_days(database)
    kept = read_rollup(database, settings, mapping) if rollup else None
    return People(database, settings, days, lambda: build_timeline(database, settings, mapping, source), kept)


def keep_rollup(store: Store, settings: PeopleSettings, mapping: Sequence[MappingLine], source: str | None) -> bool:
    """Compute the store's people rollup for these settings and write it (see people_rollup.py); False when
    the store holds no Identity Center snapshot, or already holds this rollup."""
    with Database(store) as database:
        try:
            people = open_people(database, settings, mapping, source, rollup=False)
        except PeopleError:
            return False
        key = rollup_key(database, settings, mapping)
        if has_kept(database, ROLLUP_KIND, key, ROLLUP_TABLES):
            return False
        day = database.newest_snapshot() or people.days[-1]
        if day < people.days[0]:
            return False
        counts = people.counts(people.days[0], day)
        states = people.states(day)
        write_rollup(store, key, day, states, counts, people.mapped, people.absent)
    return True


def _listed(accounts: Sequence[str] | None) -> list[str] | None:
    return list(accounts) if accounts is not None else None


def _burn_down(counted: pa.Table, collected: pa.Table) -> pa.Table:
    """Per day, OU and state (removed included), from PER_DAY's counts and the daily count of humans.

    Dense arrays over (account, day), filled by index arithmetic (no Python loop over the rows): a day an
    account was not collected takes its previous snapshot's counts, as the trends do, so a collection gap is
    not read as people leaving.
    """
    if collected.num_rows == 0:
        return _burn_down_table([], [], [], [])
    # accounts and days as positions (hash lookups in Arrow: sorting 10^6 account ids as Python strings costs a second)
    accounts = pc.unique(collected.column("account_id")).sort()
    account_of = pc.index_in(collected.column("account_id"), value_set=accounts).to_numpy()
    day_numbers = _day_numbers(collected.column("snapshot_date"))
    days = np.unique(day_numbers)
    day_of = np.searchsorted(days, day_numbers)
    states = [*STATES, REMOVED]
    shape = (len(accounts), len(days))
    counts = np.zeros((*shape, len(states)), dtype=np.int64)
    seen = np.zeros(shape, dtype=bool)
    humans = np.zeros(shape, dtype=np.int64)
    seen[account_of, day_of] = True
    humans[account_of, day_of] = collected.column("humans").to_numpy()
    # the counts' accounts and days, as positions in `accounts` and `days` (outside them: not collected)
    a = pc.fill_null(pc.index_in(counted.column("account_id"), value_set=accounts), -1).to_numpy()
    counted_days = _day_numbers(counted.column("snapshot_date"))
    d = np.minimum(np.searchsorted(days, counted_days), len(days) - 1)
    inside = (a >= 0) & (days[d] == counted_days)
    a, d = a[inside], d[inside]
    s = counted.column("state_number").to_numpy().astype(np.int64)[inside] - 1
    users = counted.column("users").to_numpy()[inside]
    human = np.asarray(counted.column("human").to_numpy(zero_copy_only=False), dtype=bool)[inside]
    np.add.at(counts, (a, d, s), users)
    # human IAM users no rule ties to anyone have no person
    matched_humans = np.zeros(shape, dtype=np.int64)
    np.add.at(matched_humans, (a[human], d[human]), users[human])
    counts[:, :, STATES.index("no_sso_user")] += np.maximum(humans - matched_humans, 0)
    # removed on a day: those seen for the last time on an earlier day, while migrated
    leaving = np.zeros(shape, dtype=np.int64)
    migrated = np.isin(s, [STATES.index(x) for x in MIGRATED])
    np.add.at(leaving, (a[migrated], d[migrated]), counted.column("leaving").to_numpy()[inside][migrated])
    counts[:, :, len(STATES)] = np.cumsum(leaving, axis=1) - leaving
    # a day an account was not collected: its last collected day's counts (none before its first)
    last_seen = np.maximum.accumulate(np.where(seen, np.arange(len(days))[None, :], -1), axis=1)
    carried = np.take_along_axis(counts, np.maximum(last_seen, 0)[:, :, None], axis=1)
    carried[last_seen < 0] = 0
    _numbers, first_row = np.unique(account_of, return_index=True)  # each account's OU, from its first row
    ou_of = collected.column("ou_path").take(pa.array(first_row)).to_pylist()
    ous = sorted(set(ou_of))
    ou_index = np.array([ous.index(ou) for ou in ou_of], dtype=np.int64)
    totals = np.zeros((len(ous), len(days), len(states)), dtype=np.int64)
    np.add.at(totals, ou_index, carried)
    o, i, k = np.meshgrid(np.arange(len(ous)), np.arange(len(days)), np.arange(len(states)), indexing="ij")
    return pa.table(
        {
            "snapshot_date": pa.array(days[i.ravel()].astype("datetime64[D]"), pa.date32()),
            "ou_path": pa.array(np.array(ous, dtype=object)[o.ravel()], pa.string()),
            "state": pa.array(np.array(states, dtype=object)[k.ravel()], pa.string()),
            "users": pa.array(totals.ravel(), pa.int64()),
        }
    )


def _day_numbers(dates: pa.ChunkedArray) -> np.ndarray:
    """Dates as days since 1970-01-01."""
    return np.asarray(pc.cast(dates, pa.int32()).to_numpy(), dtype=np.int64)


def _burn_down_table(days: list[dt.date], ous: list[str], states: list[str], users: list[int]) -> pa.Table:
    return pa.table(
        {
            "snapshot_date": pa.array(days, pa.date32()),
            "ou_path": pa.array(ous, pa.string()),
            "state": pa.array(states, pa.string()),
            "users": pa.array(users, pa.int64()),
        }
    )
