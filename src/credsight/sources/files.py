"""Reports from files: CSV files, folders, and the AWS QuickSight pattern's bucket layout.

The pattern keeps `YYYY-MM-DD/<account>/credentialReport_<account>.csv`, local or on S3. The
date comes from the path (a `YYYY-MM-DD` folder) or `--date`; the account from the path (a
12-digit folder or `credentialReport_<account>.csv`), `--account`, or the rows' ARNs, and
where more than one says, they must agree.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pyarrow.fs as pafs

from credsight.errors import ReportError, StoreError
from credsight.report.model import check_account_id
from credsight.store import Store
from credsight.store.runs import Run, Snapshot, write_batches

DATE_PART = re.compile(r"(?:.*=)?(\d{4}-\d{2}-\d{2})")
ACCOUNT_PART = re.compile(r"\d{12}")
PATTERN_FILE = re.compile(r"credentialReport_(\d+)\.csv", re.IGNORECASE)
PERMISSIONS = ("s3:ListBucket", "s3:GetObject")  # to import the pattern's bucket
FIRST_REPORT_DATE = dt.date(2010, 1, 1)  # before any credential report (the API dates from 2014)
READ_AHEAD = 256  # files read at once (S3 GETs in flight are bounded by the reader threads)
BATCH_BYTES = 16 << 20  # about 70,000 rows of report per batch: bounded memory, and parse overlaps write


@dataclass(frozen=True)
class FoundReport:
    """A report file and what its path says of it."""

    path: str
    snapshot_date: dt.date
    account_id: str | None


@dataclass(frozen=True)
class IngestSummary:
    run_id: str
    reports: int
    rows: int
    skipped: int


def describe_path(path: str, date: dt.date | None, account: str | None) -> FoundReport:
    """Read the date and account that a report's path (or the flags) give it."""
    parts = path.replace("\\", "/").split("/")
    day = date
    for part in reversed(parts[:-1]):
        match = DATE_PART.fullmatch(part)
        if match:
            try:
                day = dt.date.fromisoformat(match.group(1))
            except ValueError:
                raise ReportError(path, f"folder {part!r} is not a valid date; use YYYY-MM-DD") from None
            break
    if day is None:
        raise ReportError(path, "cannot tell the report's date: put it in a YYYY-MM-DD folder or pass --date")
    tomorrow = dt.datetime.now(dt.UTC).date() + dt.timedelta(days=1)
    if not FIRST_REPORT_DATE <= day <= tomorrow:
        raise ReportError(
            path,
            f"snapshot date {day} is outside {FIRST_REPORT_DATE} to today; check the folder name or --date",
        )
    named = {m.group(1) for m in [PATTERN_FILE.fullmatch(parts[-1])] if m}
    named |= {p for p in parts[-2:-1] if ACCOUNT_PART.fullmatch(p)}
    if account:
        named.add(account)
    for value in named:
        check_account_id(value, path)
    if len(named) > 1:
        raise ReportError(
            path, f"the path and flags name different accounts ({', '.join(sorted(named))}); fix the path"
        )
    return FoundReport(path, day, named.pop() if named else None)


class ReportFiles:
    """Finds and reads report files on the local disk or under s3://bucket/prefix."""

    def __init__(self, endpoint_url: str | None = None) -> None:
        self.endpoint_url = endpoint_url
        self._s3: pafs.FileSystem | None = None

    def _filesystem(self, path: str) -> tuple[pafs.FileSystem, str]:
        if path.startswith("s3://"):
            if self._s3 is None:
                self._s3 = Store(path, endpoint_url=self.endpoint_url).fs
            return self._s3, path[len("s3://") :].rstrip("/")
        return pafs.LocalFileSystem(), str(Path(path).resolve())

    def find(self, paths: Sequence[str]) -> Iterator[tuple[str, str]]:
        """Yield (display path, filesystem path) of each CSV under the given files and folders."""
        for given in paths:
            fs, where = self._filesystem(given)
            try:
                info = fs.get_file_info(where)
                if info.type == pafs.FileType.File:
                    yield given, where
                    continue
                if info.type == pafs.FileType.NotFound:
                    raise StoreError(f"{given}: no such file or folder")
                found = fs.get_file_info(pafs.FileSelector(where, recursive=True))
            except OSError as e:
                raise StoreError(f"cannot read {given}: {e}") from None
            prefix = "s3://" if given.startswith("s3://") else ""
            for item in sorted(found, key=lambda i: i.path):
                if item.type == pafs.FileType.File and item.base_name.lower().endswith(".csv"):
                    yield f"{prefix}{item.path}", item.path

    def read(self, display: str, path: str) -> bytes:
        try:
            if not display.startswith("s3://"):
                return Path(path).read_bytes()
            fs, _ = self._filesystem(display)
            with fs.open_input_stream(path) as stream:
                return bytes(stream.read())
        except OSError as e:
            raise StoreError(f"cannot read {display}: {e}") from None


def ingest(
    store: Store,
    paths: Sequence[str],
    *,
    date: dt.date | None = None,
    account: str | None = None,
    endpoint_url: str | None = None,
) -> IngestSummary:
    """Import report files into the store as one run; on any bad file nothing is kept."""
    files = ReportFiles(endpoint_url)
    found = [(describe_path(display, date, account), path) for display, path in files.find(paths)]
    if not found:
        raise StoreError(f"no CSV files found in {', '.join(paths)}")
    found.sort(key=lambda item: (item[0].snapshot_date, item[0].account_id or "", item[0].path))
    already = stored_reports(store)
    run = Run(store)
    skipped = 0

    def batches() -> Iterator[tuple[list[Snapshot], None, tuple[()]]]:
        nonlocal skipped
        batch: list[Snapshot] = []
        size = 0
        with ThreadPoolExecutor(max_workers=16 if any(p.startswith("s3://") for p in paths) else 2) as readers:
            for snapshot in _read_ahead(files, found, readers):
                if (snapshot.snapshot_date, snapshot.sha256) in already:
                    skipped += 1
                    continue
                already.add((snapshot.snapshot_date, snapshot.sha256))
                batch.append(snapshot)
                size += len(snapshot.content)
                if size >= BATCH_BYTES:
                    yield batch, None, ()
                    batch, size = [], 0
        if batch:
            yield batch, None, ()

    write_batches(run, batches())
    return IngestSummary(run.run_id, run.reports_written, run.rows_written, skipped)


def _read_ahead(
    files: ReportFiles, found: list[tuple[FoundReport, str]], readers: ThreadPoolExecutor
) -> Iterator[Snapshot]:
    """Each report read and hashed, in order, READ_AHEAD files at a time: memory stays bounded.

    The readers hash as they read (hashing releases the GIL), so that the thread handing out
    batches does not hash 60 MB alone while the parsers wait.
    """

    def read(item: tuple[FoundReport, str]) -> Snapshot:
        report, path = item
        snapshot = Snapshot(files.read(report.path, path), report.path, report.snapshot_date, report.account_id)
        _ = snapshot.sha256  # computed here, kept by the snapshot
        return snapshot

    for start in range(0, len(found), READ_AHEAD):
        yield from readers.map(read, found[start : start + READ_AHEAD])


def stored_reports(store: Store) -> set[tuple[dt.date, str]]:
    """(snapshot_date, sha256) of every report already stored, so the same file is not stored twice."""
    outcomes = store.read_outcomes().select(["snapshot_date", "content_sha256", "status"]).to_pylist()
    return {(o["snapshot_date"], o["content_sha256"]) for o in outcomes if o["status"] == "success"}
