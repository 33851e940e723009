"""`credsight findings` and `credsight rules`: evaluate, mark accepted risks, write, gate CI."""

from __future__ import annotations

import datetime as dt
import io
import json
import sys
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import IO, TYPE_CHECKING, Annotated, Any

import typer

from credsight.cli.arguments import (
    DEFAULT_STORE,
    AccountsOption,
    EndpointOption,
    ExceptionsOption,
    OuOption,
    StoreOption,
    TableFormat,
    maybe_date,
    open_store,
    parse_ids,
    split_values,
)
from credsight.cli.output import write_rows
from credsight.errors import UserError
from credsight.rules.severity import Severity, rank

if TYPE_CHECKING:
    import pyarrow as pa

    from credsight.rules.catalogue import Rule
    from credsight.rules.exceptions import AcceptedRisk
    from credsight.store import Store


class FindingsFormat(StrEnum):
    table = "table"
    csv = "csv"
    json = "json"
    ocsf = "ocsf"  # OCSF 1.1 Detection Finding
    asff = "asff"  # AWS Security Finding Format, for Security Hub


def findings(
    store: StoreOption = DEFAULT_STORE,
    date: Annotated[str | None, typer.Option(help="Evaluate each account's snapshot as of this day.")] = None,
    account: AccountsOption = None,
    ou: OuOption = None,
    rule: Annotated[list[str] | None, typer.Option(help="Only these rules (see 'credsight rules').")] = None,
    format: Annotated[FindingsFormat, typer.Option("--format", help="How to write the findings.")] = (
        FindingsFormat.table
    ),
    fail_on: Annotated[Severity | None, typer.Option(help="Exit 4 when an open finding is at or above this.")] = None,
    exceptions: ExceptionsOption = None,
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
    if results and format in (FindingsFormat.ocsf, FindingsFormat.asff):
        raise UserError("--results is written as table, csv or json")
    request = FindingsRequest(
        date=maybe_date(date, "--date"),
        accounts=parse_ids(account, "--account"),
        ou=ou,
        rules=split_values(rule),
        format=format.value,
        fail_on=fail_on.value if fail_on else None,
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
    raise typer.Exit(run_findings(open_store(store, endpoint_url), request))


def rules() -> None:
    """List the rules: severity, CIS and Security Hub mappings, thresholds, and what cannot be decided."""
    typer.echo(rules_table(), nl=False)


FORMATS = tuple(f.value for f in FindingsFormat)
EXIT_FINDINGS_AT_OR_ABOVE = 4
CSV_COLUMNS = (
    "rule",
    "severity",
    "status",
    "account_id",
    "account_name",
    "user",
    "arn",
    "snapshot_date",
    "first_seen",
    "evidence",
    "exception_reason",
    "exception_owner",
    "exception_expires",
)


@dataclass(frozen=True)
class FindingsRequest:
    date: dt.date | None = None
    accounts: Sequence[str] = ()
    ou: str | None = None
    rules: Sequence[str] = ()
    format: str = "table"
    fail_on: str | None = None
    exceptions: Path | None = None
    limits: dict[str, int] = field(default_factory=dict)
    region: str = "us-east-1"
    results: bool = False  # per rule and account pass/fail counts instead of the findings
    today: dt.date = field(default_factory=lambda: dt.datetime.now(dt.UTC).date())


def run_findings(store: Store, request: FindingsRequest, out: IO[str] = sys.stdout) -> int:
    """Evaluate and write the findings; returns 4 when an open finding is at or above --fail-on."""
    from rich.console import Console

    from credsight.formats.findings import marked_records
    from credsight.query import Database
    from credsight.rules.catalogue import RULES
    from credsight.rules.exceptions import accepted_risks
    from credsight.rules.findings import evaluate

    risks = accepted_risks(request.exceptions)
    with Database(store) as database:
        accounts = database.scope(request.accounts, request.ou)
        evaluation = evaluate(database, request.date, accounts, request.rules or None, request.limits)
    findings, found = marked_records(evaluation.findings, risks, request.today)
    catalogue = {rule.id: rule for rule in RULES}
    if request.results:
        write_results(evaluation.results, request.format, out)
    else:
        write(found, findings, request, catalogue, out)
    console = Console(stderr=True, highlight=False, markup=False, soft_wrap=True)
    for risk in expired(risks, request.today):
        console.print(
            f"warning: exception {risk.entry} ({risk.rule}, account {risk.account}, user {risk.user}, owner "
            f"{risk.owner}) expired on {risk.expires}; it hides nothing now: renew or remove it"
        )
    if request.fail_on:
        bar = rank(request.fail_on)
        failing = [r for r in found if r["status"] == "open" and rank(r["severity"]) >= bar]
        if failing:
            console.print(f"{len(failing)} open findings at or above {request.fail_on}")
            return EXIT_FINDINGS_AT_OR_ABOVE
    return 0


def expired(risks: Sequence[AcceptedRisk], today: dt.date) -> list[AcceptedRisk]:
    return [risk for risk in risks if risk.expired(today)]


def write(
    found: list[dict[str, Any]], findings: pa.Table, request: FindingsRequest, rules: dict[str, Rule], out: IO[str]
) -> None:
    from credsight.formats.exports import write_csv
    from credsight.formats.findings import asff, ocsf

    if request.format == "json":
        json.dump(found, out, indent=1)
        out.write("\n")
    elif request.format == "ocsf":
        json.dump([ocsf(record, rules[record["rule"]]) for record in found], out, indent=1)
        out.write("\n")
    elif request.format == "asff":
        json.dump([asff(record, rules[record["rule"]], request.region) for record in found], out, indent=1)
        out.write("\n")
    elif request.format == "csv":
        write_csv(findings.select(list(CSV_COLUMNS)), out)
    else:
        print_findings(found, out)


def write_results(results: pa.Table, format: str, out: IO[str]) -> None:
    """Per rule and account: rows evaluated, failed and passed."""
    write_rows(results, TableFormat(format), out, width=120)


def print_findings(found: list[dict[str, Any]], out: IO[str]) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console(file=out, highlight=False, markup=False, width=max(120, Console().width))
    table = Table("severity", "rule", "account", "user", "first seen", "status", "evidence")
    for record in found:
        account = f"{record['account_id']} {record['account_name'] or ''}".strip()
        evidence = ", ".join(f"{k}={v}" for k, v in (record["evidence"] or {}).items() if v is not None)
        table.add_row(
            record["severity"],
            record["rule"],
            account,
            record["user"],
            record["first_seen"] or "",
            record["status"],
            evidence,
        )
    console.print(table)
    counts = Counter((r["rule"], r["status"]) for r in found)
    summary = ", ".join(
        f"{rule} {n}" + (" excepted" if status == "excepted" else "") for (rule, status), n in counts.items()
    )
    console.print(f"{len(found)} findings" + (f": {summary}" if summary else ""))


def rules_table() -> str:
    """The catalogue as a table, with what cannot be decided from the report said plainly."""
    from rich.console import Console
    from rich.table import Table

    from credsight.rules.catalogue import RULES

    buffer = io.StringIO()
    console = Console(file=buffer, highlight=False, markup=False, width=140)
    table = Table("rule", "severity", "CIS 1.4-4.0", "CIS 5.0", "Security Hub", "thresholds", "title")
    for rule in RULES:
        title = rule.title if rule.decidable else f"{rule.title} (not decidable: {rule.undecidable_because})"
        limits = ", ".join(f"--{k.replace('_', '-')} {v}" for k, v in rule.thresholds.items())
        table.add_row(
            rule.id, rule.severity, rule.cis_v1 or "-", rule.cis_v5 or "-", rule.security_hub or "-", limits, title
        )
    console.print(table)
    return buffer.getvalue()
