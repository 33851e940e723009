"""`credsight findings` and `credsight rules`: evaluate, mark accepted risks, write, gate CI."""

from __future__ import annotations

import datetime as dt
import io
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import IO, TYPE_CHECKING, Annotated

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
from credsight.cli.output import print_table, write_rows
from credsight.errors import UserError
from credsight.rules.severity import SEVERITIES, Severity, rank

if TYPE_CHECKING:
    import pyarrow as pa

    from credsight.rules.exceptions import AcceptedRisk
    from credsight.store import Store


class FindingsFormat(StrEnum):
    table = "table"
    csv = "csv"
    json = "json"
    ocsf = "ocsf"  # OCSF 1.1 Detection Finding
    asff = "asff"  # AWS Security Finding Format, for Security Hub


class SummaryBy(StrEnum):
    ou = "ou"
    account = "account"


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
    all: Annotated[bool, typer.Option("--all", help="The table lists every finding, not the summary.")] = False,
    by: Annotated[SummaryBy, typer.Option(help="The summary counts findings per OU or per account.")] = (SummaryBy.ou),
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
        all=all,
        by=by.value,
    )
    raise typer.Exit(run_findings(open_store(store, endpoint_url), request))


def rules(
    events: Annotated[
        bool, typer.Option("--events", help="List the kinds of change instead: severity, when it is raised, why.")
    ] = False,
) -> None:
    """List the rules: severity, CIS and Security Hub mappings, thresholds, and what cannot be decided."""
    typer.echo(events_table() if events else rules_table(), nl=False)


FORMATS = tuple(f.value for f in FindingsFormat)
EXIT_FINDINGS_AT_OR_ABOVE = 4


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
    all: bool = False  # the table lists every finding instead of the summary
    by: str = "ou"  # the summary counts per OU, or per account
    today: dt.date = field(default_factory=lambda: dt.datetime.now(dt.UTC).date())


def run_findings(store: Store, request: FindingsRequest, out: IO[str] = sys.stdout) -> int:
    """Evaluate and write the findings; returns 4 when an open finding is at or above --fail-on."""
    import pyarrow.compute as pc

    from credsight.formats.findings import marked
    from credsight.query import Database
    from credsight.rules.exceptions import accepted_risks
    from credsight.rules.findings import evaluate

    risks = accepted_risks(request.exceptions)
    with Database(store) as database:
        accounts = database.scope(request.accounts, request.ou)
        evaluation = evaluate(database, request.date, accounts, request.rules or None, request.limits)
        places = database.sql("SELECT account_id, ou_path FROM account_metadata").table
    findings = marked(evaluation.findings, risks, request.today)
    if request.results:
        write_results(evaluation.results, request.format, out)
    else:
        write(findings, request, out, Scope(evaluation.date, places, evaluation.results))
    for risk in expired(risks, request.today):
        print(
            f"warning: exception {risk.entry} ({risk.rule}, account {risk.account}, user {risk.user}, owner "
            f"{risk.owner}) expired on {risk.expires}; it hides nothing now: renew or remove it",
            file=sys.stderr,
        )
    if request.fail_on:
        bar = rank(request.fail_on)
        at_or_above = pc.is_in(findings.column("severity"), pa_strings(s for s in SEVERITIES if rank(s) >= bar))
        failing = pc.sum(pc.and_(at_or_above, pc.equal(findings.column("status"), "open"))).as_py() or 0
        if failing:
            print(f"{failing} open findings at or above {request.fail_on}", file=sys.stderr)
            return EXIT_FINDINGS_AT_OR_ABOVE
    return 0


def pa_strings(values: Iterable[str]) -> pa.Array:
    import pyarrow as pa

    return pa.array(list(values), pa.string())


def expired(risks: Sequence[AcceptedRisk], today: dt.date) -> list[AcceptedRisk]:
    return [risk for risk in risks if risk.expired(today)]


@dataclass(frozen=True)
class Scope:
    """What the summary says the findings are of: the date, each account's OU, the rows evaluated."""

    date: dt.date
    places: pa.Table  # account_id, ou_path
    results: pa.Table  # rule, account_id, evaluated, failed, passed


def write(findings: pa.Table, request: FindingsRequest, out: IO[str], scope: Scope) -> None:
    from credsight.formats import findings as formats

    if request.format == "json":
        formats.write_records(findings, out)
    elif request.format == "ocsf":
        formats.write_ocsf(findings, out)
    elif request.format == "asff":
        formats.write_asff(findings, out, request.region)
    elif request.format == "csv":
        formats.write_csv_rows(findings, out)
    elif request.all:
        print_table(finding_rows(findings), out)
        print(f"{findings.num_rows} findings", file=out)
    else:
        print_summary(findings, scope, request.by, out)


def write_results(results: pa.Table, format: str, out: IO[str]) -> None:
    """Per rule and account: rows evaluated, failed and passed."""
    write_rows(results, TableFormat(format), out)


def finding_rows(findings: pa.Table) -> pa.Table:
    """The findings as the table shows them: severity, rule, account, user, first seen, status, evidence."""
    import pyarrow as pa
    import pyarrow.compute as pc

    account = pc.utf8_rtrim_whitespace(
        pc.binary_join_element_wise(
            findings.column("account_id"), pc.fill_null(findings.column("account_name"), ""), " "
        )
    )
    evidence = pc.replace_substring_regex(pc.fill_null(findings.column("evidence"), ""), r'"([A-Za-z0-9_]+)":', r"\1=")
    evidence = pc.replace_substring_regex(pc.replace_substring(evidence, ",", ", "), r"^\{(.*)\}$", r"\1")
    return pa.table(
        {
            "severity": findings.column("severity"),
            "rule": findings.column("rule"),
            "account": account,
            "user": findings.column("user"),
            "first seen": findings.column("first_seen"),
            "status": findings.column("status"),
            "evidence": evidence,
        }
    )


SUMMARY_TOP = 20  # the worst findings the summary lists; --all lists every one


def print_summary(findings: pa.Table, scope: Scope, by: str, out: IO[str]) -> None:
    """What a person reads first: counts per rule, per OU (or account) and severity, the worst findings,
    and how to get all of them."""
    import pyarrow as pa
    import pyarrow.compute as pc

    from credsight.rules.catalogue import RULES

    accounts = pc.count_distinct(scope.results.column("account_id")).as_py() if scope.results.num_rows else 0
    excepted = pc.sum(pc.equal(findings.column("status"), "excepted")).as_py() or 0
    print(
        f"Findings on {scope.date} (each account's newest snapshot on or before it): {findings.num_rows:,} in "
        f"{accounts:,} accounts" + (f" ({excepted:,} excepted: accepted risks)" if excepted else ""),
        file=out,
    )
    per_rule = findings.group_by(["rule"]).aggregate([("rule", "count"), ("account_id", "count_distinct")])
    counts = {row["rule"]: row for row in per_rule.to_pylist()}
    rules = [rule for rule in RULES if rule.decidable]
    print("\nBy rule", file=out)
    print_table(
        pa.table(
            {
                "rule": [rule.id for rule in rules],
                "severity": [rule.severity for rule in rules],
                "findings": pa.array([counts.get(rule.id, {}).get("rule_count", 0) for rule in rules], pa.int64()),
                "accounts": pa.array(
                    [counts.get(rule.id, {}).get("account_id_count_distinct", 0) for rule in rules], pa.int64()
                ),
                "title": [rule.title for rule in rules],
            }
        ),
        out,
    )
    place = "account" if by == "account" or not _has_ous(scope.places) else "OU"
    print(f"\nBy {place} and severity", file=out)
    print_table(per_place(findings, scope.places, place), out)
    top = finding_rows(findings.slice(0, SUMMARY_TOP))
    print(f"\nThe {min(SUMMARY_TOP, findings.num_rows)} worst (by severity, then rule, account, user)", file=out)
    print_table(top, out, widest=100)
    if findings.num_rows > SUMMARY_TOP:
        print(
            f"\n{findings.num_rows - SUMMARY_TOP:,} more: 'credsight findings --all' lists every finding, "
            "'--format csv|json|ocsf|asff' writes them for other tools",
            file=out,
        )


def _has_ous(places: pa.Table) -> bool:
    import pyarrow.compute as pc

    return bool(places.num_rows) and (pc.count(places.column("ou_path")).as_py() or 0) > 0


def per_place(findings: pa.Table, places: pa.Table, place: str) -> pa.Table:
    """Findings per OU path (or account) and severity, worst places first, and how many are excepted."""
    import pyarrow as pa
    import pyarrow.compute as pc

    where = findings.column("account_id")
    if place == "OU":
        paths = pc.fill_null(places.column("ou_path"), "(no OU)")
        where = pc.fill_null(paths.take(pc.index_in(where, places.column("account_id"))), "(no OU)")
    severity = findings.column("severity")
    columns: dict[str, pa.Array] = {place: where}
    ordered = list(reversed(SEVERITIES))
    for name in ordered:
        columns[name] = pc.cast(pc.equal(severity, name), pa.int64())
    columns["excepted"] = pc.cast(pc.equal(findings.column("status"), "excepted"), pa.int64())
    grouped = pa.table(columns).group_by([place]).aggregate([(n, "sum") for n in [*ordered, "excepted"]])
    grouped = grouped.rename_columns([n.removesuffix("_sum") for n in grouped.column_names])
    keys = [(name, "descending") for name in ordered] + [(place, "ascending")]
    return grouped.select([place, *ordered, "excepted"]).sort_by(keys)


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


def events_table() -> str:
    """The event catalogue: each kind of change, its severity, the rows it is raised for, and why."""
    from rich.console import Console
    from rich.table import Table

    from credsight.rules.events import EVENTS, FACTS

    buffer = io.StringIO()
    console = Console(file=buffer, highlight=False, markup=False, width=160)
    table = Table("kind", "severity", "raised to", "needs", "reason")
    for event in sorted(EVENTS, key=lambda e: (-rank(e.severity), e.kind)):
        raised = "; ".join(f"{e.severity} for {FACTS[e.fact].words}" for e in event.escalations)
        table.add_row(event.kind, event.severity, raised or "-", event.setting or "-", event.reason)
    console.print(table)
    return buffer.getvalue()
