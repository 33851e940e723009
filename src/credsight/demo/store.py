"""Writing the demo organization into a store, through the same run writer as ingest.

With `troubles`, the demo tells an operator's story too (what `credsight demo` builds), so that `/health`,
the overview's cards and the report show failures as a real organization has them:

- a new account whose reader role was never deployed: it joined a few days before the end, and every
  collection since failed `role_missing` (no report, ever);
- an account throttled out once: one day `throttled`, no report that day, collected again the next;
- an account suspended a month before the end: `skipped` from then on, its state SUSPENDED.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import sys
from collections.abc import Iterator
from dataclasses import dataclass

import pyarrow as pa

from credsight.demo import DemoAccount, DemoOrganization
from credsight.demo.identity import DemoIdentityCenter, cast_of
from credsight.store import Store
from credsight.store.files import PEOPLE_MAPPING
from credsight.store.runs import Failure, Run, Snapshot, write_batches
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


ROLE_MISSING_DAYS = 4  # the new account joined this many days before the end
THROTTLED_DAYS_BEFORE_END = 12
SUSPENDED_DAYS_BEFORE_END = 30
ROLE_MISSING_MESSAGE = (
    "User: arn:aws:sts::{caller}:assumed-role/credsight-collector/credsight is not authorized to perform: "
    "sts:AssumeRole on resource: arn:aws:iam::{account}:role/credsight-reader"
)
THROTTLED_MESSAGE = "Rate exceeded (GenerateCredentialReport): gave up after 600 s of retries"
SUSPENDED_MESSAGE = "account is SUSPENDED: not collected"


@dataclass(frozen=True)
class Troubles:
    """The operator's story: which accounts fail or are skipped when (see the module's docstring)."""

    role_missing: str | None = None  # account ids
    throttled: str | None = None
    suspended: str | None = None
    end: dt.date = dt.date.min

    @classmethod
    def of(cls, accounts: list[DemoAccount], days: list[dt.date]) -> Troubles:
        """The story for an organization of 5 accounts or more over at least SUSPENDED_DAYS_BEFORE_END + 5 days."""
        if len(accounts) < 5 or len(days) < SUSPENDED_DAYS_BEFORE_END + 5:
            return cls()
        return cls(accounts[-1].account_id, accounts[1].account_id, accounts[2].account_id, days[-1])

    def account(self, account: DemoAccount, day: dt.date) -> DemoAccount | None:
        """The account as the organization lists it on that day (None: not in it yet)."""
        if account.account_id == self.role_missing:
            joined = self.end - dt.timedelta(days=ROLE_MISSING_DAYS)
            return dataclasses.replace(account, joined=joined) if day >= joined else None
        if account.account_id == self.suspended and day >= self.end - dt.timedelta(days=SUSPENDED_DAYS_BEFORE_END):
            return dataclasses.replace(account, state="SUSPENDED")
        return account

    def failure(self, account: str, day: dt.date, caller: str) -> Failure | None:
        """Why the account's report is missing that day, or None when it was collected."""
        if account == self.role_missing:
            if day < self.end - dt.timedelta(days=ROLE_MISSING_DAYS):
                return None  # not in the organization yet: nothing was attempted (see `absent`)
            message = ROLE_MISSING_MESSAGE.format(caller=caller, account=account)
            return Failure(account, "role_missing", message, day, seconds=0.2)
        if account == self.throttled and day == self.end - dt.timedelta(days=THROTTLED_DAYS_BEFORE_END):
            return Failure(account, "throttled", THROTTLED_MESSAGE, day, seconds=600.0)
        if account == self.suspended and day >= self.end - dt.timedelta(days=SUSPENDED_DAYS_BEFORE_END):
            return Failure(account, None, SUSPENDED_MESSAGE, day, status="skipped")
        return None

    def absent(self, account: str, day: dt.date) -> bool:
        """Whether the account has no report that day (failed, skipped, or not in the organization yet)."""
        return account == self.role_missing or self.failure(account, day, "") is not None


def build_demo_store(
    store: Store, organization: DemoOrganization, progress: bool = False, troubles: bool = False
) -> DemoSummary:
    """Write every day of the organization as one run, in batches of about BATCH_BYTES of reports; with
    `troubles`, the operator's story of failed and skipped accounts (see the module's docstring)."""
    accounts = organization.accounts()
    days = organization.days()
    story = Troubles.of(accounts, days) if troubles else Troubles()
    caller = accounts[0].account_id  # the management account, whose collector assumes the roles
    run = Run(store)

    def batches() -> Iterator[tuple[list[Snapshot], pa.Table, list[Failure]]]:
        batch: list[Snapshot] = []
        metadata: list[dict[str, object]] = []
        failures: list[Failure] = []
        for number, (day, reports) in enumerate(zip(days, organization.reports(), strict=True), start=1):
            batch += [
                Snapshot(r.content, "demo", r.snapshot_date, r.account_id, r.generated_time)
                for r in reports
                if not story.absent(r.account_id, day)
            ]
            failures += [f for a in accounts if (f := story.failure(a.account_id, day, caller)) is not None]
            metadata += account_rows([a for a in (story.account(a, day) for a in accounts) if a is not None], day)
            if sum(len(s.content) for s in batch) >= BATCH_BYTES or number == len(days):
                yield batch, pa.Table.from_pylist(metadata, schema=METADATA_SCHEMA), failures
                batch, metadata, failures = [], [], []
            if progress:
                print(f"\rday {number}/{len(days)}", end="", file=sys.stderr)

    write_batches(run, batches())
    write_identity_story(store, run, organization)
    if progress:
        print(file=sys.stderr)
    return DemoSummary(run.run_id, run.reports_written, run.rows_written)


def write_identity_story(store: Store, run: Run, organization: DemoOrganization) -> int:
    """The organization's IAM Identity Center, a snapshot a day, as one batch of `run` (one part per table
    and month), and the example mapping file beside the tables; returns the snapshots written."""
    identity = DemoIdentityCenter(cast_of(organization))
    snapshots = list(identity.snapshots())
    run.write_identity(snapshots)
    store.write_sidecar(PEOPLE_MAPPING, identity.mapping_csv().encode())
    return len(snapshots)
