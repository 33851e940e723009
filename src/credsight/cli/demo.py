"""`credsight demo`: a store of a synthetic organization's credential reports, then the dashboard over it."""

from __future__ import annotations

import os
import sys
from typing import Annotated

import typer

from credsight.cli.arguments import DEFAULT_STORE, StoreOption, open_store
from credsight.cli.serve import HostOption, PortOption, serve_dashboard


def demo(
    store: StoreOption = DEFAULT_STORE,
    accounts: Annotated[int, typer.Option(min=1, max=10000, help="Accounts in the organization.")] = 25,
    days: Annotated[int, typer.Option(min=1, max=3650, help="Days of history.")] = 180,
    seed: Annotated[int, typer.Option(help="Seed: the same seed gives the same organization.")] = 0,
    users_per_account: Annotated[int | None, typer.Option(help="Fixed users per account (default: varied).")] = None,
    serve: Annotated[bool, typer.Option("--serve/--no-serve", help="Serve the dashboard once built.")] = True,
    host: HostOption = "127.0.0.1",
    port: PortOption = 8050,
) -> None:
    """Build a store of a synthetic organization's credential reports (kept if already there)."""
    from credsight.demo import DemoOrganization
    from credsight.demo.store import build_demo_store
    from credsight.query.maintenance import compact_and_summarise
    from credsight.rules.kept import keep_answers
    from credsight.rules.summaries import SUMMARY_KINDS

    target = open_store(store, None, must_exist=False)
    if target.live_parts()["daily"]:
        typer.echo(f"{store} already holds data; using it as it is")
    else:
        organization = DemoOrganization(accounts=accounts, days=days, seed=seed, users_per_account=users_per_account)
        summary = build_demo_store(target, organization, progress=sys.stderr.isatty(), troubles=True)
        compact_and_summarise(target, SUMMARY_KINDS)
        for trouble in keep_answers(target):
            typer.echo(f"warning: {trouble}", err=True)
        typer.echo(f"built the demo organization in {store}: {summary.reports} reports, {summary.rows} rows")
    typer.echo(f"try: credsight query --store {store} " + '"SELECT * FROM daily ORDER BY snapshot_date DESC LIMIT 10"')  # noqa: S608 (a hint printed, not SQL run)
    if serve:
        serve_dashboard(target, host, port, os.environ.get("CREDSIGHT_SERVE_TOKEN"))
