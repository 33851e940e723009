"""Small real stores for the event, user and notification tests: reports per account and day, written by
store.runs.Run as ingest and collect write them, with account names, OU paths and tags."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa

from credsight.report.model import CURRENT_HEADER
from credsight.store import Store
from credsight.store.runs import Run, Snapshot
from credsight.store.schemas import ACCOUNT_SCHEMA
from tests.conftest import ROOT_ROW, user_row

METADATA = pa.schema([f for f in ACCOUNT_SCHEMA if f.name != "run_id"])  # the run adds run_id


@dataclass(frozen=True)
class Account:
    name: str | None = None
    ou_path: str | None = None
    tags: Mapping[str, str] = field(default_factory=dict)


def root(account: str, **values: str) -> dict[str, str]:
    return {**ROOT_ROW, "arn": f"arn:aws:iam::{account}:root", **values}


def iam_user(name: str, account: str, **values: str) -> dict[str, str]:
    """A console user with MFA and key 1 used in us-east-1 on 2026-10-31; override any column."""
    return user_row(name, account, **values)


def csv_report(*rows: dict[str, str]) -> bytes:
    """A credential report with exactly these rows."""
    return "\n".join([",".join(CURRENT_HEADER), *(",".join(r[c] for c in CURRENT_HEADER) for r in rows)]).encode()


def write_store(
    folder: Path,
    days: Mapping[dt.date, Mapping[str, bytes]],
    accounts: Mapping[str, Account] | None = None,
    store: Store | None = None,
) -> Store:
    """A real store holding each account's report of each day, one run per call (a later call adds days)."""
    target = store or Store(str(folder))
    snapshots = [
        Snapshot(content, f"{account}-{day}.csv", day, account)
        for day, reports in sorted(days.items())
        for account, content in reports.items()
    ]
    rows = [
        {
            "snapshot_date": min(days),
            "account_id": account,
            "name": about.name,
            "ou_path": about.ou_path,
            "tags": list(about.tags.items()) or None,
        }
        for account, about in (accounts or {}).items()
    ]
    Run(target).write(snapshots, pa.Table.from_pylist(rows, schema=METADATA) if rows else None)
    return target
