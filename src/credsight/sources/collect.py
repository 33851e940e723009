"""A collection run: every chosen account's report, fetched concurrently, written as it arrives.

`concurrency` worker threads share a queue of accounts ordered by when each may take its next
step (see report.py). A worker never sleeps while an account's report is being generated: it
serves another account in the meantime, so concurrency bounds the calls in flight, and waits
overlap. The calling thread writes finished accounts to the store in batches, so an
interrupted run keeps what it finished, and a resume collects only what is missing.

When the reports are in, IAM Identity Center is read (identity_center.py) with the same bound on calls
in flight, and stored as one snapshot of the run; when it fails, the reports stay stored and the run's
summary says what failed and why.
"""

from __future__ import annotations

import datetime as dt
import heapq
import itertools
import queue
import random
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field

import pyarrow as pa

from credsight.errors import ReportError
from credsight.sources.aws import Aws, RoleSettings
from credsight.sources.credential_report import ReportJob, Timing
from credsight.sources.identity_center import IdentityCenterOutcome, IdentityCenterSettings, collect_identity_center
from credsight.sources.organizations import Account
from credsight.store import Store
from credsight.store.runs import Failure, Run, Snapshot
from credsight.store.schemas import ACCOUNT_SCHEMA

BATCH_REPORTS = 200  # write when this many accounts have finished ...
BATCH_SECONDS = 5.0  # ... or when the oldest finished one has waited this long
IN_FLIGHT_PER_WORKER = 4  # accounts started but not finished, per worker (bounds memory)


@dataclass(frozen=True)
class Settings:
    role: RoleSettings = field(default_factory=RoleSettings)
    timing: Timing = field(default_factory=Timing)
    concurrency: int = 16
    caller_via_role: bool = False  # collect the caller's own account through the role too


@dataclass(frozen=True)
class Outcome:
    """What happened to one account, as logged and summarised."""

    account: Account
    status: str  # success | failed | skipped
    error_class: str | None = None
    message: str | None = None
    rows: int | None = None
    generated_time: dt.datetime | None = None
    seconds: float | None = None
    calls: int = 0

    def record(self) -> dict[str, object]:
        """The outcome as one JSON log line says it (`collect --log-format json`, the Lambda's log)."""
        return {
            "account_id": self.account.id,
            "account_name": self.account.name,
            "status": self.status,
            "error_class": self.error_class,
            "message": self.message,
            "rows": self.rows,
            "generated_time": self.generated_time.isoformat() if self.generated_time else None,
            "seconds": self.seconds,
            "calls": self.calls,
        }


@dataclass
class Summary:
    run_id: str
    outcomes: list[Outcome] = field(default_factory=list)
    identity: IdentityCenterOutcome | None = None  # None: Identity Center was not asked for

    def count(self, status: str) -> int:
        return sum(1 for o in self.outcomes if o.status == status)

    @property
    def failed(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.status == "failed"]


class Scheduler:
    """Worker threads stepping report jobs, earliest-ready first; finished jobs go to `finished`."""

    def __init__(self, jobs: Iterator[ReportJob], concurrency: int, clock: Callable[[], float]) -> None:
        self.jobs = jobs
        self.clock = clock
        self.limit = concurrency * IN_FLIGHT_PER_WORKER
        self.ready: list[tuple[float, int, ReportJob]] = []
        self.order = itertools.count()
        self.in_flight = 0
        self.exhausted = False
        self.stopping = False
        self.condition = threading.Condition()
        self.finished: queue.Queue[ReportJob] = queue.Queue()
        self.threads = [
            threading.Thread(target=self._work, name=f"credsight-collect-{i}", daemon=True) for i in range(concurrency)
        ]

    def start(self) -> None:
        with self.condition:
            self._admit()
        for thread in self.threads:
            thread.start()

    def stop(self) -> None:
        with self.condition:
            self.stopping = True
            self.condition.notify_all()
        for thread in self.threads:
            thread.join()

    def _admit(self) -> None:
        """Start new accounts while fewer than the limit are in flight (called holding the lock)."""
        while not self.exhausted and self.in_flight < self.limit:
            job = next(self.jobs, None)
            if job is None:
                self.exhausted = True
                break
            self.in_flight += 1
            heapq.heappush(self.ready, (job.started, next(self.order), job))
            self.condition.notify()

    def _take(self) -> ReportJob | None:
        with self.condition:
            while not self.stopping:
                if self.ready:
                    wait = self.ready[0][0] - self.clock()
                    if wait <= 0:
                        return heapq.heappop(self.ready)[2]
                    self.condition.wait(wait)
                elif self.exhausted and self.in_flight == 0:
                    return None
                else:
                    self.condition.wait()
            return None

    def _work(self) -> None:
        while (job := self._take()) is not None:
            try:
                wait = job.step()
            except Exception as e:  # a bug must fail one account, not hang the run
                job._fail("other", f"{type(e).__name__}: {e}")
                wait = 0.0
            with self.condition:
                if job.finished:
                    self.in_flight -= 1
                    self.finished.put(job)
                    self._admit()
                    if self.exhausted and self.in_flight == 0:
                        self.condition.notify_all()
                else:
                    heapq.heappush(self.ready, (self.clock() + wait, next(self.order), job))
                    self.condition.notify()


def account_table(accounts: Sequence[Account], day: dt.date) -> pa.Table:
    """The accounts' metadata as of `day`, in the store's layout (run_id is added by the run)."""
    schema = pa.schema([f for f in ACCOUNT_SCHEMA if f.name != "run_id"])
    return pa.Table.from_pylist(
        [
            {
                "snapshot_date": day,
                "account_id": a.id,
                "name": a.name,
                "email": a.email,
                "state": a.state,
                "ou_path": a.ou_path or None,
                "joined": a.joined.date() if a.joined else None,
                "tags": None,
            }
            for a in accounts
        ],
        schema=schema,
    )


def collect(
    store: Store,
    aws: Aws,
    partition: str,
    accounts: Sequence[Account],
    settings: Settings,
    *,
    caller_account: str | None = None,
    run_id: str | None = None,
    resume: bool = False,
    with_metadata: bool = True,
    on_outcome: Callable[[Outcome], None] = lambda outcome: None,
    clock: Callable[[], float] = time.monotonic,
    stop: threading.Event | None = None,
    identity: IdentityCenterSettings | None = None,
    on_identity: Callable[[IdentityCenterOutcome], None] = lambda outcome: None,
) -> Summary:
    """Collect today's report of every account into `store` as run `run_id` (new unless `resume`),
    then, with `identity` (not mode off), IAM Identity Center as read by `caller_account`.

    Setting `stop` ends the run at its next safe point: what finished is written, then
    KeyboardInterrupt is raised.
    """
    run = Run(store) if run_id is None else Run(store, run_id=run_id, seq=store.last_seq(run_id) if resume else 0)
    summary = Summary(run.run_id)
    day = dt.datetime.now(dt.UTC).date()
    by_id = {a.id: a for a in accounts}
    rng = random.Random()
    writer = BatchWriter(run, day, by_id, summary, on_outcome)
    if with_metadata:
        writer.metadata = account_table(accounts, day)
    for account in accounts:
        if account.skipped:
            writer.add_failure(Failure(account.id, None, f"account is {account.state}", day, "skipped"), 0)

    def jobs() -> Iterator[ReportJob]:
        for account in accounts:
            if not account.skipped:
                yield ReportJob(
                    account.id,
                    aws,
                    settings.role,
                    partition,
                    use_caller_credentials=account.id == caller_account and not settings.caller_via_role,
                    timing=settings.timing,
                    started=clock(),
                    clock=clock,
                    rng=random.Random(rng.random()),
                )

    scheduler = Scheduler(jobs(), settings.concurrency, clock)
    scheduler.start()
    try:
        while True:
            if stop is not None and stop.is_set():  # a safe point: no batch is being written
                raise KeyboardInterrupt
            try:
                job = scheduler.finished.get(timeout=0.2)
            except queue.Empty:
                if not any(thread.is_alive() for thread in scheduler.threads):
                    break
                if writer.due(clock()):
                    writer.flush()
                continue
            writer.add_job(job, clock())
            if writer.due(clock()):
                writer.flush()
    finally:
        scheduler.stop()
        while not scheduler.finished.empty():
            writer.add_job(scheduler.finished.get(), clock())
        writer.flush()
    if identity is not None and identity.mode != "off":
        summary.identity = collect_identity(run, aws, caller_account or "", day, identity, clock, stop)
        on_identity(summary.identity)
    return summary


def collect_identity(
    run: Run,
    aws: Aws,
    account_id: str,
    day: dt.date,
    settings: IdentityCenterSettings,
    clock: Callable[[], float] = time.monotonic,
    stop: threading.Event | None = None,
) -> IdentityCenterOutcome:
    """Read Identity Center and store it as part of `run`: the snapshot whole and its outcome, or the
    outcome alone saying why there is none (kind identity_center in the runs view)."""
    snapshot, outcome = collect_identity_center(aws, account_id, day, settings, clock=clock, stop=stop)
    if snapshot is not None:
        run.write_identity([snapshot])
    else:
        failure = Failure(
            account_id,
            outcome.error_class,
            outcome.message or "",
            day,
            outcome.status,
            outcome.seconds,
            "identity_center",
        )
        run.write_failures([failure])
    return outcome


class BatchWriter:
    """Gathers finished accounts and writes them as one batch of the run."""

    def __init__(
        self,
        run: Run,
        day: dt.date,
        accounts: dict[str, Account],
        summary: Summary,
        on_outcome: Callable[[Outcome], None],
    ) -> None:
        self.run = run
        self.day = day
        self.accounts = accounts
        self.summary = summary
        self.on_outcome = on_outcome
        self.metadata: pa.Table | None = None
        self.snapshots: list[tuple[Snapshot, int]] = []
        self.failures: list[tuple[Failure, int]] = []
        self.oldest: float | None = None

    def add_job(self, job: ReportJob, now: float) -> None:
        seconds = round(now - job.started, 3)
        if job.content is not None:
            source = f"aws:iam:{job.account_id}:credential-report"
            snapshot = Snapshot(job.content, source, self.day, job.account_id, job.generated_time, seconds)
            self.snapshots.append((snapshot, job.calls))
        else:
            message = job.error_message or "no report"
            self.failures.append(
                (Failure(job.account_id, job.error_class, message, self.day, "failed", seconds), job.calls)
            )
        self.oldest = self.oldest if self.oldest is not None else now

    def add_failure(self, failure: Failure, calls: int) -> None:
        self.failures.append((failure, calls))

    def due(self, now: float) -> bool:
        pending = len(self.snapshots) + len(self.failures)
        return pending >= BATCH_REPORTS or (self.oldest is not None and now - self.oldest >= BATCH_SECONDS)

    def flush(self) -> None:
        """Write what has finished; a report that does not parse fails its account, not the batch."""
        if not self.snapshots and not self.failures and self.metadata is None:
            return
        snapshots, failures = list(self.snapshots), list(self.failures)
        while True:
            try:
                batch = self.run.write([s for s, _ in snapshots], self.metadata, [f for f, _ in failures])
                break
            except ReportError as e:
                bad = next((i for i, (s, _) in enumerate(snapshots) if s.source == e.source), None)
                if bad is None:
                    raise
                snapshot, calls = snapshots.pop(bad)
                failure = Failure(
                    snapshot.account_id or "", "report_failed", str(e), self.day, "failed", snapshot.seconds
                )
                failures.append((failure, calls))
        self.snapshots.clear()
        self.failures.clear()
        self.metadata = None
        self.oldest = None
        rows = dict(
            zip(batch.outcomes.column("account_id").to_pylist(), batch.outcomes.column("rows").to_pylist(), strict=True)
        )
        for snapshot, calls in snapshots:
            account = self.accounts[snapshot.account_id or ""]
            outcome = Outcome(
                account,
                "success",
                rows=rows.get(account.id),
                generated_time=snapshot.generated_time,
                seconds=snapshot.seconds,
                calls=calls,
            )
            self._record(outcome)
        for failure, calls in failures:
            account = self.accounts[failure.account_id]
            self._record(
                Outcome(
                    account, failure.status, failure.error_class, failure.message, seconds=failure.seconds, calls=calls
                )
            )

    def _record(self, outcome: Outcome) -> None:
        self.summary.outcomes.append(outcome)
        self.on_outcome(outcome)
