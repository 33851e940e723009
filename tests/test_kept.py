"""What each collection keeps (rules/kept.py): the newest day's findings and the newest month's events are
read back instead of computed, give the same rows as computing them, and are not used once the store, the
limits or the settings differ from when they were kept."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from credsight.demo import DemoOrganization
from credsight.demo.store import build_demo_store
from credsight.query import Database
from credsight.query.maintenance import compact_and_summarise
from credsight.rules.changes import EventSettings, events
from credsight.rules.findings import evaluate
from credsight.rules.kept import keep_answers
from credsight.rules.kept_events import KEPT_DAYS
from credsight.rules.summaries import SUMMARY_KINDS
from credsight.store import Store
from credsight.store.files import PEOPLE_MAPPING
from credsight.store.runs import Run, Snapshot
from tests.conftest import report, user_row


def built(folder: Path) -> Store:
    store = Store(str(folder))
    build_demo_store(store, DemoOrganization(accounts=6, days=45, seed=5), troubles=True)
    compact_and_summarise(store, SUMMARY_KINDS)
    assert keep_answers(store) == []
    return store


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Store:
    return built(tmp_path_factory.mktemp("kept") / "store")


def _kinds(store: Store) -> list[str]:
    return sorted(p.name for p in Path(store.root, "derived").iterdir() if any(p.glob("key=*/*.parquet")))


def test_a_collection_keeps_the_findings_the_events_and_the_people(store: Store) -> None:
    assert {"evaluation", "events", "people"} <= set(_kinds(store))


def test_the_kept_findings_are_the_computed_ones(store: Store) -> None:
    with Database(store) as database:
        accounts = sorted(r["account_id"] for r in database.sql("SELECT account_id FROM accounts").rows)
        asked: list[dict[str, object]] = [
            {},
            {"accounts": accounts[1:3]},
            {"rule_ids": ["console-user-mfa", "access-key-rotation"]},
            {"accounts": accounts[:1], "rule_ids": ["root-mfa"]},
        ]
        for question in asked:
            kept = evaluate(database, **question)  # type: ignore[arg-type]
            computed = evaluate(database, use_kept=False, **question)  # type: ignore[arg-type]
            assert kept.findings.equals(computed.findings), question
            assert kept.results.equals(computed.results), question
        assert evaluate(database).findings.num_rows > 20  # the demo fails rules in every account


def test_the_kept_events_are_the_computed_ones(store: Store) -> None:
    with Database(store) as database:
        newest = database.newest_snapshot()
        assert newest is not None
        accounts = sorted(r["account_id"] for r in database.sql("SELECT account_id FROM accounts").rows)
        for since, chosen in [
            (newest, None),
            (newest - dt.timedelta(days=6), None),
            (newest - dt.timedelta(days=KEPT_DAYS - 1), None),
            (newest - dt.timedelta(days=6), accounts[2:4]),
        ]:
            kept = events(database, since, None, chosen)
            computed = events(database, since, None, chosen, use_kept=False)
            assert kept.equals(computed), (since, chosen)
        month = events(database, newest - dt.timedelta(days=KEPT_DAYS - 1), newest)
        assert month.num_rows > 10 and len(set(month.column("kind").to_pylist())) > 3


def test_questions_the_kept_answers_do_not_hold_are_computed(store: Store) -> None:
    with Database(store) as database:
        newest = database.newest_snapshot()
        assert newest is not None
        older = newest - dt.timedelta(days=3)
        assert evaluate(database, older).date == older
        strict = evaluate(database, limits={"unused_days": 1})  # other limits: more unused credentials
        assert strict.findings.num_rows > evaluate(database).findings.num_rows
        assert strict.findings.equals(evaluate(database, limits={"unused_days": 1}, use_kept=False).findings)
        earlier = events(database, newest - dt.timedelta(days=KEPT_DAYS + 5), None)  # before the kept month
        assert earlier.equals(events(database, newest - dt.timedelta(days=KEPT_DAYS + 5), None, use_kept=False))
        regions = EventSettings(allowed_regions=("eu-west-1",))
        outside = events(database, newest - dt.timedelta(days=6), None, None, regions)
        assert "key_outside_allowed_regions" in outside.column("kind").to_pylist()


def test_a_new_run_is_seen_at_once_though_nothing_was_kept_after_it(tmp_path: Path) -> None:
    store = built(tmp_path / "store")
    with Database(store) as database:
        newest = database.newest_snapshot()
        account = database.sql("SELECT min(account_id) AS a FROM accounts").rows[0]["a"]
    assert newest is not None
    later = newest + dt.timedelta(days=1)
    no_mfa = user_row("newcomer", account=account, mfa_active="false")
    Run(store).write([Snapshot(report(no_mfa, account=account), f"{account}-later", later, account)])
    with Database(store) as database:
        found = evaluate(database)
        changed = events(database, later, None)
    assert found.date == later
    failing = zip(found.findings.column("rule").to_pylist(), found.findings.column("user").to_pylist(), strict=True)
    assert ("console-user-mfa", "newcomer") in set(failing)
    created = [r["user"] for r in changed.to_pylist() if r["kind"] == "user_created"]
    assert created == ["newcomer"]


def test_a_bad_mapping_file_is_a_warning_of_the_collection_and_the_rest_is_kept(tmp_path: Path) -> None:
    store = Store(str(tmp_path / "store"))
    build_demo_store(store, DemoOrganization(accounts=3, days=10, seed=2))
    store.write_sidecar(PEOPLE_MAPPING, b"account_id,user,identity_center_user\n12345,ann,ann@example.com\n")
    troubles = keep_answers(store)
    assert len(troubles) == 1
    assert troubles[0].startswith("the SSO migration's rollup was not kept: ")
    assert "line 2" in troubles[0]
    assert {"evaluation", "events"} <= set(_kinds(store)) and "people" not in _kinds(store)
