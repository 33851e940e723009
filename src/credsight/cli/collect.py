"""`credsight collect`: choose the accounts, run the collector, show progress, summarise, exit code."""

from __future__ import annotations

import datetime as dt
import json
import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Annotated

import typer

from credsight.cli.arguments import (
    DEFAULT_STORE,
    AccountsOption,
    EndpointOption,
    StoreOption,
    open_store,
    parse_hours,
    parse_ids,
)
from credsight.errors import SourceError, UserError

if TYPE_CHECKING:
    from rich.console import Console

    from credsight.sources.aws import Aws, RoleSettings
    from credsight.sources.collect import Outcome, Summary
    from credsight.sources.organizations import Account
    from credsight.store import Store


class LogFormat(StrEnum):
    text = "text"  # a progress bar on a terminal
    json = "json"  # one JSON line per account, then a summary line


def collect(
    store: StoreOption = DEFAULT_STORE,
    role_name: Annotated[str, typer.Option(help="Role to assume in each account.")] = "credsight-reader",
    external_id: Annotated[str | None, typer.Option(help="External id the role's trust policy asks for.")] = None,
    session_name: Annotated[str, typer.Option(help="Role session name (seen in CloudTrail).")] = "credsight",
    duration: Annotated[int, typer.Option(min=900, max=43200, help="Role session length, seconds.")] = 3600,
    accounts: AccountsOption = None,
    exclude: Annotated[list[str] | None, typer.Option(help="Leave out these account ids.")] = None,
    ou: Annotated[str | None, typer.Option(help="Only accounts in this OU and below: an id or a path.")] = None,
    concurrency: Annotated[int, typer.Option(min=1, max=256, help="Calls to AWS in flight at once.")] = 16,
    max_age: Annotated[str, typer.Option(help="Reuse a report younger than this (e.g. 4h, 90m, 1d).")] = "4h",
    account_timeout: Annotated[float, typer.Option(min=1, help="Seconds one account may take in all.")] = 600,
    caller_via_role: Annotated[
        bool,
        typer.Option(
            "--caller-via-role", help="Collect the caller's own account through the role too, not its own credentials."
        ),
    ] = False,
    resume: Annotated[str | None, typer.Option(help="Finish run RUN_ID: collect only what it is missing.")] = None,
    only_failed: Annotated[
        bool, typer.Option("--only-failed", help="Finish the latest run: collect only what it is missing.")
    ] = False,
    log_format: Annotated[LogFormat, typer.Option(help="text: a progress bar; json: one line per account.")] = (
        LogFormat.text
    ),
    identity_center: Annotated[
        bool | None,
        typer.Option(
            "--identity-center/--no-identity-center",
            help="Also collect IAM Identity Center (users, groups, assignments). Default: when an instance is found.",
        ),
    ] = None,
    profile: Annotated[str | None, typer.Option(envvar="AWS_PROFILE", help="AWS profile. [env: AWS_PROFILE]")] = None,
    region: Annotated[str | None, typer.Option(help="AWS region for STS and IAM calls.")] = None,
    endpoint_url: EndpointOption = None,
) -> None:
    """Collect today's credential report of every account of the organization into the store."""
    from credsight.sources.aws import RoleSettings
    from credsight.store import check_run_id

    if resume is not None and only_failed:
        raise UserError("give --resume RUN_ID or --only-failed, not both")
    request = CollectRequest(
        role=RoleSettings(role_name, external_id, session_name, duration),
        accounts=parse_ids(accounts, "--accounts"),
        exclude=parse_ids(exclude, "--exclude"),
        ou=ou,
        concurrency=concurrency,
        max_age=parse_hours(max_age, "--max-age"),
        account_timeout=account_timeout,
        caller_via_role=caller_via_role,
        resume=check_run_id(resume) if resume else None,
        only_failed=only_failed,
        log_format=log_format.value,
        identity_center={None: "auto", True: "on", False: "off"}[identity_center],
        profile=profile,
        region=region,
        endpoint_url=endpoint_url,
    )
    code = run_collect(open_store(store, endpoint_url, must_exist=False), request)
    raise typer.Exit(code)


def _default_role() -> RoleSettings:
    from credsight.sources.aws import RoleSettings

    return RoleSettings()


EXIT_ALL_COLLECTED = 0
EXIT_SOME_FAILED = 3


@dataclass(frozen=True)
class CollectRequest:
    """Everything the user asked of one `collect`, already checked for form."""

    role: RoleSettings = field(default_factory=_default_role)
    accounts: tuple[str, ...] | list[str] = ()
    exclude: tuple[str, ...] | list[str] = ()
    ou: str | None = None
    concurrency: int = 16
    max_age: dt.timedelta = dt.timedelta(hours=4)
    account_timeout: float = 600
    caller_via_role: bool = False
    resume: str | None = None
    only_failed: bool = False
    log_format: str = "text"
    identity_center: str = "auto"  # auto: when an instance is found; on: required; off
    profile: str | None = None
    region: str | None = None
    endpoint_url: str | None = None


def run_collect(store: Store, request: CollectRequest, aws: Aws | None = None) -> int:
    """Run one collection as asked; returns the exit code (0 all collected, 3 some failed)."""
    from rich.console import Console

    from credsight.sources.aws import Aws
    from credsight.sources.collect import Settings, collect
    from credsight.sources.credential_report import Timing
    from credsight.sources.identity_center import IdentityCenterSettings
    from credsight.store import new_run_id

    aws = aws or Aws(
        profile=request.profile,
        region=request.region,
        endpoint_url=request.endpoint_url,
        max_connections=request.concurrency,
    )
    caller = aws.caller()
    chosen, with_metadata = choose_accounts(aws, caller.account_id, request)
    resuming = request.resume or (latest_run(store) if request.only_failed else None)
    if resuming is not None:
        chosen = missing_from(store, resuming, chosen)
    run_id = resuming or new_run_id()
    settings = Settings(
        role=request.role,
        timing=Timing(deadline=request.account_timeout, max_age=request.max_age),
        concurrency=request.concurrency,
        caller_via_role=request.caller_via_role,
    )
    identity = IdentityCenterSettings(
        request.identity_center, request.concurrency, Timing(deadline=request.account_timeout)
    )
    if resuming is not None and resuming in identity_runs(store):
        identity = IdentityCenterSettings("off")  # the run holds its Identity Center snapshot already
    console = Console(stderr=True, highlight=False, markup=False)
    json_lines = request.log_format == "json"
    try:
        with stop_on_signals() as stop, reporting(request.log_format, console, len(chosen)) as on_outcome:
            summary = collect(
                store,
                aws,
                caller.partition,
                chosen,
                settings,
                caller_account=caller.account_id,
                run_id=run_id,
                resume=resuming is not None,
                with_metadata=with_metadata,
                on_outcome=on_outcome,
                stop=stop,
                identity=identity,
                on_identity=lambda outcome: print(json.dumps(outcome.record()), flush=True) if json_lines else None,
            )
    except KeyboardInterrupt:
        console.print(
            f"stopped: what finished is stored; finish the run with: credsight collect --resume {run_id}",
            soft_wrap=True,
        )
        raise
    keep_answers(store, console)
    return finish(summary, request.log_format, console)


def keep_answers(store: Store, console: Console) -> None:
    """The answers asked most kept for the store as it now is (rules/kept.py); a warning for each that is not."""
    from credsight.rules.kept import keep_answers as keep

    for trouble in keep(store):
        console.print(f"warning: {trouble}", soft_wrap=True)


@contextmanager
def stop_on_signals() -> Iterator[threading.Event]:
    """Ctrl-C and SIGTERM (schedulers, containers) ask the run to stop at its next safe point.

    The first signal only sets an event: an interrupt landing in the middle of a batch write
    could leave reports without their outcomes. A second one stops at once. pyarrow's own handlers are switched off
    for the same reason: they would cancel a Parquet write in flight (ArrowCancelled).
    """
    import pyarrow

    stop = threading.Event()
    if threading.current_thread() is not threading.main_thread():
        yield stop
        return

    def ask_to_stop(signum: int, frame: object) -> None:
        if stop.is_set():  # asked twice: stop now (each file is still whole or absent)
            raise KeyboardInterrupt
        stop.set()

    previous = {number: signal.signal(number, ask_to_stop) for number in (signal.SIGINT, signal.SIGTERM)}
    pyarrow.enable_signal_handlers(False)
    try:
        yield stop
    finally:
        pyarrow.enable_signal_handlers(True)
        for number, handler in previous.items():
            signal.signal(number, handler)


def choose_accounts(aws: Aws, caller_account: str, request: CollectRequest) -> tuple[list[Account], bool]:
    """The accounts to collect, and whether Organizations described them (so their metadata is kept)."""
    from credsight.sources import organizations
    from credsight.sources.aws import ORGANIZATIONS_RETRIES

    return organizations.choose_accounts(
        lambda: aws.client("organizations", retries=ORGANIZATIONS_RETRIES),
        caller_account,
        only=request.accounts,
        exclude=request.exclude,
        ou=request.ou,
    )


# A run is known by its outcomes, or by its committed reports alone when it was killed in between.
RUN_IDS = "(SELECT run_id FROM runs UNION SELECT run_id FROM daily_parts)"
LATEST_RUN = f"SELECT max(run_id) AS run_id FROM {RUN_IDS}"  # noqa: S608 (constants, no values)
RUN_EXISTS = f"SELECT count(*) AS n FROM {RUN_IDS} WHERE run_id = $run"  # noqa: S608


def identity_runs(store: Store) -> set[str]:
    """The runs that hold a committed Identity Center snapshot."""
    from credsight.store.files import PART_NAME

    return {
        found.group("run_id")
        for part in store.identity_parts()["identity_snapshots"]
        if (found := PART_NAME.fullmatch(part.name))
    }


def latest_run(store: Store) -> str:
    from credsight.query import Database

    with Database(store) as database:
        found = database.sql(LATEST_RUN).first()
    if not found or not found["run_id"]:
        raise SourceError(f"--only-failed: the store {store.url} has no runs yet; run 'credsight collect' first")
    return str(found["run_id"])


def missing_from(store: Store, run_id: str, accounts: list[Account]) -> list[Account]:
    """The accounts the run has not finished: no committed report, and not recorded as skipped."""
    from credsight.query import Database

    with Database(store) as database:
        known = database.sql(RUN_EXISTS, {"run": run_id}).first()
        if not known or not known["n"]:
            raise SourceError(f"--resume: no run {run_id} in {store.url}; the runs view lists them")
        done = database.sql(
            """SELECT DISTINCT account_id FROM daily_parts WHERE run_id = $run
               UNION SELECT account_id FROM runs
                     WHERE run_id = $run AND status = 'skipped' AND kind = 'credential_report'""",
            {"run": run_id},
        )
        finished = set(done.table.column("account_id").to_pylist())
    return [a for a in accounts if a.id not in finished]


@contextmanager
def reporting(log_format: str, console: Console, total: int) -> Iterator[Callable[[Outcome], None]]:
    """What the user sees per account: JSON lines, a progress bar on a terminal, or nothing."""
    if log_format == "json":
        yield lambda outcome: print(json.dumps(outcome.record()), flush=True)
        return
    if not console.is_terminal:
        yield lambda outcome: None
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    columns = (TextColumn("collecting"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.description}"))
    with Progress(*columns, TimeElapsedColumn(), console=console) as progress:
        task = progress.add_task("", total=total)
        failed = 0

        def advance(outcome: Outcome) -> None:
            nonlocal failed
            failed += outcome.status == "failed"
            progress.update(task, advance=1, description=f"{failed} failed" if failed else "")

        yield advance


def finish(summary: Summary, log_format: str, console: Console) -> int:
    """Print the run's summary; the exit code says whether every account was collected."""
    from rich.table import Table

    collected, failed, skipped = summary.count("success"), summary.failed, summary.count("skipped")
    rows = sum(o.rows or 0 for o in summary.outcomes if o.status == "success")
    identity = summary.identity
    identity_failed = identity is not None and identity.status == "failed"
    if log_format == "json":
        record = {"run_id": summary.run_id, "collected": collected, "failed": len(failed), "skipped": skipped}
        state = {"identity_center": identity.status if identity else "off"}
        print(json.dumps({"summary": {**record, "rows": rows, **state}}), flush=True)
    else:
        print(
            f"run {summary.run_id}: collected {collected} accounts ({rows} rows), "
            f"{len(failed)} failed, {skipped} skipped",
            flush=True,
        )
        if identity is not None:
            print(identity.describe(), flush=True)
    if identity is not None and identity.status == "failed":
        console.print(
            f"Identity Center was not collected ({identity.error_class}): {identity.message}; "
            "the credential reports are stored",
            soft_wrap=True,
        )
    if not failed and not identity_failed:
        return EXIT_ALL_COLLECTED
    if not failed:
        console.print(f"collect it again with: credsight collect --resume {summary.run_id}", soft_wrap=True)
        return EXIT_SOME_FAILED
    table = Table("account", "name", "error", "message", title="accounts not collected")
    for column in table.columns:
        column.overflow = "fold"
    for outcome in sorted(failed, key=lambda o: (o.error_class or "", o.account.id)):
        table.add_row(outcome.account.id, outcome.account.name or "", outcome.error_class or "", outcome.message or "")
    console.print(table)
    console.print(f"finish the run with: credsight collect --resume {summary.run_id}", soft_wrap=True)
    return EXIT_SOME_FAILED
