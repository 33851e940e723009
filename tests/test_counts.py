"""Failing rows per rule, account and day: read from the summaries compact keeps, or counted from the rows,
the numbers are the same, and they are the findings' own counts."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from credsight.demo import DemoOrganization
from credsight.demo.store import build_demo_store
from credsight.query import Database
from credsight.query.maintenance import compact_and_summarise
from credsight.query.summaries import reading
from credsight.rules.counts import RULE_COUNTS_KIND, results, rule_counts, rule_counts_as_of
from credsight.rules.findings import evaluate
from credsight.rules.summaries import SUMMARY_KINDS
from credsight.store import Store
from credsight.store.runs import Run, Snapshot
from tests.conftest import report, user_row

END = dt.date(2026, 11, 23)


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Store:
    store = Store(str(tmp_path_factory.mktemp("counts") / "store"))
    build_demo_store(store, DemoOrganization(accounts=4, days=70, seed=6, end=END))
    compact_and_summarise(store, SUMMARY_KINDS)
    assert store.derived_files(RULE_COUNTS_KIND.name), "compact must keep the counts' summaries"
    return store


@pytest.mark.parametrize(
    ("start", "end"),
    [
        (dt.date(2026, 9, 15), END),
        (dt.date(2026, 10, 1), dt.date(2026, 10, 31)),
        (END, END),
        (dt.date(2026, 9, 20), dt.date(2026, 10, 14)),  # ends inside October's part
        (dt.date(2026, 10, 14), dt.date(2026, 10, 14)),
    ],
)
def test_summaries_and_rows_give_the_same_counts(store: Store, start: dt.date, end: dt.date) -> None:
    with Database(store) as database:
        fast = rule_counts(database, start, end)
        slow = rule_counts(database, start, end, use_summaries=False)
        read = reading(database, RULE_COUNTS_KIND, end)
    assert fast.num_rows > 0 and fast.to_pylist() == slow.to_pylist()
    # a summary of a row per day stands for its part up to any day: only the newest, uncompacted days are rows
    assert len(read.summaries) >= 2 and all("snapshot_month=2026-11" in path for path in read.rows)


def test_the_counts_are_the_findings_own(store: Store) -> None:
    for day in (dt.date(2026, 10, 20), END):
        with Database(store) as database:
            counted = results(rule_counts_as_of(database, day)).to_pylist()
            evaluated = evaluate(database, day, with_first_seen=False).results.to_pylist()
        key = lambda r: (r["rule"], r["account_id"])  # noqa: E731
        assert sorted(counted, key=key) == sorted(evaluated, key=key)


def test_a_day_collected_again_after_compaction_is_counted_from_its_new_run(store: Store, tmp_path: Path) -> None:
    """The summary of a compacted month still counts a re-collected day's old run: it is read as rows then."""
    copy = Store(str(tmp_path / "copy"))
    build_demo_store(copy, DemoOrganization(accounts=4, days=70, seed=6, end=END))
    compact_and_summarise(copy, SUMMARY_KINDS)
    with Database(copy) as database:
        account = database.sql("SELECT min(account_id) AS a FROM daily").rows[0]["a"]
    # collected again: one console user without MFA, nothing else
    again = report(user_row("only", account=account, mfa_active="false"), account=account)
    Run(copy).write([Snapshot(again, "again.csv", END, account)])
    with Database(copy) as database:
        fast = rule_counts(database, END, END, [account]).to_pylist()
        slow = rule_counts(database, END, END, [account], use_summaries=False).to_pylist()
    assert fast == slow and fast[0]["user_rows"] == 1 and fast[0]["failing:console-user-mfa"] == 1
