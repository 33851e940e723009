"""Who each IAM user is (the matching rules, table-driven) and the SSO migration states, on crafted stores:
real reports and real Identity Center snapshots written by the run writer, read by DuckDB."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa
import pytest

from credsight.errors import ConfigError, MappingError, PeopleError
from credsight.query import Database
from credsight.rules.matching import (
    Candidate,
    PeopleSettings,
    Version,
    name_candidates,
    people_settings,
    read_mapping,
    resolve,
)
from credsight.rules.people import People, mapping_lines, open_people
from credsight.store import Store
from credsight.store.runs import IdentitySnapshot, Run, Snapshot
from credsight.store.schemas import (
    IDENTITY_ASSIGNMENT_SCHEMA,
    IDENTITY_GROUP_SCHEMA,
    IDENTITY_MEMBERSHIP_SCHEMA,
    IDENTITY_USER_SCHEMA,
)
from tests.conftest import report, user_row

ACCOUNT = "111122223333"
OTHER = "444455556666"
START = dt.date(2026, 11, 1)
INSTANCE = "arn:aws:sso:::instance/ssoins-0123456789abcdef"
ADMIN = "arn:aws:sso:::permissionSet/ssoins-0123456789abcdef/ps-0123456789abcdef"


def day(n: int) -> dt.date:
    return START + dt.timedelta(n)


def at(n: int, hour: int = 10) -> str:
    """A report timestamp on day n."""
    return f"{day(n).isoformat()}T{hour:02d}:00:00+00:00"


def console(
    name: str, account: str = ACCOUNT, used: str | None = None, created: str = "2024-01-01T00:00:00+00:00"
) -> dict[str, str]:
    """A human IAM user: a console password, no key; last used `used` (never: no_information)."""
    return user_row(
        name,
        account,
        user_creation_time=created,
        password_last_used=used or "no_information",
        access_key_1_active="false",
        access_key_1_last_rotated="N/A",
        access_key_1_last_used_date="N/A",
        access_key_1_last_used_region="N/A",
        access_key_1_last_used_service="N/A",
    )


def machine(name: str, account: str = ACCOUNT) -> dict[str, str]:
    """A machine user: an access key, no password."""
    row = user_row(name, account)
    row.update(password_enabled="false", password_last_used="N/A", password_last_changed="N/A")
    return row


@dataclass
class Person:
    user_name: str
    emails: tuple[str, ...] = ()

    @property
    def user_id(self) -> str:
        return f"id-{self.user_name}"


@dataclass
class Center:
    """One day's Identity Center: people, groups (name -> members) and assignments (account, principal)."""

    people: Sequence[Person] = ()
    groups: dict[str, Sequence[str]] = field(default_factory=dict)  # group -> user names
    assigned: Sequence[tuple[str, str, str]] = ()  # (account, USER | GROUP, user or group name)


def identity(n: int, center: Center) -> IdentitySnapshot:
    users = [
        {"identity_store_id": "d-1", "user_id": p.user_id, "user_name": p.user_name, "display_name": p.user_name,
         "given_name": None, "family_name": None, "emails": list(p.emails), "primary_email": None, "external_ids": None}
        for p in center.people
    ]  # fmt: skip
    groups = [
        {"identity_store_id": "d-1", "group_id": f"g-{g}", "display_name": g, "description": None, "external_ids": None}
        for g in center.groups
    ]
    members = [
        {"identity_store_id": "d-1", "group_id": f"g-{g}", "user_id": f"id-{u}"}
        for g, names in center.groups.items()
        for u in names
    ]
    assignments = [
        {"instance_arn": INSTANCE, "account_id": a, "permission_set_arn": ADMIN, "principal_type": kind,
         "principal_id": f"id-{who}" if kind == "USER" else f"g-{who}"}
        for a, kind, who in center.assigned
    ]  # fmt: skip

    def table(rows: list[dict[str, object]], schema: pa.Schema) -> pa.Table:
        return pa.Table.from_pylist(
            rows, schema=pa.schema([f for f in schema if f.name not in ("snapshot_date", "run_id")])
        )

    return IdentitySnapshot(
        snapshot_date=day(n),
        account_id=ACCOUNT,
        instance_arn=INSTANCE,
        identity_store_id="d-1",
        users=table(users, IDENTITY_USER_SCHEMA),
        groups=table(groups, IDENTITY_GROUP_SCHEMA),
        memberships=table(members, IDENTITY_MEMBERSHIP_SCHEMA),
        assignments=table(assignments, IDENTITY_ASSIGNMENT_SCHEMA),
        collected_at=dt.datetime(day(n).year, day(n).month, day(n).day, 3, 0, tzinfo=dt.UTC),
    )


def build(
    tmp_path: Path,
    reports: dict[int, dict[str, list[dict[str, str]]]],  # day -> account -> rows
    centers: dict[int, Center],
) -> Store:
    store = Store(str(tmp_path / "store"))
    run = Run(store)
    snapshots = [
        Snapshot(report(*rows, account=account), f"{account}-{n}", day(n), account)
        for n, accounts in sorted(reports.items())
        for account, rows in accounts.items()
    ]
    run.write(snapshots)
    run.write_identity([identity(n, center) for n, center in sorted(centers.items())])
    return store


def states_of(people: People, n: int) -> dict[tuple[str, str], dict[str, object]]:
    return {(r["account_id"], r["user"]): r for r in people.states(day(n)).to_pylist()}


# -- the matching rules, table-driven -----------------------------------------------------------


def versions(*people: Person) -> list[Version]:
    return [Version(p.user_id, p.user_name, p.emails, 1, 1) for p in people]


ALICE = Person("Alice.Smith@Example.com", ("Alice.Smith@Example.com", "asmith@corp.example"))
BOB = Person("bob", ("robert.jones@example.com",))


@pytest.mark.parametrize(
    ("iam_user", "settings", "expected"),
    [
        ("bob", PeopleSettings(), ("matched", "user_name", "bob")),
        ("BOB", PeopleSettings(), ("matched", "user_name", "bob")),  # case-insensitive
        ("alice.smith@example.com", PeopleSettings(), ("matched", "user_name", ALICE.user_name)),
        ("robert.jones@example.com", PeopleSettings(), ("matched", "email", "bob")),
        ("asmith", PeopleSettings(), ("matched", "email_local_part", ALICE.user_name)),
        ("robert.jones", PeopleSettings(), ("matched", "email_local_part", "bob")),
        ("alice.smith", PeopleSettings(), ("matched", "email_local_part", ALICE.user_name)),
        # a template turns the IAM name into the Identity Center user name
        ("alice.smith", PeopleSettings(rules=("template",), template="{user}@example.com"),
         ("matched", "template", ALICE.user_name)),
        ("x-alice.smith", PeopleSettings(rules=("template",), template="x-{user}@example.com"), None),
        # rules off or reordered
        ("asmith", PeopleSettings(rules=("user_name", "email")), None),
        ("nobody", PeopleSettings(), None),
    ],
)  # fmt: skip
def test_each_rule_matches_what_it_says(
    iam_user: str, settings: PeopleSettings, expected: tuple[str, str, str] | None
) -> None:
    found = name_candidates(versions(ALICE, BOB), settings).get(iam_user.lower(), [])
    matches = resolve(found)
    if expected is None:
        assert matches == []
    else:
        assert [(m.status, m.rule, m.user_name) for m in matches] == [expected]


def test_two_people_found_by_the_first_rule_that_finds_anyone_are_ambiguous() -> None:
    twin = Person("jdoe@partner.example", ("jdoe@partner.example",))
    jdoe = Person("jdoe@example.com", ("jdoe@example.com",))
    [match] = resolve(name_candidates(versions(jdoe, twin), PeopleSettings())["jdoe"])
    assert (match.status, match.rule, match.candidates) == (
        "ambiguous",
        "email_local_part",
        (jdoe.user_name, twin.user_name),  # sorted
    )
    # an earlier rule that finds one person wins over a later one that finds two
    plain = Person("jdoe", ())
    [match] = resolve(name_candidates(versions(jdoe, twin, plain), PeopleSettings())["jdoe"])
    assert (match.status, match.rule, match.user_name) == ("matched", "user_name", "jdoe")


def test_a_match_follows_who_exists_over_time() -> None:
    later = Candidate(0, "user_name", "u2", "second", 5, 9)
    first = Candidate(1, "email", "u1", "first", 1, 7)
    matches = resolve([first, later])
    assert [(m.first, m.last, m.status, m.user_name) for m in matches] == [
        (1, 4, "matched", "first"),
        (5, 9, "matched", "second"),  # the better-ranked rule decides from when it finds someone
    ]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('account_id,user,identity_center_user\n111122223333,"jane,x\n', "line 2: not valid CSV"),
        ("11112222333,jane,jane@example.com\n", "line 1: account '11112222333' is not 12 digits"),
        ("11112222333a,jane,jane@example.com\n", "line 1: account '11112222333a' is not 12 digits"),
        ("account_id,user,identity_center_user\n\n111122223333,,jane@example.com\n", "line 3: the IAM user is empty"),
        ("111122223333,jane,\n", "line 1: the Identity Center user is empty"),
        ("111122223333,jane\n", "line 1: 2 columns"),
    ],
)
def test_a_malformed_mapping_file_is_one_error_naming_file_and_line(text: str, message: str) -> None:
    with pytest.raises(MappingError, match=f"^people.csv: {message}"):
        read_mapping(text, "people.csv")


def test_a_mapping_file_takes_globs_and_a_header() -> None:
    lines = read_mapping("account_id,user,identity_center_user\n1111*,j*,jane@example.com\n*,bob,b@x\n", "m.csv")
    assert [(x.account, x.user, x.identity_center_user, x.line) for x in lines] == [
        ("1111*", "j*", "jane@example.com", 2),
        ("*", "bob", "b@x", 3),
    ]


@pytest.mark.parametrize(
    ("section", "message"),
    [
        ({"rules": ["user_name", "emial"]}, "unknown rule 'emial'; the rules are mapping, user_name"),
        ({"rules": ["template"]}, "rules has template but no template is set"),
        ({"template": "@example.com"}, "template must contain {user} once"),
        ({"ready_days": -1}, "ready-days must be a whole number"),
        ({"rules": "email"}, "rules is a list of rule names"),
        ({"colour": "red"}, "has no setting 'colour'"),
    ],
)
def test_people_settings_are_checked(section: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        people_settings(section)


def test_people_settings_default_and_template() -> None:
    assert people_settings({}).rules == ("mapping", "user_name", "email", "email_local_part")
    chosen = people_settings({"template": "{user}@example.com", "ready_days": 7})
    assert chosen.rules[-1] == "template" and chosen.ready_days == 7


# -- matching end to end: mapping globs, absent people, order --------------------------------------


def test_mapping_lines_decide_with_globs_and_an_absent_person_is_said(tmp_path: Path) -> None:
    jane = Person("jane.doe@example.com", ("jane.doe@example.com",))
    rows = [console("jdoe", used=at(0, 1)), console("ops-admin", used=at(0, 1)), console("ghost", used=at(0, 1))]
    store = build(
        tmp_path,
        {0: {ACCOUNT: rows, OTHER: [console("jdoe", OTHER, used=at(0, 1))]}},
        {0: Center([jane, Person("ghost", ())], assigned=[(ACCOUNT, "USER", jane.user_name)])},
    )
    mapping = tmp_path / "people.csv"
    mapping.write_text(
        "account_id,user,identity_center_user\n1111*,j*,jane.doe@example.com\n*,ops-*,nobody@example.com\n"
        f"{ACCOUNT},ghost,jane.doe@example.com\n"
    )
    settings = PeopleSettings(mapping=str(mapping))
    lines, source = mapping_lines(store, settings)
    with Database(store) as database:
        people = open_people(database, settings, lines, source)
        found = states_of(people, 0)
    assert found[ACCOUNT, "jdoe"]["matched_by"] == "mapping"
    assert (found[ACCOUNT, "jdoe"]["state"], found[ACCOUNT, "jdoe"]["person"]) == ("migrated", jane.user_name)
    assert found[OTHER, "jdoe"]["matched_by"] is None  # the glob covers 1111* accounts only
    # a mapping line names someone Identity Center does not hold: said, not dropped, and no rule guesses
    assert found[ACCOUNT, "ops-admin"]["state"] == "no_sso_user"
    assert (
        found[ACCOUNT, "ops-admin"]["note"]
        == "the mapping names nobody@example.com, who is not an Identity Center user"
    )
    assert people.absent == [f"{mapping}: line 3: 'nobody@example.com' is not an Identity Center user"]
    # the mapping outranks the user name rule, which would have found the Identity Center user "ghost"
    assert (found[ACCOUNT, "ghost"]["matched_by"], found[ACCOUNT, "ghost"]["person"]) == ("mapping", jane.user_name)


def test_the_order_of_the_rules_decides_which_records_the_match(tmp_path: Path) -> None:
    both = Person("dave", ("dave@example.com",))
    other = Person("dave@example.com", ("dave@partner.example",))
    store = build(tmp_path, {0: {ACCOUNT: [console("dave", used=at(0))]}}, {0: Center([both, other])})
    with Database(store) as database:
        first = states_of(open_people(database, PeopleSettings()), 0)[ACCOUNT, "dave"]
        reordered = states_of(open_people(database, PeopleSettings(rules=("email_local_part", "user_name"))), 0)
    assert (first["matched_by"], first["person"]) == ("user_name", "dave")
    # email_local_part first: both Identity Center users have the local part dave: ambiguous, never guessed
    assert reordered[ACCOUNT, "dave"]["state"] == "ambiguous"
    assert reordered[ACCOUNT, "dave"]["candidates"] == ["dave", "dave@example.com"]


# -- states on crafted days ---------------------------------------------------------------------


def test_dual_use_starts_with_a_use_after_the_assignment_was_first_seen(tmp_path: Path) -> None:
    ana = Person("ana@example.com", ("ana@example.com",))
    before, after = console("ana", used=at(0, 9)), console("ana", used=at(2, 10))
    assigned = Center([ana], {"devs": ["ana@example.com"]}, [(ACCOUNT, "GROUP", "devs")])
    store = build(
        tmp_path,
        {0: {ACCOUNT: [before]}, 1: {ACCOUNT: [before]}, 2: {ACCOUNT: [before]}, 3: {ACCOUNT: [after]}},
        {0: Center([ana]), 1: assigned, 2: assigned, 3: assigned},
    )
    with Database(store) as database:
        people = open_people(database, PeopleSettings())
        seen = [states_of(people, n)[ACCOUNT, "ana"] for n in range(4)]
    assert [s["state"] for s in seen] == ["sso_user_no_access", "migrated", "migrated", "dual_use"]
    assert seen[3]["assigned_since"] == day(1)
    assert seen[3]["last_iam_use"] == dt.datetime(2026, 11, 3, 10, tzinfo=dt.UTC)


def test_ready_to_remove_at_exactly_the_days_set_and_not_a_day_before(tmp_path: Path) -> None:
    people_ = [Person(f"{n}@example.com", (f"{n}@example.com",)) for n in ("ready", "almost", "never", "fresh")]
    stamp = lambda days: (day(40) - dt.timedelta(days)).isoformat() + "T08:00:00+00:00"  # noqa: E731
    rows = [
        console("ready", used=stamp(30)),
        console("almost", used=stamp(29)),
        console("never", created=stamp(45)),  # never used: counts from the user's creation
        console("fresh", created=stamp(3)),
    ]
    center = Center(people_, {"devs": [p.user_name for p in people_]}, [(ACCOUNT, "GROUP", "devs")])
    store = build(tmp_path, {40: {ACCOUNT: rows}}, {40: center})
    with Database(store) as database:
        found = states_of(open_people(database, PeopleSettings(ready_days=30)), 40)
        strict = states_of(open_people(database, PeopleSettings(ready_days=29)), 40)
    assert {u: found[ACCOUNT, u]["state"] for u in ("ready", "almost", "never", "fresh")} == {
        "ready": "ready_to_remove",
        "almost": "migrated",
        "never": "ready_to_remove",
        "fresh": "migrated",
    }
    assert (found[ACCOUNT, "ready"]["days_unused"], found[ACCOUNT, "almost"]["days_unused"]) == (30, 29)
    assert strict[ACCOUNT, "almost"]["state"] == "ready_to_remove"  # the setting moves the line


def test_a_person_losing_and_regaining_an_assignment(tmp_path: Path) -> None:
    eve = Person("eve@example.com", ("eve@example.com",))
    row = console("eve", used=at(0, 1))
    given = Center([eve], assigned=[(ACCOUNT, "USER", eve.user_name)])
    store = build(
        tmp_path,
        {n: {ACCOUNT: [row]} for n in range(5)},
        {0: given, 1: given, 2: Center([eve]), 3: given, 4: given},
    )
    with Database(store) as database:
        people = open_people(database, PeopleSettings())
        seen = [states_of(people, n)[ACCOUNT, "eve"] for n in range(5)]
    assert [s["state"] for s in seen] == ["migrated", "migrated", "sso_user_no_access", "migrated", "migrated"]
    assert [s["assigned_since"] for s in seen] == [day(0), day(0), None, day(3), day(3)]  # a new run of access


def test_a_user_deleted_after_migration_counts_as_removed_and_machines_are_not_people(tmp_path: Path) -> None:
    finn = Person("finn@example.com", ("finn@example.com",))
    gail = Person("gail@example.com", ("gail@example.com",))
    robot = machine("deployer")  # keys only
    center = Center([finn, gail], assigned=[(ACCOUNT, "USER", finn.user_name)])
    days = {
        0: [console("finn", used=at(0, 1)), console("gail", used=at(0, 1)), robot],
        1: [console("finn", used=at(0, 1)), console("gail", used=at(0, 1)), robot],
        2: [console("gail", used=at(0, 1)), robot],  # finn's IAM user deleted after migration
        3: [robot],  # gail's deleted too, but gail never had access: she left, she was not migrated
    }
    store = build(tmp_path, {n: {ACCOUNT: rows} for n, rows in days.items()}, {0: center})
    with Database(store) as database:
        people = open_people(database, PeopleSettings())
        burn = people.burn_down(day(0), day(3))
        machines = people.machines(day(0))
        day_zero = states_of(people, 0)
    counts = {(r["snapshot_date"], r["state"]): r["users"] for r in burn.to_pylist()}
    assert [counts[day(n), "migrated"] for n in range(4)] == [1, 1, 0, 0]
    assert [counts[day(n), "removed"] for n in range(4)] == [0, 0, 1, 1]
    assert [counts[day(n), "sso_user_no_access"] for n in range(4)] == [1, 1, 1, 0]
    assert set(day_zero) == {(ACCOUNT, "finn"), (ACCOUNT, "gail")} and machines == 1
    assert set(burn.column("ou_path").to_pylist()) == {""}  # no account metadata: no OU


def test_a_day_before_the_first_identity_center_snapshot_is_an_error(tmp_path: Path) -> None:
    store = build(tmp_path, {0: {ACCOUNT: [console("kim")]}, 5: {ACCOUNT: [console("kim")]}}, {5: Center()})
    with Database(store) as database:
        people = open_people(database, PeopleSettings())
        with pytest.raises(PeopleError, match="before the first Identity Center snapshot"):
            people.states(day(0))
        assert people.states(day(5)).column("state").to_pylist() == ["no_sso_user"]
    empty = Store(str(tmp_path / "empty"))
    Run(empty).write([Snapshot(report(console("kim"), account=ACCOUNT), "x", day(0), ACCOUNT)])
    with Database(empty) as database, pytest.raises(PeopleError, match="no IAM Identity Center snapshot yet"):
        open_people(database, PeopleSettings())


def test_the_people_view_agrees_with_the_questions(tmp_path: Path) -> None:
    hal = Person("hal@example.com", ("hal@example.com",))
    given = Center([hal], assigned=[(ACCOUNT, "USER", hal.user_name)])
    store = build(
        tmp_path, {n: {ACCOUNT: [console("hal", used=at(n, 1))]} for n in range(3)}, {0: Center([hal]), 1: given}
    )
    with Database(store) as database:
        people = open_people(database, PeopleSettings())
        people.timeline()  # creates the view
        viewed = database.sql('SELECT snapshot_date, "user", state FROM people ORDER BY snapshot_date').rows
        asked = [states_of(people, n)[ACCOUNT, "hal"]["state"] for n in range(3)]
    assert [r["state"] for r in viewed] == asked == ["sso_user_no_access", "migrated", "dual_use"]


def test_a_persons_page_and_the_worklists(tmp_path: Path) -> None:
    ivy = Person("ivy@example.com", ("ivy@example.com",))
    center = Center([ivy], {"ops": ["ivy@example.com"]}, [(ACCOUNT, "GROUP", "ops"), (OTHER, "USER", ivy.user_name)])
    rows = {ACCOUNT: [console("ivy", used=at(0, 1)), console("nobody", used=at(0, 1))], OTHER: [console("ivy", OTHER)]}
    store = build(tmp_path, {0: rows}, {0: center})
    with Database(store) as database:
        people = open_people(database, PeopleSettings())
        accounts = people.person_accounts("IVY@example.com")
        assignments = people.person_assignments(ivy.user_name)
        unmatched = people.worklist("no_sso_user")
        ready = people.worklist("ready_to_remove")
        with pytest.raises(PeopleError, match="no state 'gone'"):
            people.worklist("gone")
    assert sorted(
        zip(accounts.column("account_id").to_pylist(), accounts.column("state").to_pylist(), strict=True)
    ) == [
        (ACCOUNT, "migrated"),
        (OTHER, "ready_to_remove"),  # never used, created long ago
    ]
    assert sorted((r["account_id"], r["via"], r["group_name"]) for r in assignments.to_pylist()) == [
        (ACCOUNT, "group", "ops"),
        (OTHER, "direct", None),
    ]
    assert unmatched.column("user").to_pylist() == ["nobody"]
    assert ready.column("account_id").to_pylist() == [OTHER]


def test_a_burn_down_told_every_few_days_agrees_with_the_daily_one_on_those_days(tmp_path: Path) -> None:
    jo = Person("jo@example.com", ("jo@example.com",))
    center = Center([jo], assigned=[(ACCOUNT, "USER", jo.user_name)])
    rows = {n: {ACCOUNT: [console("jo", used=at(0, 1)), console("kai", used=at(0, 1))]} for n in range(3)}
    rows |= {n: {ACCOUNT: [console("kai", used=at(0, 1))]} for n in range(3, 7)}  # jo's IAM user deleted on day 3
    store = build(tmp_path, rows, {0: center})
    with Database(store) as database:
        people = open_people(database, PeopleSettings())
        daily = people.burn_down(day(0), day(6))
        weekly = people.burn_down(day(0), day(6), every=3)
    told = {(r["snapshot_date"], r["state"]): r["users"] for r in weekly.to_pylist()}
    every = {(r["snapshot_date"], r["state"]): r["users"] for r in daily.to_pylist()}
    assert sorted({d for d, _ in told}) == [day(0), day(3), day(6)]  # counted back from the end
    assert {k: v for k, v in every.items() if k[0] in (day(0), day(3), day(6))} == told
    assert [told[day(n), "removed"] for n in (0, 3, 6)] == [0, 1, 1]


def test_a_machine_user_a_mapping_line_makes_a_persons_is_not_counted_as_a_machine(tmp_path: Path) -> None:
    from credsight.rules.matching import MappingLine

    ops = Person("ops@example.com", ("ops@example.com",))
    rows = [machine("deployer"), machine("builder"), console("ops", used=at(0, 1))]
    store = build(tmp_path, {0: {ACCOUNT: rows}}, {0: Center([ops], assigned=[(ACCOUNT, "USER", ops.user_name)])})
    lines = [MappingLine(ACCOUNT, "deployer", ops.user_name, 1)]
    with Database(store) as database:  # (one People a Database: each creates the `people` view over it)
        assert open_people(database, PeopleSettings()).machines(day(0)) == 2
    with Database(store) as database:
        mapped = open_people(database, PeopleSettings(), lines, "mapping.csv")
        states = mapped.states(day(0))
        assert mapped.machines(day(0)) == mapped.machines(day(0), None, states) == 1
        assert ("deployer", "machine") in zip(
            states.column("user").to_pylist(), states.column("user_class").to_pylist(), strict=True
        )
