"""First-seen dates from the per-part summaries equal those computed from every report row."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from credsight.demo import DemoOrganization
from credsight.demo.store import build_demo_store
from credsight.query import Database
from credsight.query.maintenance import summarise
from credsight.rules.changes import KEY_FIRST_USES_KIND, changes, key_first_uses
from credsight.rules.findings import evaluate
from credsight.rules.history import RULE_PASSES_KIND
from credsight.rules.summaries import SUMMARY_KINDS
from credsight.store import Store
from credsight.store.compaction import compact
from credsight.store.derived import summaries_of
from credsight.store.runs import Run, Snapshot
from tests.conftest import report, user_row


def findings(store: Store, day: dt.date, use_summaries: bool) -> list[tuple[object, ...]]:
    with Database(store) as database:
        rows = evaluate(database, day, use_summaries=use_summaries).findings.to_pylist()
    return sorted((r["rule"], r["account_id"], r["user"], r["snapshot_date"], r["first_seen"]) for r in rows)


def test_summaries_change_no_answer(tmp_path: Path) -> None:
    store = Store(str(tmp_path / "store"))
    organization = DemoOrganization(accounts=4, days=75, seed=3, end=dt.date(2026, 11, 23))
    build_demo_store(store, organization)  # batches span months: part names repeat across months
    compact(store)
    assert summarise(store, SUMMARY_KINDS) >= 3
    assert summarise(store, SUMMARY_KINDS) == 0  # each part is summarised once
    days = [dt.date(2026, 11, 23), dt.date(2026, 10, 31), dt.date(2026, 10, 15), dt.date(2026, 9, 10)]
    for day in days:  # a date inside a part reads that part's rows
        fast = findings(store, day, use_summaries=True)
        assert fast and fast == findings(store, day, use_summaries=False), day
    # late data for a summarised month: a new part, read as rows until the next compaction
    account = organization.accounts()[0].account_id
    late = report(user_row("late-user", account=account, mfa_active="false"), account=account)
    Run(store).write([Snapshot(late, "late.csv", dt.date(2026, 10, 2), account)])
    for day in days[:2]:
        assert findings(store, day, use_summaries=True) == findings(store, day, use_summaries=False)
    compact(store)
    summarise(store, SUMMARY_KINDS)
    live = {
        (part.path.rsplit("/", 2)[-2], part.name.removesuffix(".parquet")) for part in store.live_parts()["reports"]
    }
    for kind in SUMMARY_KINDS:  # one summary per live part, those of replaced parts deleted
        summarised = {(month, name.split("--")[0]) for month, name in store.derived_files(kind.name)}
        assert summarised == live and len(store.derived_files(kind.name)) == len(live), kind.name
    assert findings(store, days[0], use_summaries=True) == findings(store, days[0], use_summaries=False)


def key_news(store: Store, since: dt.date, until: dt.date, use_summaries: bool) -> list[tuple[object, ...]]:
    """The changes a key's first region or service makes, the ones the summaries serve."""
    with Database(store) as database:
        rows = changes(database, since, until, use_summaries=use_summaries).to_pylist()
    return sorted(
        (r["snapshot_date"], r["account_id"], r["user"], r["kind"], r["access_key"], r["after"])
        for r in rows
        if r["kind"] in ("key_new_region", "key_new_service")
    )


def test_key_first_use_summaries_change_no_changes(tmp_path: Path) -> None:
    store = Store(str(tmp_path / "store"))
    organization = DemoOrganization(accounts=4, days=75, seed=3, end=dt.date(2026, 11, 23))
    build_demo_store(store, organization)
    compact(store)
    summarise(store, SUMMARY_KINDS)
    assert len(store.derived_files(KEY_FIRST_USES_KIND.name)) >= 3
    windows = [
        (dt.date(2026, 9, 10), dt.date(2026, 11, 23)),  # every summary stands for its part
        (dt.date(2026, 11, 1), dt.date(2026, 11, 10)),  # the newest part reaches past `until`: its rows are read
        (dt.date(2026, 10, 1), dt.date(2026, 10, 31)),
    ]
    with Database(store) as database, database.scratch() as work:  # up to the newest date: only the summaries
        key_first_uses(work, windows[0][1], None)
        assert work.sql("SELECT count(*) AS n FROM key_history_rows").rows == [{"n": 0}]
        assert work.sql("SELECT count(*) AS n FROM key_first_use_parts").rows[0]["n"] > 0
    for since, until in windows:
        fast = key_news(store, since, until, use_summaries=True)
        assert fast and fast == key_news(store, since, until, use_summaries=False), (since, until)
    # a key first used in a new region after the summaries were written: a new part, read as rows
    account = organization.accounts()[0].account_id
    late = report(user_row("late-user", account=account, access_key_1_last_used_region="ap-south-2"), account=account)
    Run(store).write([Snapshot(late, "late.csv", dt.date(2026, 11, 23), account)])
    found = key_news(store, dt.date(2026, 11, 20), dt.date(2026, 11, 23), use_summaries=True)
    assert ("ap-south-2" in {row[5] for row in found}) and found == key_news(
        store, dt.date(2026, 11, 20), dt.date(2026, 11, 23), use_summaries=False
    )


def test_one_connection_answers_dates_in_turn_as_fresh_ones_do(tmp_path: Path) -> None:
    """The dashboard keeps one connection: what one date registers must not hide another date's rows."""
    store = Store(str(tmp_path / "store"))
    build_demo_store(store, DemoOrganization(accounts=3, days=70, seed=4, end=dt.date(2026, 11, 23)))
    compact(store)
    summarise(store, SUMMARY_KINDS)
    newest, inside = dt.date(2026, 11, 23), dt.date(2026, 11, 5)  # all summarised; the newest part read as rows
    with Database(store) as shared:
        in_turn = [
            evaluate(shared, day).findings.to_pylist() + changes(shared, day, day).to_pylist()
            for day in (newest, inside, newest, inside)
        ]
    for day, answer in zip((newest, inside, newest, inside), in_turn, strict=True):
        with Database(store) as fresh:
            assert answer == evaluate(fresh, day).findings.to_pylist() + changes(fresh, day, day).to_pylist(), day


def test_a_summary_of_another_version_stands_for_nothing_and_is_replaced(tmp_path: Path) -> None:
    """A rule added or changed since a summary was written: the summary is not read, compact replaces it."""
    store = Store(str(tmp_path / "store"))
    build_demo_store(store, DemoOrganization(accounts=2, days=20, seed=1, end=dt.date(2026, 11, 23)))
    compact(store)
    summarise(store, SUMMARY_KINDS)
    (_month, name), path = next(iter(store.derived_files(RULE_PASSES_KIND.name).items()))
    stale = name.replace(RULE_PASSES_KIND.version, "0" * len(RULE_PASSES_KIND.version))
    Path(path).rename(Path(path).with_name(stale))  # as if written by another version of the rules
    with Database(store) as database:
        assert (
            len(summaries_of(store, database.report_parts, RULE_PASSES_KIND)) == len(store.live_parts()["reports"]) - 1
        )
    day = dt.date(2026, 11, 23)
    assert findings(store, day, use_summaries=True) == findings(store, day, use_summaries=False)
    assert summarise(store, SUMMARY_KINDS) == 1
    assert stale not in {n for _m, n in store.derived_files(RULE_PASSES_KIND.name)}
