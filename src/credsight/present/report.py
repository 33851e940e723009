"""The shareable report: one self-contained HTML file for people who have no AWS access.

What it holds, for each account's snapshot as of a date: coverage and IAM users, the headline risks,
the figures, a summary per rule (pass rate, CIS and Security Hub ids), a scorecard per OU and per
account, the worst findings of each rule, collection health, and every finding as a CSV inside the file
(gzip-compressed, the exact CSV `credsight findings --format csv` writes), unpacked by the browser when
the reader asks for it. plotly.js is inside too, compressed the same way: 1,000 accounts fit in a file
small enough to mail.

Nothing is fetched from anywhere (a Content-Security-Policy forbids it), values from the reports are
escaped by Jinja's autoescape, and with `redact` user names and ARNs become stable pseudonyms.
"""

from __future__ import annotations

import base64
import datetime as dt
import functools
import gzip
import hashlib
import hmac
import io
import json
import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import jinja2
import plotly.io
import pyarrow as pa
import pyarrow.compute as pc
from markupsafe import Markup

from credsight.errors import PeopleError, UserFixable
from credsight.formats.findings import marked, product_version, write_csv_rows
from credsight.present import figures, questions
from credsight.query import Database
from credsight.report.model import ROOT_USER
from credsight.rules.catalogue import RULES
from credsight.rules.counts import DECIDABLE, results, rule_counts_as_of
from credsight.rules.exceptions import AcceptedRisk
from credsight.rules.findings import evaluate
from credsight.rules.matching import PeopleSettings
from credsight.rules.people import MIGRATED, STATES, describe, mapping_lines, open_people
from credsight.rules.severity import SEVERITIES
from credsight.rules.trends import migration_projection

REDACT_KEY_VARIABLE = "CREDSIGHT_REDACT_KEY"
DEFAULT_REDACT_KEY = b"credsight pseudonyms"  # stable, but names can be guessed back: set the variable
HEATMAP_ACCOUNTS = 60  # the accounts with the most findings; the scorecard lists them all
WORST_PER_RULE = 10  # the findings of each rule shown in the file; every one is in the embedded CSV


def pseudonym(account: str, user: str, key: bytes) -> str:
    """The same user always gets the same pseudonym under the same key; the root stays the root."""
    if user == ROOT_USER:
        return user
    return "user-" + hmac.new(key, f"{account}/{user}".encode(), hashlib.sha256).hexdigest()[:10]


def redacted(findings: pa.Table, key: bytes) -> pa.Table:
    """The findings with user names and ARNs replaced by pseudonyms (the root row stays the root)."""
    accounts, users = findings.column("account_id").to_pylist(), findings.column("user").to_pylist()
    names = [pseudonym(a, u, key) for a, u in zip(accounts, users, strict=True)]
    arns = [
        arn if user == ROOT_USER else f"arn:aws:iam::{account}:user/{name}"
        for arn, account, user, name in zip(findings.column("arn").to_pylist(), accounts, users, names, strict=True)
    ]
    findings = findings.set_column(findings.schema.get_field_index("user"), "user", pa.array(names, pa.string()))
    return findings.set_column(findings.schema.get_field_index("arn"), "arn", pa.array(arns, pa.string()))


def packed(data: bytes) -> str:
    """Bytes as the file carries them: gzip, then base64 (DecompressionStream unpacks them in the browser)."""
    return base64.b64encode(gzip.compress(data, compresslevel=6, mtime=0)).decode("ascii")


@functools.cache
def report_script() -> tuple[str, str]:
    """The report's one script (it unpacks plotly.js and the findings) and its hash for the CSP: the file
    runs no other inline script; 'unsafe-eval' is for the unpacked plotly.js alone."""
    text = (Path(__file__).parent / "templates" / "report.js").read_text(encoding="utf-8")
    digest = base64.b64encode(hashlib.sha256(text.encode()).digest()).decode()
    return text, f"sha256-{digest}"


PLOTLY_JS = Path(__file__).parent / "dashboard" / "assets" / "vendor" / "plotly-cartesian.min.js"


@functools.cache
def packed_plotly() -> str:
    """plotly.js's cartesian bundle (every trace the report draws), packed (1.5 MB as it is, 0.5 MB packed);
    the same for every report of a process."""
    return packed(PLOTLY_JS.read_bytes())


def figure_json(figure: Any) -> Markup:
    """A figure as JSON that is safe inside a <script> element (no "</" can end it early)."""
    text = plotly.io.to_json(figure, validate=False)
    return Markup(text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026"))


def findings_csv(findings: pa.Table) -> bytes:
    buffer = io.StringIO()
    write_csv_rows(findings, buffer)
    return buffer.getvalue().encode("utf-8")


def write_report(
    database: Database,
    date: dt.date | None,
    accounts: list[str] | None,
    redact: bool,
    scope: str = "",
    risks: Sequence[AcceptedRisk] = (),
    people: PeopleSettings | None = None,
) -> str:
    """The report as HTML text. `people`: how IAM users are matched to people (credsight.toml's [people])."""
    date = date or database.newest_snapshot()
    if date is None:
        raise ValueError("the store holds no snapshots")
    counts = rule_counts_as_of(database, date, accounts)
    collections = questions.health(database, accounts, date)
    opening = questions.headline(database, date, accounts, results(counts), collections)
    if opening is None:
        raise UserFixable(f"no snapshot on or before {date} for these accounts; pick a later --date or other accounts")
    # zlib lets go of the GIL: plotly.js and the findings are packed on the other core while the rest is asked
    packing = ThreadPoolExecutor(max_workers=1)
    plotly_packed = packing.submit(packed_plotly)
    findings = marked(evaluate(database, date, accounts).findings, risks, dt.datetime.now(dt.UTC).date())
    key = os.environ.get(REDACT_KEY_VARIABLE, "").encode() or DEFAULT_REDACT_KEY
    if redact:
        findings = redacted(findings, key)
    csv_packed = packing.submit(lambda: packed(findings_csv(findings)))
    packing.shutdown(wait=False)
    places = database.sql("SELECT account_id, name, ou_path FROM account_metadata").table
    days = questions.per_day(database, date - dt.timedelta(days=89), date, accounts)
    per_account = opening.failing
    worst = sorted(per_account, key=lambda a: -sum(per_account[a].values()))[:HEATMAP_ACCOUNTS]
    rule_ids = [rule.id for rule in DECIDABLE]
    more = len(per_account) > len(worst)
    plots = [
        figures.findings_heatmap(
            rule_ids,
            worst,
            [[per_account[a].get(rule, 0) for a in worst] for rule in rule_ids],
            f"Failing users per rule on {date}" + (f" (the {len(worst)} accounts with most)" if more else ""),
        ),
        figures.users_by_class(*questions.by_class(days), "IAM users by class, the last 90 days"),
    ]
    migration = migration_section(database, date, accounts, people)
    if migration is not None:
        plots.append(migration.pop("figure"))
    environment = jinja2.Environment(
        loader=jinja2.PackageLoader("credsight.present", "templates"), autoescape=True, undefined=jinja2.StrictUndefined
    )
    return environment.get_template("report.html.j2").render(
        date=date,
        accounts_in_scope=opening.accounts,
        scope=scope,
        written=dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M"),
        version=product_version(),
        redacted=redact,
        cards=opening.cards,
        risks=opening.risks,
        figures=[figure_json(plot) for plot in plots],
        projection=migration_projection(database, date, accounts).describe(),
        rules=rule_summary(counts, findings),
        undecidable="; ".join(f"{r.id} ({r.undecidable_because})" for r in RULES if not r.decidable),
        by_ou=scorecard(findings, counts, places, "ou_path"),
        by_account=scorecard(findings, counts, places, "account_id"),
        worst=worst_per_rule(findings),
        findings_count=findings.num_rows,
        findings_csv=csv_packed.result(),
        csv_name=f"credsight-findings-{date}.csv",
        plotly=plotly_packed.result(),
        script=Markup(report_script()[0]),
        script_hash=report_script()[1],
        health=collections,
        severities=list(reversed(SEVERITIES)),
        migration=migration,
    )


MIGRATION_DAYS = 180  # the burn-down's period
MIGRATION_EVERY = 14  # told every other week: half the cost of weekly (2.2 s at 1,000 accounts), the same shape


def migration_section(
    database: Database, date: dt.date, accounts: list[str] | None, settings: PeopleSettings | None
) -> dict[str, Any] | None:
    """The SSO migration per person: the counts by state on the date, the burn-down, the projection;
    None without any Identity Center snapshot."""
    chosen = settings or PeopleSettings()
    lines, source = mapping_lines(database.store, chosen)
    try:
        people = open_people(database, chosen, lines, source)
    except PeopleError:  # no Identity Center snapshot yet
        return None
    if not people.days:
        return None
    states = people.states(date, accounts)
    counted = states.group_by("state").aggregate([("user", "count")])
    counts = dict(zip(counted.column("state").to_pylist(), counted.column("user_count").to_pylist(), strict=True))
    burn = people.burn_down(date - dt.timedelta(days=MIGRATION_DAYS - 1), date, accounts, every=MIGRATION_EVERY)
    totals = burn.group_by(["snapshot_date", "state"]).aggregate([("users", "sum")])
    days = sorted(set(totals.column("snapshot_date").to_pylist()))
    per_state: dict[str, list[int]] = {}
    for row in totals.to_pylist():
        per_state.setdefault(row["state"], [0] * len(days))[days.index(row["snapshot_date"])] = row["users_sum"]
    return {
        "states": [(state, counts.get(state, 0)) for state in STATES],
        "left": sum(n for state, n in counts.items() if state not in MIGRATED),
        "machines": people.machines(date, accounts, states),
        "projection": describe(people.projection(burn)),
        "figure": figures.by_state(days, per_state, f"People's IAM users by state, the last {MIGRATION_DAYS} days"),
    }


def rule_summary(counts: pa.Table, findings: pa.Table) -> list[dict[str, Any]]:
    """Per rule: its mappings, the rows evaluated, how many failed, the pass rate, the accounts failing."""
    excepted = findings.filter(pc.equal(findings.column("status"), "excepted")).column("rule").to_pylist()
    out = []
    for rule in DECIDABLE:
        evaluated = pc.sum(counts.column("root_rows" if rule.scope == "root" else "user_rows")).as_py() or 0
        failing = counts.column(f"failing:{rule.id}")
        failed = pc.sum(failing).as_py() or 0
        out.append(
            {
                "rule": rule,
                "evaluated": evaluated,
                "failed": failed,
                "excepted": excepted.count(rule.id),
                "accounts": pc.sum(pc.greater(failing, 0)).as_py() or 0,
                "pass_rate": f"{100 * (evaluated - failed) / evaluated:.1f} %" if evaluated else "-",
            }
        )
    return out


def scorecard(findings: pa.Table, counts: pa.Table, places: pa.Table, by: str) -> list[dict[str, Any]]:
    """Per OU (by="ou_path") or account: accounts, IAM users, findings by severity, the share of users
    without any finding; the places with the worst findings first."""

    def place_of(accounts: pa.ChunkedArray) -> pa.Array:
        if by == "account_id":
            return accounts
        return pc.fill_null(places.column(by).take(pc.index_in(accounts, places.column("account_id"))), "(none)")

    users = pc.add(counts.column("user_rows"), counts.column("root_rows"))
    per_place = pa.table(
        {
            "place": place_of(counts.column("account_id")),
            "users": users,
            "accounts": pc.cast(pc.is_valid(users), pa.int64()),
        }
    )
    rows = {
        r["place"]: {**r, **dict.fromkeys(SEVERITIES, 0), "failing": 0}
        for r in per_place.group_by("place")
        .aggregate([("users", "sum"), ("accounts", "sum")])
        .rename_columns(["place", "users", "accounts"])
        .to_pylist()
    }
    found = pa.table(
        {
            "place": place_of(findings.column("account_id")),
            "account_id": findings.column("account_id"),
            "user": findings.column("user"),
            "severity": findings.column("severity"),
        }
    )
    for row in found.group_by(["place", "severity"]).aggregate([("user", "count")]).to_pylist():
        if row["place"] in rows:
            rows[row["place"]][row["severity"]] = row["user_count"]
    failing = (
        found.group_by(["place", "account_id", "user"]).aggregate([]).group_by("place").aggregate([("user", "count")])
    )
    for row in failing.to_pylist():
        if row["place"] in rows:
            rows[row["place"]]["failing"] = row["user_count"]
    names = dict(zip(places.column("account_id").to_pylist(), places.column("name").to_pylist(), strict=True))
    ous = dict(zip(places.column("account_id").to_pylist(), places.column("ou_path").to_pylist(), strict=True))
    for place, row in rows.items():
        row["clean"] = f"{100 * (row['users'] - row['failing']) / row['users']:.1f} %" if row["users"] else "-"
        row["name"] = names.get(place) if by == "account_id" else None
        row["ou"] = ous.get(place) if by == "account_id" else None
    return sorted(rows.values(), key=lambda r: (*(-r[s] for s in reversed(SEVERITIES)), r["place"]))


def worst_per_rule(findings: pa.Table) -> list[dict[str, Any]]:
    """Each rule's findings shown in the file: the longest-standing first (oldest first-seen date)."""
    out = []
    for rule in DECIDABLE:
        of_rule = findings.filter(pc.equal(findings.column("rule"), rule.id))
        if not of_rule.num_rows:
            continue
        ordered = of_rule.sort_by([("first_seen", "ascending"), ("account_id", "ascending"), ("user", "ascending")])
        rows = ordered.slice(0, WORST_PER_RULE).to_pylist()
        for row in rows:
            evidence = json.loads(row["evidence"] or "{}")
            row["evidence_text"] = ", ".join(f"{k}={v}" for k, v in evidence.items() if v is not None)
        out.append({"rule": rule, "count": of_rule.num_rows, "rows": rows})
    return out


def scope_label(accounts: Sequence[str], ou: str | None) -> str:
    parts = ([f"OU {ou}"] if ou else []) + ([f"accounts {', '.join(accounts)}"] if accounts else [])
    return "; ".join(parts)
