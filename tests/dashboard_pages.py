"""What each page shows for a view, read from the page in the browser and compared with the store.

A `Scope` is what a view looks at: a date and the accounts its filters choose (every account, an OU's, one).
Each `shows_<page>` reads the page as drawn and asserts that its cards, figures and tables hold exactly the
numbers the store gives for that scope (tests/dashboard_story.py asks them with DuckDB).
"""

from __future__ import annotations

import datetime as dt
import html
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from playwright.sync_api import expect

from credsight.present.questions import HEADLINES
from credsight.query import Database
from credsight.rules.people import MIGRATED, STATES, WORKLISTS
from credsight.rules.severity import SEVERITIES
from tests import dashboard_story as expected
from tests.dashboard_browser import ALLOWED_REGIONS, Tab, cards, grid_rows, numbers, traces, view

DAY = dt.timedelta(days=1)


@dataclass(frozen=True)
class Scope:
    database: Database
    date: dt.date
    accounts: list[str]
    filters: dict[str, str] = field(default_factory=dict)  # as the URL gives them

    def mark(self, path: str) -> str:
        return view(path, **self.filters)


def same(shown: Any, wanted: Any, what: str) -> None:
    """Assert that the page shows what the store gives, saying where they differ (helper modules get no
    rewritten asserts)."""
    if shown == wanted:
        return
    if isinstance(shown, dict) and isinstance(wanted, dict):
        keys = sorted(set(shown) | set(wanted), key=str)
        detail: object = {
            k: (shown.get(k, "<none>"), wanted.get(k, "<none>")) for k in keys if shown.get(k) != wanted.get(k)
        }
    elif isinstance(shown, set | frozenset) and isinstance(wanted, set | frozenset):
        detail = {
            "only shown": sorted(shown - wanted, key=str)[:10],
            "only in the store": sorted(wanted - shown, key=str)[:10],
        }
    elif isinstance(shown, list) and isinstance(wanted, list):
        first = next(
            (i for i, (a, b) in enumerate(zip(shown, wanted, strict=False)) if a != b), min(len(shown), len(wanted))
        )
        detail = {
            "lengths": (len(shown), len(wanted)),
            "first difference": first,
            "shown": shown[first : first + 3],
            "store": wanted[first : first + 3],
        }
    else:
        detail = (shown, wanted)
    raise AssertionError(f"{what}: the page and the store differ (shown, store): {detail}")


def scope_of(database: Database, date: dt.date, ou: str | None = None, accounts: Sequence[str] = ()) -> Scope:
    """The scope of a URL's filters: `ou` and `accounts` as the filter bar sets them."""
    chosen = expected.ou_accounts(database, ou) if ou else expected.every_account(database)
    if accounts:
        chosen = [a for a in chosen if a in accounts]
    filters = {"accounts": ",".join(accounts), "ou": ou or ""}
    return Scope(database, date, chosen, {k: v for k, v in filters.items() if v})


def dated(scope: Scope, date: dt.date) -> Scope:
    return Scope(scope.database, date, scope.accounts, {**scope.filters, "date": date.isoformat()})


def plotted(trace: dict[str, Any]) -> list[tuple[Any, Any]]:
    return list(zip(trace["x"], trace["y"], strict=True))


def by_class(shown: list[dict[str, Any]], wanted: dict[str, list[Any]]) -> None:
    """A users-by-class trend shows each class's count per day."""
    per_class = {t["name"]: plotted(t) for t in shown}
    for name in ("humans", "machines", "dormant"):
        same(per_class[name], list(zip(wanted["days"], wanted[name], strict=True)), f"users by class: {name}")


def shows_overview(tab: Tab, scope: Scope) -> None:
    page, database, date, accounts = tab.page, scope.database, scope.date, scope.accounts
    expect(page.locator("#overview-heading h1")).to_have_text(f"Overview on {date} (UTC)")
    taken = expected.taken(database, date, accounts)
    stale = [a for a, day in taken.items() if day < date - DAY]
    failed = [a for a, h in expected.health(database, date, accounts).items() if h["last_status"] == "failed"]
    users = expected.users_by_class(database, date, accounts)
    failing = expected.failing(database, date, accounts)
    per_rule = Counter({rule: sum(f[rule][0] for f in failing.values()) for rule in expected.RULE_IDS})
    cards_wanted = {
        "accounts covered": len(taken) - len(stale),
        "accounts stale (no snapshot for 2+ days)": len(stale),
        "accounts whose last collection failed": len(failed),
        "human IAM users": users["humans"],
        "machine IAM users": users["machines"],
        "dormant IAM users": users["dormant"],
        **{label: per_rule[rule] for rule, label in HEADLINES},
    }
    same(numbers(page, "#overview-cards"), cards_wanted, "cards")
    (heatmap,) = traces(page, "overview-heatmap")
    shown = {
        (r, a): z
        for r, row in zip(heatmap["y"], heatmap["z"], strict=True)
        for a, z in zip(heatmap["x"], row, strict=True)
    }
    same(shown, {(r, a): counts[r][0] for a, counts in failing.items() for r in expected.RULE_IDS}, "heatmap")
    by_class(traces(page, "overview-trend"), expected.trend(database, date - 89 * DAY, date, accounts))


def shows_migration(tab: Tab, scope: Scope) -> None:
    """The migration per person: the cards count each state, the burn-down and the by-OU bars draw them, the
    worklists and the table of every person's IAM user list exactly the users in each state."""
    page, database, date, accounts = tab.page, scope.database, scope.date, scope.accounts
    expect(page.locator("#migration-summary h1")).to_have_text(f"SSO migration on {date} (UTC)")
    states = expected.people_states(database, date, accounts)
    per_state = Counter(s["state"] for s in states)
    left = sum(n for state, n in per_state.items() if state not in MIGRATED)
    shown = numbers(page, "#migration-summary")
    same(
        {k: v for k, v in shown.items() if not k.startswith("machine")},
        {"people's IAM users left to migrate": left, **{s.replace("_", " "): per_state[s] for s in STATES}},
        "cards",
    )
    assert cards(page, "#migration-summary")["projection (last 60 days)"].strip()
    drawn = {t["name"]: [(x, y) for x, y in plotted(t) if y] for t in traces(page, "migration-trend")}
    wanted = expected.people_by_state(database, date - 179 * DAY, date, accounts)
    nonzero = {k: [d for d in v if d[1]] for k, v in wanted.items()}
    same({k: v for k, v in drawn.items() if v}, {k: v for k, v in nonzero.items() if v}, "burn-down")
    bars = {(html.unescape(x), t["name"]): y for t in traces(page, "migration-by-ou") for x, y in plotted(t) if y}
    same(bars, dict(Counter((s["ou_path"] or "(no OU)", s["state"]) for s in states)), "states by OU")
    for state in WORKLISTS:
        part = f"migration-{state.replace('_', '-')}"
        rows = grid_rows(page, f"{part}-grid")
        same(sorted((r["account_id"], r["user"]) for r in rows), users_in(states, state), state)
    expect(page.locator("#migration-everyone-title")).to_contain_text(f"Every person's IAM user ({len(states)})")
    rows = grid_rows(page, "migration-everyone-grid")
    same(
        Counter((r["account_id"], r["user"], r["state"]) for r in rows),
        Counter((s["account_id"], s["user"], s["state"]) for s in states),
        "every person's IAM user",
    )


def users_in(states: list[dict[str, Any]], state: str) -> list[tuple[str, str]]:
    return sorted((s["account_id"], s["user"]) for s in states if s["state"] == state)


def shows_compliance(tab: Tab, scope: Scope) -> None:
    page, database, date, accounts = tab.page, scope.database, scope.date, scope.accounts
    expect(page.locator("#compliance-heading h1")).to_have_text(f"Compliance on {date} (UTC)")
    failing = expected.failing(database, date, accounts)
    names = expected.account_names(database)
    rows = grid_rows(page, "compliance-matrix-grid")
    same(
        {r["account_id"]: r for r in rows},
        {
            account: {
                "account_id": account,
                "name": names.get(account),
                **{rule: f"{n} / {of}" if n else "pass" for rule, (n, of) in counts.items()},
            }
            for account, counts in failing.items()
        },
        "compliance matrix",
    )


def shows_regions(tab: Tab, scope: Scope) -> None:
    page, database, date, accounts = tab.page, scope.database, scope.date, scope.accounts
    expect(page.locator("#regions-heading h1")).to_have_text(f"Regions and services on {date} (UTC)")
    shown = {html.unescape(t["name"]): plotted(t) for t in traces(page, "regions-trend")}
    same(shown, expected.key_use_per_day(database, date - 89 * DAY, date, accounts), "key use per region and day")
    rows = grid_rows(page, "regions-table-grid")
    columns = ("account_id", "account_name", "region", "service", "keys", "keys_used_recently")
    same(sorted(tuple(r[c] for c in columns) for r in rows), expected.key_use_on(database, date, accounts), "key use")
    outside = expected.keys_outside(database, date, accounts, ALLOWED_REGIONS)
    title = f"Keys last used outside {', '.join(ALLOWED_REGIONS)} ({len(outside)})"
    expect(page.locator("#regions-outside-title")).to_have_text(title)
    rows = grid_rows(page, "regions-outside-grid")
    same(sorted((r["account_id"], r["user"], r["key"], r["region"]) for r in rows), outside, "keys outside")


USER_KINDS = {"user_created", "user_deleted", "password_enabled", "password_disabled", "mfa_enabled", "mfa_removed"}


def shows_changes(tab: Tab, scope: Scope) -> None:
    """The event timeline: events per day by severity (every event), and the table of the period's events, the
    worst first, with the informational ones folded into a count."""
    page, database, date, accounts = tab.page, scope.database, scope.date, scope.accounts
    start = date - 6 * DAY
    expect(page.locator("#changes-heading h1")).to_have_text(f"Changes from {start} to {date} (UTC)")
    found = expected.events_of(database, start, date, accounts, ALLOWED_REGIONS)
    per_day = Counter((e["severity"], e["snapshot_date"].isoformat()) for e in found)
    shown = {(t["name"], day): n for t in traces(page, "changes-per-day") for day, n in plotted(t)}
    same(shown, dict(per_day), "events per day and severity")
    folded = sum(e["severity"] == "informational" for e in found)
    rows = grid_rows(page, "changes-table-grid")
    expect(page.locator("#changes-table-title")).to_have_text(f"Events ({len(found) - folded}), the worst first")
    same(len(rows), len(found) - folded, "events listed")
    ranks = [SEVERITIES.index(r["severity"]) for r in rows]
    same(ranks, sorted(ranks, reverse=True), "severities, the worst first")
    same({r["account_id"] for r in rows} - set(accounts), set(), "accounts outside the scope")
    users = {(r["snapshot_date"], r["account_id"], r["user"], r["kind"]) for r in rows if r["kind"] in USER_KINDS}
    wanted = {c for c in expected.changes_of_users(database, start, date, accounts) if not expected.informational(c[3])}
    same(users, wanted, "user changes")
    if folded:  # what the table leaves out is said
        expect(page.locator("#changes-folded")).to_contain_text(f"{folded} informational events")


def shows_health(tab: Tab, scope: Scope) -> None:
    page, database, date, accounts = tab.page, scope.database, scope.date, scope.accounts
    expect(page.locator("#health-summary h1")).to_have_text("Collection health")
    health = expected.health(database, date, accounts)
    cards_wanted = {
        "accounts": len(health),
        "last attempt failed": sum(h["last_status"] == "failed" for h in health.values()),
        "no success for 2+ days, or never": sum(
            h["days_since_success"] is None or h["days_since_success"] > 1 for h in health.values()
        ),
    }
    same(numbers(page, "#health-summary"), cards_wanted, "cards")
    columns = ("last_status", "last_success", "days_since_success", "last_failure", "error_class", "error_message")
    rows = grid_rows(page, "health-table-grid")
    plain = {a: {c: v.isoformat() if isinstance(v, dt.date) else v for c, v in h.items()} for a, h in health.items()}
    same({r["account_id"]: {c: r[c] for c in columns} for r in rows}, plain, "health per account")


PAGES = {
    "/": shows_overview,
    "/migration": shows_migration,
    "/compliance": shows_compliance,
    "/regions": shows_regions,
    "/changes": shows_changes,
    "/health": shows_health,
}
