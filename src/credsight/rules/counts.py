"""Failing rows per rule, per account and day: the numbers behind the overview, the compliance matrix and
the trends, kept by `compact` beside each report part so that a year of them is read in a moment.

A row per (snapshot date, account): how many rows each rule evaluated (the root row, or the others), how
many failed each rule, and how many active keys are older than 90 days, with the default thresholds.
Parts without a summary (new since the last compaction, or re-collected after it) are counted from
their rows; the answer is the same either way (tests/test_counts.py compares them).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import pyarrow as pa
import pyarrow.compute

from credsight.query import Database
from credsight.query.summaries import reading
from credsight.rules.catalogue import RULES, thresholds
from credsight.rules.findings import RESULTS_SCHEMA
from credsight.store.derived import SummaryKind
from credsight.store.schemas import STORED_SCHEMA

OLD_KEY_DAYS = 90
DECIDABLE = tuple(rule for rule in RULES if rule.decidable)

FAILING = 'count(*) FILTER (WHERE {scope} AND coalesce(({condition}), false)) AS "failing:{rule}"'
COUNTS = """
    SELECT r.snapshot_date, r.account_id,
           count(*) FILTER (WHERE is_root_user(r."user")) AS root_rows,
           count(*) FILTER (WHERE NOT is_root_user(r."user")) AS user_rows,
           count(*) FILTER (WHERE (coalesce(r.access_key_1_active, false)
                                   AND age_days(r.access_key_1_last_rotated, r.snapshot_date) > $old_key_days))
         + count(*) FILTER (WHERE (coalesce(r.access_key_2_active, false)
                                   AND age_days(r.access_key_2_last_rotated, r.snapshot_date) > $old_key_days))
             AS old_active_keys,
           {failing}
    FROM {source} AS r
    ANTI JOIN superseded USING (account_id, snapshot_date, run_id)
    {where}
    GROUP BY r.snapshot_date, r.account_id"""
PERIOD = "WHERE r.snapshot_date BETWEEN $from AND $to AND in_scope($accounts, r.account_id)"


def _sql(source: str, where: str) -> str:
    failing = ",\n           ".join(
        FAILING.format(scope=rule.applies_to, condition=rule.condition, rule=rule.id) for rule in DECIDABLE
    )
    return COUNTS.format(failing=failing, source=source, where=where)


DEFAULTS = {**{k: v for k, v in thresholds(RULES).items() if any(k in r.thresholds for r in DECIDABLE)}}
RULE_COUNTS_KIND = SummaryKind(
    "rule_counts", _sql("{source}", ""), {**DEFAULTS, "old_key_days": OLD_KEY_DAYS}, by_day=True
)

# The summaries' rows and the counted rows, for the accounts and days asked.
FROM_SUMMARIES = """
    SELECT * FROM counted_summaries WHERE snapshot_date BETWEEN $from AND $to AND in_scope($accounts, account_id)"""


def rule_counts(
    database: Database, start: dt.date, end: dt.date, accounts: Sequence[str] | None = None, use_summaries: bool = True
) -> pa.Table:
    """One row per (snapshot date, account) of the period: rows evaluated, failing per rule, old active keys."""
    read = reading(database, RULE_COUNTS_KIND, end, use_summaries)
    parameters = {
        **RULE_COUNTS_KIND.parameters,
        "from": start,
        "to": end,
        "accounts": list(accounts) if accounts is not None else None,
    }
    with database.scratch() as work:
        work.files("counted_rows", read.rows, STORED_SCHEMA)
        parts = [_sql("counted_rows", PERIOD)]
        if read.summaries:
            work.files("counted_summaries", read.summaries, None)
            parts.append(FROM_SUMMARIES)
        text = " UNION ALL BY NAME ".join(f"({part})" for part in parts)
        ordered = f"SELECT * FROM ({text}) ORDER BY snapshot_date, account_id"  # noqa: S608 (module constants)
        return work.sql(ordered, parameters).table


AS_OF = "SELECT c.* FROM counts AS c SEMI JOIN snapshot_days($date, $accounts) USING (account_id, snapshot_date)"


def rule_counts_as_of(database: Database, date: dt.date, accounts: Sequence[str] | None = None) -> pa.Table:
    """The counts of each account's snapshot as of `date` (its latest on or before it)."""
    chosen = list(accounts) if accounts is not None else None
    days = database.sql(
        "SELECT min(snapshot_date) AS first FROM snapshot_days($date, $accounts)", {"date": date, "accounts": chosen}
    ).first()
    if days is None or days["first"] is None:
        return rule_counts(database, date, date, []).slice(0, 0)
    counts = rule_counts(database, days["first"], date, chosen)
    with database.scratch() as work:
        work.table("counts", counts)
        return work.sql(AS_OF, {"date": date, "accounts": chosen}).table


def results(counts: pa.Table) -> pa.Table:
    """The counts as findings' `results`: per rule and account, rows evaluated, failed and passed."""
    found = counts.to_pylist()
    rows = []
    for rule in DECIDABLE:
        for row in found:
            evaluated = row["root_rows"] if rule.scope == "root" else row["user_rows"]
            failed = row[f"failing:{rule.id}"]
            rows.append({"rule": rule.id, "account_id": row["account_id"], "evaluated": evaluated, "failed": failed})
    table = pa.Table.from_pylist(rows, schema=RESULTS_SCHEMA.remove(RESULTS_SCHEMA.get_field_index("passed")))
    return table.append_column("passed", pa.compute.subtract(table.column("evaluated"), table.column("failed")))
