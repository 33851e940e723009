"""Writing the demo organization into a store, through the same run writer as ingest."""

from __future__ import annotations

import datetime as dt
import sys
from collections.abc import Iterator
from dataclasses import dataclass

import pyarrow as pa

from credsight.demo import DemoAccount, DemoOrganization
from credsight.store import Store
from credsight.store.runs import Run, Snapshot, write_batches
from credsight.store.schemas import ACCOUNT_SCHEMA

BATCH_BYTES = 16 << 20  # about 70,000 rows
METADATA_SCHEMA = pa.schema([f for f in ACCOUNT_SCHEMA if f.name != "run_id"])


@dataclass(frozen=True)
class DemoSummary:
    run_id: str
    reports: int
    rows: int


def account_rows(accounts: list[DemoAccount], day: dt.date) -> list[dict[str, object]]:
    return [
        {
            "snapshot_date": day,
            "account_id": a.account_id,
            "name": a.name,
            "email": a.email,
            "state": a.state,
            "ou_path": a.ou_path,
            "joined": a.joined,
            "tags": [("environment", a.ou_path.rsplit("/", 1)[-1].lower())],
        }
        for a in accounts
    ]


def build_demo_store(store: Store, organization: DemoOrganization, progress: bool = False) -> DemoSummary:
    """Write every day of the organization as one run, in batches of about BATCH_ROWS rows."""
    accounts = organization.accounts()
    days = organization.days()
    run = Run(store)

    def batches() -> Iterator[tuple[list[Snapshot], pa.Table]]:
        batch: list[Snapshot] = []
        metadata: list[dict[str, object]] = []
        for number, (day, reports) in enumerate(zip(days, organization.reports(), strict=True), start=1):
            batch += [Snapshot(r.content, "demo", r.snapshot_date, r.account_id, r.generated_time) for r in reports]
            metadata += account_rows(accounts, day)
            if sum(len(s.content) for s in batch) >= BATCH_BYTES or number == len(days):
                yield batch, pa.Table.from_pylist(metadata, schema=METADATA_SCHEMA)
                batch, metadata = [], []
            if progress:
                print(f"\rday {number}/{len(days)}", end="", file=sys.stderr)

    write_batches(run, batches())
    if progress:
        print(file=sys.stderr)
    return DemoSummary(run.run_id, run.reports_written, run.rows_written)
