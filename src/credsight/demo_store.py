"""Writing the demo organization into a store, through the same run writer as ingest."""

from __future__ import annotations

import datetime as dt
import sys
from dataclasses import dataclass

import pyarrow as pa

from credsight.demo import DemoAccount, DemoOrganization
from credsight.runs import Run, Snapshot
from credsight.store import Store

BATCH_ROWS = 250_000


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
    run = Run(store)
    batch: list[Snapshot] = []
    metadata: list[dict[str, object]] = []
    size = 0
    days = organization.days()
    try:
        for number, reports in enumerate(organization.reports(), start=1):
            for report in reports:
                batch.append(
                    Snapshot(report.content, "demo", report.snapshot_date, report.account_id, report.generated_time)
                )
                size += report.content.count(b"\n")
            metadata += account_rows(accounts, reports[0].snapshot_date if reports else days[number - 1])
            if size >= BATCH_ROWS or number == len(days):
                run.write(batch, accounts=pa.Table.from_pylist(metadata))
                batch, metadata, size = [], [], 0
            if progress:
                print(f"\rday {number}/{len(days)}", end="", file=sys.stderr)
    except BaseException:
        run.discard()
        raise
    if progress:
        print(file=sys.stderr)
    return DemoSummary(run.run_id, run.reports_written, run.rows_written)
