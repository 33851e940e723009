"""Trends: counts per day from hand-made reports, and the SSO migration projection."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pyarrow as pa
import pytest

from credsight.query import Database
from credsight.rules.trends import humans_per_day, per_day, project_humans
from credsight.store import Store
from tests.conftest import user_row
from tests.test_findings import CLEAN, DAY, account_for, root_row, ts, write_reports

D0 = dt.date(2026, 1, 1)


@pytest.mark.parametrize(
    ("humans", "zero_on", "converging"),
    [
        ([100 - 2 * n for n in range(30)], D0 + dt.timedelta(days=29 + 21), True),  # 42 left, 2 a day: 21 days
        ([50] * 30, None, False),  # flat
        ([10 + n for n in range(30)], None, False),  # growing
        ([5 - n for n in range(5)] + [0] * 25, D0 + dt.timedelta(days=29), True),  # already done
    ],
)
def test_projection(humans: list[int], zero_on: dt.date | None, converging: bool) -> None:
    days = [D0 + dt.timedelta(days=n) for n in range(len(humans))]
    projection = project_humans(days, humans)
    assert projection.zero_on == zero_on and projection.converging is converging
    assert ("not converging" in projection.describe()) is (not converging)


def test_no_snapshot_is_not_a_finished_migration() -> None:
    assert project_humans([], []).describe() == "no snapshot in the last 60 days to fit"


def test_only_the_last_60_days_are_fitted() -> None:
    days = [D0 + dt.timedelta(days=n) for n in range(120)]
    humans = [200 - n for n in range(60)] + [140] * 60  # fell, then stopped: not converging now
    assert not project_humans(days, humans).converging


def test_a_collection_gap_is_not_people_leaving() -> None:
    table = pa.table(
        {
            "snapshot_date": [D0, D0, D0 + dt.timedelta(days=1), D0 + dt.timedelta(days=2), D0 + dt.timedelta(days=2)],
            "account_id": ["a", "b", "a", "a", "b"],  # b not collected on day 2
            "humans": [3, 4, 3, 2, 4],
        }
    )
    assert humans_per_day(table) == ([D0, D0 + dt.timedelta(days=1), D0 + dt.timedelta(days=2)], [7, 7, 6])


def test_counts_per_day_and_account(tmp_path: Path) -> None:
    store = Store(str(tmp_path / "store"))
    account = account_for(0)
    old_key = {**CLEAN, "access_key_1_last_rotated": ts(91)}
    yesterday = DAY - dt.timedelta(days=1)
    write_reports(
        store,
        {
            (account, yesterday): [root_row(account), user_row("a", account=account, **CLEAN)],
            (account, DAY): [
                root_row(account, mfa_active="false"),
                user_row("a", account=account, **{**old_key, "mfa_active": "false"}),
                user_row("b", account=account, **old_key),
            ],
        },
    )
    with Database(store) as database:
        rows = {r["snapshot_date"]: r for r in per_day(database, yesterday, DAY).to_pylist()}
    assert rows[yesterday]["old_active_keys"] == 0 and rows[yesterday]["failing:root-mfa"] == 0
    today = rows[DAY]
    assert (today["users"], today["humans"], today["console_without_mfa"]) == (2, 2, 1)
    assert today["old_active_keys"] == 2 and today["failing:access-key-rotation"] == 2
    assert today["failing:root-mfa"] == 1 and today["failing:console-user-mfa"] == 1
