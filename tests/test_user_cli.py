"""One user across the organization: the search the /users page asks as someone types (find_users), one
user's accounts and history (`credsight user`), over a small real store of three accounts."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
from typing import Any

import pytest

from credsight.query import Database
from credsight.rules.exceptions import AcceptedRisk
from credsight.rules.users import USER_SCHEMA, find_users, user_accounts, user_events, user_history
from credsight.store import Store
from tests.event_stores import Account, csv_report, iam_user, root, write_store

PROD, DEV, SANDBOX = "111122223333", "444455556666", "777788889999"
D1, D2 = dt.date(2026, 11, 1), dt.date(2026, 11, 2)
NO_MFA = {"mfa_active": "false"}
ACCOUNTS = {
    PROD: Account("payments-prod", "Root/Workloads/Prod"),
    DEV: Account("payments-dev", "Root/Workloads/Dev"),
    SANDBOX: Account("sandbox_50%", "Root/Sandbox"),
}


def reports(day: dt.date) -> dict[str, bytes]:
    later = day == D2
    return {
        PROD: csv_report(
            root(PROD),
            iam_user("alice", PROD, **(NO_MFA if later else {})),  # MFA removed on D2: console-user-mfa
            iam_user("svc-deploy", PROD, password_enabled="false", password_last_used="N/A"),
        ),
        DEV: csv_report(root(DEV), iam_user("Alice", DEV), iam_user("bob_smith", DEV)),
        SANDBOX: csv_report(
            root(SANDBOX), iam_user("malice", SANDBOX), *([iam_user("carol", SANDBOX)] if not later else [])
        ),
    }


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Store:
    return write_store(tmp_path_factory.mktemp("users") / "store", {D1: reports(D1), D2: reports(D2)}, ACCOUNTS)


@pytest.fixture(scope="module")
def database(store: Store) -> Any:
    with Database(store) as opened:
        yield opened


def users_of(table: Any) -> list[tuple[str, str]]:
    return [(r["account_id"], r["user"]) for r in table.to_pylist()]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # exact names first (any case), then names that start with it, then the rest
        ("alice", [(DEV, "Alice"), (PROD, "alice"), (SANDBOX, "malice")]),
        ("ALI", [(DEV, "Alice"), (PROD, "alice"), (SANDBOX, "malice")]),
        (f"arn:aws:iam::{PROD}:user/alice", [(PROD, "alice")]),
        ("4445555", [(DEV, "<root_account>"), (DEV, "Alice"), (DEV, "bob_smith")]),  # part of an account id
        ("payments-d", [(DEV, "<root_account>"), (DEV, "Alice"), (DEV, "bob_smith")]),  # part of an account name
        # % and _ are what they are, not LIKE's wildcards
        ("b_s", [(DEV, "bob_smith")]),
        ("50%", [(SANDBOX, "<root_account>"), (SANDBOX, "malice")]),
        ("carol", []),  # deleted on D2: not in the latest snapshot
        ("  ", []),
        ("zzz", []),
    ],
)
def test_find_users_as_someone_types(database: Any, text: str, expected: list[tuple[str, str]]) -> None:
    found = find_users(database, text)
    assert found.schema == USER_SCHEMA
    assert users_of(found) == expected


def test_find_users_says_where_each_one_is_and_how_it_stands(database: Any) -> None:
    [alice] = find_users(database, f"arn:aws:iam::{PROD}:user/alice").to_pylist()
    assert (alice["account_name"], alice["ou_path"], alice["class"], alice["snapshot_date"]) == (
        "payments-prod",
        "Root/Workloads/Prod",
        "human",
        D2,
    )
    assert alice["password_last_used"] == dt.datetime(2026, 10, 31, 9, 0, tzinfo=dt.UTC)
    assert (
        alice["last_key_use"] == alice["access_key_1_last_used_date"] == dt.datetime(2026, 10, 31, 12, 0, tzinfo=dt.UTC)
    )
    assert alice["access_key_2_last_used_date"] is None
    assert "console-user-mfa" in alice["open_rules"] and alice["open_findings"] == len(alice["open_rules"])


def test_open_findings_agree_with_credsight_findings(store: Store, database: Any) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "credsight.cli", "findings", "--store", store.url, "--format", "json"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    per_user: dict[tuple[str, str], set[str]] = {}
    for finding in json.loads(done.stdout):
        per_user.setdefault((finding["account_id"], finding["user"]), set()).add(finding["rule"])
    for row in find_users(database, "a", limit=100).to_pylist():
        assert set(row["open_rules"]) == per_user.get((row["account_id"], row["user"]), set()), row["user"]


def test_accepted_risks_are_not_open_findings(database: Any) -> None:
    risk = AcceptedRisk("console-user-mfa", PROD, "alice", "hardware token on order", "sec@example.com", D2, 1)
    expired = AcceptedRisk("*", PROD, "alice", "old", "sec@example.com", dt.date(2026, 1, 1), 2)
    plain = user_accounts(database, "alice", accounts=[PROD]).to_pylist()[0]
    excepted = user_accounts(database, "alice", accounts=[PROD], risks=[risk, expired], today=D2).to_pylist()[0]
    assert excepted["open_rules"] == [r for r in plain["open_rules"] if r != "console-user-mfa"]
    assert excepted["open_findings"] == plain["open_findings"] - 1


def test_limit_and_scope(database: Any) -> None:
    assert len(find_users(database, "a", limit=2)) == 2
    assert find_users(database, "a", limit=0).num_rows == 0
    assert users_of(find_users(database, "alice", accounts=[SANDBOX])) == [(SANDBOX, "malice")]


def test_one_user_every_account_and_its_history(database: Any) -> None:
    assert users_of(user_accounts(database, "ALICE")) == [(DEV, "Alice"), (PROD, "alice")]  # by account name
    assert users_of(user_accounts(database, f"arn:aws:iam::{DEV}:user/Alice")) == [(DEV, "Alice")]
    history = user_history(database, "alice").to_pylist()
    assert [(r["account_id"], r["snapshot_date"], r["mfa_active"]) for r in history] == [
        (PROD, D1, True),
        (PROD, D2, False),
        (DEV, D1, True),
        (DEV, D2, True),
    ]
    assert [(r["user"], r["snapshot_date"]) for r in user_history(database, "carol").to_pylist()] == [("carol", D1)]
    assert [(r["kind"], r["severity"]) for r in user_events(database, PROD, "alice").to_pylist()] == [
        ("mfa_removed", "high")
    ]


def credsight(store: Store, *args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "credsight.cli", "user", *args, "--store", store.url]
    return subprocess.run(command, capture_output=True, text=True, check=False)


def test_the_command_writes_every_account_as_json(store: Store) -> None:
    done = credsight(store, "alice", "--format", "json")
    assert done.returncode == 0, done.stderr
    rows = json.loads(done.stdout)
    assert [(r["account_id"], r["user"]) for r in rows] == [(DEV, "Alice"), (PROD, "alice")]
    required = {
        "account_id",
        "account_name",
        "user",
        "arn",
        "class",
        "password_last_used",
        "access_key_1_last_used_date",
        "access_key_2_last_used_date",
        "open_findings",
    }
    assert required <= set(rows[0])
    assert rows[1]["password_last_used"] == "2026-10-31T09:00:00Z" and rows[1]["open_findings"] >= 1
    one = credsight(store, "alice", "--account", PROD, "--format", "csv")
    assert one.returncode == 0 and len(one.stdout.splitlines()) == 2 and PROD in one.stdout.splitlines()[1]
    table = credsight(store, "alice", "--ou", "Root/Workloads/Dev")
    assert table.returncode == 0 and "Alice" in table.stdout and "1 account" in table.stdout


def test_the_command_history(store: Store) -> None:
    done = credsight(store, "alice", "--history", "--account", PROD, "--format", "json")
    assert done.returncode == 0, done.stderr
    assert [(r["snapshot_date"], r["mfa_active"]) for r in json.loads(done.stdout)] == [
        ("2026-11-01", True),
        ("2026-11-02", False),
    ]


def test_a_user_nowhere_is_a_one_line_error_with_suggestions(store: Store) -> None:
    done = credsight(store, "ali")
    assert done.returncode == 2 and len(done.stderr.splitlines()) == 1
    assert "no user 'ali'" in done.stderr and "Alice" in done.stderr and "malice" in done.stderr
    gone = credsight(store, "carol")
    assert gone.returncode == 2 and "latest snapshot" in gone.stderr
    assert credsight(store, "carol", "--history").returncode == 0
