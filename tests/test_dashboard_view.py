"""The dashboard's view of the store: a Database and kept answers per state of the store, any number of threads."""

from __future__ import annotations

import concurrent.futures
import datetime as dt
import threading
from pathlib import Path
from typing import Any

import duckdb
import pytest

from credsight.present.dashboard.view import StoreView
from credsight.query import Database
from credsight.store import Store
from credsight.store.runs import Run, Snapshot
from tests.conftest import ACCOUNT, report, user_row


def test_answers_are_computed_once_per_state_of_the_store(tmp_path: Path) -> None:
    store = Store(str(tmp_path / "store"))
    Run(store).write([Snapshot(report(user_row("alice")), "a.csv", dt.date(2026, 11, 1), ACCOUNT)])
    view = StoreView(store, freshness=0)  # look at the store's files on every request
    drawn: list[int] = []

    def draw(database: Database) -> list[Any]:
        users = database.sql("SELECT count(*) AS n FROM reports").rows[0]["n"]
        drawn.append(users)
        return [users]

    assert view.answer("users", draw) == [2]  # the root row and alice
    assert view.answer("users", draw) == [2] and drawn == [2]  # the second time from the cache
    with view.open() as first:
        pass
    Run(store).write([Snapshot(report(user_row("alice"), user_row("bob")), "b.csv", dt.date(2026, 11, 2), ACCOUNT)])
    assert view.answer("users", draw) == [5]  # a new run: a new state, drawn again from the new data
    with view.open() as second:
        assert second is not first
    assert drawn == [2, 5]


def test_a_store_is_looked_at_no_more_often_than_its_freshness(tmp_path: Path) -> None:
    """An S3 store is not listed on every click: a new run shows once `freshness` seconds have passed."""
    store = Store(str(tmp_path / "store"))
    Run(store).write([Snapshot(report(user_row("alice")), "a.csv", dt.date(2026, 11, 1), ACCOUNT)])
    view = StoreView(store, freshness=3600)
    count = "SELECT count(*) AS n FROM reports"
    assert view.answer("n", lambda d: d.sql(count).rows[0]["n"]) == 2
    Run(store).write([Snapshot(report(user_row("alice"), user_row("bob")), "b.csv", dt.date(2026, 11, 2), ACCOUNT)])
    assert view.answer("n", lambda d: d.sql(count).rows[0]["n"]) == 2  # not looked at again yet
    view.freshness = 0
    assert view.answer("n", lambda d: d.sql(count).rows[0]["n"]) == 5


def test_requests_are_answered_in_parallel_and_an_answer_once(tmp_path: Path) -> None:
    """Threads ask at once on cursors of their own; the same answer asked twice at once is computed once."""
    store = Store(str(tmp_path / "store"))
    Run(store).write([Snapshot(report(user_row("alice")), "a.csv", dt.date(2026, 11, 1), ACCOUNT)])
    view = StoreView(store, freshness=3600)
    inside = threading.Barrier(2, timeout=20)
    computed: list[str] = []

    def slow(key: str) -> Any:
        def draw(database: Database) -> Any:
            computed.append(key)
            if key != "same":
                inside.wait()  # both threads are computing at the same time: no lock around the drawing
            return database.sql("SELECT count(*) AS n FROM reports").rows[0]["n"]

        return view.answer(key, draw)

    with concurrent.futures.ThreadPoolExecutor(max_workers=4) as pool:
        assert list(pool.map(slow, ["a", "b"])) == [2, 2]
        assert list(pool.map(slow, ["same"] * 4)) == [2] * 4
    assert sorted(computed) == ["a", "b", "same"]


def test_a_replaced_database_closes_when_its_last_request_ends(tmp_path: Path) -> None:
    store = Store(str(tmp_path / "store"))
    Run(store).write([Snapshot(report(user_row("alice")), "a.csv", dt.date(2026, 11, 1), ACCOUNT)])
    view = StoreView(store, freshness=0)
    with view.open() as old:
        Run(store).write([Snapshot(report(user_row("bob")), "b.csv", dt.date(2026, 11, 2), ACCOUNT)])
        with view.open() as new:
            assert new is not old
        assert old.sql("SELECT count(*) AS n FROM reports").rows[0]["n"] == 2  # still answering its request
    with pytest.raises(duckdb.Error):  # closed now that its request is over
        old.sql("SELECT 1")


def test_a_day_an_account_was_not_collected_keeps_its_users_in_the_trend(tmp_path: Path) -> None:
    """A collection gap is not people leaving: the trend counts the account's last snapshot before it."""
    from credsight.present import questions

    other = "109876543210"
    store = Store(str(tmp_path / "store"))
    days = [dt.date(2026, 11, 1), dt.date(2026, 11, 2), dt.date(2026, 11, 3)]
    both = [(ACCOUNT, "alice"), (other, "bob")]
    snapshots = [
        Snapshot(report(user_row(user, account=account), account=account), f"{account}-{day}.csv", day, account)
        for day in days
        for account, user in both
        if not (account == other and day == days[1])  # the other account missed the second day
    ]
    Run(store).write(snapshots)
    with Database(store) as database:
        trend = questions.per_day(database, days[0], days[-1], None)
    assert [(r["snapshot_date"], r["humans"], r["accounts"]) for r in trend] == [(day, 2, 2) for day in days]
