"""The SSO migration's rollup (rules/people_rollup.py): kept after a collection, read instead of the timeline, and
giving the same answers as the timeline; ignored when the store or the settings changed since it was kept."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pyarrow as pa
import pytest

from credsight.demo import DemoOrganization
from credsight.demo.store import build_demo_store
from credsight.query import Database
from credsight.query.maintenance import compact_and_summarise
from credsight.rules.matching import MappingLine, PeopleSettings
from credsight.rules.people import keep_rollup, mapping_lines, open_people
from credsight.rules.people_rollup import KIND
from credsight.rules.summaries import SUMMARY_KINDS
from credsight.store import Store
from credsight.store.runs import Run, Snapshot
from tests.conftest import report, user_row


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Store:
    kept = Store(str(tmp_path_factory.mktemp("rollup") / "store"))
    build_demo_store(kept, DemoOrganization(accounts=8, days=90, seed=3))
    compact_and_summarise(kept, SUMMARY_KINDS)
    settings = PeopleSettings()
    assert keep_rollup(kept, settings, *mapping_lines(kept, settings))
    return kept


def answers(
    store: Store, settings: PeopleSettings, rollup: bool, accounts: list[str] | None = None
) -> dict[str, pa.Table]:
    lines, source = mapping_lines(store, settings)
    with Database(store) as database:
        people = open_people(database, settings, lines, source, rollup=rollup)
        newest = database.newest_snapshot()
        assert newest is not None
        return {
            "kept": pa.table({"kept": [people.rollup is not None]}),
            "states": people.states(None, accounts),
            "states_of_the_day": people.states(newest, accounts),
            "daily": people.burn_down(accounts=accounts),
            "weekly": people.burn_down(newest - dt.timedelta(days=60), newest, accounts, every=7),
            "short": people.burn_down(newest - dt.timedelta(days=10), newest, accounts),
            "absent": pa.table({"absent": people.absent}),
        }


def test_the_rollup_gives_the_timelines_answers(store: Store) -> None:
    settings = PeopleSettings()
    kept, live = answers(store, settings, rollup=True), answers(store, settings, rollup=False)
    assert kept["kept"].column("kept").to_pylist() == [True]
    assert live["kept"].column("kept").to_pylist() == [False]
    assert kept["states"].num_rows > 50  # the demo's people, in every state
    assert len(set(kept["states"].column("state").to_pylist())) >= 4
    removed = [r["users"] for r in kept["daily"].to_pylist() if r["state"] == "removed"]
    assert max(removed) > 0  # the demo removes IAM users after migration
    for name in ("states", "states_of_the_day", "daily", "weekly", "short", "absent"):
        assert kept[name].equals(live[name]), name


def test_the_rollup_answers_for_some_accounts_as_the_timeline_does(store: Store) -> None:
    with Database(store) as database:
        accounts = sorted(r["account_id"] for r in database.sql("SELECT account_id FROM accounts").rows)[2:5]
    kept = answers(store, PeopleSettings(), rollup=True, accounts=accounts)
    live = answers(store, PeopleSettings(), rollup=False, accounts=accounts)
    assert set(kept["states"].column("account_id").to_pylist()) == set(accounts)
    for name in ("states", "daily", "weekly"):
        assert kept[name].equals(live[name]), name


def test_other_settings_or_a_changed_store_are_not_answered_from_the_rollup(store: Store, tmp_path: Path) -> None:
    other = PeopleSettings(ready_days=7)
    assert answers(store, other, rollup=True)["kept"].column("kept").to_pylist() == [False]
    lines = [MappingLine("*", "nobody", "someone@example.com", 1)]
    with Database(store) as database:
        people = open_people(database, PeopleSettings(), lines, "m.csv")
        assert people.rollup is None  # another mapping
        assert people.absent == ["m.csv: line 1: 'someone@example.com' is not an Identity Center user"]
    copy = Store(str(tmp_path / "copy"))
    build_demo_store(copy, DemoOrganization(accounts=8, days=90, seed=3))
    settings = PeopleSettings()
    assert keep_rollup(copy, settings, *mapping_lines(copy, settings))
    assert not keep_rollup(copy, settings, *mapping_lines(copy, settings))  # kept already
    later = Snapshot(report(user_row("ann")), "012345678901-x", dt.date(2031, 1, 5), "012345678901")
    Run(copy).write([later])  # a new run: the rollup no longer describes the store
    assert answers(copy, settings, rollup=True)["kept"].column("kept").to_pylist() == [False]
    assert keep_rollup(copy, settings, *mapping_lines(copy, settings))
    assert len(copy.derived_files(KIND)) == 2  # the old key's files are gone


def test_a_store_without_identity_center_keeps_no_rollup(tmp_path: Path) -> None:
    plain = Store(str(tmp_path / "plain"))
    Run(plain).write([Snapshot(report(user_row("ann")), "012345678901-0", dt.date(2026, 1, 5), "012345678901")])
    assert not keep_rollup(plain, PeopleSettings(), [], None)
    assert plain.derived_files(KIND) == {}
