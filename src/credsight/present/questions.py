"""The questions the dashboard's pages and the shareable report ask, as SQL with bound parameters.

Outside the dashboard package, so that `credsight report` does not load the web app.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pyarrow as pa

from credsight.query import Database

# The headline risks: a rule, and what its failing rows are called on a card.
HEADLINES = (
    ("root-access-key", "roots with an access key"),
    ("root-mfa", "roots without MFA"),
    ("console-user-mfa", "console users without MFA"),
    ("access-key-rotation", "keys older than 90 days"),
    ("unused-credentials", "unused credentials"),
)

# Each account's snapshot as of $date, with its counts.
AS_OF = """
    SELECT d.* FROM daily AS d SEMI JOIN snapshot_days($date, $accounts) USING (account_id, snapshot_date)"""

# Per day of the period: users by class over the accounts; an account not collected that day counts
# with its last snapshot before it, so that a collection gap is not read as people leaving.
PER_DAY = """
    WITH days AS (SELECT DISTINCT snapshot_date FROM daily WHERE snapshot_date BETWEEN $from AND $to),
    chosen AS (
        SELECT DISTINCT account_id FROM daily
        WHERE snapshot_date BETWEEN $from AND $to AND in_scope($accounts, account_id)
    )
    SELECT g.snapshot_date, sum(d.humans)::BIGINT AS humans, sum(d.machines)::BIGINT AS machines,
           sum(d.dormant)::BIGINT AS dormant, count(d.account_id) AS accounts
    FROM (SELECT * FROM days CROSS JOIN chosen) AS g
    ASOF LEFT JOIN daily AS d ON g.account_id = d.account_id AND g.snapshot_date >= d.snapshot_date
    GROUP BY g.snapshot_date ORDER BY g.snapshot_date"""

HEALTH = """
    WITH attempts AS (  -- the credential reports attempted up to the day asked; when: the day, then the time
        SELECT *, {'day': coalesce(snapshot_date, CAST(finished_at AS DATE)), 'at': finished_at} AS attempted
        FROM runs
        WHERE kind = 'credential_report' AND in_scope($accounts, account_id)
          AND coalesce(snapshot_date, CAST(finished_at AS DATE)) <= $today
    ),
    success AS (
        SELECT account_id, max(snapshot_date) AS last_success FROM attempts WHERE status = 'success' GROUP BY ALL
    ),
    failure AS (
        SELECT account_id, arg_max(snapshot_date, attempted) AS last_failure,
               arg_max(error_class, attempted) AS error_class, arg_max(error_message, attempted) AS error_message
        FROM attempts WHERE status = 'failed' GROUP BY ALL
    ),
    latest AS (SELECT account_id, arg_max(status, attempted) AS last_status FROM attempts GROUP BY ALL)
    SELECT l.account_id, m.name AS account_name, m.ou_path, m.state, l.last_status, s.last_success,
           date_diff('day', s.last_success, $today) AS days_since_success,
           f.last_failure, f.error_class, f.error_message
    FROM latest AS l LEFT JOIN success AS s USING (account_id) LEFT JOIN failure AS f USING (account_id)
    LEFT JOIN account_metadata AS m USING (account_id)
    ORDER BY l.last_status = 'success', days_since_success DESC NULLS FIRST, l.account_id"""


def account_choices(database: Database) -> list[dict[str, Any]]:
    return database.sql(
        "SELECT DISTINCT d.account_id, m.name FROM daily AS d LEFT JOIN account_metadata AS m USING (account_id) "
        "ORDER BY m.name NULLS LAST, d.account_id"
    ).rows


def ou_choices(database: Database) -> list[str]:
    """Every OU path and every path above it, so that a parent OU can be chosen too."""
    paths = {
        row["ou_path"] for row in database.sql("SELECT DISTINCT ou_path FROM account_metadata").rows if row["ou_path"]
    }
    every = {"/".join(p.split("/")[:n]) for p in paths for n in range(1, p.count("/") + 2)}
    return sorted(every)


def as_of(database: Database, date: dt.date, accounts: list[str] | None) -> list[dict[str, Any]]:
    return database.sql(AS_OF, {"date": date, "accounts": accounts}).rows


def per_day(database: Database, start: dt.date, end: dt.date, accounts: list[str] | None) -> list[dict[str, Any]]:
    return database.sql(PER_DAY, {"from": start, "to": end, "accounts": accounts}).rows


def health(database: Database, accounts: list[str] | None, today: dt.date) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = health_table(database, accounts, today).to_pylist()
    return rows


def health_table(database: Database, accounts: list[str] | None, today: dt.date) -> pa.Table:
    """Per account: the last attempt, the last success and its age, the last failure, its class and message."""
    return database.sql(HEALTH, {"accounts": accounts, "today": today}).table


REMAINING_HUMANS = f"""
    SELECT r.account_id, r.account_name, r."user", r.password_last_used, r.mfa_active,
           r.access_key_1_last_used_date, r.access_key_2_last_used_date, r.user_creation_time
    FROM reports AS r SEMI JOIN ({AS_OF}) AS s USING (account_id, snapshot_date)
    WHERE r.user_class = 'human'
    ORDER BY r.password_last_used DESC NULLS LAST"""  # noqa: S608 (module constants only)

HUMANS_BY_OU = f"""
    SELECT coalesce(m.ou_path, s.account_id) AS place, sum(s.humans)::BIGINT AS humans
    FROM ({AS_OF}) AS s LEFT JOIN account_metadata AS m USING (account_id)
    GROUP BY ALL ORDER BY humans DESC"""  # noqa: S608 (module constants only)


def remaining_humans(database: Database, date: dt.date, accounts: list[str] | None) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = remaining_humans_table(database, date, accounts).to_pylist()
    return rows


def remaining_humans_table(database: Database, date: dt.date, accounts: list[str] | None) -> pa.Table:
    """The human IAM users of each account's snapshot as of `date`, latest sign-in first."""
    return database.sql(REMAINING_HUMANS, {"date": date, "accounts": accounts}).table


HUMANS_LEFT = f"""
    SELECT count(*) AS humans,
           count(*) FILTER (WHERE date_diff('day', CAST(r.password_last_used AS DATE), $date) <= 30)
               AS signed_in_30_days
    FROM reports AS r SEMI JOIN ({AS_OF}) AS s USING (account_id, snapshot_date)
    WHERE r.user_class = 'human'"""  # noqa: S608 (module constants only)


def humans_left(database: Database, date: dt.date, accounts: list[str] | None) -> dict[str, int]:
    """How many human IAM users are left as of `date`, and how many of them signed in within 30 days."""
    found = database.sql(HUMANS_LEFT, {"date": date, "accounts": accounts}).first() or {}
    return {"humans": int(found.get("humans") or 0), "signed_in_30_days": int(found.get("signed_in_30_days") or 0)}


def humans_by_ou(database: Database, date: dt.date, accounts: list[str] | None) -> list[dict[str, Any]]:
    return database.sql(HUMANS_BY_OU, {"date": date, "accounts": accounts}).rows


@dataclass(frozen=True)
class Card:
    label: str
    value: object
    warn: bool = False


@dataclass(frozen=True)
class Headline:
    """What the overview and the shareable report open with, for a date and a set of accounts."""

    accounts: int  # with a snapshot on or before the date
    cards: list[Card]  # accounts covered, stale, failed; IAM users by class
    risks: list[Card]  # the headline risks (HEADLINES)
    failing: dict[str, dict[str, int]]  # failing users per account and rule


def headline(
    database: Database,
    date: dt.date,
    accounts: list[str] | None,
    results: pa.Table,
    collections: list[dict[str, Any]] | None = None,
) -> Headline | None:
    """None when no account has a snapshot on or before `date`. `results`: an evaluation's per rule and account;
    `collections`: health()'s rows of the date, when the caller has them already."""
    reports = as_of(database, date, accounts)
    if not reports:
        return None
    stale = [r for r in reports if r["snapshot_date"] < date - dt.timedelta(days=1)]
    asked = collections if collections is not None else health(database, accounts, date)
    failed = [h for h in asked if h["last_status"] == "failed"]
    per_rule: dict[str, int] = {}
    per_account: dict[str, dict[str, int]] = {}
    for row in results.to_pylist():
        per_rule[row["rule"]] = per_rule.get(row["rule"], 0) + row["failed"]
        per_account.setdefault(row["account_id"], {})[row["rule"]] = row["failed"]
    cards = [
        Card("accounts covered", len(reports) - len(stale)),
        Card("accounts stale (no snapshot for 2+ days)", len(stale), bool(stale)),
        Card("accounts whose last collection failed", len(failed), bool(failed)),
        Card("human IAM users", sum(r["humans"] for r in reports)),
        Card("machine IAM users", sum(r["machines"] for r in reports)),
        Card("dormant IAM users", sum(r["dormant"] for r in reports)),
    ]
    risks = [Card(label, per_rule.get(rule, 0), per_rule.get(rule, 0) > 0) for rule, label in HEADLINES]
    return Headline(len(reports), cards, risks, per_account)


def by_class(days: Sequence[dict[str, Any]]) -> tuple[list[dt.date], dict[str, list[int]]]:
    """per_day's rows as the days and, per user class, the counts (figures.users_by_class)."""
    return [d["snapshot_date"] for d in days], {
        name: [d[name] for d in days] for name in ("humans", "machines", "dormant")
    }
