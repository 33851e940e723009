"""The `credsight` command: wires sources, store, queries and presentation together."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated, Any

import duckdb
import typer
from rich.console import Console
from rich.table import Table

from credsight.cli_arguments import (
    DEFAULT_STORE,
    TABLE_FORMATS,
    AccountsOption,
    EndpointOption,
    OuOption,
    StoreOption,
    TableFormatOption,
    UserError,
    command_group,
    maybe_date,
    one_of,
    open_store,
    parse_date,
    parse_hours,
    parse_ids,
    split_values,
)
from credsight.config import ENV_PREFIX, config_path, default_map
from credsight.deploy_command import athena_ddl, deploy
from credsight.errors import UserFixable
from credsight.model import ReportError, check_account_id
from credsight.store import Store, check_run_id

app = command_group("One view of every IAM user's credentials across an AWS Organization, over time.")


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
        date=maybe_date(date, "--date"),
        account=account,
        endpoint_url=endpoint_url,
    )
    typer.echo(
        f"ingested {summary.reports} reports ({summary.rows} rows) as run {summary.run_id}"
        + (f"; skipped {summary.skipped} already stored" if summary.skipped else "")
    )


@app.command()
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
    log_format: Annotated[str, typer.Option(help="text (progress bar) or json (one line per account).")] = "text",
    profile: Annotated[str | None, typer.Option(envvar="AWS_PROFILE", help="AWS profile. [env: AWS_PROFILE]")] = None,
    region: Annotated[str | None, typer.Option(help="AWS region for STS and IAM calls.")] = None,
    endpoint_url: EndpointOption = None,
) -> None:
    """Collect today's credential report of every account of the organization into the store."""
    from credsight.collect_command import CollectRequest, run_collect
    from credsight.sources.aws import RoleSettings

    one_of(log_format, ("text", "json"), "--log-format")
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
        log_format=log_format,
        profile=profile,
        region=region,
        endpoint_url=endpoint_url,
    )
    code = run_collect(open_store(store, endpoint_url, must_exist=False), request)
    raise typer.Exit(code)


@app.command()
def findings(
    store: StoreOption = DEFAULT_STORE,
    date: Annotated[str | None, typer.Option(help="Evaluate each account's snapshot as of this day.")] = None,
    account: AccountsOption = None,
    ou: OuOption = None,
    rule: Annotated[list[str] | None, typer.Option(help="Only these rules (see 'credsight rules').")] = None,
    format: Annotated[str, typer.Option("--format", help="table, csv, json, ocsf or asff.")] = "table",
    fail_on: Annotated[
        str | None, typer.Option(help="Exit 4 when an open finding is at or above: low, medium, high, critical.")
    ] = None,
    exceptions: Annotated[
        Path | None, typer.Option(help="Accepted risks (default: ./credsight-exceptions.toml if present).")
    ] = None,
    root_used_days: Annotated[int, typer.Option(min=0, help="root-used: root used within this many days.")] = 90,
    unused_days: Annotated[int, typer.Option(min=0, help="unused-credentials: days without use.")] = 45,
    rotation_days: Annotated[int, typer.Option(min=0, help="access-key-rotation: maximum key age.")] = 90,
    password_days: Annotated[int, typer.Option(min=0, help="password-rotation: maximum password age.")] = 90,
    inactive_days: Annotated[int, typer.Option(min=0, help="inactive-user: days without any use.")] = 90,
    region: Annotated[str, typer.Option(help="Region named in ASFF product ARNs.")] = "us-east-1",
    results: Annotated[
        bool, typer.Option("--results", help="Per rule and account: rows evaluated, failed, passed (table/csv/json).")
    ] = False,
    endpoint_url: EndpointOption = None,
) -> None:
    """Findings of the CIS / Security Hub IAM rules, with evidence, first-seen date and exceptions."""
    from credsight.findings_command import FORMATS, FindingsRequest, run_findings
    from credsight.rules.catalogue import SEVERITIES

    one_of(format, FORMATS, "--format")
    if fail_on is not None and fail_on not in SEVERITIES:
        raise UserError(f"--fail-on {fail_on!r} is not one of {', '.join(SEVERITIES)}")
    request = FindingsRequest(
        date=maybe_date(date, "--date"),
        accounts=parse_ids(account, "--account"),
        ou=ou,
        rules=split_values(rule),
        format=format,
        fail_on=fail_on,
        exceptions=exceptions,
        limits={
            "root_used_days": root_used_days,
            "unused_days": unused_days,
            "rotation_days": rotation_days,
            "password_days": password_days,
            "inactive_days": inactive_days,
        },
        region=region,
        results=results,
    )
    if results and format in ("ocsf", "asff"):
        raise UserError("--results is written as table, csv or json")
    raise typer.Exit(run_findings(open_store(store, endpoint_url), request))


@app.command()
def changes(
    store: StoreOption = DEFAULT_STORE,
    since: Annotated[str | None, typer.Option(help="First day of changes (default: 7 days before the last).")] = None,
    until: Annotated[str | None, typer.Option(help="Last day of changes (default: the latest snapshot).")] = None,
    account: AccountsOption = None,
    ou: OuOption = None,
    kind: Annotated[list[str] | None, typer.Option(help="Only these kinds of change (repeat or commas).")] = None,
    format: TableFormatOption = "table",
    endpoint_url: EndpointOption = None,
) -> None:
    """What changed between each account's consecutive snapshots: users, passwords, MFA, keys, root use."""
    from credsight.changes_command import run_changes

    one_of(format, TABLE_FORMATS, "--format")
    run_changes(
        open_store(store, endpoint_url),
        maybe_date(since, "--since"),
        maybe_date(until, "--until"),
        parse_ids(account, "--account"),
        ou,
        split_values(kind),
        format,
    )


@app.command()
def trends(
    store: StoreOption = DEFAULT_STORE,
    since: Annotated[str | None, typer.Option("--from", help="First day (default: 90 days before the last).")] = None,
    until: Annotated[str | None, typer.Option("--to", help="Last day (default: the latest snapshot).")] = None,
    account: AccountsOption = None,
    ou: OuOption = None,
    format: TableFormatOption = "table",
    endpoint_url: EndpointOption = None,
) -> None:
    """Per day: IAM users by class, console users without MFA, old keys, failing findings per rule, SSO projection."""
    from credsight.trends_command import run_trends

    one_of(format, TABLE_FORMATS, "--format")
    run_trends(
        open_store(store, endpoint_url),
        maybe_date(since, "--from"),
        maybe_date(until, "--to"),
        parse_ids(account, "--account"),
        ou,
        format,
    )


@app.command()
def rules() -> None:
    """List the rules: severity, CIS and Security Hub mappings, thresholds, and what cannot be decided."""
    from credsight.findings_command import rules_table

    typer.echo(rules_table(), nl=False)


@app.command()
def query(
    sql: Annotated[str, typer.Argument(help="SQL over the views reports, latest, accounts, runs, daily, key_use.")],
    store: StoreOption = DEFAULT_STORE,
    format: TableFormatOption = "table",
    endpoint_url: EndpointOption = None,
) -> None:
    """Run SQL against the store's views."""
    from credsight.present.exports import write_csv, write_json
    from credsight.query import Database

    one_of(format, TABLE_FORMATS, "--format")
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


def serve_dashboard(
    target: Store,
    host: str,
    port: int,
    auth_token: str | None,
    allowed_regions: list[str] | None = None,
    exceptions: Path | None = None,
) -> None:
    from credsight.present.dashboard import create_app
    from credsight.present.dashboard.security import Auth, check_bind
    from credsight.rules.exceptions import accepted_risks

    auth = Auth(auth_token, os.environ.get("CREDSIGHT_SERVE_USER"), os.environ.get("CREDSIGHT_SERVE_PASSWORD"))
    check_bind(host, auth)
    shown = f"[{host}]" if ":" in host else host
    typer.echo(f"credsight dashboard on http://{shown}:{port}/ (Ctrl-C stops it)")
    regions = split_values(allowed_regions)
    risks = accepted_risks(exceptions)  # a bad file is a one-line error now, not a failed click later
    create_app(target, auth, risks, regions).run(host=host, port=port, debug=False)


HostOption = Annotated[str, typer.Option(help="Address to listen on; beyond 127.0.0.1 authentication is required.")]
PortOption = Annotated[int, typer.Option(min=1, max=65535, help="Port to listen on.")]
TokenOption = Annotated[
    str | None,
    typer.Option(envvar="CREDSIGHT_SERVE_TOKEN", help="Token asked of every request. [env: CREDSIGHT_SERVE_TOKEN]"),
]


@app.command()
def serve(
    store: StoreOption = DEFAULT_STORE,
    host: HostOption = "127.0.0.1",
    port: PortOption = 8050,
    auth_token: TokenOption = None,
    allowed_regions: Annotated[
        list[str] | None, typer.Option(help="Regions keys may be used in; others are listed on /regions.")
    ] = None,
    exceptions: Annotated[
        Path | None, typer.Option(help="Accepted risks (default: ./credsight-exceptions.toml if present).")
    ] = None,
    endpoint_url: EndpointOption = None,
) -> None:
    """Serve the web dashboard over the store (on 127.0.0.1:8050 unless told otherwise)."""
    serve_dashboard(open_store(store, endpoint_url), host, port, auth_token, allowed_regions, exceptions)


@app.command()
def report(
    out: Annotated[Path, typer.Option(help="The HTML file to write.")],
    store: StoreOption = DEFAULT_STORE,
    date: Annotated[str | None, typer.Option(help="Each account's snapshot as of this day (default: latest).")] = None,
    account: AccountsOption = None,
    ou: OuOption = None,
    redact: Annotated[bool, typer.Option("--redact", help="Replace user names and ARNs by stable pseudonyms.")] = False,
    exceptions: Annotated[
        Path | None, typer.Option(help="Accepted risks (default: ./credsight-exceptions.toml if present).")
    ] = None,
    endpoint_url: EndpointOption = None,
) -> None:
    """Write one self-contained HTML report (no network needed to open it) for people without AWS access."""
    from credsight.present.report import scope_label, write_report
    from credsight.query import Database
    from credsight.rules.exceptions import accepted_risks

    ids = parse_ids(account, "--account")
    with Database(open_store(store, endpoint_url)) as database:
        if database.newest_snapshot() is None:
            raise UserError(f"the store {store} holds no snapshots; collect or ingest some first")
        chosen = database.scope(ids, ou)
        risks = accepted_risks(exceptions)
        text = write_report(database, maybe_date(date, "--date"), chosen, redact, scope_label(ids, ou), risks)
    try:
        out.write_text(text, encoding="utf-8")
    except OSError as e:
        raise UserError(f"cannot write {out}: {e.strerror}; check the folder exists and is writable") from None
    typer.echo(f"wrote {out} ({len(text.encode()) / 1e6:.1f} MB)")


@app.command()
def compact(store: StoreOption = DEFAULT_STORE, endpoint_url: EndpointOption = None) -> None:
    """Merge each month's parts into one file (nothing is dropped; views are unchanged)."""
    from credsight.rules.history import compact_and_summarise

    merged, summarised = compact_and_summarise(open_store(store, endpoint_url))
    typer.echo(
        (f"merged {merged} parts" if merged else "nothing to compact")
        + (f"; wrote {summarised} summaries (first-seen dates, changes)" if summarised else "")
    )


@app.command()
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
    from credsight.demo_store import build_demo_store
    from credsight.rules.history import compact_and_summarise

    target = open_store(store, None, must_exist=False)
    if target.live_parts()["daily"]:
        typer.echo(f"{store} already holds data; using it as it is")
    else:
        organization = DemoOrganization(accounts=accounts, days=days, seed=seed, users_per_account=users_per_account)
        summary = build_demo_store(target, organization, progress=sys.stderr.isatty())
        compact_and_summarise(target)
        typer.echo(f"built the demo organization in {store}: {summary.reports} reports, {summary.rows} rows")
    typer.echo(f"try: credsight query --store {store} " + '"SELECT * FROM daily ORDER BY snapshot_date DESC LIMIT 10"')  # noqa: S608 (a hint printed, not SQL run)
    if serve:
        serve_dashboard(target, host, port, os.environ.get("CREDSIGHT_SERVE_TOKEN"))


app.add_typer(deploy, name="deploy")
app.command("athena-ddl")(athena_ddl)


def setting_names(group: Any) -> dict[str, list[str]]:
    """Each command's settings: its options' names (the toml keys and CREDSIGHT_ variables)."""
    return {
        name: [p.name for p in command.params if p.name and getattr(p, "opts", [""])[0].startswith("--")]
        for name, command in group.commands.items()
    }


def main() -> None:
    """Entry point: one-line errors and exit code 2 for anything the user can fix."""
    try:
        command = typer.main.get_command(app)
        settings = default_map(config_path(), setting_names(command))
        # a command's typer.Exit comes back as its code
        code = command.main(
            prog_name="credsight", standalone_mode=False, default_map=settings, auto_envvar_prefix=ENV_PREFIX
        )
    except typer.Exit as e:
        sys.exit(e.exit_code)
    except (typer.Abort, KeyboardInterrupt):
        print("interrupted", file=sys.stderr)
        sys.exit(130)
    except (ReportError, UserFixable) as e:
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
        path = context.command_path if context is not None else "credsight"
        print(f"error: {e.format_message()} (see '{path} --help')", file=sys.stderr)
        sys.exit(2)
    sys.exit(code if isinstance(code, int) else 0)


if __name__ == "__main__":
    main()
