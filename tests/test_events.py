"""The event catalogue (a severity and a reason for every kind of change), the two kinds that need a setting
(credential_revived, key_outside_allowed_regions), and `credsight changes --min-severity` / `rules --events`,
over small real stores."""

from __future__ import annotations

import dataclasses
import datetime as dt
import io
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pytest

from credsight.formats.exports import write_csv
from credsight.query import Database
from credsight.rules.changes import (
    CHANGE_SCHEMA,
    EVENT_SCHEMA,
    EVERY_KIND,
    KINDS,
    NO_SETTINGS,
    EventSettings,
    changes,
    events,
)
from credsight.rules.events import EVENTS, Escalation, EventCatalogueError, EventKind, check_events, severity_sql
from credsight.rules.severity import SEVERITIES
from tests.event_stores import csv_report, iam_user, root, write_store

ACCOUNT = "012345678901"
D1, D2, D3, D4, D5 = (dt.date(2026, 11, day) for day in range(1, 6))
N = 90  # --revived-days' default
USE = dt.datetime(2026, 11, 2, 8, 0, tzinfo=dt.UTC)  # the use seen at D2's snapshot
ROTATED = "2025-06-01T00:00:00+00:00"
NEW_KEY = "2026-11-02T07:00:00+00:00"
NO_KEY = {"access_key_1_active": "false", "access_key_1_last_rotated": "N/A", "access_key_1_last_used_date": "N/A"}
NO_KEY |= {"access_key_1_last_used_region": "N/A", "access_key_1_last_used_service": "N/A"}
MACHINE = {"password_enabled": "false", "password_last_used": "N/A", "password_last_changed": "N/A"}


def at(moment: dt.datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S+00:00")


def days_before(days: int) -> str:
    return at(USE - dt.timedelta(days=days))


def found(tmp_path: Path, days: dict[dt.date, list[dict[str, str]]], settings: EventSettings) -> list[dict[str, Any]]:
    """The events of a store holding these reports (one account), with `settings`."""
    store = write_store(tmp_path / "store", {day: {ACCOUNT: csv_report(*rows)} for day, rows in days.items()})
    with Database(store) as database:
        table = events(database, settings=settings)
    assert table.schema == EVENT_SCHEMA
    return list(table.to_pylist())


# -- the catalogue ------------------------------------------------------------------------------


def test_every_kind_of_change_has_one_severity_and_a_one_line_reason() -> None:
    assert [event.kind for event in EVENTS] != [] and {event.kind for event in EVENTS} == set(EVERY_KIND)
    assert all(event.severity in SEVERITIES and event.reason and "\n" not in event.reason for event in EVENTS)
    assert set(EVERY_KIND) - set(KINDS) == {"credential_revived", "key_outside_allowed_regions"}


@pytest.mark.parametrize(
    ("broken", "says"),
    [
        ((EventKind("mfa_removed", "high", "a"), EventKind("mfa_removed", "low", "b")), "repeated"),
        ((EventKind("Mfa Removed", "high", "a"),), "malformed"),
        ((EventKind("mfa_removed", "severe", "a"),), "severity 'severe'"),
        ((EventKind("mfa_removed", "high", "two\nlines"),), "one line"),
        ((EventKind("mfa_removed", "high", " "),), "one line"),
        ((EventKind("mfa_removed", "high", "a", (Escalation("admin", "critical", "b"),)),), "no fact 'admin'"),
        ((EventKind("mfa_removed", "high", "a", (Escalation("root", "low", "b"),)),), "raise the severity"),
        ((EventKind("mfa_removed", "high", "a", (Escalation("root", "high", "b"),)),), "raise the severity"),
        (
            (EventKind("x", "low", "a", (Escalation("root", "high", "b"), Escalation("root", "critical", "c"))),),
            "escalates it twice",
        ),
    ],
)
def test_a_malformed_catalogue_is_refused(broken: tuple[EventKind, ...], says: str) -> None:
    with pytest.raises(EventCatalogueError, match=says):
        check_events(broken)


def test_a_catalogue_missing_a_kind_or_naming_another_is_refused() -> None:
    with pytest.raises(EventCatalogueError, match=r"misses \['user_created'\]"):
        check_events([e for e in EVENTS if e.kind != "user_created"], EVERY_KIND)
    with pytest.raises(EventCatalogueError, match=r"unknown kinds \['user_renamed'\]"):
        check_events([*EVENTS, EventKind("user_renamed", "low", "a")], EVERY_KIND)


def test_the_severity_sql_is_made_of_the_catalogue_only() -> None:
    sql = severity_sql()
    assert sql.count("WHEN '") == len(EVENTS)  # one case per kind
    assert "$" not in sql and ";" not in sql


# -- severities, table-driven over one story ----------------------------------------------------


def story() -> dict[dt.date, list[dict[str, str]]]:
    """Two snapshots in which each user makes one kind of change (root makes three)."""
    key_on_d2 = {"access_key_1_active": "true", "access_key_1_last_rotated": NEW_KEY}
    key_on_d2 |= {"access_key_1_last_used_date": "N/A", "access_key_1_last_used_region": "N/A"}
    key_on_d2 |= {"access_key_1_last_used_service": "N/A"}
    root_d1 = root(ACCOUNT, password_last_used="no_information")
    root_d2 = root(ACCOUNT, password_last_used=at(USE), **{**key_on_d2, "access_key_1_last_used_date": at(USE)})
    d1 = [
        root_d1,
        iam_user("console-key", ACCOUNT, **NO_KEY),
        iam_user("machine-key", ACCOUNT, **NO_KEY, **MACHINE),
        iam_user("console-activated", ACCOUNT, access_key_1_active="false"),
        iam_user("machine-activated", ACCOUNT, access_key_1_active="false", **MACHINE),
        iam_user("loses-mfa", ACCOUNT),
        iam_user("gets-mfa", ACCOUNT, mfa_active="false"),
        iam_user("gets-password", ACCOUNT, **MACHINE),
        iam_user("loses-password", ACCOUNT),
        iam_user("deactivates", ACCOUNT),
        iam_user("rotates", ACCOUNT),
        iam_user("leaves", ACCOUNT),
        iam_user("travels", ACCOUNT),
    ]
    d2 = [
        root_d2,
        iam_user("console-key", ACCOUNT, **key_on_d2),
        iam_user("machine-key", ACCOUNT, **key_on_d2, **MACHINE),
        iam_user("console-activated", ACCOUNT),
        iam_user("machine-activated", ACCOUNT, **MACHINE),
        iam_user("loses-mfa", ACCOUNT, mfa_active="false"),
        iam_user("gets-mfa", ACCOUNT),
        iam_user("gets-password", ACCOUNT, password_last_changed=NEW_KEY, password_last_used="no_information"),
        iam_user("loses-password", ACCOUNT, **MACHINE),
        iam_user("deactivates", ACCOUNT, access_key_1_active="false"),
        iam_user("rotates", ACCOUNT, **{**key_on_d2, "access_key_1_active": "true"}),
        iam_user("arrives", ACCOUNT, user_creation_time=NEW_KEY),
        iam_user("travels", ACCOUNT, access_key_1_last_used_region="sa-east-1", access_key_1_last_used_service="ec2"),
    ]
    return {D1: d1, D2: d2}


EXPECTED = [
    ("<root_account>", "root_signed_in", "critical"),
    ("<root_account>", "root_key_used", "critical"),
    ("<root_account>", "access_key_created", "critical"),
    ("console-key", "access_key_created", "high"),
    ("machine-key", "access_key_created", "medium"),
    ("console-activated", "access_key_activated", "high"),
    ("machine-activated", "access_key_activated", "medium"),
    ("loses-mfa", "mfa_removed", "high"),
    ("gets-mfa", "mfa_enabled", "informational"),
    ("gets-password", "password_enabled", "medium"),
    ("loses-password", "password_disabled", "low"),
    ("deactivates", "access_key_deactivated", "low"),
    ("rotates", "access_key_rotated", "low"),
    ("arrives", "user_created", "medium"),
    ("leaves", "user_deleted", "low"),
    ("travels", "key_new_region", "low"),
    ("travels", "key_new_service", "informational"),
    ("travels", "key_outside_allowed_regions", "high"),
]


@pytest.fixture(scope="module")
def story_events(tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, Any]]:
    settings = EventSettings(revived_days=N, allowed_regions=("us-east-1", "eu-west-1"))
    return found(tmp_path_factory.mktemp("story"), story(), settings)


@pytest.mark.parametrize(("user", "kind", "severity"), EXPECTED)
def test_each_kind_has_its_severity(story_events: list[dict[str, Any]], user: str, kind: str, severity: str) -> None:
    assert [r["severity"] for r in story_events if (r["user"], r["kind"]) == (user, kind)] == [severity]


def test_the_story_makes_exactly_the_expected_events(story_events: list[dict[str, Any]]) -> None:
    made = sorted((r["user"], r["kind"], r["severity"]) for r in story_events if r["user"] != "arrives")
    # the new user's key is new too: its region and service are new for it
    assert made == sorted(e for e in EXPECTED if e[0] != "arrives")
    assert {r["kind"] for r in story_events if r["user"] == "arrives"} == {
        "user_created",
        "key_new_region",
        "key_new_service",
    }


def test_mfa_removed_from_root_is_critical(tmp_path: Path) -> None:
    rows = found(tmp_path, {D1: [root(ACCOUNT)], D2: [root(ACCOUNT, mfa_active="false")]}, NO_SETTINGS)
    assert [(r["kind"], r["severity"]) for r in rows] == [("mfa_removed", "critical")]


# -- credential_revived -------------------------------------------------------------------------

# (user, D1's values, D2's values, revived?) -- D2's snapshot sees a use at USE (2026-11-02 08:00).
REVIVALS = [
    ("key-exactly-n", {"access_key_1_last_used_date": days_before(N)}, {"access_key_1_last_used_date": at(USE)}, True),
    (
        "key-n-minus-1",
        {"access_key_1_last_used_date": days_before(N - 1)},
        {"access_key_1_last_used_date": at(USE)},
        False,
    ),
    # never used (N/A): counts from the key's creation (last_rotated)
    (
        "key-never-used-n",
        {"access_key_1_last_used_date": "N/A", "access_key_1_last_rotated": days_before(N)},
        {"access_key_1_last_used_date": at(USE), "access_key_1_last_rotated": days_before(N)},
        True,
    ),
    (
        "key-never-used-n-minus-1",
        {"access_key_1_last_used_date": "N/A", "access_key_1_last_rotated": days_before(N - 1)},
        {"access_key_1_last_used_date": at(USE), "access_key_1_last_rotated": days_before(N - 1)},
        False,
    ),
    ("key-not-used-again", {"access_key_1_last_used_date": days_before(N + 30)}, {}, False),
    # a new key (a rotation) used at once is a new key, not an old one revived
    (
        "key-replaced",
        {"access_key_1_last_used_date": days_before(N + 30)},
        {"access_key_1_last_rotated": NEW_KEY, "access_key_1_last_used_date": at(USE)},
        False,
    ),
    # a deactivated key cannot be used: it is not idle; enabled again and used, it is access_key_activated
    (
        "key-reenabled",
        {"access_key_1_active": "false", "access_key_1_last_used_date": days_before(N + 1)},
        {"access_key_1_last_used_date": at(USE)},
        False,
    ),
    ("password-exactly-n", {"password_last_used": days_before(N)}, {"password_last_used": at(USE)}, True),
    ("password-n-minus-1", {"password_last_used": days_before(N - 1)}, {"password_last_used": at(USE)}, False),
    # no_information (never used): counts from when the password was set
    (
        "password-never-used-n",
        {"password_last_used": "no_information", "password_last_changed": days_before(N)},
        {"password_last_used": at(USE), "password_last_changed": days_before(N)},
        True,
    ),
    (
        "password-never-used-n-minus-1",
        {"password_last_used": "no_information", "password_last_changed": days_before(N - 1)},
        {"password_last_used": at(USE), "password_last_changed": days_before(N - 1)},
        False,
    ),
    # a password set again (reset) but not used: its idleness ends, it is no use
    (
        "password-reset-unused",
        {"password_last_used": "no_information", "password_last_changed": days_before(N + 10)},
        {"password_last_used": "no_information", "password_last_changed": at(USE)},
        False,
    ),
]


@pytest.fixture(scope="module")
def revival_events(tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, Any]]:
    recent = {"password_last_used": days_before(1), "access_key_1_last_used_date": days_before(1)}
    d1 = [root(ACCOUNT, password_last_used=days_before(N + 50))]
    d2 = [root(ACCOUNT, password_last_used=at(USE))]  # root's own kinds: root_signed_in, never revived
    for user, before, after, _revived in REVIVALS:
        d1.append(iam_user(user, ACCOUNT, **{**recent, **before}))
        d2.append(iam_user(user, ACCOUNT, **{**recent, **before, **after}))
    return found(tmp_path_factory.mktemp("revivals"), {D1: d1, D2: d2}, EventSettings(revived_days=N))


@pytest.mark.parametrize(("user", "before", "after", "revived"), REVIVALS, ids=[r[0] for r in REVIVALS])
def test_a_credential_unused_for_n_days_and_used_again_is_revived(
    revival_events: list[dict[str, Any]], user: str, before: dict[str, str], after: dict[str, str], revived: bool
) -> None:
    rows = [r for r in revival_events if r["user"] == user and r["kind"] == "credential_revived"]
    if not revived:
        assert rows == []
        return
    key = 1 if user.startswith("key") else None
    idle_since = before.get("access_key_1_last_used_date" if key else "password_last_used")
    if idle_since in (None, "N/A", "no_information"):  # never used: from the key's creation, the password's setting
        idle_since = before["access_key_1_last_rotated" if key else "password_last_changed"]
    assert [(r["snapshot_date"], r["access_key"], r["before"], r["after"], r["severity"]) for r in rows] == [
        (D2, key, idle_since, at(USE), "high")
    ]


def test_root_is_never_revived_and_root_sign_in_stays_critical(revival_events: list[dict[str, Any]]) -> None:
    rows = [(r["kind"], r["severity"]) for r in revival_events if r["user"] == "<root_account>"]
    assert rows == [("root_signed_in", "critical")]


def test_a_use_across_a_collection_gap_counts_from_the_use_before(tmp_path: Path) -> None:
    # D2-D4 not collected; the use on D4 is seen on D5, compared with D1.
    use_on_d4 = dt.datetime(2026, 11, 4, 10, 0, tzinfo=dt.UTC)

    def idle(days: int) -> str:
        return at(use_on_d4 - dt.timedelta(days=days))

    d1 = [
        iam_user("gap-n", ACCOUNT, password_last_used=idle(N)),
        iam_user("gap-short", ACCOUNT, password_last_used=idle(N - 1)),
    ]
    d5 = [iam_user(u, ACCOUNT, password_last_used=at(use_on_d4)) for u in ("gap-n", "gap-short")]
    rows = found(tmp_path, {D1: d1, D5: d5}, EventSettings(revived_days=N))
    assert [(r["snapshot_date"], r["previous_date"], r["user"], r["kind"]) for r in rows] == [
        (D5, D1, None, "collection_gap"),
        (D5, D1, "gap-n", "credential_revived"),
    ]
    assert [r["severity"] for r in rows] == ["low", "high"]


def test_the_days_are_a_setting_and_none_turns_the_kind_off(tmp_path: Path) -> None:
    d1 = [iam_user("k", ACCOUNT, access_key_1_last_used_date=days_before(30))]
    d2 = [iam_user("k", ACCOUNT, access_key_1_last_used_date=at(USE))]
    assert [r["kind"] for r in found(tmp_path / "a", {D1: d1, D2: d2}, EventSettings(revived_days=30))] == [
        "credential_revived"
    ]
    assert found(tmp_path / "b", {D1: d1, D2: d2}, EventSettings(revived_days=31)) == []
    assert found(tmp_path / "c", {D1: d1, D2: d2}, NO_SETTINGS) == []


# -- key_outside_allowed_regions ------------------------------------------------------------------


def test_a_key_used_outside_the_allowed_regions_is_told_once_per_region(tmp_path: Path) -> None:
    def region(name: str, **values: str) -> dict[str, str]:
        return iam_user("k", ACCOUNT, access_key_1_last_used_region=name, **values)

    days = {
        D1: [region("us-east-1"), iam_user("global", ACCOUNT)],
        D2: [region("sa-east-1"), iam_user("global", ACCOUNT, access_key_1_last_used_region="N/A")],
        D3: [region("sa-east-1"), iam_user("global", ACCOUNT, access_key_1_last_used_region="N/A")],
        D4: [region("eu-west-1"), iam_user("global", ACCOUNT, access_key_1_last_used_region="not_supported")],
        D5: [region("sa-east-1"), iam_user("global", ACCOUNT)],  # shown before: not new, not told again
    }
    settings = EventSettings(revived_days=None, allowed_regions=("us-east-1", "eu-west-1"))
    rows = [r for r in found(tmp_path / "a", days, settings) if r["kind"].startswith("key_")]
    assert [(r["snapshot_date"], r["user"], r["kind"], r["after"], r["severity"]) for r in rows] == [
        (D2, "k", "key_new_region", "sa-east-1", "low"),
        (D2, "k", "key_outside_allowed_regions", "sa-east-1", "high"),
        (D4, "k", "key_new_region", "eu-west-1", "low"),  # allowed: no outside event
    ]
    assert [r["kind"] for r in found(tmp_path / "b", days, NO_SETTINGS) if "outside" in r["kind"]] == []


# -- changes() unchanged, events() its ranked superset ----------------------------------------------


def test_changes_are_events_without_their_severity(tmp_path: Path) -> None:
    store = write_store(tmp_path / "store", {day: {ACCOUNT: csv_report(*rows)} for day, rows in story().items()})
    with Database(store) as database:
        plain = changes(database)
        ranked = events(database, settings=NO_SETTINGS)
    assert (
        plain.schema == CHANGE_SCHEMA and ranked.column_names.index("severity") == ranked.column_names.index("kind") + 1
    )
    assert ranked.drop_columns(["severity"]).cast(CHANGE_SCHEMA).equals(plain)
    before, after = io.StringIO(), io.StringIO()
    write_csv(plain, before)
    write_csv(ranked.drop_columns(["severity"]), after)
    assert after.getvalue() == before.getvalue() and plain.num_rows > 10


# -- the commands -----------------------------------------------------------------------------------


def credsight(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "credsight.cli", *args], capture_output=True, text=True, check=False)


def test_changes_min_severity_and_the_severity_field(tmp_path: Path) -> None:
    write_store(tmp_path / "store", {day: {ACCOUNT: csv_report(*rows)} for day, rows in story().items()})
    where = ["--store", str(tmp_path / "store"), "--since", "2026-11-01", "--format", "json"]
    every = credsight("changes", *where, "--allowed-regions", "us-east-1,eu-west-1")
    assert every.returncode == 0, every.stderr
    rows = json.loads(every.stdout)
    assert list(rows[0]) == [
        "snapshot_date",
        "previous_date",
        "account_id",
        "account_name",
        "user",
        "arn",
        "kind",
        "severity",
        "access_key",
        "before",
        "after",
    ]
    high = credsight(
        "changes", *where, "--allowed-regions", "us-east-1", "--allowed-regions", "eu-west-1", "--min-severity", "high"
    )
    assert high.returncode == 0, high.stderr
    wanted = [r for r in rows if r["severity"] in ("high", "critical")]
    assert json.loads(high.stdout) == wanted and {r["severity"] for r in wanted} == {"high", "critical"}
    outside = credsight("changes", *where, "--kind", "key_outside_allowed_regions", "--allowed-regions", "us-east-1")
    assert [(r["user"], r["after"]) for r in json.loads(outside.stdout)] == [("travels", "sa-east-1")]
    wrong = credsight("changes", *where, "--min-severity", "severe")
    assert wrong.returncode == 2 and "severe" in wrong.stderr and len(wrong.stderr.splitlines()) == 1


def test_allowed_regions_at_the_top_of_credsight_toml_applies_to_changes(tmp_path: Path) -> None:
    write_store(tmp_path / "store", {day: {ACCOUNT: csv_report(*rows)} for day, rows in story().items()})
    settings = tmp_path / "credsight.toml"
    settings.write_text(f'store = "{tmp_path / "store"}"\nallowed-regions = ["us-east-1"]\n')
    done = subprocess.run(
        [sys.executable, "-m", "credsight.cli", "changes", "--since", "2026-11-01", "--format", "json"],
        capture_output=True,
        text=True,
        check=False,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    assert [r["user"] for r in json.loads(done.stdout) if r["kind"] == "key_outside_allowed_regions"] == ["travels"]


def test_rules_events_lists_every_kind_with_its_severity() -> None:
    done = credsight("rules", "--events")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    for event in EVENTS:
        assert any(event.kind in line and event.severity in line for line in lines), event.kind
    assert "credential_revived" in done.stdout and "--revived-days" in done.stdout
    assert "critical for the root user" in done.stdout
    listed = [k for line in lines for k in EVERY_KIND if f" {k} " in f" {line} "]
    assert listed.index("root_signed_in") < listed.index("mfa_removed") < listed.index("key_new_service")


def test_the_settings_default_to_the_commands_defaults() -> None:
    assert dataclasses.asdict(EventSettings()) == {"revived_days": 90, "allowed_regions": ()}


# -- the timeline's questions ----------------------------------------------------------------------


def test_events_per_day_by_severity_and_the_ranked_table(tmp_path: Path) -> None:
    from credsight.rules.timeline import PER_DAY_SCHEMA, events_per_day, per_day, timeline

    days = story()
    days[D3] = [*days[D2][1:], root(ACCOUNT, password_last_used=at(USE + dt.timedelta(days=1)))]  # root again
    store = write_store(tmp_path / "store", {day: {ACCOUNT: csv_report(*rows)} for day, rows in days.items()})
    settings = EventSettings(allowed_regions=("us-east-1",))
    with Database(store) as database:
        found = events(database, settings=settings)
        figure = events_per_day(database, D1, D3, None, settings)
    assert figure.schema == PER_DAY_SCHEMA and figure.equals(per_day(found))
    counted: dict[tuple[dt.date, str], int] = {}
    for row in found.to_pylist():
        counted[row["snapshot_date"], row["severity"]] = counted.get((row["snapshot_date"], row["severity"]), 0) + 1
    assert {(r["snapshot_date"], r["severity"]): r["events"] for r in figure.to_pylist()} == counted
    assert [r["severity"] for r in figure.to_pylist() if r["snapshot_date"] == D2][:2] == ["critical", "high"]
    assert per_day(found.slice(0, 0)).num_rows == 0

    table = timeline(found)
    rows = table.rows.to_pylist()
    informational = sum(1 for r in found.to_pylist() if r["severity"] == "informational")
    assert table.folded == informational > 0 and len(rows) == found.num_rows - informational
    ranks = [SEVERITIES.index(r["severity"]) for r in rows]
    assert ranks == sorted(ranks, reverse=True)
    critical = [r for r in rows if r["severity"] == "critical"]
    assert critical[0]["snapshot_date"] == D3 and critical[-1]["snapshot_date"] == D2  # newest first within
    every = timeline(found, informational=True)
    assert every.folded == 0 and every.rows.num_rows == found.num_rows
    high = timeline(found, severities=["high"], kinds=["mfa_removed", "access_key_created"])
    assert {(r["user"], r["kind"]) for r in high.rows.to_pylist()} == {
        ("loses-mfa", "mfa_removed"),
        ("console-key", "access_key_created"),
    }
    assert timeline(found, severities=["informational"]).folded == 0
    assert {r["user"] for r in timeline(found, user="travels").rows.to_pylist()} == {"travels"}


def test_a_credential_idle_again_and_used_again_is_revived_each_time(tmp_path: Path) -> None:
    # With 2 days: used on D3 after idling since Oct 29, idle again by D5, used on D5. The rows of D3 and D5
    # are the same state (in use), split by D4's (idle): the user's islands come from the window.
    def used(day: dt.date) -> str:
        return f"{day.isoformat()}T09:00:00+00:00"

    oct_29 = dt.date(2026, 10, 29)
    last_use = {D1: oct_29, D2: oct_29, D3: D3, D4: D3, D5: D5}
    days = {day: [iam_user("k", ACCOUNT, access_key_1_last_used_date=used(u))] for day, u in last_use.items()}
    rows = found(tmp_path, days, EventSettings(revived_days=2))
    assert [(r["snapshot_date"], r["kind"], r["before"], r["after"]) for r in rows] == [
        (D3, "credential_revived", used(oct_29), used(D3)),
        (D5, "credential_revived", used(D3), used(D5)),
    ]


def test_the_settings_add_rows_and_change_none(tmp_path: Path) -> None:
    """Looking for revivals splits a user's rows where a credential goes idle: no other change may come of it."""
    recent = {"password_last_used": days_before(1), "access_key_1_last_used_date": days_before(1)}
    days = {
        D1: [iam_user(u, ACCOUNT, **{**recent, **before}) for u, before, _after, _r in REVIVALS],
        D2: [iam_user(u, ACCOUNT, **{**recent, **before, **after}) for u, before, after, _r in REVIVALS],
        D3: [iam_user(u, ACCOUNT, **{**recent, **before, **after}) for u, before, after, _r in REVIVALS[::2]],
    }
    store = write_store(tmp_path / "store", {day: {ACCOUNT: csv_report(*rows)} for day, rows in days.items()})
    with Database(store) as database:
        plain = changes(database)
        ranked = events(database, settings=EventSettings(revived_days=N, allowed_regions=("eu-west-1",)))
    kept = ranked.filter(pc.is_in(ranked.column("kind"), pa.array(list(KINDS))))
    assert kept.drop_columns(["severity"]).cast(CHANGE_SCHEMA).equals(plain) and plain.num_rows > 0
    assert {"credential_revived", "key_outside_allowed_regions"} <= set(ranked.column("kind").to_pylist())
