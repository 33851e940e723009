"""When each user last passed each rule: the history behind a finding's first-seen date.

Reading a year of report rows for this costs seconds. So `compact` keeps a small derived file
per report part (RULE_PASSES_KIND, see query/maintenance.py): per user (same creation time) the part's first
snapshot and, per rule, the last snapshot where the rule passed, with the default
thresholds. `last_passed` reads the summary of every part whose rows all lie on or before
the date asked, and the rows of the other parts (new since the last compaction, or reaching
past the date); with a threshold other than its default it reads every row.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence

from credsight.query.database import Scratch
from credsight.query.summaries import reading
from credsight.rules.catalogue import RULES, Rule, thresholds
from credsight.store.derived import SummaryKind
from credsight.store.schemas import STORED_SCHEMA

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


# A part's summary for last_passed: the rows' last pass per rule, with the default thresholds. Its version
# is a digest of this SQL and these thresholds: a summary computed otherwise stands for nothing.
RULE_PASSES_KIND = SummaryKind(
    "rule_passes",
    _passes(summarised_rules()[0], "{source}", only_found=False),
    {**summarised_rules()[1], "date": dt.date(9999, 12, 31)},
)


def last_passed(
    work: Scratch, date: dt.date, rules: Sequence[Rule], values: Mapping[str, int], use_summaries: bool = True
) -> None:
    """Keep the table `last_passed` in `work`: per user found, the first row and the last pass per rule."""
    defaults = all(values.get(k, v) == v for k, v in thresholds(RULES).items())
    read = reading(work.database, RULE_PASSES_KIND, date, use_summaries=defaults and use_summaries)
    work.files("history_rows", read.rows, STORED_SCHEMA)
    parts = [_passes(rules, "history_rows", only_found=True)]
    if read.summaries:
        work.files("history_summaries", read.summaries, None)
        columns = ", ".join(f'"{rule.id}"' for rule in rules)
        parts.append(SUMMARY_ROWS.format(columns=columns, only_found=ONLY_FOUND))
    latest = ", ".join(f'max("{rule.id}") AS "{rule.id}"' for rule in rules)
    combined = COMBINED.format(latest=latest, months=" UNION ALL ".join(parts))
    used = {k: values[k] for rule in rules for k in rule.thresholds}
    work.keep("last_passed", combined, {**used, "date": date})
