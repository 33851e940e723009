"""Trends per day: users by class, console users without MFA, old keys, failing findings per rule,
and when the SSO migration will be done if it goes on as in the last 60 days.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from credsight.query import Database
from credsight.rules.counts import DECIDABLE, rule_counts

FIT_DAYS = 60

# Counts per collected report, from the small daily table.
DAILY_COUNTS = """
    SELECT snapshot_date, account_id, users, humans, machines, dormant, console_without_mfa, active_keys
    FROM daily
    WHERE snapshot_date BETWEEN $from AND $to AND in_scope($accounts, account_id)"""


@dataclass(frozen=True)
class Projection:
    """When human IAM users reach zero if the last FIT_DAYS go on: a least-squares line."""

    humans_now: int
    per_day: float  # slope of the fit (negative: falling)
    zero_on: dt.date | None  # None when not converging

    @property
    def converging(self) -> bool:
        return self.zero_on is not None

    def describe(self) -> str:
        if self.humans_now == 0:
            return "no human IAM users left" if self.zero_on else f"no snapshot in the last {FIT_DAYS} days to fit"
        if self.zero_on is None:
            return f"not converging ({self.per_day:+.2f} human IAM users a day over the last {FIT_DAYS} days)"
        return f"human IAM users reach zero around {self.zero_on} ({self.per_day:+.2f} a day)"


PER_DAY = """
    SELECT d.*, c.* EXCLUDE (snapshot_date, account_id, root_rows, user_rows)
    FROM ({daily}) AS d LEFT JOIN trend_counts AS c USING (snapshot_date, account_id)
    ORDER BY snapshot_date, account_id"""
TOTALS = """
    SELECT snapshot_date, count(*) AS accounts, {sums}
    FROM ({per_account}) AS per_account GROUP BY snapshot_date ORDER BY snapshot_date"""
SUMMED = ("users", "humans", "machines", "dormant", "console_without_mfa", "active_keys", "old_active_keys")


def _where(start: dt.date, end: dt.date, accounts: Sequence[str] | None) -> dict[str, object]:
    return {"from": start, "to": end, "accounts": list(accounts) if accounts is not None else None}


def per_day(
    database: Database,
    start: dt.date,
    end: dt.date,
    accounts: Sequence[str] | None = None,
) -> pa.Table:
    """One row per (day, account): the daily counts, old active keys, and failing rows per rule."""
    counts = rule_counts(database, start, end, accounts)
    with database.scratch() as work:
        work.table("trend_counts", counts)
        return work.sql(PER_DAY.format(daily=DAILY_COUNTS), _where(start, end, accounts)).table


def totals_per_day(database: Database, start: dt.date, end: dt.date, accounts: Sequence[str] | None = None) -> pa.Table:
    """Per day, the sums of per_day over the accounts: how many accounts, users by class, failing rows per rule."""
    numbers = [*SUMMED, *(f"failing:{rule.id}" for rule in DECIDABLE)]
    sums = ", ".join(f'sum("{n}")::BIGINT AS "{n}"' for n in numbers)
    counts = rule_counts(database, start, end, accounts)
    with database.scratch() as work:
        work.table("trend_counts", counts)
        text = TOTALS.format(sums=sums, per_account=PER_DAY.format(daily=DAILY_COUNTS))
        return work.sql(text, _where(start, end, accounts)).table


def project_humans(days: Sequence[dt.date], humans: Sequence[int], fit_days: int = FIT_DAYS) -> Projection:
    """Fit a line to the total human IAM users over the last `fit_days` days and find where it meets zero."""
    if not days:
        return Projection(0, 0.0, None)
    end = max(days)
    recent = [(d, h) for d, h in zip(days, humans, strict=True) if (end - d).days < fit_days]
    now = next(h for d, h in zip(days, humans, strict=True) if d == end)
    if now == 0:
        return Projection(0, 0.0, end)
    if len(recent) < 2:
        return Projection(now, 0.0, None)
    x = np.array([(d - end).days for d, _ in recent], dtype=float)
    y = np.array([h for _, h in recent], dtype=float)
    slope, intercept = np.polyfit(x, y, 1)
    if slope >= -1e-9:
        return Projection(now, float(slope), None)
    days_left = int(np.ceil(round(-intercept / slope, 6)))  # rounded first: 21.0000001 days is 21
    return Projection(now, float(slope), end + dt.timedelta(days=days_left))


def migration_projection(database: Database, end: dt.date, accounts: Sequence[str] | None = None) -> Projection:
    """The SSO migration projection from the daily counts of the FIT_DAYS days up to `end`."""
    start = end - dt.timedelta(days=FIT_DAYS - 1)
    return project_humans(*humans_per_day(database.sql(DAILY_COUNTS, _where(start, end, accounts)).table))


def humans_per_day(table: pa.Table) -> tuple[list[dt.date], list[int]]:
    """Total human IAM users per day across the accounts of a per_day table.

    A day an account was not collected counts its last snapshot before it, so that a
    collection gap is not read as people leaving.
    """
    by_account: dict[str, dict[dt.date, int]] = {}
    columns = (table.column(name).to_pylist() for name in ("account_id", "snapshot_date", "humans"))
    for account, day, humans in zip(*columns, strict=True):
        by_account.setdefault(account, {})[day] = humans
    days = sorted({day for seen in by_account.values() for day in seen})
    totals = [0] * len(days)
    for seen in by_account.values():
        last: int | None = None
        for index, day in enumerate(days):
            last = seen.get(day, last)
            totals[index] += last or 0
    return days, totals
