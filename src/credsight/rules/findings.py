"""Evaluate the catalogue over a date's snapshots: findings with evidence and first-seen date.

The snapshot of an account on date D is its latest snapshot on or before D. Every rule is a SQL
condition evaluated by DuckDB over all rows of those snapshots at once. A finding's
`first_seen` is the earliest snapshot of the unbroken run of snapshots, ending at the one
evaluated, in which the same user (same creation time) already failed the rule. A day the
account was not collected does not break the run; a day the user passed does.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc

from credsight.errors import FindingsError
from credsight.query import Database
from credsight.query.database import Scratch
from credsight.query.kept import has_kept, kept_key, read_kept, write_kept
from credsight.rules.catalogue import RULES, Rule, thresholds
from credsight.rules.history import last_passed
from credsight.rules.severity import SEVERITIES
from credsight.store import Store

DECIDABLE_IDS = frozenset(rule.id for rule in RULES if rule.decidable)
KEPT_KIND = "evaluation"  # derived/evaluation/: the newest day's evaluation, kept after each collection

# Per rule and account: rows evaluated, failed and passed (an Evaluation's `results`; rules/counts.py too).
RESULTS_SCHEMA = pa.schema(
    [
        ("rule", pa.string()),
        ("account_id", pa.string()),
        ("evaluated", pa.int64()),
        ("failed", pa.int64()),
        ("passed", pa.int64()),
    ]
)

FINDING_SCHEMA = pa.schema(
    [
        pa.field("rule", pa.string(), nullable=False),
        pa.field("severity", pa.string(), nullable=False),
        pa.field("snapshot_date", pa.date32(), nullable=False),
        pa.field("first_seen", pa.date32()),
        pa.field("account_id", pa.string(), nullable=False),
        pa.field("account_name", pa.string()),
        pa.field("user", pa.string(), nullable=False),
        pa.field("arn", pa.string()),
        pa.field("evidence", pa.string()),  # JSON object of the values that decided it
        pa.field("evidence_json", pa.string()),  # the same, as json_pretty writes it (formats/findings.py)
    ]
)

# Each account's snapshot as of $date: its latest on or before that day.
SNAPSHOT = """
    SELECT {columns} FROM reports AS r SEMI JOIN snapshot_days($date, $accounts) USING (account_id, snapshot_date)"""

FINDINGS = """
    SELECT f.rule, c.severity, f.snapshot_date, s.first_seen, f.account_id, f.account_name,
           f."user", f.arn, f.evidence, CAST(json_pretty(f.evidence::JSON) AS VARCHAR) AS evidence_json
    FROM found AS f JOIN rule_catalogue AS c USING (rule)
    LEFT JOIN first_seen AS s USING (rule, account_id, "user")
    ORDER BY c.rank DESC, f.rule, f.account_id, f."user"
"""

RULE_ROWS = """
    SELECT '{rule}' AS rule, r.snapshot_date, r.account_id, r.account_name, r."user", r.arn,
           CAST(to_json({evidence}) AS VARCHAR) AS evidence, r.user_creation_time
    FROM {source} AS r
    WHERE {scope} AND coalesce(({condition}), false)"""

# The run of failures starts at the account's next snapshot after the user last passed (see
# history.last_passed), or at the user's first snapshot when it never passed.
FIRST_SEEN = """
    WITH found_passed AS (
        SELECT f.rule, f.account_id, f."user", l.first_row, CASE f.rule {passed} END AS passed
        FROM found AS f JOIN last_passed AS l USING (account_id, "user")
    )
    SELECT f.rule, f.account_id, f."user",
           CASE WHEN f.passed IS NULL THEN f.first_row ELSE d.snapshot_date END AS first_seen
    FROM found_passed AS f
    ASOF LEFT JOIN (SELECT account_id, snapshot_date FROM daily) AS d
        ON f.account_id = d.account_id AND d.snapshot_date > f.passed"""
PASSED_OF = "WHEN '{rule}' THEN l.\"{rule}\""

NO_FIRST_SEEN = """
    SELECT rule, account_id, "user", CAST(NULL AS DATE) AS first_seen FROM found WHERE false"""
NOTHING_FOUND = "SELECT NULL AS rule, NULL AS account_id WHERE false"

COUNTS = """
    SELECT account_id, count(*) FILTER (WHERE is_root_user("user")) AS root_rows,
           count(*) FILTER (WHERE NOT is_root_user("user")) AS user_rows
    FROM snapshot GROUP BY account_id ORDER BY account_id"""


@dataclass(frozen=True)
class Evaluation:
    """A date's findings, and per rule and account how many rows passed and failed."""

    date: dt.date
    findings: pa.Table  # FINDING_SCHEMA, sorted by severity (worst first), rule, account, user
    results: pa.Table  # rule, account_id, evaluated, failed, passed
    rules: tuple[Rule, ...]


def columns_used(rules: Sequence[Rule]) -> list[str]:
    """The report columns the rules read, and those every finding carries: the snapshot holds only these."""
    named = {c for rule in rules for c in re.findall(r"\br\.([a-z0-9_]+)", f"{rule.condition} {rule.evidence}")}
    carried = ["snapshot_date", "account_id", "account_name", '"user"', "arn", "user_creation_time"]
    return carried + sorted(named - {"snapshot_date", "account_id", "user_creation_time"})


def select_rules(ids: Sequence[str] | None) -> tuple[Rule, ...]:
    if not ids:
        return RULES
    known = {rule.id: rule for rule in RULES}
    unknown = [i for i in ids if i not in known]
    if unknown:
        raise FindingsError(f"no rule {unknown[0]!r}; the rules are: {', '.join(known)}")
    return tuple(known[i] for i in ids)


def evaluate(
    database: Database,
    date: dt.date | None = None,
    accounts: Sequence[str] | None = None,
    rule_ids: Sequence[str] | None = None,
    limits: Mapping[str, int] | None = None,
    use_summaries: bool = True,
    with_first_seen: bool = True,
    use_kept: bool = True,
) -> Evaluation:
    """Evaluate the rules over each account's snapshot as of `date` (default: the latest of all). The newest
    day with the default limits is read from the findings kept after the collection when there are some
    (keep_findings); `use_summaries=False` computes everything from the report rows."""
    rules = select_rules(rule_ids)
    decidable = [rule for rule in rules if rule.decidable]
    newest = database.newest_snapshot()
    if date is None:
        date = newest or dt.datetime.now(dt.UTC).date()
    values = {**thresholds(RULES), **(limits or {})}
    if use_kept and use_summaries and date == newest and values == thresholds(RULES):
        kept = read_kept(database, KEPT_KIND, _kept_key(database), ("results", "findings"))
        if kept is not None:
            return _of_kept(date, kept["findings"], kept["results"], rules, accounts)
    parameters: dict[str, object] = {"date": date, "accounts": list(accounts) if accounts is not None else None}
    used = {name: values[name] for rule in decidable for name in rule.thresholds}
    with database.scratch() as work:
        work.keep("snapshot", SNAPSHOT.format(columns=", ".join(f"r.{c}" for c in columns_used(RULES))), parameters)
        if decidable:
            # The SQL is assembled from the catalogue's constants only; every value is a bound parameter.
            union = " UNION ALL ".join(
                RULE_ROWS.format(
                    rule=rule.id,
                    evidence=rule.evidence,
                    source="snapshot",
                    scope=rule.applies_to,
                    condition=rule.condition,
                )
                for rule in decidable
            )
            work.keep("found", union, used)
            if not with_first_seen:  # an overview needs the counts, not the history
                work.keep("first_seen", NO_FIRST_SEEN)
            else:
                last_passed(work, date, decidable, values, use_summaries)
                passed = " ".join(PASSED_OF.format(rule=rule.id) for rule in decidable)
                work.keep("first_seen", FIRST_SEEN.format(passed=passed))
        else:
            work.keep("found", NOTHING_FOUND)
        findings = _findings(work, decidable)
        results = _results(work, decidable)
    return Evaluation(date, findings, results, rules)


def keep_findings(store: Store) -> bool:
    """After a collection: keep the newest day's findings with the default limits (every rule, every account),
    which `evaluate` then reads; False when the store is empty or holds them already."""
    with Database(store) as database:
        if database.newest_snapshot() is None:
            return False
        key = _kept_key(database)
        if has_kept(database, KEPT_KIND, key, ("results", "findings")):
            return False
        evaluation = evaluate(database, use_summaries=True, use_kept=False)
        write_kept(store, KEPT_KIND, key, {"results": evaluation.results, "findings": evaluation.findings})
    return True


def _kept_key(database: Database) -> str:
    """What the kept findings depend on besides the store: the rules' text and their default limits."""
    rules = [f"{r.id}|{r.severity}|{r.applies_to}|{r.condition}|{r.evidence}" for r in RULES]
    return kept_key(database, ["findings 1", repr(sorted(thresholds(RULES).items())), *rules])


def _of_kept(
    date: dt.date, findings: pa.Table, results: pa.Table, rules: tuple[Rule, ...], accounts: Sequence[str] | None
) -> Evaluation:
    """The kept evaluation narrowed to these rules and accounts (each account's rows are its own: the same)."""
    ids = pa.array([rule.id for rule in rules if rule.decidable], pa.string())
    if accounts is None and len(ids) == len(DECIDABLE_IDS):  # every rule, every account: as kept
        return Evaluation(date, findings.cast(FINDING_SCHEMA), results.cast(RESULTS_SCHEMA), rules)

    def narrowed(table: pa.Table) -> pa.Table:
        keep = pc.is_in(table.column("rule"), ids)
        if accounts is not None:
            keep = pc.and_(keep, pc.is_in(table.column("account_id"), pa.array(list(accounts), pa.string())))
        return table.filter(keep)

    return Evaluation(date, narrowed(findings).cast(FINDING_SCHEMA), narrowed(results).cast(RESULTS_SCHEMA), rules)


def _findings(work: Scratch, rules: Sequence[Rule]) -> pa.Table:
    if not rules:
        return FINDING_SCHEMA.empty_table()
    catalogue = pa.table(
        {
            "rule": [rule.id for rule in rules],
            "severity": [rule.severity for rule in rules],
            "rank": [SEVERITIES.index(rule.severity) for rule in rules],
        }
    )
    work.table("rule_catalogue", catalogue)
    return work.sql(FINDINGS).table.cast(FINDING_SCHEMA)


def _results(work: Scratch, rules: Sequence[Rule]) -> pa.Table:
    """Per rule and account: rows evaluated, failed and passed."""
    counts = work.sql(COUNTS).rows
    failed = {
        (row["rule"], row["account_id"]): row["n"]
        for row in work.sql("SELECT rule, account_id, count(*) AS n FROM found GROUP BY ALL").rows
    }
    rows = []
    for rule in rules:
        for count in counts:
            evaluated = count["root_rows"] if rule.scope == "root" else count["user_rows"]
            failing = failed.get((rule.id, count["account_id"]), 0)
            rows.append(
                {
                    "rule": rule.id,
                    "account_id": count["account_id"],
                    "evaluated": evaluated,
                    "failed": failing,
                    "passed": evaluated - failing,
                }
            )
    return pa.Table.from_pylist(rows, schema=RESULTS_SCHEMA)
