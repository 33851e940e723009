"""A run: one collection or ingest, writing its snapshots to the store batch by batch.

Each batch is written in an order that makes it appear whole or not at all: report rows,
key use, account metadata, then the daily counts (the commit: readers only see parts whose
daily twin exists), then the outcomes that say which accounts succeeded or failed.

An Identity Center snapshot is written the same way with a commit of its own: its users, groups,
memberships and assignments, then its identity_snapshots row (the commit), then its outcome.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections import deque
from collections.abc import Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
import pyarrow as pa

from credsight.errors import ReportError
from credsight.report.model import UTC_SECONDS, ReportInput
from credsight.report.parser import ParsedReports, parse_reports
from credsight.store.files import Store, new_run_id
from credsight.store.rollups import daily_counts, key_use_counts, user_class
from credsight.store.schemas import (
    ACCOUNT_SCHEMA,
    IDENTITY_COMMIT,
    IDENTITY_SNAPSHOT_SCHEMA,
    IDENTITY_TABLES,
    OUTCOME_SCHEMA,
    STORED_SCHEMA,
    schema_of,
)


@dataclass(frozen=True)
class Snapshot:
    """One account's report on one day, as read: bytes plus what is known from outside them."""

    content: bytes
    source: str
    snapshot_date: dt.date
    account_id: str | None = None
    generated_time: dt.datetime | None = None
    seconds: float | None = None  # how long collecting it took

    @cached_property
    def sha256(self) -> str:
        return hashlib.sha256(self.content).hexdigest()


@dataclass(frozen=True)
class Failure:
    """An account whose report could not be had, and why (never written as an empty report)."""

    account_id: str
    error_class: str | None
    message: str
    snapshot_date: dt.date | None = None
    status: str = "failed"  # or "skipped": an account not collected on purpose (e.g. suspended)
    seconds: float | None = None
    kind: str = "credential_report"  # or "identity_center" (account_id: the account it was read from)


@dataclass(frozen=True)
class IdentitySnapshot:
    """One day's IAM Identity Center as listed: each table has its schema's columns but
    snapshot_date and run_id, which the run adds (see store/schemas.py)."""

    snapshot_date: dt.date
    account_id: str  # where it was read: the management account or the delegated administrator
    instance_arn: str
    identity_store_id: str
    users: pa.Table
    groups: pa.Table
    memberships: pa.Table
    assignments: pa.Table
    collected_at: dt.datetime  # when the listing began
    calls: int | None = None
    seconds: float | None = None

    def tables(self) -> dict[str, pa.Table]:
        return dict(zip(IDENTITY_TABLES, (self.users, self.groups, self.memberships, self.assignments), strict=True))


PREPARED_AHEAD = 2


@dataclass(frozen=True)
class Batch:
    """A parsed batch, ready to be written: the tables, in the order they are written."""

    seq: int
    rows: pa.Table
    key_use: pa.Table
    accounts: pa.Table | None
    daily: pa.Table
    outcomes: pa.Table
    sources: list[tuple[str, dt.date, str]]  # (account, snapshot date, source) of each report


@dataclass
class Run:
    """Writes a run's batches; `discard` removes everything the run wrote."""

    store: Store
    run_id: str = field(default_factory=new_run_id)
    written: list[str] = field(default_factory=list)
    seq: int = 0
    reports_written: int = 0
    rows_written: int = 0
    reports_seen: dict[tuple[str, dt.date], str] = field(default_factory=dict)

    def write(
        self,
        snapshots: Sequence[Snapshot],
        accounts: pa.Table | None = None,
        failures: Sequence[Failure] = (),
    ) -> Batch:
        """Parse and write one batch. A bad report raises ReportError before anything is written."""
        batch = self.prepare(snapshots, accounts, failures, self.next_seq())
        self.commit(batch)
        return batch

    def next_seq(self) -> int:
        self.seq += 1
        return self.seq

    def prepare(
        self,
        snapshots: Sequence[Snapshot],
        accounts: pa.Table | None,
        failures: Sequence[Failure],
        seq: int,
    ) -> Batch:
        """Parse a batch and compute what will be written; raises ReportError on a bad report.

        Changes nothing in the run, so batches can be prepared side by side.
        """
        inputs = [ReportInput(s.content, s.source, s.snapshot_date, s.account_id) for s in snapshots]
        parsed = parse_reports(inputs)
        now = dt.datetime.now(dt.UTC).replace(microsecond=0)
        rows = self._stored_rows(parsed, snapshots, now)
        if accounts is not None and accounts.num_rows:
            accounts = accounts.append_column("run_id", pa.array([self.run_id] * accounts.num_rows, pa.string()))
            accounts = accounts.select(ACCOUNT_SCHEMA.names).cast(ACCOUNT_SCHEMA)
        reports = self._reports(parsed, snapshots)
        daily = daily_counts(rows, reports)
        outcomes = self._outcomes(reports, failures, now)
        sources = [(a, s.snapshot_date, s.source) for a, s in zip(parsed.accounts, snapshots, strict=True)]
        return Batch(seq, rows, key_use_counts(rows), accounts, daily, outcomes, sources)

    def commit(self, batch: Batch) -> None:
        """Write a prepared batch; its daily part, written last but the outcomes, makes it visible."""
        self._check_one_report_per_day(batch.sources)
        write = self.store.write_monthly
        self.written += write("reports", self.run_id, batch.seq, batch.rows)
        self.written += write("key_use", self.run_id, batch.seq, batch.key_use)
        if batch.accounts is not None and batch.accounts.num_rows:
            self.written += write("accounts", self.run_id, batch.seq, batch.accounts)
        self.written += write("daily", self.run_id, batch.seq, batch.daily)
        if batch.outcomes.num_rows:
            self.written.append(self.store.write_outcomes(self.run_id, batch.seq, batch.outcomes))
        self.reports_written += batch.daily.num_rows
        self.rows_written += batch.rows.num_rows

    def write_identity(self, snapshots: Sequence[IdentitySnapshot]) -> None:
        """Write Identity Center snapshots (usually one: today's) whole or not at all, then their outcomes.

        Their four tables first, then the identity_snapshots rows that commit them: a run killed in
        between leaves parts no reader sees (Store.identity_parts), and an error here removes what it
        wrote before raising. Several snapshots (the demo's period) share one part per table and month.
        """
        if not snapshots:
            return
        seq = self.next_seq()
        tables = {
            name: pa.concat_tables([self._identity_rows(name, s.tables()[name], s.snapshot_date) for s in snapshots])
            for name in IDENTITY_TABLES
        }
        commit = pa.Table.from_pylist(
            [
                {
                    "snapshot_date": s.snapshot_date,
                    "run_id": self.run_id,
                    "instance_arn": s.instance_arn,
                    "identity_store_id": s.identity_store_id,
                    **{name.removeprefix("identity_"): rows.num_rows for name, rows in s.tables().items()},
                    "collected_at": s.collected_at.replace(microsecond=0),
                    "calls": s.calls,
                    "seconds": s.seconds,
                }
                for s in snapshots
            ],
            schema=IDENTITY_SNAPSHOT_SCHEMA,
        )
        months = sorted({f"{s.snapshot_date:%Y-%m}" for s in snapshots})
        written: list[str] = []
        try:
            for name, rows in tables.items():
                written += self._write_whole(name, rows, seq, months)
            written += self.store.write_monthly(IDENTITY_COMMIT, self.run_id, seq, commit)
        except BaseException:
            for path in reversed(written):
                self.store.delete(path)
            raise
        self.written += written
        outcomes: list[dict[str, object]] = [
            {
                "account_id": s.account_id,
                "snapshot_date": s.snapshot_date,
                "status": "success",
                "rows": s.users.num_rows,
                "source": f"aws:sso:{s.instance_arn}",
                "seconds": s.seconds,
            }
            for s in snapshots
        ]
        self._write_outcome_rows(outcomes, "identity_center", seq)

    def write_failures(self, failures: Sequence[Failure]) -> None:
        """Outcome rows alone: attempts that stored nothing (an Identity Center that could not be read)."""
        if not failures:
            return
        seq = self.next_seq()
        for kind in sorted({f.kind for f in failures}):
            rows: list[dict[str, object]] = [
                {
                    "account_id": f.account_id,
                    "snapshot_date": f.snapshot_date,
                    "status": f.status,
                    "error_class": f.error_class,
                    "error_message": f.message,
                    "seconds": f.seconds,
                }
                for f in failures
                if f.kind == kind
            ]
            self._write_outcome_rows(rows, kind, seq)
            seq = self.next_seq()

    def _write_outcome_rows(self, rows: list[dict[str, object]], kind: str, seq: int) -> None:
        now = dt.datetime.now(dt.UTC).replace(microsecond=0)
        table = pa.Table.from_pylist(
            [{**row, "run_id": self.run_id, "finished_at": now, "kind": kind} for row in rows], schema=OUTCOME_SCHEMA
        )
        self.written.append(self.store.write_outcomes(self.run_id, seq, table))

    def _identity_rows(self, name: str, rows: pa.Table, day: dt.date) -> pa.Table:
        n = rows.num_rows
        rows = rows.append_column("snapshot_date", pa.repeat(pa.scalar(day, pa.date32()), n))
        rows = rows.append_column("run_id", pa.repeat(pa.scalar(self.run_id, pa.string()), n))
        schema = schema_of(name)
        return rows.select(schema.names).cast(schema)

    def _write_whole(self, name: str, rows: pa.Table, seq: int, months: Sequence[str]) -> list[str]:
        """A part for every month of the snapshots, even an empty one: an identity store with no groups has
        an empty groups part, not none."""
        written = self.store.write_monthly(name, self.run_id, seq, rows)
        for month in months:
            directory = self.store.join(name, f"snapshot_month={month}")
            if not any(path.startswith(directory + "/") for path in written):
                empty = schema_of(name).empty_table()
                written.append(
                    self.store.write_table(directory, f"part-{self.run_id}-{seq:05d}.parquet", empty, table_name=name)
                )
        return written

    def _check_one_report_per_day(self, sources: Sequence[tuple[str, dt.date, str]]) -> None:
        """A run holds at most one report per account and day; two would be indistinguishable."""
        seen = dict(self.reports_seen)
        for account, day, source in sources:
            if (account, day) in seen:
                raise ReportError(
                    source,
                    f"a second report for account {account} on {day} (the first is {seen[account, day]}); "
                    "ingest one report per account and day",
                )
            seen[account, day] = source
        self.reports_seen = seen

    def discard(self) -> None:
        """Delete what this run wrote, newest first, so the store is as it was before it."""
        for path in reversed(self.written):
            self.store.delete(path)
        self.written.clear()

    def _stored_rows(self, parsed: ParsedReports, snapshots: Sequence[Snapshot], now: dt.datetime) -> pa.Table:
        index = parsed.input_index
        generated = pa.array([s.generated_time for s in snapshots], UTC_SECONDS).take(index)
        n = parsed.rows.num_rows
        rows = parsed.rows.append_column("generated_time", generated)
        rows = rows.append_column("collected_at", pa.repeat(pa.scalar(now, UTC_SECONDS), n))
        rows = rows.append_column("run_id", pa.repeat(pa.scalar(self.run_id, pa.string()), n))
        rows = rows.append_column("user_class", user_class(rows))
        return rows.select(STORED_SCHEMA.names).cast(STORED_SCHEMA)

    def _reports(self, parsed: ParsedReports, snapshots: Sequence[Snapshot]) -> pa.Table:
        """One row per report of the batch: what it is, where it came from, how its bytes were laid out."""
        return pa.table(
            {
                "snapshot_date": pa.array([s.snapshot_date for s in snapshots], pa.date32()),
                "account_id": pa.array(parsed.accounts, pa.string()),
                "run_id": pa.array([self.run_id] * len(snapshots), pa.string()),
                "generated_time": pa.array([s.generated_time for s in snapshots], UTC_SECONDS),
                "source": pa.array([s.source for s in snapshots], pa.string()),
                "content_sha256": pa.array([s.sha256 for s in snapshots], pa.string()),
                "csv_header": pa.array([layout.header for layout in parsed.layouts], pa.string()),
                "csv_eol": pa.array([layout.eol for layout in parsed.layouts], pa.string()),
                "csv_final_eol": pa.array([layout.final_eol for layout in parsed.layouts], pa.bool_()),
                "rows": pa.array(np.bincount(parsed.input_index.to_numpy(), minlength=len(snapshots)), pa.int64()),
                "seconds": pa.array([s.seconds for s in snapshots], pa.float64()),
            }
        )

    def _outcomes(self, reports: pa.Table, failures: Sequence[Failure], now: dt.datetime) -> pa.Table:
        """One row per account attempted: the reports written and the failures."""
        written = reports.select(["run_id", "account_id", "snapshot_date", "generated_time", "source"])
        written = written.append_column("content_sha256", reports.column("content_sha256"))
        written = written.append_column("rows", reports.column("rows"))
        written = written.append_column("seconds", reports.column("seconds"))
        n = written.num_rows
        written = written.append_column("status", pa.array(["success"] * n, pa.string()))
        written = written.append_column("finished_at", pa.array([now] * n, UTC_SECONDS))
        written = written.append_column("kind", pa.array(["credential_report"] * n, pa.string()))
        failed = pa.Table.from_pylist(
            [
                {
                    "run_id": self.run_id,
                    "account_id": f.account_id,
                    "snapshot_date": f.snapshot_date,
                    "status": f.status,
                    "error_class": f.error_class,
                    "error_message": f.message,
                    "finished_at": now,
                    "seconds": f.seconds,
                    "kind": f.kind,
                }
                for f in failures
            ],
            schema=OUTCOME_SCHEMA,
        )
        for name in OUTCOME_SCHEMA.names:
            if name not in written.column_names:
                written = written.append_column(name, pa.nulls(n, OUTCOME_SCHEMA.field(name).type))
        return pa.concat_tables([written.select(OUTCOME_SCHEMA.names).cast(OUTCOME_SCHEMA), failed])


def write_batches(run: Run, batches: Iterable[tuple[Sequence[Snapshot], pa.Table | None, Sequence[Failure]]]) -> None:
    """Write every batch (its reports, account metadata and failed or skipped accounts) as part of `run`,
    or, on any error or interruption, nothing at all.

    Two threads parse batches while a third writes them in order: Arrow releases the GIL, so
    both cores work. At most PREPARED_AHEAD batches wait in memory.
    """
    preparing: deque[Future[Batch]] = deque()
    committing: Future[None] | None = None
    with ThreadPoolExecutor(max_workers=2) as preparers, ThreadPoolExecutor(max_workers=1) as writer:

        def commit_oldest() -> None:
            nonlocal committing
            batch = preparing.popleft().result()
            if committing is not None:
                committing.result()
            committing = writer.submit(run.commit, batch)

        try:
            for snapshots, accounts, failures in batches:
                preparing.append(preparers.submit(run.prepare, snapshots, accounts, failures, run.next_seq()))
                if len(preparing) >= PREPARED_AHEAD:
                    commit_oldest()
            while preparing:
                commit_oldest()
            if committing is not None:
                committing.result()
        except BaseException:
            for future in preparing:
                future.cancel()
            wait(preparing)
            if committing is not None:
                wait([committing])
            run.discard()
            raise
