"""The runs' outcome files merged into one (store/outcomes.py): the `runs` view and collection health are
unchanged, a merge cut short or two at once double nothing, a run's batch numbers stay taken, and runs go
on writing beside the merged file."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from credsight.query import Database
from credsight.store import Store
from credsight.store.files import REPLACES_KEY
from credsight.store.outcomes import COMPACTED, compact_outcomes, outcome_paths, scan_outcomes
from credsight.store.runs import Failure, Run, Snapshot
from credsight.store.schemas import OUTCOME_SCHEMA
from tests.conftest import ACCOUNT, DAY, report, user_row

OTHER = "222233334444"


def collected(store: Store, days: int) -> None:
    """A run per day: ACCOUNT's report, and OTHER failing every other day."""
    for offset in range(days):
        day = DAY + dt.timedelta(days=offset)
        run = Run(store)
        run.write([Snapshot(report(user_row("alice"), user_row(f"u{offset}")), f"{offset}.csv", day, ACCOUNT)])
        if offset % 2:
            run.write_failures([Failure(OTHER, "access_denied", "AccessDenied: no", snapshot_date=day)])


def runs_view(store: Store) -> list[dict[str, object]]:
    with Database(store) as database:
        return database.sql("SELECT * FROM runs ORDER BY ALL").rows


def files(store: Store) -> list[str]:
    return sorted(str(p.relative_to(Path(store.root, "runs"))) for p in Path(store.root, "runs").rglob("*.parquet"))


@pytest.fixture
def store(tmp_path: Path) -> Store:
    store = Store(str(tmp_path / "store"))
    collected(store, 6)
    return store


def test_merging_the_outcome_files_changes_no_row_of_runs(store: Store) -> None:
    before = runs_view(store)
    assert len(files(store)) == 9 and len(before) == 9
    assert compact_outcomes(store) == 9
    assert len(files(store)) == 1 and files(store)[0].startswith(f"{COMPACTED}/outcomes-c")
    assert runs_view(store) == before
    assert compact_outcomes(store) == 0  # one file: nothing to merge


def test_runs_write_beside_the_merged_file_and_the_next_merge_takes_both(store: Store) -> None:
    compact_outcomes(store)
    collected_later = Run(store)
    later = DAY + dt.timedelta(days=10)
    collected_later.write([Snapshot(report(user_row("bob")), "later.csv", later, ACCOUNT)])
    rows = runs_view(store)
    assert len(rows) == 10 and later in [r["snapshot_date"] for r in rows]
    assert compact_outcomes(store) == 2
    assert runs_view(store) == rows and len(files(store)) == 1


def test_a_merge_cut_short_before_removing_the_files_doubles_nothing(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = runs_view(store)
    import credsight.store.outcomes as outcomes

    monkeypatch.setattr(outcomes, "_remove", lambda _store, _names: None)
    compact_outcomes(store)
    assert len(files(store)) == 10  # the merged file and every file it holds
    assert runs_view(store) == before
    monkeypatch.undo()
    assert compact_outcomes(store) == 0  # removes what the merged file holds; one file left
    assert len(files(store)) == 1 and runs_view(store) == before


def test_two_merges_at_once_double_nothing_and_the_first_by_name_stands(store: Store) -> None:
    before = runs_view(store)
    found = scan_outcomes(store)
    rows = store.read_files(outcome_paths(store, found), OUTCOME_SCHEMA)
    for name, held in (("outcomes-cA-1.parquet", found.visible), ("outcomes-cB-2.parquet", found.visible[:4])):
        store.write_table(store.join("runs", COMPACTED), name, rows, {REPLACES_KEY: json.dumps(held).encode()})
    now = scan_outcomes(store)
    assert now.visible == [f"{COMPACTED}/outcomes-cA-1.parquet"] and now.losers == [
        f"{COMPACTED}/outcomes-cB-2.parquet"
    ]
    assert runs_view(store) == before


def test_a_runs_batch_numbers_stay_taken_once_merged(tmp_path: Path) -> None:
    store = Store(str(tmp_path / "store"))
    run = Run(store)
    for offset in range(3):
        day = DAY + dt.timedelta(days=offset)
        run.write([Snapshot(report(user_row("alice")), f"{offset}.csv", day, ACCOUNT)])
    run.write_failures([Failure(OTHER, "throttled", "Throttling", snapshot_date=DAY)])
    taken = store.last_seq(run.run_id)
    for table in ("reports", "daily", "key_use", "accounts"):  # the batches' parts gone too: only outcomes say
        for path in Path(store.root, table).rglob("*.parquet"):
            path.unlink()
    compact_outcomes(store)
    assert taken >= 4 and store.last_seq(run.run_id) == taken


def test_outcome_files_from_before_the_kind_column_merge_as_credential_reports(tmp_path: Path) -> None:
    store = Store(str(tmp_path / "store"))
    run = Run(store)
    old_schema = pa.schema([f for f in OUTCOME_SCHEMA if f.name != "kind"])
    old = pa.Table.from_pylist(
        [{"run_id": run.run_id, "account_id": ACCOUNT, "status": "success", "finished_at": dt.datetime.now(dt.UTC)}],
        schema=old_schema,
    )
    folder = Path(store.root, "runs", f"run_id={run.run_id}")
    folder.mkdir(parents=True)
    pq.write_table(old, folder / "outcomes-00001.parquet")
    run.seq = 1
    run.write_failures([Failure(OTHER, "access_denied", "AccessDenied: no", kind="identity_center")])
    before = runs_view(store)
    assert compact_outcomes(store) == 2
    assert runs_view(store) == before
    assert sorted(str(r["kind"]) for r in before) == ["credential_report", "identity_center"]
