"""What changed between consecutive snapshots of each account: users, passwords, MFA, access keys, root use.

Each account's snapshots are numbered in date order (from `daily`, so an account with no users
still counts). A change is seen at a snapshot and compared with the account's previous collected
snapshot, whatever the days between them:

- An account's first snapshot has nothing to compare with: it produces no changes. Its users were
  there before collection started; reporting them all as created would bury the real creations.
- A day on which an account was not collected is not a day on which its users vanished: the
  snapshot after the gap is compared with the one before it, and a `collection_gap` row says so.
- Markers (``N/A``, ``no_information``, ``not_supported``) are NULL in the typed columns, and a
  comparison with NULL never makes a change, except where the marker means "nothing yet": a key
  slot that held no key (``N/A``) then holds one is a created key, and a root password or key
  never used that is then used is a use.
- Access keys are told apart by last_rotated: a key is (user, slot, last_rotated). The regions and
  services a key shows are new against every earlier stored snapshot of that key, so a new key's
  first region is new even if the key it replaced used it. A user created between two snapshots
  gets user_created (and key_new_* for a key already used), not one row per credential it has.

How it stays fast over a year of 1,000 accounts x 100 users (36 million rows): a window over every
row would sort them all, so rows are grouped instead. A user's consecutive snapshots with the same
state (the columns of `states`) are one *island*; nearly every user has a few, and a state that
comes back later (MFA removed then enabled again) splits into several islands, found with a window
over that user's rows only. Changes are then read from each island beside the one before it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import pyarrow as pa

from credsight.query import Database
from credsight.query.database import Scratch
from credsight.query.summaries import reading
from credsight.rules.events import DEFAULT_SETTINGS as DEFAULT_SETTINGS  # the settings, where callers look for them
from credsight.rules.events import EVENTS, check_events, severity_sql
from credsight.rules.events import NO_SETTINGS as NO_SETTINGS
from credsight.rules.events import EventSettings as EventSettings
from credsight.rules.kept_events import kept_events
from credsight.store.derived import SummaryKind
from credsight.store.schemas import STORED_SCHEMA

# Every kind of change, in the words of the `kind` column.
KINDS: tuple[str, ...] = (
    "user_created",  # the user is in this snapshot and not the previous one (the root row never is)
    "user_deleted",  # the user was in the previous snapshot and is not in this one
    # A user of the same name whose user_creation_time changed was deleted and created again between
    # the snapshots: both rows, and nothing else is compared between the old user and the new one.
    "password_enabled",  # password_enabled false -> true (root's not_supported is never compared)
    "password_disabled",  # password_enabled true -> false
    "mfa_enabled",  # mfa_active false -> true
    "mfa_removed",  # mfa_active true -> false
    # Access keys, by slot (the access_key column: 1 or 2); before/after are the slot's last_rotated.
    "access_key_created",  # a new last_rotated in the slot, unless the slot was active before and is now
    "access_key_rotated",  # active before and now, with a new last_rotated: the key was replaced
    "access_key_deactivated",  # active -> not active (deactivated, or deleted)
    "access_key_activated",  # not active -> active, same last_rotated: a deactivated key enabled again
    "root_signed_in",  # the root row's password_last_used moved later (or was never used and now is)
    "root_key_used",  # a root access_key_N_last_used_date moved later, or the slot's key is new and used
    # A key (same user, slot and last_rotated) shows a last-used region / service it had not shown in
    # any earlier stored snapshot. A new key's first region is new for that key, even one its
    # predecessor used. before is NULL, after is the region / service.
    "key_new_region",
    "key_new_service",
    "collection_gap",  # account-level (user NULL): the previous snapshot is not the day before
)
# Kinds seen only with a setting (EventSettings), so `changes()` never makes them: events() does.
SETTING_KINDS: tuple[str, ...] = (
    # A password or a key (same slot and last_rotated) used again after at least `revived_days` whole days
    # unused: from its previous use, or, never used, from when the password was set (the user's creation if
    # the report does not say) or the key created. before: that time; after: the new last use. Not the
    # root user's (root_signed_in and root_key_used are critical already).
    "credential_revived",
    # A key showing, for the first time, a last-used region outside `allowed_regions` (the same first
    # appearance as key_new_region, which is still reported). before NULL, after the region.
    "key_outside_allowed_regions",
)
EVERY_KIND = KINDS + SETTING_KINDS

CHANGE_SCHEMA = pa.schema(
    [
        pa.field("snapshot_date", pa.date32(), nullable=False),  # the later snapshot, where the change is seen
        pa.field("previous_date", pa.date32(), nullable=False),  # the account's snapshot it is compared with
        pa.field("account_id", pa.string(), nullable=False),
        pa.field("account_name", pa.string()),
        pa.field("user", pa.string()),  # NULL for an account-level row
        pa.field("arn", pa.string()),
        pa.field("kind", pa.string(), nullable=False),
        pa.field("access_key", pa.int8()),  # the key slot, 1 or 2; NULL when the change is not about a key
        pa.field("before", pa.string()),  # as text: 2026-11-01T09:00:00+00:00, true / false, a region, a date
        pa.field("after", pa.string()),
    ]
)
# An event is a change with its severity (rules/events.py), placed right after the kind it rates.
EVENT_SCHEMA = CHANGE_SCHEMA.insert(
    CHANGE_SCHEMA.get_field_index("kind") + 1, pa.field("severity", pa.string(), nullable=False)
)


# credential_revived, in the states. While an enabled password or an active key has gone unused for
# $revived_days by the account's next snapshot, `*_idle_since` is the time its idleness counts from ({since});
# NULL otherwise, and always without the setting. It changes only when the credential is used (or set again),
# so it splits few islands. `*_used` is its last use, which changes daily: it is not part of the state, an
# island keeps its earliest (the use seen at the island's first snapshot; last uses never go back).
IDLE_SINCE = """CASE WHEN NOT r.is_root AND {enabled}
                  AND age_days({since}, coalesce(s.next_date, r.snapshot_date + 1)) >= $revived_days::INTEGER
             THEN {since} END AS {name}_idle_since,
             CASE WHEN $revived_days::INTEGER IS NOT NULL AND NOT r.is_root THEN {used} END AS {name}_used"""
CREDENTIALS = {  # name: (enabled, the time idleness counts from, the last use)
    "password": (
        "coalesce(r.password_enabled, false)",
        "coalesce(r.password_last_used, r.password_last_changed, r.user_creation_time)",
        "r.password_last_used",
    ),
    "key_1": (
        "coalesce(r.access_key_1_active, false)",
        "coalesce(r.access_key_1_last_used_date, r.access_key_1_last_rotated)",
        "r.access_key_1_last_used_date",
    ),
    "key_2": (
        "coalesce(r.access_key_2_active, false)",
        "coalesce(r.access_key_2_last_used_date, r.access_key_2_last_rotated)",
        "r.access_key_2_last_used_date",
    ),
}
IDLE_COLUMNS = ",\n".join(
    IDLE_SINCE.format(name=name, enabled=enabled, since=since, used=used)
    for name, (enabled, since, used) in CREDENTIALS.items()
)
USED = "password_used, key_1_used, key_2_used"  # not compared: kept per island (its earliest)
EARLIEST_USES = "min(password_used) AS password_used, min(key_1_used) AS key_1_used, min(key_2_used) AS key_2_used"

# The steps of one query, in order; each is a CTE of the next ones. Parameters: $since, $until, $accounts,
# $start (START_SQL: rows older than it cannot change what is seen from `since` on), and the settings of
# the kinds that need one, $revived_days and $allowed_regions (NULL: not looked for).
STEPS: dict[str, str] = {
    # The collected snapshots of the accounts asked about, from `start` to `until`, numbered per account (an
    # account's first one here is before `since`, or its first ever: see START_SQL).
    "snapshots": """
        SELECT account_id, snapshot_date,
               row_number() OVER account AS idx,
               lag(snapshot_date) OVER account AS previous_date,
               lead(snapshot_date) OVER account AS next_date
        FROM daily
        WHERE snapshot_date BETWEEN $start AND $until AND in_scope($accounts, account_id)
        WINDOW account AS (PARTITION BY account_id ORDER BY snapshot_date)""",
    # What a user's row is compared on; the root's last uses only (everyone else's change daily), and for
    # credential_revived the time each idle credential's idleness counts from (IDLE_SINCE).
    "states": f"""
        SELECT r.account_id, r."user", r.snapshot_date, r.is_root, r.arn, r.user_creation_time, r.password_enabled,
               r.mfa_active, r.access_key_1_active, r.access_key_1_last_rotated, r.access_key_2_active,
               r.access_key_2_last_rotated,
               CASE WHEN r.is_root THEN r.password_last_used END AS root_password_last_used,
               CASE WHEN r.is_root THEN r.access_key_1_last_used_date END AS root_key_1_last_used,
               CASE WHEN r.is_root THEN r.access_key_2_last_used_date END AS root_key_2_last_used,
               {IDLE_COLUMNS}
        FROM reports AS r JOIN snapshots AS s USING (account_id, snapshot_date)
        WHERE r.snapshot_date BETWEEN $start AND $until
          AND in_scope($accounts, r.account_id)""",  # noqa: S608 (module constants only)
    # A user's rows in the same state, and the snapshots they span: one island unless some are missing.
    "runs": f"""
        SELECT grouped.* EXCLUDE (first_date, last_date), first.idx AS first_idx, last.idx AS last_idx
        FROM (SELECT * EXCLUDE (snapshot_date, {USED}), min(snapshot_date) AS first_date,
                     max(snapshot_date) AS last_date, count(*) AS snapshots, {EARLIEST_USES}
              FROM states GROUP BY ALL) AS grouped
        -- (LEFT: every date is there, and DuckDB then does not join the two lookups with each other first)
        LEFT JOIN snapshots AS first
          ON first.account_id = grouped.account_id AND first.snapshot_date = grouped.first_date
        LEFT JOIN snapshots AS last
          ON last.account_id = grouped.account_id AND last.snapshot_date = grouped.last_date""",  # noqa: S608
    "scattered": """
        SELECT DISTINCT account_id, "user" FROM runs WHERE last_idx - first_idx + 1 <> snapshots""",
    # Consecutive snapshots of a user in one state; a scattered user's rows are split by gaps and islands.
    # Timestamps become text here, as the report writes them: fixed width, so they still compare in order.
    "islands": f"""
        SELECT * REPLACE (
            strftime(user_creation_time AT TIME ZONE 'UTC', '%Y-%m-%dT%H:%M:%S+00:00') AS user_creation_time,
            strftime(access_key_1_last_rotated AT TIME ZONE 'UTC', '%Y-%m-%dT%H:%M:%S+00:00')
                AS access_key_1_last_rotated,
            strftime(access_key_2_last_rotated AT TIME ZONE 'UTC', '%Y-%m-%dT%H:%M:%S+00:00')
                AS access_key_2_last_rotated,
            strftime(root_password_last_used AT TIME ZONE 'UTC', '%Y-%m-%dT%H:%M:%S+00:00') AS root_password_last_used,
            strftime(root_key_1_last_used AT TIME ZONE 'UTC', '%Y-%m-%dT%H:%M:%S+00:00') AS root_key_1_last_used,
            strftime(root_key_2_last_used AT TIME ZONE 'UTC', '%Y-%m-%dT%H:%M:%S+00:00') AS root_key_2_last_used,
            strftime(password_idle_since AT TIME ZONE 'UTC', '%Y-%m-%dT%H:%M:%S+00:00') AS password_idle_since,
            strftime(key_1_idle_since AT TIME ZONE 'UTC', '%Y-%m-%dT%H:%M:%S+00:00') AS key_1_idle_since,
            strftime(key_2_idle_since AT TIME ZONE 'UTC', '%Y-%m-%dT%H:%M:%S+00:00') AS key_2_idle_since,
            strftime(password_used AT TIME ZONE 'UTC', '%Y-%m-%dT%H:%M:%S+00:00') AS password_used,
            strftime(key_1_used AT TIME ZONE 'UTC', '%Y-%m-%dT%H:%M:%S+00:00') AS key_1_used,
            strftime(key_2_used AT TIME ZONE 'UTC', '%Y-%m-%dT%H:%M:%S+00:00') AS key_2_used)
        FROM (
            SELECT * EXCLUDE (snapshots) FROM runs ANTI JOIN scattered USING (account_id, "user")
            UNION ALL BY NAME
            SELECT * EXCLUDE (island) FROM (
                SELECT * EXCLUDE (idx, {USED}), min(idx) AS first_idx, max(idx) AS last_idx, {EARLIEST_USES}
                FROM (SELECT *, idx - row_number() OVER (PARTITION BY row(*COLUMNS(* EXCLUDE (idx, {USED})))
                                                         ORDER BY idx) AS island
                      FROM (SELECT states.* EXCLUDE (snapshot_date), snapshots.idx
                            FROM states SEMI JOIN scattered USING (account_id, "user")
                            JOIN snapshots USING (account_id, snapshot_date)))
                GROUP BY ALL))""",  # noqa: S608 (module constants only)
    # Each island beside the island of the same user at the snapshot before (earlier) and after (later);
    # a side with no island is a struct of NULLs. idx: the snapshot where the difference is seen.
    "pairs": """
        SELECT earlier, later,
               coalesce(later.account_id, earlier.account_id) AS account_id,
               coalesce(later."user", earlier."user") AS "user",
               coalesce(later.first_idx, earlier.last_idx + 1) AS idx,
               earlier."user" IS NOT NULL AND later."user" IS NOT NULL
                   AND coalesce(earlier.user_creation_time = later.user_creation_time, true) AS same_user
        FROM islands AS earlier FULL JOIN islands AS later
          ON earlier.account_id = later.account_id AND earlier."user" = later."user"
             AND earlier.last_idx + 1 = later.first_idx
        -- only what is seen at a snapshot asked about (the result keeps no other): the rest is not compared
        SEMI JOIN (SELECT account_id, idx FROM snapshots WHERE snapshot_date >= $since) AS asked
          ON asked.account_id = coalesce(later.account_id, earlier.account_id)
             AND asked.idx = coalesce(later.first_idx, earlier.last_idx + 1)""",
    "user_changes": """
        SELECT account_id, "user", idx, unnest(changes, recursive := true) FROM (
            SELECT account_id, "user", idx, list_filter([
                -- idle before, and used since, at least $revived_days after the time the idleness counted from
                CASE WHEN same_user AND later.password_used > earlier.password_idle_since
                          AND age_days(CAST(left(earlier.password_idle_since, 10) AS DATE),
                                       CAST(left(later.password_used, 10) AS DATE)) >= $revived_days::INTEGER THEN
                    {kind: 'credential_revived', arn: later.arn, before: earlier.password_idle_since,
                     after: later.password_used} END,
                CASE WHEN later."user" IS NOT NULL AND NOT same_user AND NOT later.is_root THEN
                    {kind: 'user_created', arn: later.arn, before: NULL, after: later.user_creation_time} END,
                CASE WHEN earlier."user" IS NOT NULL AND NOT same_user AND NOT earlier.is_root THEN
                    {kind: 'user_deleted', arn: earlier.arn, before: earlier.user_creation_time, after: NULL} END,
                CASE WHEN same_user AND NOT earlier.password_enabled AND later.password_enabled THEN
                    {kind: 'password_enabled', arn: later.arn, before: 'false', after: 'true'} END,
                CASE WHEN same_user AND earlier.password_enabled AND NOT later.password_enabled THEN
                    {kind: 'password_disabled', arn: later.arn, before: 'true', after: 'false'} END,
                CASE WHEN same_user AND NOT earlier.mfa_active AND later.mfa_active THEN
                    {kind: 'mfa_enabled', arn: later.arn, before: 'false', after: 'true'} END,
                CASE WHEN same_user AND earlier.mfa_active AND NOT later.mfa_active THEN
                    {kind: 'mfa_removed', arn: later.arn, before: 'true', after: 'false'} END,
                CASE WHEN same_user AND later.root_password_last_used
                          > coalesce(earlier.root_password_last_used, '') THEN
                    {kind: 'root_signed_in', arn: later.arn, before: earlier.root_password_last_used,
                     after: later.root_password_last_used} END
            ], lambda change: change IS NOT NULL) AS changes
            FROM pairs)""",
    # Each access key slot of each pair of the same user, under one set of names.
    "slots": """
        SELECT account_id, "user", idx, later.arn, later.password_enabled AS console, 1 AS access_key,
               earlier.access_key_1_active AS was_active, later.access_key_1_active AS is_active,
               earlier.access_key_1_last_rotated AS was_rotated, later.access_key_1_last_rotated AS is_rotated,
               earlier.root_key_1_last_used AS was_root_used, later.root_key_1_last_used AS is_root_used,
               earlier.key_1_idle_since AS was_idle_since, later.key_1_used AS is_used
        FROM pairs WHERE same_user
        UNION ALL
        SELECT account_id, "user", idx, later.arn, later.password_enabled, 2 AS access_key,
               earlier.access_key_2_active, later.access_key_2_active,
               earlier.access_key_2_last_rotated, later.access_key_2_last_rotated,
               earlier.root_key_2_last_used, later.root_key_2_last_used,
               earlier.key_2_idle_since, later.key_2_used
        FROM pairs WHERE same_user""",
    "key_changes": """
        SELECT account_id, "user", idx, arn, console, access_key, unnest(changes, recursive := true) FROM (
            SELECT *, is_rotated IS NOT NULL AND is_rotated IS DISTINCT FROM was_rotated AS new_key, list_filter([
                CASE WHEN new_key AND was_active AND is_active THEN
                    {kind: 'access_key_rotated', before: was_rotated, after: is_rotated} END,
                CASE WHEN new_key AND NOT coalesce(was_active AND is_active, false) THEN
                    {kind: 'access_key_created', before: was_rotated, after: is_rotated} END,
                CASE WHEN was_active AND NOT is_active THEN
                    {kind: 'access_key_deactivated', before: was_rotated, after: is_rotated} END,
                CASE WHEN NOT was_active AND is_active AND NOT new_key THEN
                    {kind: 'access_key_activated', before: was_rotated, after: is_rotated} END,
                CASE WHEN is_root_used > coalesce(was_root_used, '') OR (new_key AND is_root_used IS NOT NULL) THEN
                    {kind: 'root_key_used', before: was_root_used, after: is_root_used} END,
                -- as for passwords, and the same key (a new one is created, not revived)
                CASE WHEN is_rotated = was_rotated AND is_used > was_idle_since
                          AND age_days(CAST(left(was_idle_since, 10) AS DATE), CAST(left(is_used, 10) AS DATE))
                              >= $revived_days::INTEGER THEN
                    {kind: 'credential_revived', before: was_idle_since, after: is_used} END
            ], lambda change: change IS NOT NULL) AS changes
            FROM slots)""",
    # When each key (user, slot, last_rotated) first showed each region and service, from the temp table
    # of first uses that key_first_uses() makes (all history: summaries and rows).
    "key_first_uses": """
        SELECT account_id, "user", access_key, last_rotated, region, service,
               min(first_seen) AS first_seen, arg_min(arn, first_seen) AS arn
        FROM key_first_use_parts
        WHERE first_seen <= $until AND in_scope($accounts, account_id)
        GROUP BY ALL""",
    "key_news": """
        SELECT account_id, "user", access_key, 'key_new_region' AS kind, region AS after,
               min(first_seen) AS snapshot_date, arg_min(arn, first_seen) AS arn
        FROM key_first_uses WHERE region IS NOT NULL
        GROUP BY account_id, "user", access_key, last_rotated, region
        HAVING min(first_seen) >= $since
        UNION ALL BY NAME
        SELECT account_id, "user", access_key, 'key_new_service' AS kind, service AS after,
               min(first_seen) AS snapshot_date, arg_min(arn, first_seen) AS arn
        FROM key_first_uses WHERE service IS NOT NULL
        GROUP BY account_id, "user", access_key, last_rotated, service
        HAVING min(first_seen) >= $since""",
    # Every change, with what its severity looks at besides its kind: console (a password after the change).
    "all_changes": """
        SELECT account_id, snapshot_date, "user", arn, kind, NULL AS console, NULL AS access_key, before, after
        FROM user_changes JOIN snapshots USING (account_id, idx)
        UNION ALL BY NAME
        SELECT account_id, snapshot_date, "user", arn, kind, console, access_key, before, after
        FROM key_changes JOIN snapshots USING (account_id, idx)
        UNION ALL BY NAME
        SELECT account_id, snapshot_date, "user", arn, kind, NULL AS console, access_key, NULL AS before, after
        FROM key_news
        UNION ALL BY NAME
        SELECT account_id, snapshot_date, "user", arn, 'key_outside_allowed_regions' AS kind, NULL AS console,
               access_key, NULL AS before, after
        FROM key_news
        WHERE kind = 'key_new_region' AND NOT list_contains($allowed_regions::VARCHAR[], after)
        UNION ALL BY NAME
        SELECT account_id, snapshot_date, NULL AS "user", NULL AS arn, 'collection_gap' AS kind,
               NULL AS access_key, CAST(previous_date AS VARCHAR) AS before, CAST(snapshot_date AS VARCHAR) AS after
        FROM snapshots WHERE snapshot_date <> previous_date + 1""",
}

# Steps read more than once: the small ones are kept; `states` (every row in the store) is read again instead.
MATERIALIZATION = {
    "snapshots": "MATERIALIZED",
    "states": "NOT MATERIALIZED",
    "runs": "MATERIALIZED",
    "islands": "MATERIALIZED",
    "pairs": "MATERIALIZED",
}

# The rows asked for: changes seen from `since` on, at a snapshot that has one before it to compare with,
# each with its severity (rules/events.py: from the kind, is_root and console).
RESULT = f"""
    SELECT s.snapshot_date, s.previous_date, c.account_id, m.name AS account_name, c."user", c.arn, c.kind,
           {severity_sql()} AS severity, c.access_key, c.before, c.after
    FROM (SELECT *, coalesce(is_root_user("user"), false) AS is_root FROM all_changes) AS c
    JOIN snapshots AS s USING (account_id, snapshot_date)
    LEFT JOIN account_metadata AS m USING (account_id)
    WHERE s.previous_date IS NOT NULL AND s.snapshot_date >= $since
    ORDER BY s.snapshot_date, c.account_id, c."user" NULLS FIRST, c.kind, c.access_key NULLS FIRST"""  # noqa: S608


def _statement(steps: dict[str, str], result: str) -> str:
    """One statement from module constants: each step as a CTE, then the result."""
    ctes = ",\n".join(f"{name} AS {MATERIALIZATION.get(name, '')} ({sql})" for name, sql in steps.items())
    return f"WITH {ctes}\n{result}"


CHANGES_SQL = _statement(STEPS, RESULT)


# from a day on (its first uses are a filter of a temporary table: read where used, not copied)
# When each key first showed each region and service in some report rows ({source}); the summary that
# `credsight compact` keeps per part (KEY_FIRST_USES_KIND), and what is read of the parts without one.
KEY_FIRST_USES = """
    SELECT account_id, "user", access_key, last_rotated, region, service,
           min(snapshot_date) AS first_seen, arg_min(arn, snapshot_date) AS arn
    FROM (
        SELECT account_id, "user", arn, snapshot_date, run_id, 1 AS access_key,
               access_key_1_last_rotated AS last_rotated,
               access_key_1_last_used_region AS region, access_key_1_last_used_service AS service
        FROM {source}
        WHERE access_key_1_last_used_region IS NOT NULL OR access_key_1_last_used_service IS NOT NULL
        UNION ALL
        SELECT account_id, "user", arn, snapshot_date, run_id, 2,
               access_key_2_last_rotated, access_key_2_last_used_region, access_key_2_last_used_service
        FROM {source}
        WHERE access_key_2_last_used_region IS NOT NULL OR access_key_2_last_used_service IS NOT NULL) AS uses
    ANTI JOIN superseded USING (account_id, snapshot_date, run_id)
    WHERE snapshot_date <= $until AND in_scope($accounts, account_id)
    GROUP BY ALL"""


# The summary `credsight compact` keeps per part: every key's first region and service uses in its rows.
KEY_FIRST_USES_KIND = SummaryKind("key_first_uses", KEY_FIRST_USES, {"until": dt.date.max, "accounts": None})


# From a day on, only the keys that show some region or service from `since` on can show one first: their
# whole history is kept, not every key's (a day's question does not copy a year of first uses).
SHOWN_SINCE = """
    WITH uses AS ({first_uses})
    SELECT u.* FROM uses AS u
    SEMI JOIN (SELECT DISTINCT account_id, "user", access_key, last_rotated FROM uses WHERE first_seen >= $since)
        AS shown
      ON shown.account_id = u.account_id AND shown."user" = u."user" AND shown.access_key = u.access_key
         AND shown.last_rotated IS NOT DISTINCT FROM u.last_rotated"""


def key_first_uses(
    work: Scratch,
    until: dt.date,
    accounts: list[str] | None,
    use_summaries: bool = True,
    *,
    since: dt.date | None = None,
) -> None:
    """Keep the table key_first_use_parts in `work`: first uses from each part's summary where its rows
    all lie on or before `until`, and from the rows of the other parts (new since the last compaction);
    with `since`, those of the keys that show a region or service from that day on only.
    """
    read = reading(work.database, KEY_FIRST_USES_KIND, until, use_summaries)
    work.files("key_history_rows", read.rows, STORED_SCHEMA)
    first_uses = KEY_FIRST_USES.format(source="key_history_rows")
    if read.summaries:
        work.files("key_history_summaries", read.summaries, None)
        first_uses += "\n    UNION ALL BY NAME SELECT * FROM key_history_summaries"
    parameters: dict[str, object] = {"until": until, "accounts": accounts}
    if since is not None:
        first_uses, parameters = SHOWN_SINCE.format(first_uses=first_uses), {**parameters, "since": since}
    work.keep("key_first_use_parts", first_uses, parameters)


# The earliest snapshot some account compares a snapshot from `since` with: the last one before `since`,
# or the account's first.
START_SQL = """
    SELECT min(coalesce(last_before_since, snapshot_date)) AS start FROM (
        SELECT account_id, snapshot_date,
               max(snapshot_date) FILTER (WHERE snapshot_date < $since) OVER (PARTITION BY account_id)
                   AS last_before_since
        FROM daily
        WHERE snapshot_date <= $until AND in_scope($accounts, account_id))"""


def changes(
    database: Database,
    since: dt.date | None = None,
    until: dt.date | None = None,
    accounts: Sequence[str] | None = None,
    use_summaries: bool = True,
) -> pa.Table:
    """The changes seen at each snapshot from `since` to `until` (inclusive) of `accounts` (None: all).

    Rows of CHANGE_SCHEMA sorted by snapshot_date, account_id, user (account-level rows first), kind,
    access_key. Each snapshot is compared with the account's previous collected one, which may be
    older than `since`; an account's first snapshot yields nothing (its users are not "created").
    Key regions and services are new against all stored history up to `until`. The kinds of KINDS only:
    events() adds the severity and the kinds that need a setting.
    """
    found = events(database, since, until, accounts, NO_SETTINGS, use_summaries)
    return found.drop_columns(["severity"]).cast(CHANGE_SCHEMA)


def events(
    database: Database,
    since: dt.date | None = None,
    until: dt.date | None = None,
    accounts: Sequence[str] | None = None,
    settings: EventSettings = DEFAULT_SETTINGS,
    use_summaries: bool = True,
    use_kept: bool = True,
) -> pa.Table:
    """The changes of `changes()` with their severity (rules/events.py), and the kinds of SETTING_KINDS that
    `settings` asks for: rows of EVENT_SCHEMA, in the same order. With the default settings, they are read
    from the events each collection keeps a month at a time when it kept them (rules/kept_events.py)."""
    last = until or dt.date.max
    chosen = None if accounts is None else list(accounts)
    if use_kept and use_summaries and settings == DEFAULT_SETTINGS and since is not None:
        kept = kept_events(database, since, last, chosen)
        if kept is not None:
            return kept.cast(EVENT_SCHEMA)
    parameters = {"since": since or dt.date.min, "until": last, "accounts": chosen}
    start = database.sql(START_SQL, parameters).rows[0]["start"]
    with database.scratch() as work:
        key_first_uses(work, last, chosen, use_summaries, since=since)
        settings_parameters = {
            "revived_days": settings.revived_days,
            "allowed_regions": list(settings.allowed_regions) or None,
        }
        table = work.sql(CHANGES_SQL, {**parameters, "start": start, **settings_parameters}).table
    return table.cast(EVENT_SCHEMA)


check_events(EVENTS, EVERY_KIND)
