"""`credsight findings` and `credsight rules`: evaluate, mark accepted risks, write, gate CI."""

from __future__ import annotations

import datetime as dt
import io
import json
import sys
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import pyarrow as pa
from rich.console import Console
from rich.table import Table

from credsight.present.exports import write_csv, write_json
from credsight.present.finding_formats import asff, marked_records, ocsf
from credsight.query import Database
from credsight.rules.catalogue import RULES, SEVERITIES, Rule
from credsight.rules.exceptions import AcceptedRisk, accepted_risks
from credsight.rules.findings import evaluate
from credsight.store import Store

FORMATS = ("table", "csv", "json", "ocsf", "asff")
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
        bar = SEVERITIES.index(request.fail_on)
        failing = [r for r in found if r["status"] == "open" and SEVERITIES.index(r["severity"]) >= bar]
        if failing:
            console.print(f"{len(failing)} open findings at or above {request.fail_on}")
            return EXIT_FINDINGS_AT_OR_ABOVE
    return 0


def expired(risks: Sequence[AcceptedRisk], today: dt.date) -> list[AcceptedRisk]:
    return [risk for risk in risks if risk.expired(today)]


def write(
    found: list[dict[str, Any]], findings: pa.Table, request: FindingsRequest, rules: dict[str, Rule], out: IO[str]
) -> None:
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
        print_table(found, out)


def write_results(results: pa.Table, format: str, out: IO[str]) -> None:
    """Per rule and account: rows evaluated, failed and passed."""
    if format == "csv":
        write_csv(results, out)
    elif format == "table":
        table = Table(*results.column_names)
        for row in results.to_pylist():
            table.add_row(*[str(v) for v in row.values()])
        Console(file=out, highlight=False, markup=False, width=120).print(table)
    else:
        write_json(results, out)


def print_table(found: list[dict[str, Any]], out: IO[str]) -> None:
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
