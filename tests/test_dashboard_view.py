"""The dashboard's view of the store: one connection and drawn pages per state of the store."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from credsight.present.dashboard.view import StoreView
from credsight.query import Database
from credsight.runs import Run, Snapshot
from credsight.store import Store
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
