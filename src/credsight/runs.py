"""A run: one collection or ingest, writing its snapshots to the store batch by batch.

Each batch is written in an order that makes it appear whole or not at all: report rows,
key use, account metadata, then the daily counts (the commit: readers only see parts whose
daily twin exists), then the outcomes that say which accounts succeeded or failed.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import pyarrow as pa

from credsight.model import ParsedReports, ReportError, ReportInput, parse_reports
from credsight.rollups import DAILY_SCHEMA, daily_counts, key_use_counts, user_class
from credsight.store import (
    ACCOUNT_SCHEMA,
    OUTCOME_SCHEMA,
    STORED_SCHEMA,
    Store,
    new_run_id,
)


@dataclass(frozen=True)
class Snapshot:
    """One account's report on one day, as read: bytes plus what is known from outside them."""

    content: bytes
    source: str
    snapshot_date: dt.date
    account_id: str | None = None
    generated_time: dt.datetime | None = None

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.content).hexdigest()


@dataclass(frozen=True)
class Failure:
    """An account whose report could not be had, and why (never written as an empty report)."""

    account_id: str
    error_class: str
    message: str
    snapshot_date: dt.date | None = None


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
    ) -> None:
        """Parse and write one batch. A bad report raises ReportError before anything is written."""
        inputs = [ReportInput(s.content, s.source, s.snapshot_date, s.account_id) for s in snapshots]
        parsed = parse_reports(inputs)
        snapshots = [replace(s, account_id=a) for s, a in zip(snapshots, parsed.accounts, strict=True)]
        self._check_one_report_per_day(snapshots)
        now = dt.datetime.now(dt.UTC).replace(microsecond=0)
        rows = self._stored_rows(parsed, snapshots, now)
        self.seq += 1
        write = self.store.write_monthly
        self.written += write("reports", self.run_id, self.seq, rows)
        self.written += write("key_use", self.run_id, self.seq, key_use_counts(rows))
        if accounts is not None and accounts.num_rows:
            with_run = accounts.append_column("run_id", pa.array([self.run_id] * accounts.num_rows, pa.string()))
            self.written += write(
                "accounts",
                self.run_id,
                self.seq,
                with_run.select(ACCOUNT_SCHEMA.names).cast(ACCOUNT_SCHEMA),
            )
        self.written += write("daily", self.run_id, self.seq, self._daily(rows, snapshots))
        outcomes = self._outcomes(rows, snapshots, failures, now)
        if outcomes.num_rows:
            self.written.append(self.store.write_outcomes(self.run_id, self.seq, outcomes))
        self.reports_written += len(snapshots)
        self.rows_written += rows.num_rows

    def _check_one_report_per_day(self, snapshots: Sequence[Snapshot]) -> None:
        """A run holds at most one report per account and day; two would be indistinguishable."""
        seen = dict(self.reports_seen)
        for s in snapshots:
            key = (s.account_id or "", s.snapshot_date)
            if key in seen:
                raise ReportError(
                    s.source,
                    f"a second report for account {key[0]} on {key[1]} (the first is {seen[key]}); "
                    "ingest one report per account and day",
                )
            seen[key] = s.source
        self.reports_seen = seen

    def discard(self) -> None:
        """Delete what this run wrote, newest first, so the store is as it was before it."""
        for path in reversed(self.written):
            self.store.delete(path)
        self.written.clear()

    def _stored_rows(self, parsed: ParsedReports, snapshots: Sequence[Snapshot], now: dt.datetime) -> pa.Table:
        index = parsed.input_index
        generated = pa.array([s.generated_time for s in snapshots], pa.timestamp("s", tz="UTC")).take(index)
        sources = pa.array([s.source for s in snapshots], pa.string()).take(index)
        n = parsed.rows.num_rows
        rows = parsed.rows.append_column("generated_time", generated)
        rows = rows.append_column("collected_at", pa.array([now] * n, pa.timestamp("s", tz="UTC")))
        rows = rows.append_column("run_id", pa.array([self.run_id] * n, pa.string()))
        rows = rows.append_column("source", sources)
        rows = rows.append_column("user_class", user_class(rows))
        return rows.select(STORED_SCHEMA.names).cast(STORED_SCHEMA)

    def _daily(self, rows: pa.Table, snapshots: Sequence[Snapshot]) -> pa.Table:
        """Counts per report, with a zero row for a report that has no rows: it was collected."""
        daily = daily_counts(rows)
        seen = {
            (r["account_id"], r["snapshot_date"]) for r in daily.select(["account_id", "snapshot_date"]).to_pylist()
        }
        empty = [s for s in snapshots if (s.account_id, s.snapshot_date) not in seen]
        if not empty:
            return daily
        zeros = pa.table(
            {
                "snapshot_date": pa.array([s.snapshot_date for s in empty], pa.date32()),
                "account_id": pa.array([s.account_id for s in empty], pa.string()),
                "run_id": pa.array([self.run_id] * len(empty), pa.string()),
                "generated_time": pa.array([s.generated_time for s in empty], pa.timestamp("s", tz="UTC")),
                **{name: pa.array([0] * len(empty), pa.int64()) for name in DAILY_SCHEMA.names[4:10]},
                "root_mfa": pa.nulls(len(empty), pa.bool_()),
                "root_active_keys": pa.nulls(len(empty), pa.int64()),
            }
        )
        return pa.concat_tables([daily, zeros.cast(DAILY_SCHEMA)])

    def _outcomes(
        self,
        rows: pa.Table,
        snapshots: Sequence[Snapshot],
        failures: Sequence[Failure],
        now: dt.datetime,
    ) -> pa.Table:
        records: list[dict[str, object]] = []
        counts = rows.group_by(["account_id", "snapshot_date"], use_threads=False).aggregate([("user", "count")])
        rows_of = {(r["account_id"], r["snapshot_date"]): r["user_count"] for r in counts.to_pylist()}
        for s in snapshots:
            header = s.content.partition(b"\n")[0]
            records.append(
                {
                    "run_id": self.run_id,
                    "account_id": s.account_id,
                    "snapshot_date": s.snapshot_date,
                    "status": "success",
                    "rows": rows_of.get((s.account_id, s.snapshot_date), 0),
                    "generated_time": s.generated_time,
                    "finished_at": now,
                    "source": s.source,
                    "content_sha256": s.sha256,
                    "csv_header": header.decode("utf-8").rstrip("\r"),
                    "csv_eol": "\r\n" if header.endswith(b"\r") else "\n",
                    "csv_final_eol": s.content.endswith(b"\n"),
                }
            )
        for f in failures:
            records.append(
                {
                    "run_id": self.run_id,
                    "account_id": f.account_id,
                    "snapshot_date": f.snapshot_date,
                    "status": "failed",
                    "error_class": f.error_class,
                    "error_message": f.message,
                    "finished_at": now,
                }
            )
        return pa.Table.from_pylist(records, schema=OUTCOME_SCHEMA)
