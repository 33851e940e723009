"""The store: append-only Parquet files in a Hive layout, on a local folder or on S3.

    <store>/reports/snapshot_month=YYYY-MM/part-<run_id>-<seq>.parquet   report rows
    <store>/daily/snapshot_month=YYYY-MM/part-<run_id>-<seq>.parquet     one row per report: counts
    <store>/key_use/snapshot_month=YYYY-MM/part-<run_id>-<seq>.parquet   keys by last-used region, service
    <store>/accounts/snapshot_month=YYYY-MM/part-<run_id>-<seq>.parquet  account metadata per day
    <store>/runs/run_id=<run_id>/outcomes-<seq>.parquet                  one row per account attempt
    <store>/identity_users/snapshot_month=YYYY-MM/part-<run_id>-<seq>.parquet  IAM Identity Center, a day at a
        time (also identity_groups, identity_memberships, identity_assignments), committed by the
        identity_snapshots part of the same name, written last
    <store>/plans/run_id=<run_id>/plan.json                               the accounts of a run in batches (Lambda)
    <store>/findings/snapshot_date=YYYY-MM-DD/findings-<run_id>.json       the findings the Lambda's Finish step wrote
    <store>/notifications/destination=<digest>/watermark-<run_id>.json    what a notification destination was told

Partitions are months, not days: a month's file sorted by account, user and date holds each
user's nearly identical daily rows side by side, which Parquet stores in a few bytes a row
(a day's file cannot: see BENCHMARKS.md). Each snapshot keeps its `snapshot_date` column.

A run never rewrites another run's file. Each file appears whole or not at all: locally it
is written under a hidden temporary name and renamed; on S3 it is one PUT (or a multipart
upload, which is invisible until complete). `compact` merges a month's parts into one file
whose footer names the parts it replaces, so a reader ignores those parts even if the
compaction was interrupted before deleting them.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import os
import re
import secrets
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlparse

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from credsight.errors import StoreError
from credsight.store.schemas import IDENTITY_COMMIT, IDENTITY_TABLES, MONTHLY_TABLES, OUTCOME_SCHEMA, SORT_KEYS

RUN_ID = re.compile(r"\d{8}T\d{12}Z-[0-9a-f]{6}")
PART_NAME = re.compile(r"part-(?P<run_id>\d{8}T\d{12}Z-[0-9a-f]{6})-(?P<seq>\d{5}|c[0-9a-f]{8})\.parquet")
OUTCOME_NAME = re.compile(r"outcomes-\d{5}\.parquet")
DESTINATION = re.compile(r"[0-9a-f]{32}")  # a digest of a notification destination (its URL holds secrets)
WATERMARK_NAME = re.compile(r"watermark-\d{8}T\d{12}Z-[0-9a-f]{6}\.json")
REPLACES_KEY = b"credsight.replaces"

# What an S3 store needs, on the bucket (ListBucket) and on the store's prefix (the rest);
# the deployment templates grant exactly these (see the deploy issue's test).
PERMISSIONS = ("s3:ListBucket", "s3:GetObject", "s3:PutObject", "s3:DeleteObject")
PEOPLE_MAPPING = "people-mapping.csv"  # a store's own mapping of IAM users to people (rules/people.py), if any

ROW_GROUP_ROWS = 262_144
STATISTICS_COLUMNS = ["snapshot_date", "account_id", "user", "run_id"]
TAIL_DAYS = 7  # the newest days of the newest month get row groups of their own (see segments)
TAIL_ROW_GROUP_ROWS = 32_768


# Every part by table and month; which are committed, hidden, and lost compactions (see _scan).
Scan = tuple[dict[str, dict[str, list[pafs.FileInfo]]], set[str], set[str], set[str]]


def new_run_id(now: dt.datetime | None = None) -> str:
    """A run id that sorts by start time (to the microsecond): 20261123T221500123456Z-1a2b3c."""
    now = now or dt.datetime.now(dt.UTC)
    return f"{now:%Y%m%dT%H%M%S%fZ}-{secrets.token_hex(3)}"


def _destination(digest: str) -> str:
    if not DESTINATION.fullmatch(digest):
        raise ValueError(f"a notification destination is named by its 32-digit hex digest, not {digest!r}")
    return digest


def check_run_id(run_id: str) -> str:
    if not RUN_ID.fullmatch(run_id):
        raise StoreError(
            f"run id {run_id!r} is malformed; expected e.g. 20261123T221500123456Z-1a2b3c; the runs view lists them"
        )
    return run_id


@dataclass(frozen=True)
class Part:
    """One live Parquet file of a table."""

    table: str
    path: str  # in the store's filesystem
    name: str


class Store:
    """A store at a local folder or an s3://bucket/prefix URL."""

    def __init__(self, url: str, *, endpoint_url: str | None = None, region: str | None = None) -> None:
        self.url = url
        parsed = urlparse(url)
        if parsed.scheme == "s3":
            if not parsed.netloc:
                raise StoreError(f"store {url!r} names no bucket; use s3://bucket/prefix")
            endpoint = endpoint_url or os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
            options: dict[str, object] = {
                "allow_bucket_creation": False,
                "check_directory_existence_before_creation": False,
            }
            if endpoint:
                options["endpoint_override"] = endpoint
                options["scheme"] = urlparse(endpoint).scheme or "https"
            if region or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION"):
                options["region"] = region or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
            self.fs: pafs.FileSystem = pafs.S3FileSystem(**options)
            self.root = f"{parsed.netloc}{parsed.path}".rstrip("/")
            self.is_local = False
        elif parsed.scheme in ("", "file"):
            self.fs = pafs.LocalFileSystem()
            self.root = os.path.abspath(parsed.path if parsed.scheme == "file" else url)
            self.is_local = True
        else:
            raise StoreError(f"store {url!r}: only a folder or s3://bucket/prefix is supported")

    # -- paths ---------------------------------------------------------------------------

    def join(self, *parts: str) -> str:
        for part in parts:
            if part in ("", ".", "..") or "/" in part or "\\" in part:
                raise StoreError(f"refusing the path component {part!r}: it would leave the store")
        return "/".join([self.root, *parts])

    # -- writing -------------------------------------------------------------------------

    def _write_atomic(self, directory: str, name: str, data: bytes) -> str:
        path = f"{directory}/{name}"
        try:
            if self.is_local:
                os.makedirs(directory, exist_ok=True)
                temporary = f"{directory}/.{name}.{uuid.uuid4().hex}.tmp"
                with open(temporary, "wb") as handle:
                    handle.write(data)
                    handle.flush()
                    os.fsync(handle.fileno())
                os.replace(temporary, path)
            else:
                with self.fs.open_output_stream(path) as stream:
                    stream.write(data)
        except OSError as e:
            raise StoreError(f"cannot write {path}: {e}; check the store location and your permissions") from None
        return path

    def write_table(
        self,
        directory: str,
        name: str,
        table: pa.Table,
        metadata: dict[bytes, bytes] | None = None,
        table_name: str | None = None,
        tail: bool = False,
        compacting: bool = False,
        row_group_rows: int = ROW_GROUP_ROWS,
    ) -> str:
        """Write one Parquet file; for a monthly table, in the order of `segments` (row groups).

        A batch of reports keeps the order it was read in (by date, account, line): cheap to
        write, and a date filter skips the other days. Compaction sorts for the long term.
        """
        if metadata:
            table = table.replace_schema_metadata({**(table.schema.metadata or {}), **metadata})
        if table_name is None or (table_name == "reports" and not compacting):
            ordered = [(table, row_group_rows)]
        else:
            ordered = segments(table_name, table, tail)
        buffer = io.BytesIO()
        with pq.ParquetWriter(
            buffer,
            table.schema,
            compression="zstd",
            compression_level=6 if compacting else 1,
            dictionary_pagesize_limit=8 << 20,
            # Statistics are what lets a reader skip row groups; on the report rows only the sort
            # keys can skip anything, and computing them for every text column halves write speed.
            write_statistics=STATISTICS_COLUMNS if table_name == "reports" else True,
        ) as writer:
            for segment, row_group_rows in ordered:
                writer.write_table(segment, row_group_size=row_group_rows)
        return self._write_atomic(directory, name, buffer.getvalue())

    def write_monthly(self, table_name: str, run_id: str, seq: int, rows: pa.Table) -> list[str]:
        """Write rows into one part per month they touch, sorted for compression and pruning."""
        check_run_id(run_id)
        if rows.num_rows == 0:
            return []
        # Months from the few distinct days (formatting every row's date costs a fifth of an ingest).
        dates = rows.column("snapshot_date")
        firsts = sorted({day.replace(day=1) for day in pc.unique(dates).to_pylist()})
        written = []
        for first in firsts:
            following = (first + dt.timedelta(days=31)).replace(day=1)
            in_month = pc.and_(pc.greater_equal(dates, first), pc.less(dates, following))
            chunk = rows if len(firsts) == 1 else rows.filter(in_month)
            directory = self.join(table_name, f"snapshot_month={first:%Y-%m}")
            name = f"part-{run_id}-{seq:05d}.parquet"
            written.append(self.write_table(directory, name, chunk, table_name=table_name))
        return written

    def write_outcomes(self, run_id: str, seq: int, outcomes: pa.Table) -> str:
        check_run_id(run_id)
        directory = self.join("runs", f"run_id={run_id}")
        return self.write_table(directory, f"outcomes-{seq:05d}.parquet", outcomes.cast(OUTCOME_SCHEMA))

    def write_plan(self, run_id: str, plan: bytes) -> str:
        """The accounts a run in batches will collect (see deploy/lambda_handler.py)."""
        return self._write_atomic(self.join("plans", f"run_id={check_run_id(run_id)}"), "plan.json", plan)

    def write_findings(self, day: dt.date, run_id: str, findings: bytes) -> str:
        """The findings of a day as the deployed collector's Finish step evaluated them (JSON)."""
        name = f"findings-{check_run_id(run_id)}.json"
        return self._write_atomic(self.join("findings", f"snapshot_date={day.isoformat()}"), name, findings)

    def write_watermark(self, destination: str, run_id: str, watermark: bytes) -> str:
        """What a notification destination has been told, as of a run (see notify/watermarks.py). Each run
        writes a file of its own and the newest name is in force: append-only, never rewritten.
        `destination` is a digest of the destination, never its URL (which holds secrets)."""
        directory = self.join("notifications", f"destination={_destination(destination)}")
        return self._write_atomic(directory, f"watermark-{check_run_id(run_id)}.json", watermark)

    def read_watermark(self, destination: str) -> bytes | None:
        """The newest watermark of a destination, or None when it was never notified."""
        directory = self.join("notifications", f"destination={_destination(destination)}")
        paths = sorted(i.path for i in self._list(directory) if WATERMARK_NAME.fullmatch(i.base_name))
        if not paths:
            return None
        try:
            with self.fs.open_input_stream(paths[-1]) as stream:
                return bytes(stream.read())
        except OSError as e:
            raise StoreError(f"cannot read {paths[-1]}: {e}; check the store location and your permissions") from None

    def write_sidecar(self, name: str, data: bytes) -> str:
        """A small file beside the tables, e.g. the demo's people-mapping.csv; written whole."""
        self.join(name)  # refuses a name that would leave the store
        return self._write_atomic(self.root, name, data)

    def read_sidecar(self, name: str) -> bytes | None:
        """A small file beside the tables, or None when there is none."""
        path = self.join(name)
        try:
            if self.fs.get_file_info(path).type != pafs.FileType.File:
                return None
            with self.fs.open_input_stream(path) as stream:
                return bytes(stream.read())
        except OSError as e:
            raise StoreError(f"cannot read {path}: {e}; check the store location and your permissions") from None

    def read_plan(self, run_id: str) -> bytes:
        path = self.join("plans", f"run_id={check_run_id(run_id)}", "plan.json")
        try:
            with self.fs.open_input_stream(path) as stream:
                return bytes(stream.read())
        except OSError as e:
            raise StoreError(f"cannot read the plan of run {run_id} at {path}: {e}; run the list step first") from None

    def write_derived(
        self, kind: str, month_dir: str, name: str, table: pa.Table, row_group_rows: int = ROW_GROUP_ROWS
    ) -> str:
        """Write a file computed from one month's data, named after the part it was computed from.

        Derived files only speed reads up: a reader uses one only while the part it names is
        the month's one live part, and falls back to the rows otherwise.
        """
        return self.write_table(self.join("derived", kind, month_dir), name, table, row_group_rows=row_group_rows)

    def derived_files(self, kind: str) -> dict[tuple[str, str], str]:
        """(month folder, name) -> path of every derived file of a kind."""
        found = {}
        for info in self._list(self.join("derived", kind)):
            month_dir = info.path.rsplit("/", 2)[-2]
            found[month_dir, info.base_name] = info.path
        return found

    def delete(self, path: str) -> None:
        try:
            self.fs.delete_file(path)
        except OSError as e:
            raise StoreError(f"cannot delete {path}: {e}; check your permissions on the store") from None

    # -- reading -------------------------------------------------------------------------

    def _list(self, directory: str) -> list[pafs.FileInfo]:
        try:
            infos = self.fs.get_file_info(pafs.FileSelector(directory, recursive=True, allow_not_found=True))
        except OSError as e:
            raise StoreError(
                f"cannot read the store at {self.url}: {e}; check the location and your credentials"
            ) from None
        return [i for i in infos if i.type == pafs.FileType.File and not i.base_name.startswith(".")]

    def check_reachable(self) -> None:
        """Fail with a clear message when the store's location cannot be listed."""
        try:
            info = self.fs.get_file_info(self.root)
        except OSError as e:
            raise StoreError(
                f"cannot reach the store at {self.url}: {e}; check the location, endpoint and credentials"
            ) from None
        if info.type == pafs.FileType.File:
            raise StoreError(f"the store {self.url} is a file; give a folder or s3://bucket/prefix")

    def fingerprint(self) -> tuple[tuple[str, int, int | None], ...]:
        """What identifies the store's content now: each file's path, size and time (one listing)."""
        return tuple(sorted((i.path, i.size, i.mtime_ns) for i in self._list(self.root)))

    def live_parts(self) -> dict[str, list[Part]]:
        """The parts readers see, per monthly table.

        A batch is committed when its `daily` part exists (it is written last); reports,
        key_use and accounts parts without their daily twin are an interrupted write and
        stay invisible. A committed compacted part hides the parts it replaces.
        """
        return self.live_of(self.scan())

    @staticmethod
    def live_of(scan: Scan) -> dict[str, list[Part]]:
        found, committed, hidden, _losers = scan
        return {
            table_name: [
                Part(table_name, info.path, info.base_name)
                for month, infos in sorted(found.get(table_name, {}).items())
                for info in sorted(infos, key=lambda i: i.base_name)
                if f"{month}/{info.base_name}" in committed and f"{month}/{info.base_name}" not in hidden
            ]
            for table_name in MONTHLY_TABLES
        }

    def identity_parts(self) -> dict[str, list[Part]]:
        """The Identity Center parts readers see, per table (identity_snapshots included).

        An Identity Center snapshot is committed when its identity_snapshots part exists (written
        after its users, groups, memberships and assignments): a run killed while writing one
        leaves parts without that twin, which stay invisible, so no reader sees half a snapshot.
        This is its own commit, apart from the reports' daily twins (see live_parts).
        """
        tables = (*IDENTITY_TABLES, IDENTITY_COMMIT)
        found: dict[str, list[tuple[str, pafs.FileInfo]]] = {name: [] for name in tables}
        for name in tables:
            for info in self._list(self.join(name)):
                relative = info.path[len(self.root) + 1 :].split("/")
                if len(relative) == 3 and PART_NAME.fullmatch(info.base_name):
                    found[name].append((relative[1], info))
        committed = {f"{month}/{info.base_name}" for month, info in found[IDENTITY_COMMIT]}
        return {
            name: [
                Part(name, info.path, info.base_name)
                for month, info in sorted(infos, key=lambda pair: (pair[0], pair[1].base_name))
                if f"{month}/{info.base_name}" in committed
            ]
            for name, infos in found.items()
        }

    def scan(self) -> Scan:
        """Every part by table and month, and which are committed, hidden, and lost compactions.

        Two compactions that ran at once may both have merged some of the same parts. The
        one whose name sorts first wins; the other (the loser) is hidden, and parts that only
        it merged stay visible. A compaction that finds it lost removes its own files.
        """
        found: dict[str, dict[str, list[pafs.FileInfo]]] = {}
        for info in self._list(self.root):
            relative = info.path[len(self.root) + 1 :].split("/")
            if len(relative) == 3 and relative[0] in MONTHLY_TABLES and PART_NAME.fullmatch(info.base_name):
                found.setdefault(relative[0], {}).setdefault(relative[1], []).append(info)
        committed = {f"{month}/{i.base_name}" for month, infos in found.get("daily", {}).items() for i in infos}
        hidden: set[str] = set()
        losers: set[str] = set()
        for month, infos in found.get("daily", {}).items():
            kept: list[tuple[str, set[str]]] = []
            for info in sorted(infos, key=lambda i: i.base_name):
                if not PART_NAME.fullmatch(info.base_name).group("seq").startswith("c"):  # type: ignore[union-attr]
                    continue
                replaced = set(self._replaces(info.path))
                if any(
                    replaced & other and name not in replaced and info.base_name not in other for name, other in kept
                ):
                    losers.add(f"{month}/{info.base_name}")
                    continue
                kept.append((info.base_name, replaced))
            for _name, replaced in kept:
                hidden.update(f"{month}/{name}" for name in replaced)
        return found, committed, hidden | losers, losers

    def sweep(self, scan: Scan) -> None:
        """Delete what no reader sees any more: parts a compaction replaced, and lost compactions."""
        found, _committed, hidden, _losers = scan
        for months in found.values():
            for month, infos in months.items():
                for info in infos:
                    if f"{month}/{info.base_name}" in hidden:
                        self.delete(info.path)

    def _replaces(self, path: str) -> list[str]:
        """The names of the parts, in the same folder, that a compacted part holds."""
        with self.fs.open_input_file(path) as handle:
            metadata = pq.read_metadata(handle).metadata or {}
        return [str(name) for name in json.loads(metadata.get(REPLACES_KEY, b"[]"))]

    def last_seq(self, run_id: str) -> int:
        """The highest batch number any file of the run carries, committed or not (0: none)."""
        check_run_id(run_id)
        seqs = [0]
        for info in self._list(self.root):
            part = PART_NAME.fullmatch(info.base_name)
            # A compacted part names the parts it replaced: their numbers are taken too.
            names = self._replaces(info.path) if part and part.group("seq").startswith("c") else [info.base_name]
            for name in names:
                part = PART_NAME.fullmatch(name)
                if part and part.group("run_id") == run_id and not part.group("seq").startswith("c"):
                    seqs.append(int(part.group("seq")))
            if info.path.endswith(f"/run_id={run_id}/{info.base_name}") and OUTCOME_NAME.fullmatch(info.base_name):
                seqs.append(int(info.base_name[len("outcomes-") : -len(".parquet")]))
        from credsight.store.outcomes import scan_outcomes  # merged outcome files name the batches they hold

        seqs += [seq for run, seq in scan_outcomes(self).batches_held() if run == run_id]
        return max(seqs)

    def outcome_files(self) -> list[str]:
        """The outcome files readers read (store/outcomes.py: a merged file stands for those it holds)."""
        from credsight.store.outcomes import outcome_paths, scan_outcomes

        return outcome_paths(self, scan_outcomes(self))

    def files_under(self, directory: str) -> list[pafs.FileInfo]:
        """Every file under a folder of the store (a recursive listing), hidden ones left out."""
        return self._list(directory)

    def read_files(self, paths: Iterable[str], schema: pa.Schema) -> pa.Table:
        try:
            tables = [pq.read_table(path, filesystem=self.fs, schema=schema) for path in paths]
        except OSError as e:  # FileNotFoundError included: another compaction removed a part
            raise StoreError(
                f"cannot read the store at {self.url}: {e}; if a compaction was running, try again"
            ) from None
        return pa.concat_tables(tables) if tables else schema.empty_table()

    def read_outcomes(self) -> pa.Table:
        return self.read_files(self.outcome_files(), OUTCOME_SCHEMA)


def segments(table_name: str, rows: pa.Table, tail: bool = False) -> list[tuple[pa.Table, int]]:
    """A file's rows in the order they are written: (segment, row group size) pairs.

    Rows are sorted by SORT_KEYS; for reports that is account, user and date, which stores a
    user's near-identical days side by side in a few bytes each, and lets one user's history
    be read from one row group. With `tail` (the store's newest month, at compaction), the
    newest TAIL_DAYS days are written after the rest, a day at a time in small row groups:
    what the dashboard reads most (the latest snapshot, this week's findings) then sits in
    row groups whose statistics let a date filter skip the rest of the file, and an account
    filter skip most of the day.
    """
    keys = [(k, "ascending") for k in SORT_KEYS[table_name]]
    if not (tail and table_name == "reports" and rows.num_rows):
        return [(rows.sort_by(keys), ROW_GROUP_ROWS)]
    dates = rows.column("snapshot_date")
    newest = pc.max(dates).as_py()
    older = rows.filter(pc.less(dates, newest - dt.timedelta(days=TAIL_DAYS - 1)))
    parts = [(older.sort_by(keys), ROW_GROUP_ROWS)] if older.num_rows else []
    for offset in range(TAIL_DAYS - 1, -1, -1):
        day = rows.filter(pc.equal(dates, newest - dt.timedelta(days=offset)))
        if day.num_rows:
            parts.append((day.sort_by(keys), TAIL_ROW_GROUP_ROWS))
    return parts
