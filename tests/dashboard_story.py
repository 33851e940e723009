"""The store the browser tests look at, and what each page should show of it, asked of the store with DuckDB.

The story: the demo organization (8 accounts over 40 days), plus accounts written here that tell what the
demo does not:
- HOSTILE (OU Root/Workloads/Prod): its name is markup (Organizations allows printable ASCII in a name), and
  so are a key's last-used region and service (free text in the report); its console users have names a
  spreadsheet would run ("=1+2", "@evil": IAM allows them), used long ago so they sit far down the tables.
- CROWD (Root/Sandbox): 150 console users, so that a table holds more rows than one block of the grid.
- ROLE_MISSING (Root/Workloads/Prod): a new account whose reader role is missing: it has only failed.
- THROTTLED (Root/Sandbox): collected for three days, then throttled out, written as one run (as the demo
  and a backfill write several days).

The expectations are SQL over the store's views written here, not the dashboard's questions: the rule
catalogue gives each rule's condition (the rules' definition), nothing else is shared with the pages.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pyarrow as pa

from credsight.demo import DemoOrganization
from credsight.demo.store import METADATA_SCHEMA, build_demo_store
from credsight.present.dashboard.pages.migration import told_every
from credsight.query import Database
from credsight.query.maintenance import compact_and_summarise
from credsight.rules.catalogue import RULES, thresholds
from credsight.rules.changes import EventSettings, events
from credsight.rules.events import by_kind
from credsight.rules.exceptions import AcceptedRisk
from credsight.rules.matching import PeopleSettings
from credsight.rules.people import People, mapping_lines, open_people
from credsight.rules.summaries import SUMMARY_KINDS
from credsight.store import Store
from credsight.store.runs import Failure, Run, Snapshot
from tests.conftest import report, user_row

# Markup where a value belongs: shown as text it is harmless; run as HTML it sets window.__xss.
EVIL = '<img src=x onerror="window.__xss=1">'
FORMULA_USERS = ("=1+2", "@evil", "+sum", "-neg")  # names IAM makes; a spreadsheet runs them as formulas
TAB_SERVICE = "\tsvc"  # a last-used service and region that start as a formula would (free text)
CR_REGION = "\r=eu"
HOSTILE, CROWD, ROLE_MISSING, THROTTLED = "999900001111", "999900002222", "999900003333", "999900004444"
PROD = "Root/Workloads/Prod"
CROWD_USERS = 150
ROLE_MISSING_CLASS, ROLE_MISSING_MESSAGE = "role_missing", "AccessDenied: not authorized to perform sts:AssumeRole"
THROTTLED_CLASS, THROTTLED_MESSAGE = "throttled", "Throttling: Rate exceeded"
RISK_REASON = "break-glass user: MFA device in the safe"
DECIDABLE = [rule for rule in RULES if rule.decidable]
RULE_IDS = [rule.id for rule in DECIDABLE]


@dataclass(frozen=True)
class Story:
    store: Store
    days: list[dt.date]  # the demo's snapshot dates, oldest first
    demo_accounts: list[str]
    risk: AcceptedRisk  # accepts one console user without MFA (a demo account's)

    @property
    def newest(self) -> dt.date:
        return self.days[-1]


def quoted(value: str) -> str:
    """A CSV field as AWS would quote one holding quotes, commas or line breaks."""
    return '"' + value.replace('"', '""') + '"'


def hostile_report(day: dt.date, newest: bool) -> Snapshot:
    old = {"password_last_used": "2023-03-04T05:06:07+00:00"}  # far down a table sorted by last sign-in
    rows = [user_row(name, account=HOSTILE, **old) for name in FORMULA_USERS]
    rows.append(user_row("alice", account=HOSTILE, **old, mfa_active="false" if newest else "true"))
    if newest:  # created on the newest day: the change log shows it, with the account's name
        evil_key = {"access_key_1_last_used_region": quoted(EVIL), "access_key_1_last_used_service": quoted(EVIL)}
        rows.append(user_row("bob", account=HOSTILE, **old, **evil_key))
        odd_key = {"access_key_1_last_used_region": quoted(CR_REGION), "access_key_1_last_used_service": TAB_SERVICE}
        rows.append(user_row("carol", account=HOSTILE, **old, **odd_key))
    return Snapshot(report(*rows, account=HOSTILE), f"hostile-{day}.csv", day, HOSTILE)


def crowd_report(day: dt.date, users: int, without_mfa: int) -> Snapshot:
    rows = [
        user_row(
            f"crowd-{n:03d}",
            account=CROWD,
            password_last_used=f"2026-{10 + n % 2}-{1 + n % 28:02d}T{n % 24:02d}:00:00+00:00",
            mfa_active="false" if n < without_mfa else "true",
        )
        for n in range(users)
    ]
    return Snapshot(report(*rows, account=CROWD), f"crowd-{day}.csv", day, CROWD)


def metadata(day: dt.date) -> pa.Table:
    rows = [
        {"account_id": HOSTILE, "name": EVIL, "ou_path": PROD},
        {"account_id": CROWD, "name": "crowd", "ou_path": "Root/Sandbox"},
        {"account_id": ROLE_MISSING, "name": "prod-new", "ou_path": PROD},
        {"account_id": THROTTLED, "name": "sandbox-throttled", "ou_path": "Root/Sandbox"},
    ]
    return pa.Table.from_pylist([{**r, "snapshot_date": day, "state": "ACTIVE"} for r in rows], schema=METADATA_SCHEMA)


def build_story(store: Store) -> Story:
    organization = DemoOrganization(accounts=8, days=40, seed=5)
    build_demo_store(store, organization)
    days = organization.days()
    newest, before = days[-1], days[-2]
    run = Run(store)
    throttled = [
        Snapshot(report(user_row("dave", account=THROTTLED), account=THROTTLED), f"t-{d}.csv", d, THROTTLED)
        for d in days[-4:-1]
    ]
    run.write(
        [hostile_report(before, newest=False), crowd_report(before, CROWD_USERS - 10, 0), *throttled],
        metadata(before),
        failures=[Failure(THROTTLED, THROTTLED_CLASS, THROTTLED_MESSAGE, newest)],
    )
    run.write(
        [hostile_report(newest, newest=True), crowd_report(newest, CROWD_USERS, 5)],
        metadata(newest),
        failures=[Failure(ROLE_MISSING, ROLE_MISSING_CLASS, ROLE_MISSING_MESSAGE, newest)],
    )
    compact_and_summarise(store, SUMMARY_KINDS)
    demo_accounts = sorted(a.account_id for a in organization.accounts())
    with Database(store) as database:
        found = database.sql(MFA_MISSING, {"date": newest, "accounts": demo_accounts}).rows
    account, user = found[0]["account_id"], found[0]["user"]
    risk = AcceptedRisk("console-user-mfa", account, user, RISK_REASON, "secops@example.com", dt.date(2099, 1, 1), 1)
    return Story(store, days, demo_accounts, risk)


# Each account's snapshot as of a day: its latest on or before it.
TAKEN = """
    SELECT account_id, max(snapshot_date) AS snapshot_date FROM reports
    WHERE snapshot_date <= $date AND list_contains($accounts, account_id) GROUP BY account_id"""
AS_OF = f"SELECT r.* FROM reports AS r JOIN ({TAKEN}) USING (account_id, snapshot_date)"  # noqa: S608
MFA_MISSING = f"""
    SELECT account_id, "user" FROM ({AS_OF})
    WHERE password_enabled AND NOT mfa_active AND account_id IN (
        SELECT account_id FROM ({AS_OF}) WHERE password_enabled AND NOT mfa_active
        GROUP BY ALL HAVING count(*) >= 2)
    ORDER BY account_id, "user" """  # noqa: S608


def sql(database: Database, text: str, **parameters: object) -> list[dict[str, Any]]:
    return database.sql(text, parameters).rows


def every_account(database: Database) -> list[str]:
    """Every account anything is known of: snapshots, metadata or attempts."""
    found = sql(
        database,
        "SELECT account_id FROM reports UNION SELECT account_id FROM account_metadata "
        "UNION SELECT account_id FROM runs ORDER BY 1",
    )
    return [r["account_id"] for r in found]


def ou_accounts(database: Database, ou: str) -> list[str]:
    found = sql(
        database,
        "SELECT account_id FROM account_metadata WHERE ou_path = $ou OR starts_with(ou_path, $ou || '/') ORDER BY 1",
        ou=ou,
    )
    return [r["account_id"] for r in found]


def account_names(database: Database) -> dict[str, str | None]:
    return {r["account_id"]: r["name"] for r in sql(database, "SELECT account_id, name FROM account_metadata")}


def taken(database: Database, date: dt.date, accounts: Sequence[str]) -> dict[str, dt.date]:
    found = sql(database, TAKEN, date=date, accounts=list(accounts))
    return {r["account_id"]: r["snapshot_date"] for r in found}


def users_by_class(database: Database, date: dt.date, accounts: Sequence[str]) -> dict[str, int]:
    found = sql(
        database,
        f"""SELECT count(*) FILTER (WHERE user_class = 'human') AS humans,
                   count(*) FILTER (WHERE user_class = 'machine') AS machines,
                   count(*) FILTER (WHERE user_class = 'dormant') AS dormant
            FROM ({AS_OF})""",  # noqa: S608
        date=date,
        accounts=list(accounts),
    )
    return {k: int(v) for k, v in found[0].items()}


def failing(database: Database, date: dt.date, accounts: Sequence[str]) -> dict[str, dict[str, tuple[int, int]]]:
    """Per account and decidable rule: (failing rows, rows the rule looks at), with the default thresholds."""
    counted = ", ".join(
        f'count(*) FILTER (WHERE {rule.applies_to} AND coalesce(({rule.condition}), false)) AS "{rule.id}"'
        for rule in DECIDABLE
    )
    text = f"""
        SELECT r.account_id, count(*) FILTER (WHERE is_root_user(r."user")) AS root_rows,
               count(*) FILTER (WHERE NOT is_root_user(r."user")) AS user_rows, {counted}
        FROM ({AS_OF}) AS r GROUP BY r.account_id"""  # noqa: S608
    found = sql(database, text, date=date, accounts=list(accounts), **thresholds(RULES))
    return {
        row["account_id"]: {
            rule.id: (row[rule.id], row["root_rows"] if rule.scope == "root" else row["user_rows"])
            for rule in DECIDABLE
        }
        for row in found
    }


def trend(database: Database, start: dt.date, end: dt.date, accounts: Sequence[str]) -> dict[str, list[Any]]:
    """Users by class per snapshot day of the period; an account not collected on a day counts its last snapshot."""
    text = """
        WITH days AS (SELECT DISTINCT snapshot_date AS day FROM reports WHERE snapshot_date BETWEEN $from AND $to),
        chosen AS (SELECT DISTINCT account_id FROM reports
                   WHERE snapshot_date BETWEEN $from AND $to AND list_contains($accounts, account_id)),
        taken AS (SELECT d.day, c.account_id, (SELECT max(snapshot_date) FROM reports AS r
                                               WHERE r.account_id = c.account_id AND r.snapshot_date <= d.day) AS at
                  FROM days AS d CROSS JOIN chosen AS c)
        SELECT t.day, count(*) FILTER (WHERE r.user_class = 'human') AS humans,
               count(*) FILTER (WHERE r.user_class = 'machine') AS machines,
               count(*) FILTER (WHERE r.user_class = 'dormant') AS dormant
        FROM taken AS t JOIN reports AS r ON r.account_id = t.account_id AND r.snapshot_date = t.at
        GROUP BY t.day ORDER BY t.day"""
    found = sql(database, text, accounts=list(accounts), **{"from": start, "to": end})
    return {
        "days": [r["day"].isoformat() for r in found],
        **{name: [r[name] for r in found] for name in ("humans", "machines", "dormant")},
    }


def humans(database: Database, date: dt.date, accounts: Sequence[str]) -> list[dict[str, Any]]:
    """The human IAM users left as of the date (a console password), with their last sign-in."""
    text = f"""SELECT account_id, "user", password_last_used FROM ({AS_OF}) WHERE user_class = 'human'"""  # noqa: S608
    return sql(database, text, date=date, accounts=list(accounts))


def humans_by_ou(database: Database, date: dt.date, accounts: Sequence[str]) -> dict[str, int]:
    text = f"""
        SELECT coalesce(m.ou_path, r.account_id) AS place, count(*) AS humans
        FROM ({AS_OF}) AS r LEFT JOIN account_metadata AS m USING (account_id)
        WHERE r.user_class = 'human' GROUP BY ALL"""  # noqa: S608
    return {r["place"]: r["humans"] for r in sql(database, text, date=date, accounts=list(accounts))}


# Each active key of a row, with the region and service it was last used in (the marker where AWS wrote one).
KEYS = """
    SELECT r.snapshot_date, r.account_id, r.account_name, r."user", k.n AS key, k.region, k.service, k.used,
           k.used >= (CAST(r.snapshot_date AS TIMESTAMP) AT TIME ZONE 'UTC') - INTERVAL 1 DAY AS used_recently,
           k.typed_region
    FROM ({rows}) AS r, LATERAL (VALUES
        (1, r.access_key_1_active, coalesce(r.access_key_1_last_used_region, r.access_key_1_last_used_region_marker),
         coalesce(r.access_key_1_last_used_service, r.access_key_1_last_used_service_marker),
         r.access_key_1_last_used_date, r.access_key_1_last_used_region),
        (2, r.access_key_2_active, coalesce(r.access_key_2_last_used_region, r.access_key_2_last_used_region_marker),
         coalesce(r.access_key_2_last_used_service, r.access_key_2_last_used_service_marker),
         r.access_key_2_last_used_date, r.access_key_2_last_used_region))
        AS k(n, active, region, service, used, typed_region)
    WHERE coalesce(k.active, false)"""


def key_use_per_day(database: Database, start: dt.date, end: dt.date, accounts: Sequence[str]) -> dict[str, Any]:
    """Per region: (day, keys used since the day before) over every snapshot of the period."""
    rows = "SELECT * FROM reports WHERE snapshot_date BETWEEN $from AND $to AND list_contains($accounts, account_id)"
    text = f"""SELECT snapshot_date, coalesce(region, '(never used)') AS region,
                      count(*) FILTER (WHERE used_recently) AS n
               FROM ({KEYS.format(rows=rows)}) GROUP BY ALL ORDER BY ALL"""  # noqa: S608
    per_region: dict[str, list[tuple[str, int]]] = {}
    for r in sql(database, text, accounts=list(accounts), **{"from": start, "to": end}):
        per_region.setdefault(r["region"], []).append((r["snapshot_date"].isoformat(), r["n"]))
    return per_region


def key_use_on(database: Database, date: dt.date, accounts: Sequence[str]) -> list[tuple[Any, ...]]:
    """(account, name, region, service, active keys, used since the day before) of each account's snapshot."""
    text = f"""SELECT account_id, account_name, coalesce(region, '(never used)') AS region,
                      coalesce(service, '-') AS service, count(*) AS keys, count(*) FILTER (WHERE used_recently) AS used
               FROM ({KEYS.format(rows=AS_OF)}) GROUP BY ALL"""  # noqa: S608
    return sorted(tuple(r.values()) for r in sql(database, text, date=date, accounts=list(accounts)))


def keys_outside(database: Database, date: dt.date, accounts: Sequence[str], allowed: Sequence[str]) -> list[Any]:
    """(account, user, key, region) of each active key last used outside the allowed regions."""
    text = f"""SELECT account_id, "user", key, typed_region FROM ({KEYS.format(rows=AS_OF)})
               WHERE typed_region IS NOT NULL AND NOT list_contains($allowed, typed_region)"""  # noqa: S608
    found = sql(database, text, date=date, accounts=list(accounts), allowed=list(allowed))
    return sorted(tuple(r.values()) for r in found)


def health(database: Database, date: dt.date, accounts: Sequence[str]) -> dict[str, dict[str, Any]]:
    """Per account attempted by the date: the last attempt (latest snapshot day, then latest finished), the last
    success and its age, the last failure with its class and message."""
    text = """
        WITH attempts AS (
            SELECT *, row_number() OVER (PARTITION BY account_id ORDER BY snapshot_date DESC, finished_at DESC) AS n,
                      row_number() OVER (PARTITION BY account_id, status = 'failed'
                                         ORDER BY snapshot_date DESC, finished_at DESC) AS n_of_status
            FROM runs WHERE kind = 'credential_report' AND snapshot_date <= $date
              AND list_contains($accounts, account_id))
        SELECT a.account_id, a.status AS last_status,
               (SELECT max(snapshot_date) FROM attempts AS s WHERE s.account_id = a.account_id AND s.status = 'success')
                   AS last_success,
               f.snapshot_date AS last_failure, f.error_class, f.error_message
        FROM attempts AS a
        LEFT JOIN (SELECT * FROM attempts WHERE status = 'failed' AND n_of_status = 1) AS f USING (account_id)
        WHERE a.n = 1"""
    found = sql(database, text, date=date, accounts=list(accounts))
    for row in found:
        row["days_since_success"] = (date - row["last_success"]).days if row["last_success"] else None
    return {row.pop("account_id"): row for row in found}


def changes_of_users(database: Database, start: dt.date, end: dt.date, accounts: Sequence[str]) -> set[tuple[Any, ...]]:
    """(seen on, account, user, kind) of the user-level changes: created, deleted, password and MFA on or off.

    Each snapshot against the account's previous one; a user whose creation time changed was deleted and made
    again; an account's first snapshot has no changes, the root row none of these."""
    text = """
        WITH snapshots AS (
            SELECT * FROM (
                SELECT account_id, snapshot_date AS seen,
                       lag(snapshot_date) OVER (PARTITION BY account_id ORDER BY snapshot_date) AS previous
                FROM (SELECT DISTINCT account_id, snapshot_date FROM reports
                      WHERE list_contains($accounts, account_id)))
            WHERE previous IS NOT NULL AND seen BETWEEN $from AND $to),
        later AS (SELECT s.seen, r.* FROM snapshots AS s JOIN reports AS r
                  ON r.account_id = s.account_id AND r.snapshot_date = s.seen WHERE NOT is_root_user(r."user")),
        earlier AS (SELECT s.seen, r.* FROM snapshots AS s JOIN reports AS r
                    ON r.account_id = s.account_id AND r.snapshot_date = s.previous WHERE NOT is_root_user(r."user")),
        pairs AS (
            SELECT coalesce(l.seen, e.seen) AS seen, coalesce(l.account_id, e.account_id) AS account_id,
                   coalesce(l."user", e."user") AS "user", e AS earlier, l AS later,
                   e."user" IS NOT NULL AND l."user" IS NOT NULL
                       AND e.user_creation_time IS NOT DISTINCT FROM l.user_creation_time AS same
            FROM later AS l FULL JOIN earlier AS e
              ON l.account_id = e.account_id AND l.seen = e.seen AND l."user" = e."user")
        SELECT seen, account_id, "user", unnest([
            CASE WHEN later."user" IS NOT NULL AND NOT same THEN 'user_created' END,
            CASE WHEN earlier."user" IS NOT NULL AND NOT same THEN 'user_deleted' END,
            CASE WHEN same AND NOT earlier.password_enabled AND later.password_enabled THEN 'password_enabled' END,
            CASE WHEN same AND earlier.password_enabled AND NOT later.password_enabled THEN 'password_disabled' END,
            CASE WHEN same AND NOT earlier.mfa_active AND later.mfa_active THEN 'mfa_enabled' END,
            CASE WHEN same AND earlier.mfa_active AND NOT later.mfa_active THEN 'mfa_removed' END]) AS kind
        FROM pairs"""
    found = sql(database, text, accounts=list(accounts), **{"from": start, "to": end})
    return {(r["seen"].isoformat(), r["account_id"], r["user"], r["kind"]) for r in found if r["kind"]}


def events_of(
    database: Database, start: dt.date, end: dt.date, accounts: Sequence[str], allowed: Sequence[str]
) -> list[dict[str, Any]]:
    """The change log's events of the period with their severity (rules/changes.py), every kind."""
    settings = EventSettings(allowed_regions=tuple(allowed))
    found: list[dict[str, Any]] = events(database, start, end, list(accounts), settings).to_pylist()
    return found


def informational(kind: str) -> bool:
    """Whether a kind of change is informational in the event catalogue (folded on the timeline)."""
    return by_kind()[kind].severity == "informational"


def people(database: Database) -> People:
    """The people tables of the store, with the demo's mapping file (the store's people-mapping.csv)."""
    settings = PeopleSettings()
    return open_people(database, settings, *mapping_lines(database.store, settings))


def people_states(database: Database, date: dt.date, accounts: Sequence[str]) -> list[dict[str, Any]]:
    """Each person's IAM user as of the date with its migration state: the rules' answer (rules/people.py, whose
    matching and states tests/test_people.py works out by hand), which the page must show whole."""
    return people(database).states(date, list(accounts)).to_pylist()


def people_by_state(database: Database, start: dt.date, end: dt.date, accounts: Sequence[str]) -> dict[str, Any]:
    """Per state, (day, users) of the burn-down the page draws for the period (two weeks a step past 120 days)."""
    every = told_every(start, end)  # as the page tells it
    rows = people(database).burn_down(start, end, list(accounts), every=every).to_pylist()
    per_state: dict[str, Counter[str]] = {}
    for row in rows:
        per_state.setdefault(row["state"], Counter())[row["snapshot_date"].isoformat()] += row["users"]
    return {state: sorted(days.items()) for state, days in per_state.items()}


def failing_users(database: Database, date: dt.date, account: str, rule_id: str) -> list[str]:
    """The users of the account's snapshot as of the date that fail the rule, by name."""
    (rule,) = [r for r in DECIDABLE if r.id == rule_id]
    text = f"""SELECT r."user" FROM ({AS_OF}) AS r
               WHERE {rule.applies_to} AND coalesce(({rule.condition}), false) ORDER BY 1"""  # noqa: S608
    found = sql(database, text, date=date, accounts=[account], **rule.thresholds)
    return [r["user"] for r in found]
