"""Changes between consecutive snapshots, against hand-written expectations over small real stores."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa

from credsight.query import Database
from credsight.report.model import CURRENT_HEADER
from credsight.rules.changes import CHANGE_SCHEMA, KINDS, changes
from credsight.store import Store
from credsight.store.runs import Run, Snapshot
from credsight.store.schemas import ACCOUNT_SCHEMA
from tests.conftest import ACCOUNT, ROOT_ROW, report, user_row

OTHER = "999988887777"
D1, D2, D3, D4, D5 = (dt.date(2026, 11, day) for day in range(1, 6))
CREATED = ROOT_ROW["user_creation_time"]  # user_row's user_creation_time too
ROTATED = "2025-06-01T00:00:00+00:00"  # user_row's access_key_1_last_rotated
NEW_KEY = "2026-11-01T10:00:00+00:00"


def stored(
    tmp_path: Path, days: Mapping[dt.date, Mapping[str, bytes]], names: Mapping[str, str] | None = None
) -> Database:
    """A real store holding each account's report of each day (and account names, if given)."""
    store = Store(str(tmp_path / "store"))
    snapshots = [
        Snapshot(content, f"{account}-{day}.csv", day, account)
        for day, reports in days.items()
        for account, content in reports.items()
    ]
    metadata = pa.schema([f for f in ACCOUNT_SCHEMA if f.name != "run_id"])  # the run adds run_id
    rows = [{"snapshot_date": min(days), "account_id": a, "name": n} for a, n in (names or {}).items()]
    accounts = pa.Table.from_pylist(rows, schema=metadata) if rows else None
    Run(store).write(snapshots, accounts)
    return Database(store)


def change(
    day: dt.date,
    previous: dt.date,
    user: str | None,
    kind: str,
    before: str | None = None,
    after: str | None = None,
    key: int | None = None,
    account: str = ACCOUNT,
    name: str | None = None,
) -> dict[str, Any]:
    """One expected row of CHANGE_SCHEMA."""
    arn = None
    if user == "<root_account>":
        arn = f"arn:aws:iam::{account}:root"
    elif user is not None:
        arn = f"arn:aws:iam::{account}:user/{user}"
    return {
        "snapshot_date": day,
        "previous_date": previous,
        "account_id": account,
        "account_name": name,
        "user": user,
        "arn": arn,
        "kind": kind,
        "access_key": key,
        "before": before,
        "after": after,
    }


def rows_of(database: Database, **filters: Any) -> list[dict[str, Any]]:
    table = changes(database, **filters)
    assert table.schema == CHANGE_SCHEMA
    return list(table.to_pylist())


def root(account: str = ACCOUNT, **values: str) -> dict[str, str]:
    return {**ROOT_ROW, "arn": f"arn:aws:iam::{account}:root", **values}


def raw_report(*rows: dict[str, str]) -> bytes:
    """A report with exactly these rows (report() always adds the root row first)."""
    return "\n".join([",".join(CURRENT_HEADER), *(",".join(r[c] for c in CURRENT_HEADER) for r in rows)]).encode()


def test_users_created_and_deleted_and_credentials_changed(tmp_path: Path) -> None:
    day1 = report(
        user_row("stays"),
        user_row("leaves"),
        user_row("console", password_enabled="false", password_last_used="N/A", mfa_active="false"),
        user_row("loses-console"),
    )
    day2 = report(
        user_row("stays"),
        user_row("console"),  # password and MFA on
        user_row("loses-console", password_enabled="false", password_last_used="N/A", mfa_active="false"),
        user_row("arrives", user_creation_time="2026-11-01T15:00:00+00:00"),
    )
    with stored(tmp_path, {D1: {ACCOUNT: day1}, D2: {ACCOUNT: day2}}) as database:
        rows = rows_of(database)
    assert rows == [
        # a new user's key is a new key: the region and service it shows are new for it
        change(D2, D1, "arrives", "key_new_region", None, "us-east-1", key=1),
        change(D2, D1, "arrives", "key_new_service", None, "s3", key=1),
        change(D2, D1, "arrives", "user_created", None, "2026-11-01T15:00:00+00:00"),
        change(D2, D1, "console", "mfa_enabled", "false", "true"),
        change(D2, D1, "console", "password_enabled", "false", "true"),
        change(D2, D1, "leaves", "user_deleted", CREATED, None),
        change(D2, D1, "loses-console", "mfa_removed", "true", "false"),
        change(D2, D1, "loses-console", "password_disabled", "true", "false"),
    ]


def test_the_first_snapshot_of_an_account_is_not_everyone_created(tmp_path: Path) -> None:
    # OTHER is first collected on D2: its users were there before, not created that day.
    days = {
        D1: {ACCOUNT: report(user_row("a"))},
        D2: {ACCOUNT: report(user_row("a"), user_row("b")), OTHER: report(user_row("x", OTHER), account=OTHER)},
    }
    with stored(tmp_path, days) as database:
        rows = rows_of(database)
    assert [(r["account_id"], r["user"], r["kind"]) for r in rows] == [
        (ACCOUNT, "b", "key_new_region"),
        (ACCOUNT, "b", "key_new_service"),
        (ACCOUNT, "b", "user_created"),
    ]
    with stored(tmp_path / "one", {D1: {ACCOUNT: report(user_row("a"))}}) as database:
        assert changes(database).num_rows == 0


def test_a_gap_compares_with_the_snapshot_before_it(tmp_path: Path) -> None:
    days = {
        D1: {ACCOUNT: report(user_row("a"), user_row("b"))},
        D2: {ACCOUNT: report(user_row("a"), user_row("b"), user_row("c"))},
        # D3 not collected: nobody is deleted on D3, and a, b are not created again on D4
        D4: {ACCOUNT: report(user_row("a"), user_row("b"))},
        D5: {ACCOUNT: report(user_row("a"), user_row("b"))},
    }
    with stored(tmp_path, days) as database:
        rows = [r for r in rows_of(database) if not r["kind"].startswith("key_new")]
    assert rows == [
        change(D2, D1, "c", "user_created", None, CREATED),
        change(D4, D2, None, "collection_gap", "2026-11-02", "2026-11-04"),
        change(D4, D2, "c", "user_deleted", CREATED, None),
    ]


def test_a_report_with_no_rows_deletes_everyone_and_is_no_gap(tmp_path: Path) -> None:
    days = {
        D1: {ACCOUNT: report(user_row("a"))},
        D2: {ACCOUNT: ",".join(CURRENT_HEADER).encode()},  # header only: collected, and empty
        D3: {ACCOUNT: report(user_row("a"))},
    }
    with stored(tmp_path, days) as database:
        rows = [(r["snapshot_date"], r["user"], r["kind"]) for r in rows_of(database) if r["kind"].startswith("user")]
    assert rows == [(D2, "a", "user_deleted"), (D3, "a", "user_created")]


def test_access_keys_created_rotated_deactivated_activated(tmp_path: Path) -> None:
    no_key = {"access_key_1_active": "false", "access_key_1_last_rotated": "N/A"}
    unused = {"access_key_1_last_used_date": "N/A", "access_key_1_last_used_region": "N/A"}
    unused |= {"access_key_1_last_used_service": "N/A"}
    day1 = report(
        user_row("rotates"),
        user_row("creates", **no_key, **unused),
        user_row("deactivates"),
        user_row("reactivates", access_key_1_active="false"),
        user_row("second-key"),  # user_row's second slot holds no key
        user_row("deletes-key"),
    )
    day2 = report(
        user_row("rotates", access_key_1_last_rotated=NEW_KEY, **unused),
        user_row("creates", access_key_1_last_rotated=NEW_KEY, **unused),
        user_row("deactivates", access_key_1_active="false"),
        user_row("reactivates"),
        user_row("second-key", access_key_2_active="true", access_key_2_last_rotated=NEW_KEY),
        user_row("deletes-key", **no_key, **unused),
    )
    with stored(tmp_path, {D1: {ACCOUNT: day1}, D2: {ACCOUNT: day2}}) as database:
        rows = rows_of(database)
    assert rows == [
        change(D2, D1, "creates", "access_key_created", None, NEW_KEY, key=1),
        change(D2, D1, "deactivates", "access_key_deactivated", ROTATED, ROTATED, key=1),
        change(D2, D1, "deletes-key", "access_key_deactivated", ROTATED, None, key=1),
        change(D2, D1, "reactivates", "access_key_activated", ROTATED, ROTATED, key=1),
        change(D2, D1, "rotates", "access_key_rotated", ROTATED, NEW_KEY, key=1),
        change(D2, D1, "second-key", "access_key_created", None, NEW_KEY, key=2),
    ]


def test_root_sign_in_and_root_key_use(tmp_path: Path) -> None:
    key = {"access_key_1_active": "true", "access_key_1_last_rotated": ROTATED}
    used = {"access_key_1_last_used_date": "2026-10-01T08:00:00+00:00", "access_key_1_last_used_region": "us-east-1"}
    used |= {"access_key_1_last_used_service": "sts"}
    first = root(password_last_used="no_information", **key, **used)  # root never signed in (that AWS saw)
    signed_in = root(password_last_used="2026-11-01T20:00:00+00:00", **key, **used)
    key_used = {**signed_in, "access_key_1_last_used_date": "2026-11-02T07:00:00+00:00"}
    days = {D1: {ACCOUNT: raw_report(first)}, D2: {ACCOUNT: raw_report(signed_in)}, D3: {ACCOUNT: raw_report(key_used)}}
    with stored(tmp_path, days) as database:
        rows = rows_of(database)
    assert rows == [
        change(D2, D1, "<root_account>", "root_signed_in", None, "2026-11-01T20:00:00+00:00"),
        change(
            D3,
            D2,
            "<root_account>",
            "root_key_used",
            used["access_key_1_last_used_date"],
            key_used["access_key_1_last_used_date"],
            key=1,
        ),
    ]


def test_root_row_missing_then_present_is_not_created(tmp_path: Path) -> None:
    # moto writes no root row; a store can hold both kinds of report for one account.
    days = {D1: {ACCOUNT: raw_report(user_row("a"))}, D2: {ACCOUNT: report(user_row("a"))}}
    with stored(tmp_path, days) as database:
        assert rows_of(database) == []


def test_a_key_region_is_new_once_per_key(tmp_path: Path) -> None:
    def at(region: str, **values: str) -> bytes:
        return report(user_row("k", access_key_1_last_used_region=region, **values))

    days = {
        D1: {ACCOUNT: at("us-east-1")},
        D2: {ACCOUNT: at("eu-west-1")},  # new for this key
        D3: {ACCOUNT: at("us-east-1")},  # shown two snapshots ago: not new
        # a new key (new last_rotated) used in us-east-1: new for that key, though its predecessor used it
        D4: {ACCOUNT: at("us-east-1", access_key_1_last_rotated=NEW_KEY)},
        D5: {ACCOUNT: at("N/A", access_key_1_last_rotated=NEW_KEY, access_key_1_last_used_service="iam")},
    }
    with stored(tmp_path, days) as database:
        rows = rows_of(database)
    assert rows == [
        change(D2, D1, "k", "key_new_region", None, "eu-west-1", key=1),
        change(D4, D3, "k", "access_key_rotated", ROTATED, NEW_KEY, key=1),
        change(D4, D3, "k", "key_new_region", None, "us-east-1", key=1),
        change(D4, D3, "k", "key_new_service", None, "s3", key=1),
        change(D5, D4, "k", "key_new_service", None, "iam", key=1),  # the global service's region N/A is no region
    ]


def test_markers_make_no_changes(tmp_path: Path) -> None:
    moto_like = {"password_enabled": "not_supported", "mfa_active": "false", "password_last_used": "N/A"}
    moto_like |= {"access_key_1_last_used_region": "not_supported", "access_key_1_last_used_service": "not_supported"}
    day1 = raw_report(
        root(password_last_used="no_information", access_key_1_last_used_region="N/A"),
        user_row("m", **moto_like),
        user_row("never", password_last_used="no_information", access_key_1_last_used_region="N/A"),
    )
    day2 = raw_report(
        root(password_last_used="N/A", password_enabled="false"),  # centrally managed root: false, not a change
        user_row("m", **{**moto_like, "password_enabled": "false", "mfa_active": "not_supported"}),
        user_row("never", password_last_used="N/A", access_key_1_last_used_region="no_information"),
    )
    with stored(tmp_path, {D1: {ACCOUNT: day1}, D2: {ACCOUNT: day2}}) as database:
        assert rows_of(database) == []


def test_a_state_that_comes_back_is_seen_each_time(tmp_path: Path) -> None:
    # a's rows with MFA on are not consecutive: their run is split into islands by the window.
    days = {
        D1: {ACCOUNT: report(user_row("a"), user_row("b"))},
        D2: {ACCOUNT: report(user_row("a", mfa_active="false"), user_row("b"))},
        D3: {ACCOUNT: report(user_row("a"))},
        D4: {ACCOUNT: report(user_row("a"), user_row("b"))},  # b back, same creation time: created again
    }
    with stored(tmp_path, days) as database:
        rows = [(r["snapshot_date"], r["user"], r["kind"]) for r in rows_of(database)]
    assert rows == [
        (D2, "a", "mfa_removed"),
        (D3, "a", "mfa_enabled"),
        (D3, "b", "user_deleted"),
        (D4, "b", "user_created"),  # its key (same last_rotated) showed us-east-1 and s3 before: not new
    ]


def test_a_user_created_again_under_the_same_name(tmp_path: Path) -> None:
    again = "2026-11-01T12:00:00+00:00"
    days = {
        D1: {ACCOUNT: report(user_row("a"))},
        D2: {ACCOUNT: report(user_row("a", user_creation_time=again, mfa_active="false"))},
    }
    with stored(tmp_path, days) as database:
        rows = rows_of(database)
    # deleted and created: the new user's missing MFA is not "MFA removed"
    assert rows == [
        change(D2, D1, "a", "user_created", None, again),
        change(D2, D1, "a", "user_deleted", CREATED, None),
    ]


def three_days(tmp_path: Path) -> Database:
    no_mfa = {"mfa_active": "false"}
    days = {
        D1: {ACCOUNT: report(user_row("a"), user_row("b")), OTHER: report(user_row("x", OTHER), account=OTHER)},
        D2: {ACCOUNT: report(user_row("a", **no_mfa), user_row("b")), OTHER: report(account=OTHER)},
        D3: {ACCOUNT: report(user_row("a", **no_mfa)), OTHER: report(user_row("y", OTHER), account=OTHER)},
    }
    return stored(tmp_path, days, names={ACCOUNT: "prod", OTHER: "sandbox"})


def summary(rows: Sequence[dict[str, Any]]) -> list[tuple[Any, ...]]:
    return [
        (r["snapshot_date"], r["account_id"], r["user"], r["kind"]) for r in rows if not r["kind"].startswith("key")
    ]


def test_since_until_and_accounts(tmp_path: Path) -> None:
    everything = [
        (D2, ACCOUNT, "a", "mfa_removed"),
        (D2, OTHER, "x", "user_deleted"),
        (D3, ACCOUNT, "b", "user_deleted"),
        (D3, OTHER, "y", "user_created"),
    ]
    with three_days(tmp_path) as database:
        assert summary(rows_of(database)) == everything
        since = rows_of(database, since=D3)
        assert summary(since) == everything[2:]
        assert {r["previous_date"] for r in since} == {D2}  # compared with a snapshot before `since`
        assert summary(rows_of(database, until=D2)) == everything[:2]  # b, deleted on D3, is not seen
        assert summary(rows_of(database, since=D2, until=D2, accounts=[OTHER])) == [everything[1]]
        assert summary(rows_of(database, accounts=[ACCOUNT])) == [everything[0], everything[2]]
        assert rows_of(database, accounts=[]) == []
        assert rows_of(database, since=dt.date(2027, 1, 1)) == []
        assert {r["account_id"]: r["account_name"] for r in rows_of(database)} == {ACCOUNT: "prod", OTHER: "sandbox"}


def test_key_history_before_since_counts(tmp_path: Path) -> None:
    days = {
        D1: {ACCOUNT: report(user_row("k", access_key_1_last_used_region="eu-west-1"))},
        D2: {ACCOUNT: report(user_row("k"))},
        D3: {ACCOUNT: report(user_row("k", access_key_1_last_used_region="eu-west-1"))},
        D4: {ACCOUNT: report(user_row("k", access_key_1_last_used_region="sa-east-1"))},
    }
    with stored(tmp_path, days) as database:
        # eu-west-1 on D3 was shown on D1, before `since`: not new; sa-east-1 is
        assert [(r["snapshot_date"], r["after"]) for r in rows_of(database, since=D3)] == [(D4, "sa-east-1")]
        assert [(r["snapshot_date"], r["after"]) for r in rows_of(database, until=D3)] == [(D2, "us-east-1")]


def test_times_are_utc_whatever_the_session_time_zone(tmp_path: Path) -> None:
    days = {
        D1: {ACCOUNT: report(user_row("a"))},
        D2: {ACCOUNT: report(user_row("a", access_key_1_last_rotated=NEW_KEY))},
    }
    with stored(tmp_path, days) as database:
        database.sql("SET GLOBAL TimeZone = 'Asia/Kolkata'")  # every cursor of the database, the changes' too
        assert database.sql("SELECT current_setting('TimeZone') AS zone").rows == [{"zone": "Asia/Kolkata"}]
        rotated = [r for r in rows_of(database) if r["kind"] == "access_key_rotated"]
    assert [(r["before"], r["after"]) for r in rotated] == [(ROTATED, NEW_KEY)]


def test_an_empty_store_has_no_changes(tmp_path: Path) -> None:
    with Database(Store(str(tmp_path / "empty"))) as database:
        table = changes(database)
    assert table.num_rows == 0 and table.schema == CHANGE_SCHEMA


def test_every_kind_is_documented_and_produced(tmp_path: Path) -> None:
    """One story that makes every kind in KINDS, and nothing outside it."""
    no_key = {"access_key_1_active": "false", "access_key_1_last_rotated": "N/A"}
    day1 = report(
        user_row("old"),
        user_row("console", password_enabled="false", mfa_active="false"),
        user_row("keys", **no_key),
        user_row("keys2", access_key_1_active="false"),
    )
    day3 = raw_report(
        root(
            password_last_used="2026-11-03T01:00:00+00:00",
            access_key_1_active="true",
            access_key_1_last_rotated=ROTATED,
            access_key_1_last_used_date="2026-11-03T02:00:00+00:00",
        ),
        user_row("console", access_key_1_last_used_region="eu-west-1"),
        user_row("keys", access_key_1_last_rotated=NEW_KEY),
        user_row("keys2"),
        user_row("new"),
    )
    day4 = report(
        user_row(
            "console",
            password_enabled="false",
            mfa_active="false",
            access_key_1_active="false",
            access_key_1_last_used_region="eu-west-1",
        ),
        user_row("keys", access_key_1_last_rotated="2026-11-03T10:00:00+00:00"),
        user_row("keys2"),
    )
    with stored(tmp_path, {D1: {ACCOUNT: day1}, D3: {ACCOUNT: day3}, D4: {ACCOUNT: day4}}) as database:
        kinds = set(changes(database).column("kind").to_pylist())
    assert kinds == set(KINDS)


def test_the_command(tmp_path: Path) -> None:
    """`credsight changes` as a user runs it: JSON rows, --kind, and one-line errors."""
    import json
    import subprocess
    import sys

    day1 = report(user_row("stays"), user_row("leaves"))
    day2 = report(user_row("stays", mfa_active="false"))
    stored(tmp_path, {D1: {ACCOUNT: day1}, D2: {ACCOUNT: day2}}).close()

    def credsight(*args: str) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-m", "credsight.cli", "changes", "--store", str(tmp_path / "store"), *args]
        return subprocess.run(command, capture_output=True, text=True, check=False)

    result = credsight("--format", "json", "--since", "2026-11-01")
    assert result.returncode == 0, result.stderr
    assert {(r["user"], r["kind"]) for r in json.loads(result.stdout)} == {
        ("leaves", "user_deleted"),
        ("stays", "mfa_removed"),
    }
    result = credsight("--format", "json", "--kind", "mfa_removed")
    assert [r["kind"] for r in json.loads(result.stdout)] == ["mfa_removed"]
    for args, message in (
        (["--kind", "mfa_lost"], "--kind 'mfa_lost' is not a kind of change"),
        (["--since", "yesterday"], "--since 'yesterday' is not a date"),
        (["--ou", "Root/Nowhere"], "no account under --ou 'Root/Nowhere'"),
    ):
        result = credsight(*args)
        assert result.returncode == 2 and message in result.stderr and len(result.stderr.splitlines()) == 1, result
