"""The dashboard's view of the store: one connection and drawn pages per state of the store."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from credsight.present.dashboard.view import StoreView
from credsight.query import Database
from credsight.store import Store
from credsight.store.runs import Run, Snapshot
from tests.conftest import ACCOUNT, report, user_row


def test_pages_are_drawn_once_per_state_of_the_store(tmp_path: Path) -> None:
    store = Store(str(tmp_path / "store"))
    Run(store).write([Snapshot(report(user_row("alice")), "a.csv", dt.date(2026, 11, 1), ACCOUNT)])
    view = StoreView(store)
    drawn: list[int] = []

    def draw(database: Database) -> list[Any]:
        users = database.sql("SELECT count(*) AS n FROM reports").rows[0]["n"]
        drawn.append(users)
        return [users]

    assert view.page("/", draw) == [2]  # the root row and alice
    assert view.page("/", draw) == [2] and drawn == [2]  # the second time from the cache
    with view.open() as first:
        pass
    Run(store).write([Snapshot(report(user_row("alice"), user_row("bob")), "b.csv", dt.date(2026, 11, 2), ACCOUNT)])
    assert view.page("/", draw) == [5]  # a new run: a new state, drawn again from the new data
    with view.open() as second:
        assert second is not first
    assert drawn == [2, 5]


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
