"""Compaction: a month's parts merged into one file per table, nothing dropped, views unchanged.

The merged files share one name and name the parts they replace in their footers; the daily one is
written last, so a compaction cut short leaves the old parts in force (see Store.scan).

A month can be far larger than memory: 10,000 accounts x 100 users is 31 M report rows a month,
about 12 GB as Arrow. So a table's parts are merged in bounded memory, in three passes:

1. the parts' first sort key and snapshot date are read (two columns, a row group at a time) and
   counted, and the month is cut into slices of at most `slice_bytes` of rows: ranges of the first
   sort key (e.g. accounts), and in the newest month's last TAIL_DAYS days one slice per day and
   range of accounts;
2. the parts are read a few thousand rows at a time, and each row is spilled to its slice's
   temporary file on local disk (the system's temporary folder: /tmp in Lambda), in Arrow's
   compressed stream format;
3. each slice is read back and sorted (the next one while this one is written) and appended to
   the merged file, which is written to a temporary local file and then renamed into place
   (locally) or uploaded as one object (S3). Memory holds about two slices and one row group.

The merged file is exactly what sorting the whole month at once would write: the same rows in the
same order and the same row groups (see files.segments). A month that fits in one slice skips the
spill. `daily`, one row per report, is the commit: it is small and goes through Store.write_table.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import secrets
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.ipc as ipc
import pyarrow.parquet as pq

from credsight.errors import StoreError
from credsight.store.files import (
    PART_NAME,
    REPLACES_KEY,
    ROW_GROUP_ROWS,
    STATISTICS_COLUMNS,
    TAIL_DAYS,
    TAIL_ROW_GROUP_ROWS,
    Part,
    Store,
    segments,
)
from credsight.store.schemas import MONTHLY_TABLES, SORT_KEYS, schema_of

SLICE_BYTES = 256 << 20  # report rows sorted in memory at once, as Arrow (the peak is about three times this)
READ_ROWS = 65_536  # rows read at a time from a part
COMMIT_TABLE = "daily"  # written last: a batch, or a compaction, is visible once its daily file is


def compact(store: Store, min_parts: int = 2, slice_bytes: int = SLICE_BYTES) -> int:
    """Merge each month's parts into one file per table; return how many parts were merged.

    The merged files share one name, and the daily one is written last, so a compaction
    cut short leaves the old parts in force. Nothing is dropped: every run's rows stay.
    Runs may write meanwhile (their new parts are not touched); of two compactions that
    merged the same parts at once, one backs out (see Store.scan).
    """
    scan = store.scan()
    store.sweep(scan)
    by_month: dict[str, dict[str, list[Part]]] = {}
    for table_name, parts in store.live_of(scan).items():
        for part in parts:
            by_month.setdefault(part.path.rsplit("/", 2)[-2], {}).setdefault(table_name, []).append(part)
    newest_month = max(by_month, default="")
    order = [*(t for t in MONTHLY_TABLES if t != COMMIT_TABLE), COMMIT_TABLE]
    done: list[tuple[str, list[str], dict[str, list[Part]]]] = []
    for month_dir, tables in sorted(by_month.items()):
        daily_parts = tables.get(COMMIT_TABLE, [])
        if len(daily_parts) < min_parts:
            continue
        newest = max(PART_NAME.fullmatch(p.name).group("run_id") for p in daily_parts)  # type: ignore[union-attr]
        name = f"part-{newest}-c{secrets.token_hex(4)}.parquet"
        written = []
        for table_name in order:
            parts = tables.get(table_name, [])
            if not parts:
                continue
            replaces = {REPLACES_KEY: json.dumps([p.name for p in parts]).encode()}
            directory = store.join(table_name, month_dir)
            tail = month_dir == newest_month
            if table_name == COMMIT_TABLE:
                rows = store.read_files([p.path for p in parts], schema_of(table_name))
                written.append(
                    store.write_table(directory, name, rows, replaces, table_name, tail=tail, compacting=True)
                )
            else:
                merge = Merge(store, table_name, [p.path for p in parts], tail=tail, slice_bytes=slice_bytes)
                written.append(merge.write(directory, name, replaces))
        done.append((f"{month_dir}/{name}", written, tables))
    merged = 0
    losers = store.scan()[3] if done else set()
    for compacted, written, tables in done:
        if compacted in losers:
            # Another compaction merged some of the same parts first: back out, keep theirs.
            for path in reversed(written):
                store.delete(path)
            continue
        for parts in tables.values():
            for part in parts:
                store.delete(part.path)
            merged += len(parts)
    return merged


@dataclass(frozen=True)
class Slice:
    """Rows sorted in memory at once: a range of the first sort key, in the month before its tail or on one tail day."""

    day: dt.date | None  # a day of the tail, or None: the rest of the month
    leads: pa.Array  # the first sort key's values it holds, in order

    @property
    def row_group_rows(self) -> int:
        return ROW_GROUP_ROWS if self.day is None else TAIL_ROW_GROUP_ROWS


class Merge:
    """One table's parts of one month, merged in bounded memory into one sorted file."""

    def __init__(self, store: Store, table_name: str, paths: list[str], *, tail: bool, slice_bytes: int) -> None:
        self.store = store
        self.table_name = table_name
        self.paths = paths
        self.schema = schema_of(table_name)
        self.keys = [(key, "ascending") for key in SORT_KEYS[table_name]]
        self.lead = SORT_KEYS[table_name][0]
        self.tail = tail and table_name == "reports"  # as files.segments: only report rows have a tail
        self.slice_bytes = slice_bytes
        self.slice_rows = 0  # rows in a slice at most (see slices)

    def write(self, directory: str, name: str, metadata: dict[bytes, bytes]) -> str:
        """Write the merged file, whole or not at all; its path."""
        schema = self.schema.with_metadata({**(self.schema.metadata or {}), **metadata})
        with tempfile.TemporaryDirectory(prefix="credsight-compact-") as scratch:
            if self.store.is_local:
                os.makedirs(directory, exist_ok=True)
                local = f"{directory}/.{name}.{uuid.uuid4().hex}.tmp"  # hidden: no reader lists it
            else:
                local = f"{scratch}/{name}"
            try:
                with MergedFile(local, schema, self.table_name) as merged:
                    for segment, row_group_rows, rows in self.sorted_slices(scratch):
                        merged.add(segment, row_group_rows, rows)
                return self.publish(local, f"{directory}/{name}")
            finally:
                if self.store.is_local:
                    Path(local).unlink(missing_ok=True)

    def publish(self, local: str, path: str) -> str:
        """Put the finished local file at `path`: a rename in the same folder, or one S3 object."""
        try:
            if self.store.is_local:
                with open(local, "rb") as handle:
                    os.fsync(handle.fileno())
                os.replace(local, path)
            else:
                # A multipart upload is invisible until it completes; the file is whole before it starts.
                with open(local, "rb") as source, self.store.fs.open_output_stream(path) as stream:
                    shutil.copyfileobj(source, stream, length=8 << 20)
        except OSError as e:
            raise StoreError(f"cannot write {path}: {e}; check the store location and your permissions") from None
        return path

    # -- the passes ------------------------------------------------------------------------------

    def sorted_slices(self, scratch: str) -> Iterator[tuple[object, int, pa.Table]]:
        """(segment, row group rows, sorted rows) in the order they are written.

        Pieces of one segment (the month before its tail, or one tail day) follow each other.
        """
        counts = self.counts()
        slices = self.slices(counts)
        rows_in_month = pc.sum(counts.column("rows")).as_py() or 0
        if rows_in_month <= self.slice_rows:  # it fits in memory: the parts read whole, as before
            rows = self.store.read_files(self.paths, self.schema)
            for number, (segment, row_group_rows) in enumerate(segments(self.table_name, rows, self.tail)):
                yield number, row_group_rows, segment
            return
        # Rows read at a time: a small share of a slice, so that reading never holds much more than one.
        spilled = self.spill(slices, Path(scratch), max(1024, min(READ_ROWS, self.slice_rows // 8)))
        pieces = [(piece, path) for piece, path in zip(slices, spilled, strict=True) if path is not None]
        # The next slice is read and sorted while this one is written (both release the GIL): two cores work.
        with ThreadPoolExecutor(max_workers=1) as reader:
            ahead = reader.submit(self.sorted_slice, pieces[0][1]) if pieces else None
            for number, (piece, _path) in enumerate(pieces):
                assert ahead is not None
                rows = ahead.result()
                ahead = reader.submit(self.sorted_slice, pieces[number + 1][1]) if number + 1 < len(pieces) else None
                yield piece.day, piece.row_group_rows, rows
                del rows

    def sorted_slice(self, path: str) -> pa.Table:
        """A spilled slice, read and sorted, its file removed (so the spill shrinks as the merge goes on)."""
        with pa.OSFile(path, "rb") as source:
            rows = ipc.open_stream(source).read_all()
        Path(path).unlink()
        order = pc.sort_indices(rows, sort_keys=self.keys)
        columns = rows.columns
        del rows
        for number, column in enumerate(columns):  # a column at a time: one column is held twice, not all
            columns[number] = column.take(order)
            del column
        return pa.Table.from_arrays(columns, schema=self.schema)

    def counts(self) -> pa.Table:
        """Rows per snapshot date and first sort key value, over every part (two columns read)."""
        columns = list(dict.fromkeys(["snapshot_date", self.lead]))
        counted = [
            pa.Table.from_batches([batch]).group_by(columns).aggregate([([], "count_all")])
            for batch in self.batches(columns)
            if batch.num_rows
        ]
        if not counted:
            empty = {c: pa.array([], self.schema.field(c).type) for c in columns}
            return pa.table({**empty, "rows": pa.array([], pa.int64())})
        total = pa.concat_tables(counted).group_by(columns).aggregate([("count_all", "sum")])
        return total.rename_columns([*columns, "rows"])

    def slices(self, counts: pa.Table) -> list[Slice]:
        """The month cut into slices of about `slice_bytes` each, in the order they are written."""
        if counts.num_rows == 0:
            return []
        most = self.slice_rows = max(1, self.slice_bytes // self.row_bytes())
        dates = counts.column("snapshot_date")
        first_tail_day = self.first_tail_day(counts)
        cut: list[Slice] = []
        regions: list[tuple[dt.date | None, pa.Table]] = []
        if first_tail_day is None:
            regions.append((None, counts))
        else:
            regions.append((None, counts.filter(pc.less(dates, first_tail_day))))
            for offset in range(TAIL_DAYS):
                tail_day = first_tail_day + dt.timedelta(days=offset)
                regions.append((tail_day, counts.filter(pc.equal(dates, tail_day))))
        for day, region in regions:
            if region.num_rows == 0:
                continue
            per_lead = region.group_by([self.lead]).aggregate([("rows", "sum")]).sort_by(self.lead)
            leads, rows = per_lead.column(self.lead), per_lead.column("rows_sum").to_numpy()
            start, held = 0, 0
            for index, n in enumerate(rows):
                if held and held + n > most:
                    cut.append(Slice(day, leads.slice(start, index - start).combine_chunks()))
                    start, held = index, 0
                held += int(n)
            cut.append(Slice(day, leads.slice(start).combine_chunks()))
        return cut

    def first_tail_day(self, counts: pa.Table) -> dt.date | None:
        if not self.tail:
            return None
        newest: dt.date = pc.max(counts.column("snapshot_date")).as_py()
        return newest - dt.timedelta(days=TAIL_DAYS - 1)

    def row_bytes(self) -> int:
        """Arrow bytes per row, from the first rows of the first part."""
        for batch in self.batches(None):
            if batch.num_rows:
                size: int = batch.nbytes
                return max(1, size // int(batch.num_rows))
        return 1

    def spill(self, slices: list[Slice], scratch: Path, read_rows: int) -> list[str | None]:
        """Read every part once, a row group at a time, writing each row to its slice's file."""
        leads = pa.concat_arrays([s.leads for s in slices]).unique().sort()
        tail_days = sorted({s.day for s in slices if s.day is not None})
        first_tail_day = tail_days[0] if tail_days else None
        # bucket[segment, lead rank]: the slice of a row; segment 0 is the month, 1 + k the tail's k-th day.
        bucket = np.full((1 + TAIL_DAYS, len(leads)), -1, dtype=np.int64)
        for number, piece in enumerate(slices):
            place = 0 if piece.day is None or first_tail_day is None else 1 + (piece.day - first_tail_day).days
            bucket[place, pc.index_in(piece.leads, value_set=leads).to_numpy()] = number
        # Arrow's stream format, compressed: four times faster to write and read back than Parquet, twice the size.
        writers: dict[int, ipc.RecordBatchStreamWriter] = {}
        options = ipc.IpcWriteOptions(compression="zstd")
        paths: list[str | None] = [None] * len(slices)
        try:
            for batch in self.batches(None, read_rows):
                if not batch.num_rows:
                    continue
                rank = pc.index_in(batch.column(self.lead), value_set=leads).to_numpy()
                places = np.zeros(batch.num_rows, dtype=np.int64)
                if first_tail_day is not None:
                    days = pc.cast(batch.column("snapshot_date"), pa.int32()).to_numpy()
                    offset = days - (first_tail_day - dt.date(1970, 1, 1)).days
                    places = np.where(offset >= 0, offset + 1, 0)
                owner = bucket[places, rank]
                if (owner < 0).any():  # parts never change; a row no slice holds would be a bug here
                    raise RuntimeError(f"compaction of {self.table_name}: a row of no slice")
                order = np.argsort(owner, kind="stable")
                grouped = batch.take(pa.array(order))
                owners = owner[order]
                edges = np.flatnonzero(np.diff(owners)) + 1
                for start, stop in zip(np.r_[0, edges], np.r_[edges, len(owners)], strict=True):
                    number = int(owners[start])
                    if number not in writers:
                        paths[number] = str(scratch / f"slice-{number:05d}.arrows")
                        writers[number] = ipc.new_stream(paths[number], self.schema, options=options)
                    writers[number].write_batch(grouped.slice(start, stop - start))
        finally:
            for writer in writers.values():
                writer.close()
        return paths

    def batches(self, columns: list[str] | None, rows: int = READ_ROWS) -> Iterator[pa.RecordBatch]:
        """The parts' rows (or some columns), `rows` at a time, as the table's schema says (older files too)."""
        for path in self.paths:
            try:
                dataset = ds.dataset(path, schema=self.schema, format="parquet", filesystem=self.store.fs)
                yield from dataset.to_batches(columns=columns, batch_size=rows, batch_readahead=1, fragment_readahead=1)
            except OSError as e:  # FileNotFoundError included: another compaction removed a part
                raise StoreError(
                    f"cannot read the store at {self.store.url}: {e}; if a compaction was running, try again"
                ) from None


class MergedFile:
    """The merged Parquet file, written segment by segment with the row groups files.segments gives.

    Rows of one segment may arrive in several pieces: a row group is written only once it is full
    (or its segment ends), so the file's row groups do not depend on how the month was sliced.
    """

    def __init__(self, path: str, schema: pa.Schema, table_name: str) -> None:
        self.writer = pq.ParquetWriter(
            path,
            schema,
            compression="zstd",
            compression_level=6,  # as Store.write_table writes a compacted file
            dictionary_pagesize_limit=8 << 20,
            write_statistics=STATISTICS_COLUMNS if table_name == "reports" else True,
        )
        self.schema = schema
        self.segment: object = object()  # no segment yet
        self.pending: list[pa.Table] = []
        self.pending_rows = 0
        self.row_group_rows = ROW_GROUP_ROWS

    def __enter__(self) -> MergedFile:
        return self

    def __exit__(self, *exc: object) -> None:
        if exc[0] is None:
            self.flush()
        self.writer.close()

    def add(self, segment: object, row_group_rows: int, rows: pa.Table) -> None:
        if segment != self.segment:
            self.flush()
            self.segment, self.row_group_rows = segment, row_group_rows
        self.pending.append(rows.cast(self.schema))
        self.pending_rows += rows.num_rows
        if self.pending_rows >= self.row_group_rows:
            held = pa.concat_tables(self.pending)
            full = (self.pending_rows // self.row_group_rows) * self.row_group_rows
            self.writer.write_table(held.slice(0, full), row_group_size=self.row_group_rows)
            # The rest is copied: a slice of the rows would keep all of them in memory.
            rest = held.slice(full).take(pa.array(np.arange(held.num_rows - full)))
            self.pending, self.pending_rows = ([rest] if rest.num_rows else []), rest.num_rows

    def flush(self) -> None:
        if self.pending_rows:
            self.writer.write_table(pa.concat_tables(self.pending), row_group_size=self.row_group_rows)
        self.pending, self.pending_rows = [], 0
