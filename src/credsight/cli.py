"""The `credsight` command: wires sources, store, queries and presentation together."""

from __future__ import annotations

import datetime as dt
import os
import sys
from pathlib import Path
from typing import Annotated

import duckdb
import typer
from rich.console import Console
from rich.table import Table

from credsight.model import ReportError, check_account_id
from credsight.store import Store, StoreError

app = typer.Typer(
    help="One view of every IAM user's credentials across an AWS Organization, over time.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)

DEFAULT_STORE = "./credsight-data"
StoreOption = Annotated[
    str,
    typer.Option(
        "--store", envvar="CREDSIGHT_STORE", help="Store: a folder or s3://bucket/prefix. [env: CREDSIGHT_STORE]"
    ),
]
EndpointOption = Annotated[
    str | None,
    typer.Option(
        "--endpoint-url", envvar="AWS_ENDPOINT_URL", help="S3 endpoint, for emulators. [env: AWS_ENDPOINT_URL]"
    ),
]


class UserError(Exception):
    """A mistake the user can fix; printed as one line, exit code 2."""


def parse_date(value: str, flag: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise UserError(f"{flag} {value!r} is not a date; use YYYY-MM-DD, e.g. 2026-11-23") from None


def open_store(url: str, endpoint_url: str | None, must_exist: bool = True) -> Store:
    store = Store(url, endpoint_url=endpoint_url)
    store.check_reachable()
    if must_exist and store.is_local and not os.path.isdir(store.root):
        raise UserError(f"no store at {url}; create one with 'credsight ingest' or 'credsight demo', or pass --store")
    return store


@app.command()
def ingest(
    paths: Annotated[
        list[str], typer.Argument(help="CSV files, folders, or s3://bucket/prefix of the QuickSight pattern.")
    ],
    store: StoreOption = DEFAULT_STORE,
    date: Annotated[
        str | None, typer.Option(help="Snapshot date for files whose path has no YYYY-MM-DD folder.")
    ] = None,
    account: Annotated[str | None, typer.Option(help="Account id for files whose path and rows do not say.")] = None,
    endpoint_url: EndpointOption = None,
) -> None:
    """Import credential report CSV files (and the QuickSight pattern's bucket) into the store."""
    from credsight.sources.files import ingest as run_ingest

    if account is not None:
        check_account_id(account, "--account")
    summary = run_ingest(
        open_store(store, endpoint_url, must_exist=False),
        paths,
        date=parse_date(date, "--date") if date else None,
        account=account,
        endpoint_url=endpoint_url,
    )
    typer.echo(
        f"ingested {summary.reports} reports ({summary.rows} rows) as run {summary.run_id}"
        + (f"; skipped {summary.skipped} already stored" if summary.skipped else "")
    )


@app.command()
def query(
    sql: Annotated[str, typer.Argument(help="SQL over the views reports, latest, accounts, runs, daily, key_use.")],
    store: StoreOption = DEFAULT_STORE,
    format: Annotated[str, typer.Option("--format", help="table, csv or json.")] = "table",
    endpoint_url: EndpointOption = None,
) -> None:
    """Run SQL against the store's views."""
    from credsight.present.exports import write_csv, write_json
    from credsight.query import Database

    if format not in ("table", "csv", "json"):
        raise UserError(f"--format {format!r} is not one of table, csv, json")
    with Database(open_store(store, endpoint_url)) as database:
        try:
            result = database.sql(sql)
        except duckdb.Error as e:
            raise UserError(f"the query failed: {str(e).splitlines()[0]}") from None
    if format == "csv":
        write_csv(result.table, sys.stdout)
    elif format == "json":
        write_json(result.table, sys.stdout)
    else:
        table = Table(*result.columns)
        for row in result.table.to_pylist():
            table.add_row(*["" if v is None else str(v) for v in row.values()])
        Console(markup=False, highlight=False).print(table)


@app.command()
def export(
    date: Annotated[str, typer.Option(help="Snapshot date, YYYY-MM-DD.")],
    account: Annotated[str, typer.Option(help="12-digit account id.")],
    store: StoreOption = DEFAULT_STORE,
    out: Annotated[Path | None, typer.Option(help="File to write; standard output if not given.")] = None,
    endpoint_url: EndpointOption = None,
) -> None:
    """Write one stored report back as the original CSV, byte for byte."""
    from credsight.query import Database, original_report

    day = parse_date(date, "--date")
    check_account_id(account, "--account")
    with Database(open_store(store, endpoint_url)) as database:
        content = original_report(database, account, day)
    if content is None:
        raise UserError(f"no report for account {account} on {date}; the daily view lists the stored reports")
    if out is None:
        sys.stdout.buffer.write(content)
        return
    try:
        out.write_bytes(content)
    except OSError as e:
        raise UserError(f"cannot write {out}: {e.strerror}; check the folder exists and is writable") from None


@app.command()
def compact(store: StoreOption = DEFAULT_STORE, endpoint_url: EndpointOption = None) -> None:
    """Merge each month's parts into one file (nothing is dropped; views are unchanged)."""
    merged = open_store(store, endpoint_url).compact()
    typer.echo(f"merged {merged} parts" if merged else "nothing to compact")


@app.command()
def demo(
    store: StoreOption = DEFAULT_STORE,
    accounts: Annotated[int, typer.Option(min=1, max=10000, help="Accounts in the organization.")] = 25,
    days: Annotated[int, typer.Option(min=1, max=3650, help="Days of history.")] = 180,
    seed: Annotated[int, typer.Option(help="Seed: the same seed gives the same organization.")] = 0,
    users_per_account: Annotated[int | None, typer.Option(help="Fixed users per account (default: varied).")] = None,
    serve: Annotated[bool, typer.Option("--serve/--no-serve", help="Serve the dashboard once built.")] = True,
) -> None:
    """Build a store of a synthetic organization's credential reports (kept if already there)."""
    from credsight.demo import DemoOrganization
    from credsight.demo_store import build_demo_store

    target = open_store(store, None, must_exist=False)
    if target.live_parts()["daily"]:
        typer.echo(f"{store} already holds data; using it as it is")
    else:
        organization = DemoOrganization(accounts=accounts, days=days, seed=seed, users_per_account=users_per_account)
        summary = build_demo_store(target, organization, progress=sys.stderr.isatty())
        target.compact()
        typer.echo(f"built the demo organization in {store}: {summary.reports} reports, {summary.rows} rows")
    typer.echo(f"try: credsight query --store {store} " + '"SELECT * FROM daily ORDER BY snapshot_date DESC LIMIT 10"')  # noqa: S608 (a hint printed, not SQL run)
    if serve:
        typer.echo("the dashboard ('credsight serve') is not built yet; see issue 5")


def main() -> None:
    """Entry point: one-line errors and exit code 2 for anything the user can fix."""
    try:
        app(standalone_mode=False)
    except typer.Exit as e:
        sys.exit(e.exit_code)
    except (typer.Abort, KeyboardInterrupt):
        print("interrupted", file=sys.stderr)
        sys.exit(130)
    except (UserError, ReportError, StoreError) as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(2)
    except BrokenPipeError:
        sys.exit(0)
    except Exception as e:
        # Typer vendors click, so its usage errors (unknown flag, bad value) are recognised by shape.
        if not (hasattr(e, "format_message") and hasattr(e, "exit_code")):
            raise
        if type(e).__name__ == "NoArgsIsHelpError":
            print(e.format_message())
            sys.exit(2)
        context = getattr(e, "ctx", None)
        command = context.command_path if context is not None else "credsight"
        print(f"error: {e.format_message()} (see '{command} --help')", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
