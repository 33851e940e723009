"""The demo's operator story (what `credsight demo` builds): a new account whose reader role is missing, one
throttled out once, one suspended later, as /health and the views show them; and never an empty report."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from credsight.demo import DemoOrganization
from credsight.demo.store import (
    ROLE_MISSING_DAYS,
    SUSPENDED_DAYS_BEFORE_END,
    THROTTLED_DAYS_BEFORE_END,
    build_demo_store,
)
from credsight.present.questions import health
from credsight.query import Database
from credsight.store import Store

DAY = dt.timedelta(days=1)


def test_the_demo_shows_a_missing_role_a_throttled_day_and_a_suspended_account(tmp_path: Path) -> None:
    organization = DemoOrganization(accounts=6, days=40, seed=3)
    accounts = [a.account_id for a in organization.accounts()]
    new, throttled, suspended = accounts[-1], accounts[1], accounts[2]
    end = organization.days()[-1]
    build_demo_store(Store(str(tmp_path)), organization, troubles=True)
    with Database(Store(str(tmp_path))) as database:

        def rows(text: str, **parameters: object) -> list[dict[str, object]]:
            return database.sql(text, parameters).rows

        reported = rows("SELECT DISTINCT account_id, snapshot_date FROM daily")
        days_of = {a: sorted(r["snapshot_date"] for r in reported if r["account_id"] == a) for a in accounts}
        assert days_of[new] == []  # never collected: no report, not an account with no users
        assert end - THROTTLED_DAYS_BEFORE_END * DAY not in days_of[throttled]
        assert end - (THROTTLED_DAYS_BEFORE_END - 1) * DAY in days_of[throttled]
        assert days_of[suspended][-1] == end - (SUSPENDED_DAYS_BEFORE_END + 1) * DAY
        assert all(len(days_of[a]) == 40 for a in accounts if a not in (new, throttled, suspended))

        attempts = rows("SELECT account_id, snapshot_date, status, error_class FROM runs WHERE status <> 'success'")
        assert sorted((r["snapshot_date"], r["error_class"]) for r in attempts if r["account_id"] == new) == [
            (end - n * DAY, "role_missing") for n in range(ROLE_MISSING_DAYS, -1, -1)
        ]
        assert [(r["snapshot_date"], r["error_class"]) for r in attempts if r["account_id"] == throttled] == [
            (end - THROTTLED_DAYS_BEFORE_END * DAY, "throttled")
        ]
        skipped = [r for r in attempts if r["account_id"] == suspended]
        assert {r["status"] for r in skipped} == {"skipped"} and len(skipped) == SUSPENDED_DAYS_BEFORE_END + 1

        (state,) = rows("SELECT state FROM account_metadata WHERE account_id = $a", a=suspended)
        assert state["state"] == "SUSPENDED"
        (joined,) = rows("SELECT joined FROM account_metadata WHERE account_id = $a", a=new)
        assert joined["joined"] == end - ROLE_MISSING_DAYS * DAY

        shown = {row["account_id"]: row for row in health(database, None, end)}
        assert shown[new]["last_status"] == "failed" and shown[new]["last_success"] is None
        assert shown[new]["error_class"] == "role_missing" and new in str(shown[new]["error_message"])
        assert shown[throttled]["last_status"] == "success" and shown[throttled]["error_class"] == "throttled"
        assert shown[suspended]["last_status"] == "skipped"


def test_without_troubles_every_account_is_collected_every_day(tmp_path: Path) -> None:
    organization = DemoOrganization(accounts=6, days=40, seed=3)
    build_demo_store(Store(str(tmp_path)), organization)
    with Database(Store(str(tmp_path))) as database:
        (counted,) = database.sql(
            "SELECT count(*) AS n, count(*) FILTER (status <> 'success') AS bad FROM runs"
            " WHERE kind = 'credential_report'"
        ).rows
    assert counted == {"n": 6 * 40, "bad": 0}
