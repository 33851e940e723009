"""A notification round: for each destination, the events and newly opened findings it has not been told
(since its watermark), one digest, delivered; its watermark advanced only once it accepted.

- A destination never told anything starts at the latest snapshot day (`since` to start elsewhere): the
  events seen from that day, and every finding open on each account's latest snapshot.
- After that, per account: the events of the snapshots after its watermark, and the findings first seen
  after it (a finding that closed and opened again is new again).
- Events are those of `credsight changes` (rules/changes.py, with the same settings) at or above the
  destination's minimum severity; findings those of `credsight findings`, accepted risks left out.
- Nothing at or above the minimum: nothing is sent, and the watermark moves on (nothing was due).

The events and findings are computed once for every destination of the round, then narrowed per
destination (its accounts, its start per account, its minimum severity).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from credsight.notify import watermarks
from credsight.notify.delivery import Deliver, Delivery
from credsight.notify.digest import Dashboard, Digest, Scope, compose
from credsight.notify.routes import Route
from credsight.notify.watermarks import Watermark
from credsight.query import Database
from credsight.rules.changes import EVENT_SCHEMA, EventSettings, events
from credsight.rules.events import at_or_above
from credsight.rules.exceptions import AcceptedRisk, mark
from credsight.rules.findings import FINDING_SCHEMA, evaluate
from credsight.store import Store, new_run_id

ACCOUNTS = """
    SELECT a.account_id, a.ou_path, a.tags, a.last_snapshot_date FROM accounts AS a
    WHERE a.last_snapshot_date IS NOT NULL ORDER BY a.account_id"""
LINKED_ACCOUNTS = 50  # a digest's dashboard link names its accounts up to this many (a URL stays short)


@dataclass(frozen=True)
class Options:
    since: dt.date | None = None  # where a destination never told anything starts (default: the latest day)
    dashboard_url: str | None = None
    settings: EventSettings = field(default_factory=EventSettings)
    risks: Sequence[AcceptedRisk] = ()
    today: dt.date = field(default_factory=lambda: dt.datetime.now(dt.UTC).date())


@dataclass(frozen=True)
class Pending:
    """What a destination is due: its digest, and the watermark that records it once delivered."""

    route: Route
    digest: Digest
    through: dict[str, dt.date]  # per account, the latest snapshot this digest tells (its next watermark)


@dataclass(frozen=True)
class Outcome:
    route: Route
    digest: Digest
    delivery: Delivery | None  # None: nothing was sent (nothing due, or a dry run)
    watermark: str | None  # the file written, if any


def prepare(database: Database, routes: Sequence[Route], options: Options) -> list[Pending]:
    """Each route's digest and new watermark, from the store as it is; reads only (no delivery, no write)."""
    dashboard = Dashboard.of(options.dashboard_url)
    accounts = database.sql(ACCOUNTS).rows
    latest: dict[str, dt.date] = {row["account_id"]: row["last_snapshot_date"] for row in accounts}
    newest = max(latest.values(), default=options.today)
    first = options.since or newest
    priors = {route.key: watermarks.read(database.store, route.key) for route in routes}
    plans = [_plan(route, accounts, priors[route.key] or Watermark(), first) for route in routes]
    found_events, found_findings = _gather(database, plans, latest, options, any(priors.values()))
    pending = []
    for route, plan in zip(routes, plans, strict=True):
        events_in, start, _never_told = _covered(found_events, plan)
        told_events = events_in.filter(pc.greater_equal(events_in.column("snapshot_date"), start))
        findings_in, start, never_told = _covered(found_findings, plan)
        told_findings = findings_in.filter(
            pc.or_kleene(never_told, pc.greater_equal(findings_in.column("first_seen"), start))
        )
        above_events, below_events = _split(told_events, route.min_severity)
        above_findings, below_findings = _split(told_findings, route.min_severity)
        covered = plan.column("account_id").to_pylist()
        link_ou = route.ous[0] if len(route.ous) == 1 and not route.tags else None
        listed = not (route.every_account or link_ou or len(covered) > LINKED_ACCOUNTS)
        scope = Scope(
            start=min(min(plan.column("start").to_pylist(), default=first), newest),
            end=newest,
            accounts=len(covered),
            min_severity=route.min_severity,
            link_accounts=tuple(covered) if listed else (),
            link_ou=link_ou,
        )
        digest = compose(
            above_events,
            above_findings,
            scope,
            events_below=below_events,
            findings_below=below_findings,
            dashboard=dashboard,
        )
        pending.append(Pending(route, digest, {a: latest[a] for a in covered}))
    return pending


def _plan(route: Route, accounts: Sequence[dict[str, Any]], prior: Watermark, first: dt.date) -> pa.Table:
    """The accounts a route covers, each with its first day still to tell and whether it was never told."""
    covered = [row["account_id"] for row in accounts if route.covers(row["ou_path"], dict(row["tags"] or {}))]
    return pa.table(
        {
            "account_id": pa.array(covered, pa.string()),
            "start": pa.array([prior.start(a, first) for a in covered], pa.date32()),
            "never_told": pa.array([a not in prior.through for a in covered], pa.bool_()),
        }
    )


def _covered(rows: pa.Table, plan: pa.Table) -> tuple[pa.Table, pa.Array, pa.Array]:
    """The rows of the accounts a plan covers, with each row's account's start and never_told."""
    where = pc.index_in(rows.column("account_id"), plan.column("account_id"))
    covered = pc.is_valid(where)
    where = where.filter(covered)
    return rows.filter(covered), plan.column("start").take(where), plan.column("never_told").take(where)


def _gather(
    database: Database, plans: Sequence[pa.Table], latest: dict[str, dt.date], options: Options, first_seen: bool
) -> tuple[pa.Table, pa.Table]:
    """The events from the earliest start any route has, and the open findings, of the accounts with
    something due (a snapshot after their start, or never told anything: their open findings)."""
    due: dict[str, dt.date] = {}
    for plan in plans:
        for account, start, never_told in zip(*(plan.column(n).to_pylist() for n in plan.column_names), strict=True):
            if never_told or start <= latest[account]:
                due[account] = min(start, due.get(account, start))
    if not due:
        return EVENT_SCHEMA.empty_table(), FINDING_SCHEMA.empty_table()
    chosen = sorted(due) if len(due) < len(latest) else None
    # Two questions of their own, asked at once: DuckDB answers each on a cursor of its own, in parallel.
    with ThreadPoolExecutor(max_workers=2) as pool:
        asked_events = pool.submit(events, database, min(due.values()), max(latest.values()), chosen, options.settings)
        evaluation = evaluate(database, None, chosen, with_first_seen=first_seen)
        found_events = asked_events.result()
    findings = mark(evaluation.findings, options.risks, options.today)
    findings = findings.filter(pc.equal(findings.column("status"), "open")).select(FINDING_SCHEMA.names)
    return found_events, findings


def _split(rows: pa.Table, minimum: str) -> tuple[pa.Table, int]:
    """The rows at or above `minimum`, and how many are below it."""
    wanted = pa.array(at_or_above(minimum))
    above = rows.filter(pc.is_in(rows.column("severity"), wanted))
    return above, rows.num_rows - above.num_rows


def send(
    store: Store, pending: Sequence[Pending], deliver: Deliver, *, dry_run: bool = False, run_id: str | None = None
) -> list[Outcome]:
    """Deliver each due digest; write a destination's watermark once it accepted (or once nothing was due).

    With `dry_run`, nothing is delivered and nothing written.
    """
    round_id = run_id or new_run_id()
    outcomes = []
    for item in pending:
        if dry_run:
            outcomes.append(Outcome(item.route, item.digest, None, None))
            continue
        delivery = None if item.digest.empty else deliver(item.route, item.digest)
        written = None
        if delivery is None or delivery.accepted:
            written = watermarks.write(
                store,
                item.route.key,
                round_id,
                item.through,
                events=item.digest.events,
                findings=item.digest.findings,
                sent=delivery is not None,
            )
        outcomes.append(Outcome(item.route, item.digest, delivery, written))
    return outcomes


def notify(
    store: Store,
    routes: Sequence[Route],
    options: Options,
    deliver: Deliver,
    *,
    dry_run: bool = False,
) -> list[Outcome]:
    """A whole round: prepare every route's digest from the store, then send them."""
    with Database(store) as database:
        pending = prepare(database, routes, options)
    return send(store, pending, deliver, dry_run=dry_run)


def summary(outcomes: Sequence[Outcome]) -> dict[str, Any]:
    """The round in numbers (for logs): destinations sent to, failed, with nothing new."""
    return {
        "sent": sum(1 for o in outcomes if o.delivery is not None and o.delivery.accepted),
        "failed": sum(1 for o in outcomes if o.delivery is not None and not o.delivery.accepted),
        "nothing_new": sum(1 for o in outcomes if o.digest.empty),
    }
