"""When each user last passed each rule: the history behind a finding's first-seen date.

Reading a year of report rows for this costs seconds. So `summarise` (run by `compact`)
keeps a small derived file per report part: per user (same creation time) the part's first
snapshot and, per rule, the last snapshot where the rule passed, with the default
thresholds. `last_passed` reads the summary of every part whose rows all lie on or before
the date asked, and the rows of the other parts (new since the last compaction, or reaching
past the date); with a threshold other than its default it reads every row.

It keeps a second summary per part for the changes (rules/changes.py): when each access key
first showed each region and service.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence

import pyarrow as pa

from credsight.derived import SummaryKind, place, summaries_of, summary_name, version_of
from credsight.query import Database
from credsight.rules.catalogue import RULES, Rule, define_macros, thresholds
from credsight.rules.changes import KEY_FIRST_USES_KIND, key_first_uses_summary
from credsight.store import STORED_SCHEMA, Store

# Per user (same creation time): the first row, and per rule the last row where it passed.
PASSES = """
    SELECT r.account_id, r."user", r.user_creation_time, min(r.snapshot_date) AS first_row, {passed}
    FROM {source} AS r
    {only_found}
    ANTI JOIN superseded USING (account_id, snapshot_date, run_id)
    WHERE r.snapshot_date <= $date
    GROUP BY r.account_id, r."user", r.user_creation_time"""
PASSED = 'max(r.snapshot_date) FILTER (WHERE {scope} AND NOT coalesce(({condition}), false)) AS "{rule}"'
ONLY_FOUND = """SEMI JOIN (SELECT DISTINCT account_id, "user", user_creation_time FROM found) AS f
        USING (account_id, "user", user_creation_time)"""
SUMMARY_ROWS = """
    SELECT account_id, "user", user_creation_time, first_row, {columns} FROM history_summaries
    {only_found}"""
# Months combined: the user's first row over all of them, the latest pass per rule.
COMBINED = """
    SELECT account_id, "user", min(first_row) AS first_row, {latest}
    FROM ({months}) AS m
    GROUP BY account_id, "user"
"""


def _passes(rules: Sequence[Rule], source: str, only_found: bool) -> str:
    passed = ", ".join(PASSED.format(rule=r.id, scope=r.applies_to, condition=r.condition) for r in rules)
    return PASSES.format(passed=passed, source=source, only_found=ONLY_FOUND if only_found else "")


def summarised_rules() -> tuple[list[Rule], dict[str, int]]:
    """The rules a summary of last passes covers, and the default thresholds it is computed with."""
    rules = [rule for rule in RULES if rule.decidable]
    return rules, {k: v for k, v in thresholds(RULES).items() if any(k in r.thresholds for r in rules)}


def rule_passes_summary(database: Database, source: str) -> pa.Table:
    """A part's summary for last_passed: the rows' last pass per rule, with the default thresholds."""
    rules, used = summarised_rules()
    return database.sql(_passes(rules, source, only_found=False), {**used, "date": dt.date(9999, 12, 31)}).table


# The rules, their logic and default thresholds: a summary computed otherwise stands for nothing.
RULE_PASSES_KIND = SummaryKind(
    "rule_passes", version_of(_passes(summarised_rules()[0], "", False), summarised_rules()[1])
)

# Each kind of summary, and how a part's rows (a table named by the second argument) are summarised.
SUMMARIES: dict[SummaryKind, Callable[[Database, str], pa.Table]] = {
    RULE_PASSES_KIND: rule_passes_summary,
    KEY_FIRST_USES_KIND: key_first_uses_summary,
}


def summarise(store: Store) -> int:
    """Summarise every live report part that has no summary of each kind; remove summaries of replaced
    parts and of other versions.

    Run after compaction, when a month is one large part: later reads skip its rows.
    """
    written = 0
    with Database(store) as database:
        define_macros(database.connection)
        parts = database.report_parts
        done = {kind: summaries_of(store, parts, kind) for kind in SUMMARIES}
        for part in parts:
            missing = [kind for kind in SUMMARIES if place(part.path) not in done[kind]]
            if not missing:
                continue
            database.register_files("part_rows", [part.path], STORED_SCHEMA)
            last = database.sql("SELECT max(snapshot_date) AS d FROM part_rows").rows[0]["d"]
            if last is None:
                continue
            for kind in missing:
                table = SUMMARIES[kind](database, "part_rows")
                store.write_derived(kind.name, place(part.path)[0], summary_name(part.name, last, kind), table)
                written += 1
        for kind in SUMMARIES:
            kept = {path for path, _last in summaries_of(store, parts, kind).values()}
            for path in store.derived_files(kind.name).values():
                if path not in kept:
                    store.delete(path)
    return written


def last_passed(
    database: Database, date: dt.date, rules: Sequence[Rule], values: Mapping[str, int], use_summaries: bool = True
) -> None:
    """Create the temp table `last_passed`: per user found, the first row and the last pass per rule."""
    defaults = all(values.get(k, v) == v for k, v in thresholds(RULES).items())
    summaries = (
        summaries_of(database.store, database.report_parts, RULE_PASSES_KIND) if defaults and use_summaries else {}
    )
    # A part's summary stands for its rows when every row is on or before the date asked.
    summarised = [path for path, last in summaries.values() if last <= date]
    used_parts = {place for place, (_path, last) in summaries.items() if last <= date}
    raw = [part.path for part in database.report_parts if place(part.path) not in used_parts]
    database.register_files("history_rows", raw, STORED_SCHEMA)
    parts = [_passes(rules, "history_rows", only_found=True)]
    if summarised:
        database.register_files("history_summaries", summarised, None)
        columns = ", ".join(f'"{rule.id}"' for rule in rules)
        parts.append(SUMMARY_ROWS.format(columns=columns, only_found=ONLY_FOUND))
    latest = ", ".join(f'max("{rule.id}") AS "{rule.id}"' for rule in rules)
    combined = COMBINED.format(latest=latest, months=" UNION ALL ".join(parts))
    used = {k: values[k] for rule in rules for k in rule.thresholds}
    database.connection.execute(f"CREATE OR REPLACE TEMP TABLE last_passed AS {combined}", {**used, "date": date})


def compact_and_summarise(store: Store) -> tuple[int, int]:
    """Merge each month's parts into one file, then summarise the new files: (parts merged, summaries written)."""
    merged = store.compact()
    return merged, summarise(store)
