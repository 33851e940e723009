"""First-seen dates from the per-part summaries equal those computed from every report row."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from credsight.demo import DemoOrganization
from credsight.demo_store import build_demo_store
from credsight.query import Database
from credsight.rules.findings import evaluate
from credsight.rules.history import KIND, summarise
from credsight.runs import Run, Snapshot
from credsight.store import Store
from tests.conftest import report, user_row


def findings(store: Store, day: dt.date, use_summaries: bool) -> list[tuple[object, ...]]:
    with Database(store) as database:
        rows = evaluate(database, day, use_summaries=use_summaries).findings.to_pylist()
    return sorted((r["rule"], r["account_id"], r["user"], r["snapshot_date"], r["first_seen"]) for r in rows)


def test_summaries_change_no_answer(tmp_path: Path) -> None:
    store = Store(str(tmp_path / "store"))
    organization = DemoOrganization(accounts=4, days=75, seed=3, end=dt.date(2026, 11, 23))
    build_demo_store(store, organization)  # batches span months: part names repeat across months
    store.compact()
    assert summarise(store) >= 3
    assert summarise(store) == 0  # each part is summarised once
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
    store.compact()
    summarise(store)
    assert all("--" in path for path in store.derived_files(KIND).values())
    assert findings(store, days[0], use_summaries=True) == findings(store, days[0], use_summaries=False)
