"""User classes and the per-report counts written with every batch, against hand-counted reports."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from credsight.query import Database
from credsight.store import Store
from credsight.store.runs import Run, Snapshot
from credsight.store.schemas import USER_CLASSES
from tests.conftest import ACCOUNT, DAY, ROOT_ROW, report, user_row

NO_KEY = {"access_key_1_active": "false", "access_key_1_last_rotated": "N/A", "access_key_1_last_used_date": "N/A"}
NO_PASSWORD = {"password_enabled": "false", "password_last_used": "N/A", "password_last_changed": "N/A"}


def stored(tmp_path: Path, content: bytes, day: dt.date = DAY) -> Database:
    store = Store(str(tmp_path / "store"))
    Run(store).write([Snapshot(content, "r.csv", day, ACCOUNT)])
    return Database(store)


def test_each_user_gets_one_class(tmp_path: Path) -> None:
    content = report(
        user_row("person"),  # console password: human, whatever keys they have
        user_row("robot", **NO_PASSWORD),  # key only: machine
        user_row("ghost", **NO_PASSWORD, **NO_KEY),  # neither: dormant
        user_row("second-key-only", **NO_PASSWORD, **NO_KEY, access_key_2_active="true"),
    )
    with stored(tmp_path, content) as database:
        classes = {r["user"]: r["user_class"] for r in database.sql("select user, user_class from reports").rows}
    assert classes == {
        "<root_account>": "root",
        "person": "human",
        "robot": "machine",
        "ghost": "dormant",
        "second-key-only": "machine",
    }
    assert set(classes.values()) == set(USER_CLASSES)


def test_daily_counts_match_a_hand_count(tmp_path: Path) -> None:
    content = report(
        user_row("a"),  # human with MFA, one key
        user_row("b", mfa_active="false", access_key_2_active="true"),  # human without MFA, two keys
        user_row("c", **NO_PASSWORD),  # machine, one key
        user_row("d", **NO_PASSWORD, **NO_KEY),  # dormant
    )
    with stored(tmp_path, content) as database:
        daily = database.sql("select * from daily").rows
    assert daily == [
        {
            "snapshot_date": DAY,
            "account_id": ACCOUNT,
            "run_id": daily[0]["run_id"],
            "generated_time": None,
            "users": 4,
            "humans": 2,
            "machines": 1,
            "dormant": 1,
            "console_without_mfa": 1,
            "active_keys": 4,
            "root_mfa": True,
            "root_active_keys": 0,
            "source": "r.csv",
        }
    ]


def test_root_with_a_key_and_no_mfa_is_counted(tmp_path: Path) -> None:
    root = {**ROOT_ROW, "mfa_active": "false", "access_key_1_active": "true"}
    header = report().partition(b"\n")[0]
    with stored(tmp_path, header + b"\n" + ",".join(root.values()).encode()) as database:
        assert database.sql("select users, root_mfa, root_active_keys, active_keys from daily").rows == [
            {"users": 0, "root_mfa": False, "root_active_keys": 1, "active_keys": 0}
        ]


def test_key_use_by_region_and_service(tmp_path: Path) -> None:
    day = dt.date(2026, 11, 1)
    content = report(
        user_row("a", access_key_1_last_used_date="2026-10-31T12:00:00+00:00"),  # us-east-1 s3, used the day before
        user_row("b", access_key_1_last_used_date="2026-09-01T12:00:00+00:00"),  # us-east-1 s3, long ago
        user_row(
            "c",
            access_key_1_last_used_region="sa-east-1",
            access_key_1_last_used_service="ec2",
            access_key_2_active="true",
            access_key_2_last_used_region="N/A",
            access_key_2_last_used_service="iam",
        ),
        user_row("d", access_key_1_active="false"),  # an inactive key counts nowhere
    )
    with stored(tmp_path, content, day) as database:
        rows = database.sql("select region, service, keys, keys_used_recently from key_use order by all").rows
    assert rows == [
        {"region": "N/A", "service": "iam", "keys": 1, "keys_used_recently": 0},
        {"region": "sa-east-1", "service": "ec2", "keys": 1, "keys_used_recently": 1},
        {"region": "us-east-1", "service": "s3", "keys": 2, "keys_used_recently": 1},
    ]
