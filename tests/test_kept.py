"""What each collection keeps (rules/kept.py): the newest day's findings and each month's events are
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
from credsight.rules.kept import keep_answers, keep_events
from credsight.rules.kept_events import months
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
    kinds = set(_kinds(store))
    with Database(store) as database:
        held = months(database)
    assert len(held) >= 2 and {"evaluation", "people", *(f"events-{month}" for month in held)} <= kinds


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
        first = database.sql("SELECT min(snapshot_date) AS d FROM daily").rows[0]["d"]
        assert newest is not None and first.month != newest.month
        accounts = sorted(r["account_id"] for r in database.sql("SELECT account_id FROM accounts").rows)
        week_ago = newest - dt.timedelta(days=6)
        month_start = newest.replace(day=1)
        for since, until, chosen in [
            (newest, None, None),
            (week_ago, None, None),
            (week_ago, None, accounts[2:4]),
            (first, None, None),  # every month
            (first - dt.timedelta(days=40), newest, None),  # from before the first snapshot
            (first, first + dt.timedelta(days=9), None),  # an earlier period, inside the first month
            (month_start - dt.timedelta(days=5), month_start + dt.timedelta(days=1), accounts[:1]),  # across months
            (month_start - dt.timedelta(days=1), month_start - dt.timedelta(days=1), None),  # one day
        ]:
            kept = events(database, since, until, chosen)
            computed = events(database, since, until, chosen, use_kept=False)
            assert kept.equals(computed), (since, until, chosen)
        whole = events(database, first, newest)
        assert whole.num_rows > 10 and len(set(whole.column("kind").to_pylist())) > 3
        assert len(set(whole.column("snapshot_date").to_pylist())) > 20


def test_a_new_run_keeps_again_only_the_months_it_changed(tmp_path: Path) -> None:
    store = built(tmp_path / "store")
    with Database(store) as database:
        newest = database.newest_snapshot()
        held = months(database)
        account = database.sql("SELECT min(account_id) AS a FROM accounts").rows[0]["a"]
    assert newest is not None and keep_events(store) == []  # kept already
    later = newest + dt.timedelta(days=1)
    Run(store).write([Snapshot(report(user_row("newcomer", account=account), account=account), "l", later, account)])
    assert keep_events(store) == [f"{later:%Y-%m}"] and held[-1] == f"{later:%Y-%m}"
    earlier = dt.date.fromisoformat(f"{held[0]}-20")  # a day of the first month collected again
    Run(store).write([Snapshot(report(user_row("again", account=account), account=account), "e", earlier, account)])
    assert keep_events(store) == held
    with Database(store) as database:
        kept = events(database, earlier - dt.timedelta(days=2), None)
        assert kept.equals(events(database, earlier - dt.timedelta(days=2), None, use_kept=False))
        assert "again" in kept.column("user").to_pylist()


def test_questions_the_kept_answers_do_not_hold_are_computed(store: Store) -> None:
    with Database(store) as database:
        newest = database.newest_snapshot()
        assert newest is not None
        older = newest - dt.timedelta(days=3)
        assert evaluate(database, older).date == older
        strict = evaluate(database, limits={"unused_days": 1})  # other limits: more unused credentials
        assert strict.findings.num_rows > evaluate(database).findings.num_rows
        assert strict.findings.equals(evaluate(database, limits={"unused_days": 1}, use_kept=False).findings)
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
    kinds = set(_kinds(store))
    assert "evaluation" in kinds and any(k.startswith("events-") for k in kinds) and "people" not in kinds
