"""Compaction in bounded memory: a month larger than a slice is spilled and merged, and the merged file is
exactly the one sorting the whole month at once writes, locally and on S3; Arrow's own peak allocation
shows the month was never held whole; a merge cut short leaves nothing behind.

Small row groups (monkeypatched) make a few thousand rows cross several row-group boundaries, so the
slices' pieces must be stitched back into full row groups.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import boto3
import pyarrow.parquet as pq
import pytest

from credsight.demo import DemoOrganization
from credsight.demo.store import build_demo_store
from credsight.query import Database
from credsight.query.database import original_report
from credsight.store import Store, compaction, files
from credsight.store.compaction import Merge, compact
from credsight.store.runs import Run, Snapshot

VIEWS = ("reports", "daily", "key_use", "latest", "accounts", "runs")


@pytest.fixture(autouse=True)
def small_row_groups(monkeypatch: pytest.MonkeyPatch) -> None:
    for module in (files, compaction):
        monkeypatch.setattr(module, "ROW_GROUP_ROWS", 1000)
        monkeypatch.setattr(module, "TAIL_ROW_GROUP_ROWS", 150)


def build(store: Store, accounts: int = 6, days: int = 40, users: int | None = None) -> None:
    """A demo store of many parts over two months, with its newest day of one account collected twice."""
    organization = DemoOrganization(accounts=accounts, days=days, seed=5, users_per_account=users)
    build_demo_store(store, organization)
    account, newest = organization.accounts()[0].account_id, organization.days()[-1]
    with Database(store) as database:
        content = original_report(database, account, newest)
    assert content is not None
    Run(store).write([Snapshot(content + b"\n", "again.csv", newest, account)])


@pytest.fixture
def many_parts(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("credsight.demo.store.BATCH_BYTES", 40_000)  # a part every few accounts and days


def views(store: Store) -> list[list[dict[str, Any]]]:
    with Database(store) as database:
        return [database.sql(f"SELECT * FROM {view} ORDER BY ALL").rows for view in VIEWS]  # noqa: S608


def merged_files(root: Path) -> dict[str, tuple[Any, list[int], bytes]]:
    """Each compacted file by table and month: its rows, its row groups' sizes, the parts it names."""
    found = {}
    for path in sorted(root.glob("*/snapshot_month=*/part-*-c*.parquet")):
        metadata = pq.read_metadata(path)
        sizes = [metadata.row_group(i).num_rows for i in range(metadata.num_row_groups)]
        replaced = metadata.metadata[b"credsight.replaces"]
        found[f"{path.parent.parent.name}/{path.parent.name}"] = (pq.read_table(path), sizes, replaced)
    return found


def spy_on_spills(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, int]]:
    """(table, slices) of every merge that spilled."""
    spilled: list[tuple[str, int]] = []
    original = Merge.spill

    def spill(self: Merge, slices: list[compaction.Slice], scratch: Path, read_rows: int) -> list[str | None]:
        spilled.append((self.table_name, len(slices)))
        return original(self, slices, scratch, read_rows)

    monkeypatch.setattr(Merge, "spill", spill)
    return spilled


def test_a_month_merged_in_slices_is_the_file_sorting_it_at_once_writes(
    tmp_path: Path, many_parts: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    whole, sliced = Store(str(tmp_path / "whole")), Store(str(tmp_path / "sliced"))
    build(whole)
    shutil.copytree(whole.root, sliced.root)
    before = views(whole)
    parts = len(whole.live_parts()["reports"])
    assert parts > 10
    spilled = spy_on_spills(monkeypatch)
    assert compact(whole) == compact(sliced, slice_bytes=60_000) > 3 * parts
    # The whole-month path never spilled; the sliced one spilled the large tables of each month.
    assert {table for table, _ in spilled} >= {"reports", "key_use"}
    assert all(count > 1 for _, count in spilled)
    months = {p.parent.name for p in Path(whole.root).glob("reports/*/*.parquet")}
    assert len(months) > 1 and [table for table, _ in spilled].count("reports") == len(months)
    expected, found = merged_files(Path(whole.root)), merged_files(Path(sliced.root))
    assert sorted(expected) == sorted(found) and len(expected) == 4 * len(months)
    for key, (rows, sizes, replaced) in expected.items():
        assert found[key][0].equals(rows), key
        assert found[key][1] == sizes, key
        assert found[key][2] == replaced, key
    newest = expected[f"reports/{max(months)}"][1]
    assert newest.count(1000) >= 2 and 150 in newest  # full row groups, then the tail's small ones
    assert views(sliced) == views(whole) == before
    assert not list(Path(sliced.root).rglob(".*.tmp"))


def test_an_s3_store_is_merged_in_slices_and_uploaded_whole(
    tmp_path: Path, many_parts: None, moto_endpoint: str, bucket: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    local = Store(str(tmp_path / "local"))
    build(local, accounts=3, days=20)
    before = views(local)
    s3 = boto3.client("s3", endpoint_url=moto_endpoint)
    for path in Path(local.root).rglob("*.parquet"):
        s3.upload_file(str(path), bucket, f"store/{path.relative_to(local.root)}")
    store = Store(f"s3://{bucket}/store", endpoint_url=moto_endpoint)
    spilled = spy_on_spills(monkeypatch)
    assert views(store) == before
    assert compact(store, slice_bytes=40_000) > 0
    assert any(table == "reports" and slices >= 2 for table, slices in spilled)
    listed = s3.list_objects_v2(Bucket=bucket, Prefix="store/reports/")["Contents"]
    keys = [o["Key"] for o in listed if not o["Key"].endswith("/")]  # (pyarrow's delete leaves folder markers)
    assert len(keys) == 1 and "-c" in keys[0]
    assert views(store) == before
    compact(local)  # the same month compacted locally, whole: the same file
    [local_file] = Path(local.root).glob("reports/*/part-*-c*.parquet")
    s3_file = pq.read_table(store.fs.open_input_file(f"{bucket}/{keys[0]}"))
    assert s3_file.equals(pq.read_table(local_file))


ARROW_PEAK = """
import json, sys
import pyarrow as pa
from credsight.store import Store, compaction, files
for module in (files, compaction):  # as the small_row_groups fixture
    module.ROW_GROUP_ROWS, module.TAIL_ROW_GROUP_ROWS = 1000, 150
merged = compaction.compact(Store(sys.argv[1]), slice_bytes=int(sys.argv[2]))
print(json.dumps({"merged": merged, "peak": pa.default_memory_pool().max_memory()}))
"""


def test_compaction_never_holds_the_month_in_memory(tmp_path: Path, many_parts: None) -> None:
    """What a merge holds: a slice read, a slice sorted, and one row group being filled (which at the
    store's 262,144 rows a row group is about 100 MB of report rows; here 1,000 rows)."""
    store = Store(str(tmp_path / "store"))
    build(store, accounts=40, days=31, users=100)
    month = {path: pq.read_table(path) for path in Path(store.root).glob("reports/snapshot_month=2026-11/*.parquet")}
    month_bytes = sum(t.nbytes for t in month.values())
    rows = sum(t.num_rows for t in month.values())
    assert rows > 80_000 and month_bytes > 30 << 20
    done = subprocess.run(
        [sys.executable, "-c", ARROW_PEAK, store.root, str(month_bytes // 32)],
        capture_output=True,
        text=True,
        check=True,
    )
    measured = json.loads(done.stdout)
    assert measured["merged"] > 0
    # Arrow's own high-water mark (every Parquet read, sort and write allocates from its pool):
    # a few slices' worth, far below the month.
    assert measured["peak"] < month_bytes / 4, (measured["peak"], month_bytes)


def test_a_merge_cut_short_leaves_no_file_and_changes_no_view(
    tmp_path: Path, many_parts: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = Store(str(tmp_path / "store"))
    build(store, accounts=3, days=20)
    before = views(store)
    listing = sorted(p.relative_to(store.root) for p in Path(store.root).rglob("*"))
    original = Merge.sorted_slices

    def cut(self: Merge, scratch: str) -> Any:
        pieces = original(self, scratch)
        yield next(pieces)
        raise OSError("the disk is full")

    monkeypatch.setattr(Merge, "sorted_slices", cut)
    with pytest.raises(OSError, match="disk is full"):
        compact(store, slice_bytes=40_000)
    assert sorted(p.relative_to(store.root) for p in Path(store.root).rglob("*")) == listing
    assert views(store) == before
