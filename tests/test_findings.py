"""Rules on hand-made reports: each case's failing rules computed by hand, boundaries included."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest

from credsight.errors import FindingsError
from credsight.query import Database
from credsight.report.model import CURRENT_HEADER
from credsight.rules.catalogue import RULES, CatalogueError, Rule, check_catalogue
from credsight.rules.findings import evaluate, select_rules
from credsight.store import Store
from credsight.store.runs import Run, Snapshot
from tests.conftest import ROOT_ROW, user_row

DAY = dt.date(2026, 11, 23)


def ts(days_before: int) -> str:
    """A timestamp `days_before` the snapshot day, mid-morning UTC."""
    return f"{DAY - dt.timedelta(days=days_before)}T10:00:00+00:00"


# A user that passes every rule on DAY: console with MFA, used lately, one key rotated 53 days ago.
CLEAN = {
    "password_last_used": ts(3),
    "password_last_changed": ts(53),
    "access_key_1_last_rotated": ts(53),
    "access_key_1_last_used_date": ts(1),
}
# No password and no key: nothing usable (only its age since creation can fail a rule).
DORMANT = {
    "password_enabled": "false",
    "password_last_used": "N/A",
    "password_last_changed": "N/A",
    "access_key_1_active": "false",
    "access_key_1_last_rotated": "N/A",
    "access_key_1_last_used_date": "N/A",
    "access_key_1_last_used_region": "N/A",
    "access_key_1_last_used_service": "N/A",
}
CLEAN_ROOT = {"password_last_used": ts(91)}  # MFA, no keys, last signed in 91 days ago

USER_CASES: list[tuple[str, dict[str, str], set[str]]] = [
    ("clean", {}, set()),
    ("no-mfa", {"mfa_active": "false"}, {"console-user-mfa"}),
    (
        "machine-no-mfa",
        {
            "password_enabled": "false",
            "password_last_used": "N/A",
            "password_last_changed": "N/A",
            "mfa_active": "false",
        },
        set(),
    ),
    ("key-90-days", {"access_key_1_last_rotated": ts(90)}, set()),
    ("key-91-days", {"access_key_1_last_rotated": ts(91)}, {"access-key-rotation"}),
    ("old-inactive-key", {"access_key_2_active": "false", "access_key_2_last_rotated": ts(400)}, set()),
    ("password-unused-45", {"password_last_used": ts(45)}, set()),
    ("password-unused-46", {"password_last_used": ts(46)}, {"unused-credentials"}),
    (
        "password-never-used-46",  # no_information: counted from when the password was set
        {"password_last_used": "no_information", "password_last_changed": ts(46)},
        {"unused-credentials"},
    ),
    ("password-never-used-10", {"password_last_used": "no_information", "password_last_changed": ts(10)}, set()),
    (
        "key-never-used-46",  # never used: counted from creation; and made at console user setup
        {
            "access_key_1_last_used_date": "N/A",
            "access_key_1_last_used_region": "N/A",
            "access_key_1_last_used_service": "N/A",
            "access_key_1_last_rotated": ts(46),
        },
        {"unused-credentials", "access-key-at-setup"},
    ),
    (
        "key-never-used-10",
        {
            "access_key_1_last_used_date": "N/A",
            "access_key_1_last_used_region": "N/A",
            "access_key_1_last_used_service": "N/A",
            "access_key_1_last_rotated": ts(10),
        },
        {"access-key-at-setup"},
    ),
    (
        "two-keys",
        {
            "access_key_2_active": "true",
            "access_key_2_last_rotated": ts(5),
            "access_key_2_last_used_date": ts(1),
            "access_key_2_last_used_region": "eu-west-1",
            "access_key_2_last_used_service": "s3",
        },
        {"multiple-active-keys"},
    ),
    ("password-90-days", {"password_last_changed": ts(90)}, set()),
    ("password-91-days", {"password_last_changed": ts(91)}, {"password-rotation"}),
    (
        "inactive-91",
        {"password_last_used": ts(91), "access_key_1_last_used_date": ts(91)},
        {"inactive-user", "unused-credentials"},
    ),
    (
        "dormant-created-91",
        {**DORMANT, "user_creation_time": ts(91)},
        {"inactive-user"},
    ),
    (
        "dormant-created-90",
        {**DORMANT, "user_creation_time": ts(90)},
        set(),
    ),
]

ROOT_CASES: list[tuple[str, dict[str, str], set[str]]] = [
    ("root-clean", {}, set()),
    ("root-no-information", {"password_last_used": "no_information"}, set()),
    ("root-used-90", {"password_last_used": ts(90)}, {"root-used"}),
    ("root-used-91", {"password_last_used": ts(91)}, set()),
    ("root-no-mfa", {"mfa_active": "false"}, {"root-mfa"}),
    (
        "root-key-unused",
        {"access_key_1_active": "true", "access_key_1_last_rotated": ts(400)},
        {"root-access-key"},
    ),
    (
        "root-key-used",
        {
            "access_key_2_active": "true",
            "access_key_2_last_rotated": ts(400),
            "access_key_2_last_used_date": ts(2),
            "access_key_2_last_used_region": "us-east-1",
            "access_key_2_last_used_service": "ec2",
        },
        {"root-access-key", "root-used"},
    ),
]


def account_for(index: int) -> str:
    return f"{100000000000 + index:012d}"


def root_row(account: str, **values: str) -> dict[str, str]:
    return {**ROOT_ROW, **CLEAN_ROOT, "arn": f"arn:aws:iam::{account}:root", **values}


def write_reports(store: Store, reports: Mapping[tuple[str, dt.date], Sequence[dict[str, str]]]) -> None:
    """One report per (account, day): the given rows (the first must be the root row)."""
    snapshots = []
    for (account, day), rows in reports.items():
        lines = [",".join(CURRENT_HEADER)] + [",".join(row[c] for c in CURRENT_HEADER) for row in rows]
        snapshots.append(Snapshot("\n".join(lines).encode(), f"{account}-{day}.csv", day, account))
    Run(store).write(snapshots)


def failing(findings: list[dict[str, Any]]) -> dict[tuple[str, str], set[str]]:
    found: dict[tuple[str, str], set[str]] = {}
    for f in findings:
        found.setdefault((f["account_id"], f["user"]), set()).add(f["rule"])
    return found


def test_each_rule_on_hand_computed_cases(tmp_path: Path) -> None:
    store = Store(str(tmp_path / "store"))
    reports: dict[tuple[str, dt.date], list[dict[str, str]]] = {}
    users_account = account_for(0)
    reports[users_account, DAY] = [root_row(users_account)] + [
        user_row(name, account=users_account, **{**CLEAN, **values}) for name, values, _ in USER_CASES
    ]
    for index, (_name, values, _expected) in enumerate(ROOT_CASES, start=1):
        reports[account_for(index), DAY] = [root_row(account_for(index), **values)]
    write_reports(store, reports)
    with Database(store) as database:
        evaluation = evaluate(database, DAY)
    found = failing(evaluation.findings.to_pylist())
    for name, _values, expected in USER_CASES:
        assert found.get((users_account, name), set()) == expected, name
    for index, (name, _values, expected) in enumerate(ROOT_CASES, start=1):
        assert found.get((account_for(index), "<root_account>"), set()) == expected, name
    assert not found.get((users_account, "<root_account>"))
    # the counts per rule and account: the root rules look at one row, the user rules at every user
    results = {(r["rule"], r["account_id"]): r for r in evaluation.results.to_pylist()}
    rotation = results["access-key-rotation", users_account]
    assert (rotation["evaluated"], rotation["failed"], rotation["passed"]) == (len(USER_CASES), 1, len(USER_CASES) - 1)
    assert results["root-mfa", account_for(5)]["failed"] == 1 and results["root-mfa", account_for(5)]["evaluated"] == 1
    assert ("root-hardware-mfa", users_account) not in results  # not decidable: never evaluated, never guessed


def test_evidence_says_what_failed(tmp_path: Path) -> None:
    store = Store(str(tmp_path / "store"))
    account = account_for(0)
    write_reports(
        store,
        {
            (account, DAY): [
                root_row(account),
                user_row("old-key", account=account, **{**CLEAN, "access_key_1_last_rotated": ts(120)}),
            ]
        },
    )
    with Database(store) as database:
        (finding,) = evaluate(database, DAY, rule_ids=["access-key-rotation"]).findings.to_pylist()
    assert '"age_days":120' in finding["evidence"] and '"access_key":1' in finding["evidence"]
    assert finding["severity"] == "medium" and finding["arn"] == f"arn:aws:iam::{account}:user/old-key"


def test_thresholds_are_settings(tmp_path: Path) -> None:
    store = Store(str(tmp_path / "store"))
    account = account_for(0)
    write_reports(store, {(account, DAY): [root_row(account), user_row("u", account=account, **CLEAN)]})
    with Database(store) as database:
        assert evaluate(database, DAY, rule_ids=["access-key-rotation"]).findings.num_rows == 0  # 53 days old
        tighter = evaluate(database, DAY, rule_ids=["access-key-rotation"], limits={"rotation_days": 52})
        assert tighter.findings.num_rows == 1
        assert (
            evaluate(database, DAY, limits={"rotation_days": 53}, rule_ids=["access-key-rotation"]).findings.num_rows
            == 0
        )


def test_first_seen_is_the_start_of_the_unbroken_run(tmp_path: Path) -> None:
    """Failing on days 1, 3, 4 with day 2 not collected: first seen day 1. A pass breaks the run."""
    store = Store(str(tmp_path / "store"))
    gap, broken, recreated = account_for(1), account_for(2), account_for(3)
    days = [DAY - dt.timedelta(days=n) for n in (3, 2, 1, 0)]
    no_mfa = {**CLEAN, "mfa_active": "false"}
    reports: dict[tuple[str, dt.date], list[dict[str, str]]] = {}
    for number, day in enumerate(days):
        if number != 1:  # day 2 of the gap account was not collected
            reports[gap, day] = [root_row(gap), user_row("u", account=gap, **no_mfa)]
        values = CLEAN if number == 1 else no_mfa  # passed on day 2
        reports[broken, day] = [root_row(broken), user_row("u", account=broken, **values)]
        created = ts(400) if number < 2 else ts(1)  # deleted and made again on day 3
        reports[recreated, day] = [
            root_row(recreated),
            user_row("u", account=recreated, **no_mfa, user_creation_time=created),
        ]
    write_reports(store, reports)
    with Database(store) as database:
        now = {f["account_id"]: f for f in evaluate(database, DAY, rule_ids=["console-user-mfa"]).findings.to_pylist()}
        earlier = evaluate(database, days[1], rule_ids=["console-user-mfa"]).findings.to_pylist()
    assert now[gap]["first_seen"] == days[0]
    assert now[broken]["first_seen"] == days[2]
    assert now[recreated]["first_seen"] == days[2]
    # as of day 2: the gap account's snapshot is day 1's; the broken account passed that day
    assert {(f["account_id"], f["snapshot_date"], f["first_seen"]) for f in earlier} == {
        (gap, days[0], days[0]),
        (recreated, days[1], days[0]),
    }


def test_unknown_rule_and_malformed_catalogue() -> None:
    with pytest.raises(FindingsError, match="no rule 'nope'"):
        select_rules(["nope"])
    good = RULES[0]
    bad_cases = [
        (Rule(**{**good.__dict__, "severity": "urgent"}), "severity 'urgent'"),
        (Rule(**{**good.__dict__, "id": "Root Key"}), "malformed"),
        (Rule(**{**good.__dict__, "condition": "r.no_such_column"}), "no column 'no_such_column'"),
        (
            Rule(**{**good.__dict__, "condition": "age_days(r.password_last_used, r.snapshot_date) > $days"}),
            "threshold $days",
        ),
        (Rule(**{**good.__dict__, "condition": None}), "must say why"),
    ]
    for rule, message in bad_cases:
        with pytest.raises(CatalogueError, match=message.replace("$", r"\$")):
            check_catalogue([rule])
    with pytest.raises(CatalogueError, match="repeated"):
        check_catalogue([good, good])
