"""One IAM user across the organization: find users as you type, every account a user is in, their
snapshots over time and their events.

Finding reads each account's latest snapshot only (the `latest` view: the newest week of the store sits in
small row groups of its own, so that is a day's rows, about 100,000 for 1,000 accounts x 100 users) and
only the columns it shows; the open findings are evaluated for the rows it returns only (at most `limit`),
with the rule catalogue's own conditions, so the count agrees with `credsight findings`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence

import pyarrow as pa

from credsight.query import Database
from credsight.rules.catalogue import RULES, thresholds
from credsight.rules.changes import DEFAULT_SETTINGS, EventSettings, events
from credsight.rules.exceptions import AcceptedRisk
from credsight.rules.severity import rank

USER_SCHEMA = pa.schema(
    [
        pa.field("account_id", pa.string(), nullable=False),
        pa.field("account_name", pa.string()),
        pa.field("ou_path", pa.string()),
        pa.field("user", pa.string(), nullable=False),
        pa.field("arn", pa.string()),
        pa.field("class", pa.string()),  # root, human, machine, dormant (the reports view's user_class)
        pa.field("snapshot_date", pa.date32(), nullable=False),  # the account's latest snapshot
        pa.field("password_last_used", pa.timestamp("s", tz="UTC")),
        pa.field("access_key_1_last_used_date", pa.timestamp("s", tz="UTC")),
        pa.field("access_key_2_last_used_date", pa.timestamp("s", tz="UTC")),
        pa.field("last_key_use", pa.timestamp("s", tz="UTC")),  # the later of the two keys' last uses
        pa.field("open_findings", pa.int64(), nullable=False),  # rules failed, accepted risks not counted
        pa.field("open_rules", pa.list_(pa.string()), nullable=False),  # their ids, worst first
    ]
)

# The failing rules of a row `r` of the latest snapshot: built from the catalogue's constants (conditions are
# SQL over the typed columns, thresholds bound as $name), worst first as the catalogue lists them.
_DECIDABLE = sorted((rule for rule in RULES if rule.decidable), key=lambda rule: rank(rule.severity), reverse=True)
OPEN_RULES = "list_filter([{}], lambda rule: rule IS NOT NULL)".format(
    ", ".join(
        f"CASE WHEN {rule.applies_to} AND coalesce(({rule.condition}), false) THEN '{rule.id}' END"
        for rule in _DECIDABLE
    )
)
THRESHOLDS = sorted({name for rule in _DECIDABLE for name in rule.thresholds})

SHOWN = """
    r.account_id, r.account_name, m.ou_path, r."user", r.arn, r.user_class AS class, r.snapshot_date,
    r.password_last_used, r.access_key_1_last_used_date, r.access_key_2_last_used_date,
    greatest(r.access_key_1_last_used_date, r.access_key_2_last_used_date) AS last_key_use"""

# Part of a user name, an ARN, an account id or an account name, case-insensitive, anywhere in the value:
# `contains`, not LIKE, so that % and _ typed are plain characters. Exact user names first, then names that
# start with the text, then the rest, each by user and account.
FIND = f"""
    WITH matched AS (
        SELECT r.* FROM latest AS r
        WHERE in_scope($accounts, r.account_id)
          AND (contains(lower(r."user"), $needle) OR contains(lower(r.arn), $needle)
               OR contains(r.account_id, $needle) OR contains(lower(coalesce(r.account_name, '')), $needle))
        ORDER BY lower(r."user") = $needle DESC, starts_with(lower(r."user"), $needle) DESC,
                 r."user", r.account_name, r.account_id
        LIMIT $limit
    )
    SELECT {SHOWN}, {OPEN_RULES} AS open_rules
    FROM matched AS r LEFT JOIN account_metadata AS m USING (account_id)
    ORDER BY lower(r."user") = $needle DESC, starts_with(lower(r."user"), $needle) DESC,
             r."user", r.account_name, r.account_id"""  # noqa: S608 (module constants only)

# One user by name (IAM user names are unique in an account whatever their case) or by ARN, in every account.
ONE_USER = f"""
    SELECT {SHOWN}, {OPEN_RULES} AS open_rules
    FROM latest AS r LEFT JOIN account_metadata AS m USING (account_id)
    WHERE in_scope($accounts, r.account_id)
      AND (CASE WHEN starts_with($name, 'arn:') THEN r.arn = $name ELSE lower(r."user") = lower($name) END)
    ORDER BY r.account_name, r.account_id"""  # noqa: S608 (module constants only)

# The user's snapshots over time, in every account (or those asked): what `credsight user --history` writes.
HISTORY = """
    SELECT r.snapshot_date, r.account_id, r.account_name, r."user", r.arn, r.user_class AS class,
           r.password_enabled, r.password_last_used, r.password_last_changed, r.mfa_active,
           r.access_key_1_active, r.access_key_1_last_rotated, r.access_key_1_last_used_date,
           r.access_key_1_last_used_region, r.access_key_1_last_used_service,
           r.access_key_2_active, r.access_key_2_last_rotated, r.access_key_2_last_used_date,
           r.access_key_2_last_used_region, r.access_key_2_last_used_service
    FROM reports AS r
    WHERE in_scope($accounts, r.account_id) AND r.snapshot_date <= $until
      AND (CASE WHEN starts_with($name, 'arn:') THEN r.arn = $name ELSE lower(r."user") = lower($name) END)
    ORDER BY r.account_id, r.snapshot_date"""


def find_users(
    database: Database,
    text: str,
    limit: int = 50,
    *,
    accounts: Sequence[str] | None = None,
    risks: Sequence[AcceptedRisk] = (),
    today: dt.date | None = None,
    limits: Mapping[str, int] | None = None,
) -> pa.Table:
    """Users whose name or ARN, or whose account's id or name, holds `text` (any case), in each account's
    latest snapshot: rows of USER_SCHEMA, exact and starting matches first, at most `limit`.

    Blank text finds nothing (a search box that was just cleared). `risks` (accepted risks) are not open
    findings; `limits` overrides the rules' thresholds.
    """
    needle = text.strip().lower()
    if not needle or limit <= 0:
        return USER_SCHEMA.empty_table()
    parameters = {"needle": needle, "limit": limit, "accounts": _chosen(accounts), **_thresholds(limits)}
    return _with_open_findings(database.sql(FIND, parameters).table, risks, today)


def user_accounts(
    database: Database,
    name_or_arn: str,
    *,
    accounts: Sequence[str] | None = None,
    risks: Sequence[AcceptedRisk] = (),
    today: dt.date | None = None,
    limits: Mapping[str, int] | None = None,
) -> pa.Table:
    """Every account whose latest snapshot holds the user (by name, any case, or by exact ARN): USER_SCHEMA."""
    parameters = {"name": name_or_arn.strip(), "accounts": _chosen(accounts), **_thresholds(limits)}
    return _with_open_findings(database.sql(ONE_USER, parameters).table, risks, today)


def user_history(
    database: Database, name_or_arn: str, *, accounts: Sequence[str] | None = None, until: dt.date | None = None
) -> pa.Table:
    """The user's snapshots (every stored day, up to `until`) in every account, by account then date."""
    parameters = {"name": name_or_arn.strip(), "accounts": _chosen(accounts), "until": until or dt.date.max}
    return database.sql(HISTORY, parameters).table


def user_events(
    database: Database,
    account: str,
    user: str,
    *,
    since: dt.date | None = None,
    until: dt.date | None = None,
    settings: EventSettings = DEFAULT_SETTINGS,
) -> pa.Table:
    """One user's events in one account (rules.changes.EVENT_SCHEMA), oldest first."""
    import pyarrow.compute as pc

    found = events(database, since, until, [account], settings)
    return found.filter(pc.equal(found.column("user"), user))


def _chosen(accounts: Sequence[str] | None) -> list[str] | None:
    return None if accounts is None else list(accounts)


def _thresholds(limits: Mapping[str, int] | None) -> dict[str, int]:
    values = {**thresholds(RULES), **(limits or {})}
    return {name: values[name] for name in THRESHOLDS}


def _with_open_findings(found: pa.Table, risks: Sequence[AcceptedRisk], today: dt.date | None) -> pa.Table:
    """The rows with their open findings: the failing rules that no accepted risk in force covers."""
    day = today or dt.datetime.now(dt.UTC).date()
    in_force = [risk for risk in risks if not risk.expired(day)]
    rules = found.column("open_rules").to_pylist()
    if in_force:
        accounts, users = found.column("account_id").to_pylist(), found.column("user").to_pylist()
        rules = [
            [rule for rule in failing if not any(risk.matches(rule, account, user) for risk in in_force)]
            for failing, account, user in zip(rules, accounts, users, strict=True)
        ]
    counted = found.drop_columns(["open_rules"]).append_column(
        "open_findings", pa.array([len(r) for r in rules], pa.int64())
    )
    return counted.append_column("open_rules", pa.array(rules, pa.list_(pa.string()))).cast(USER_SCHEMA)
