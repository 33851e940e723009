"""`credsight notify`: one digest per destination of what it has not been told yet, through apprise.

Exit 0 when every destination accepted its digest (or had nothing new), 3 when any did not (which and why
on standard error; it is sent again on the next run), 2 for a usage error.
"""

from __future__ import annotations

import sys
from typing import IO, TYPE_CHECKING, Annotated

import typer

from credsight.cli.arguments import (
    DEFAULT_STORE,
    EndpointOption,
    ExceptionsOption,
    StoreOption,
    maybe_date,
    open_store,
    split_values,
)
from credsight.cli.changes import AllowedRegionsOption, RevivedDaysOption
from credsight.errors import NotifyError
from credsight.rules.severity import Severity

if TYPE_CHECKING:
    from credsight.notify.sending import Outcome

EXIT_NOT_DELIVERED = 3


def notify(
    store: StoreOption = DEFAULT_STORE,
    to: Annotated[
        list[str] | None,
        typer.Option(
            "--to", help="An apprise URL to send to (repeat for more); [[notify.route]] in credsight.toml adds more."
        ),
    ] = None,
    min_severity: Annotated[
        Severity, typer.Option(help="Tell events and findings at or above this severity (routes may set their own).")
    ] = Severity.high,
    since: Annotated[
        str | None, typer.Option(help="Where a destination never notified starts (default: the latest snapshot day).")
    ] = None,
    dashboard_url: Annotated[
        str | None, typer.Option(help="The dashboard's address, for links into its /changes view.")
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Print each digest instead of sending it; write nothing.")
    ] = False,
    revived_days: RevivedDaysOption = 90,
    allowed_regions: AllowedRegionsOption = None,
    exceptions: ExceptionsOption = None,
    endpoint_url: EndpointOption = None,
) -> None:
    """Send each destination one digest of the events and newly opened findings it was not told yet."""
    from concurrent.futures import ThreadPoolExecutor

    from credsight.config import section
    from credsight.notify.delivery import check_all, deliver
    from credsight.notify.routes import routes_of
    from credsight.notify.sending import Options, prepare, send
    from credsight.query import Database
    from credsight.rules.changes import EventSettings
    from credsight.rules.exceptions import accepted_risks

    routes = routes_of(list(to or []), section("notify"), min_severity.value)  # a URL may hold commas
    if not routes:
        raise NotifyError("no destination: give --to URL (an apprise URL), or [[notify.route]] in credsight.toml")
    options = Options(
        since=maybe_date(since, "--since"),
        dashboard_url=dashboard_url,
        settings=EventSettings(revived_days, tuple(split_values(allowed_regions))),
        risks=accepted_risks(exceptions),
    )
    target = open_store(store, endpoint_url)
    # apprise loads its hundred plugins to check the URLs: meanwhile the store is read (nothing is sent,
    # nothing written, before every URL is known good).
    with ThreadPoolExecutor(max_workers=1) as pool, Database(target) as database:
        checked = pool.submit(check_all, routes)
        pending = prepare(database, routes, options)
        checked.result()
    outcomes = send(target, pending, deliver, dry_run=dry_run)
    raise typer.Exit(report(outcomes, dry_run))


def report(outcomes: list[Outcome], dry_run: bool, out: IO[str] | None = None, err: IO[str] | None = None) -> int:
    """Say what happened to each destination; the exit code (3 when any did not accept its digest)."""
    from credsight.notify.delivery import label

    out, err = out or sys.stdout, err or sys.stderr
    failed = 0
    for outcome in outcomes:
        digest = outcome.digest
        name = f"{outcome.route.name} ({label(outcome.route.destination)})"
        period = f"{digest.start} to {digest.end}" if digest.start != digest.end else f"{digest.end}"
        told = f"{digest.events} events and {digest.findings} new findings ({period})"
        if digest.empty:
            print(f"{name}: nothing new at or above {outcome.route.min_severity} ({period}); nothing sent", file=out)
        elif dry_run:
            print(f"{name}: would send {told}:\n\n{digest.title}\n\n{digest.markdown}", file=out)
        elif outcome.delivery is not None and outcome.delivery.accepted:
            print(f"{name}: sent {told}", file=out)
        else:
            failed += 1
            why = outcome.delivery.reason if outcome.delivery else "not sent"
            print(f"error: {name}: not delivered ({why}); it is sent again on the next run", file=err)
    return EXIT_NOT_DELIVERED if failed else 0
