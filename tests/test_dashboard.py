"""What each page of the dashboard shows, in real headless Chromium against a real server over the story store
(tests/dashboard_story.py), compared with the store asked straight with DuckDB: cards, figures through the
plotly object in the page, tables through the grid (every block of rows).

The filters are in test_dashboard_filters.py, the tables' sort, filter and Download CSV and the compliance
click in test_dashboard_tables.py, markup and requests in test_dashboard_safety.py, the empty store in
test_dashboard_empty.py.
"""

from __future__ import annotations

import datetime as dt
from urllib.parse import quote

import pytest
from playwright.sync_api import expect

from credsight.present.dashboard import filters
from credsight.present.dashboard.pages.users import RESULTS
from credsight.present.dashboard.shell import NAVIGATION
from credsight.query import Database
from tests import dashboard_story as expected
from tests.dashboard_browser import (
    ALLOWED_REGIONS,
    Tab,
    browser,
    cell,
    choose_account,
    context,
    database,
    grid_rows,
    screenshot,
    server,
    small_rows,
    story,
    tab,
    traces,
    view,
)
from tests.dashboard_pages import (
    USER_KINDS,
    scope_of,
    shows_changes,
    shows_compliance,
    shows_health,
    shows_migration,
    shows_overview,
    shows_regions,
)
from tests.dashboard_story import Story

__all__ = ["browser", "context", "database", "server", "story", "tab"]  # the fixtures this module uses


def test_overview_shows_coverage_users_risks_heatmap_and_trend_of_the_store(
    tab: Tab, database: Database, story: Story
) -> None:
    tab.open("/")
    screenshot(tab.page, "overview")
    shows_overview(tab, scope_of(database, story.newest))


def test_migration_shows_the_human_users_left_by_ou_and_over_time(tab: Tab, database: Database, story: Story) -> None:
    tab.open("/migration")
    screenshot(tab.page, "migration")
    shows_migration(tab, scope_of(database, story.newest))


def test_compliance_shows_failing_and_evaluated_users_per_rule_and_account(
    tab: Tab, database: Database, story: Story
) -> None:
    tab.open("/compliance")
    screenshot(tab.page, "compliance")
    shows_compliance(tab, scope_of(database, story.newest))
    expect(tab.page.locator("#compliance-notes")).to_contain_text("root-hardware-mfa")  # said, not guessed


def test_regions_shows_key_use_by_region_and_service_and_keys_outside_the_allowed_regions(
    tab: Tab, database: Database, story: Story
) -> None:
    tab.open("/regions")
    screenshot(tab.page, "regions")
    shows_regions(tab, scope_of(database, story.newest))


def test_changes_shows_the_events_of_the_last_seven_days_the_worst_first(
    tab: Tab, database: Database, story: Story
) -> None:
    tab.open("/changes")
    screenshot(tab.page, "changes")
    shows_changes(tab, scope_of(database, story.newest))


def test_health_lists_failed_accounts_with_their_class_and_message(tab: Tab, database: Database, story: Story) -> None:
    tab.open("/health")
    screenshot(tab.page, "health")
    shows_health(tab, scope_of(database, story.newest))
    index = {row["account_id"]: i for i, row in enumerate(grid_rows(tab.page, "health-table-grid"))}
    for account, error_class, message in (
        (expected.ROLE_MISSING, expected.ROLE_MISSING_CLASS, expected.ROLE_MISSING_MESSAGE),
        (expected.THROTTLED, expected.THROTTLED_CLASS, expected.THROTTLED_MESSAGE),
    ):  # as the operator reads them
        for column, text in (("last_status", "failed"), ("error_class", error_class), ("error_message", message)):
            expect(cell(tab.page, "health-table-grid", index[account], column)).to_have_text(text)


def test_the_user_search_finds_users_of_every_account_and_opens_one(tab: Tab, database: Database, story: Story) -> None:
    tab.open("/users")
    tab.page.locator("#user-search").fill("bob")
    found = expected.sql(
        database,
        """SELECT count(*) AS n FROM latest WHERE contains(lower("user"), 'bob') OR contains(lower(arn), 'bob')
           OR contains(lower(coalesce(account_name, '')), 'bob')""",
    )[0]["n"]
    expect(tab.page.locator("#user-results p")).to_have_text(f"{min(found, RESULTS)} users")
    link = tab.page.get_by_role("link", name=f"bob in {expected.HOSTILE} {expected.EVIL}", exact=True)
    link.click()
    tab.drawn(view("/users", accounts=expected.HOSTILE, user="bob"))
    expect(tab.page.locator("#users-detail h2")).to_have_text(f"bob in {expected.HOSTILE}")
    history = small_rows(tab.page, "user-history")  # bob was made on the newest day
    assert [(r["snapshot_date"], r["access_key_1_last_used_region"]) for r in history] == [
        (story.newest.isoformat(), expected.EVIL)
    ]


def test_a_users_page_shows_their_snapshots_key_ages_and_changes(tab: Tab, database: Database, story: Story) -> None:
    (chosen,) = expected.sql(
        database,
        """SELECT account_id, "user" FROM latest
           WHERE list_contains($accounts, account_id) AND user_class = 'human' AND access_key_1_active
           ORDER BY account_id, "user" LIMIT 1""",
        accounts=story.demo_accounts,
    )
    account, user = chosen["account_id"], chosen["user"]
    tab.open("/users")
    choose_account(tab.page, account)  # (a link with ?accounts= can lose it: test_dashboard_filters.py)
    tab.drawn(view("/users", accounts=account))
    tab.page.locator("#user-picker").click()
    tab.page.get_by_role("option", name=user, exact=True).click()
    tab.drawn(view("/users", accounts=account, user=user))
    expect(tab.page).to_have_url(f"{tab.base}/users?accounts={account}&user={quote(user)}")
    expect(tab.page.locator("#users-detail h2")).to_have_text(f"{user} in {account}")
    screenshot(tab.page, "user")
    states = expected.sql(
        database,
        """SELECT snapshot_date, access_key_1_active AS active, access_key_1_last_rotated AS rotated, mfa_active
           FROM reports WHERE account_id = $account AND "user" = $user ORDER BY snapshot_date""",
        account=account,
        user=user,
    )
    history = small_rows(tab.page, "user-history")
    assert [(r["snapshot_date"], r["mfa_active"]) for r in history] == [
        (s["snapshot_date"].isoformat(), s["mfa_active"]) for s in states
    ]
    ages = {t["name"]: t["y"] for t in traces(tab.page, "user-ages")}
    assert ages["key 1 age (days)"] == [
        (s["snapshot_date"] - s["rotated"].date()).days if s["active"] and s["rotated"] else None for s in states
    ]
    every = expected.changes_of_users(database, story.days[0], story.newest, [account])
    shown = [(r["snapshot_date"], account, user, r["kind"]) for r in small_rows(tab.page, "user-events")]
    assert {c for c in shown if c[3] in USER_KINDS} == {c for c in every if c[2] == user}
    expect(tab.page.locator("#users-detail h3").first).to_have_text(f"Events ({len(shown)})")


def test_a_persons_page_lists_their_iam_users_in_every_account(tab: Tab, database: Database, story: Story) -> None:
    states = expected.people_states(database, story.newest, scope_of(database, story.newest).accounts)
    per_person: dict[str, list[dict[str, object]]] = {}
    for row in states:
        if row["person"]:
            per_person.setdefault(row["person"], []).append(row)
    person = max(sorted(per_person), key=lambda p: len(per_person[p]))  # the one with the most IAM users
    tab.open(view("/migration", person=person))  # as the person picker sets it
    expect(tab.page.locator("#migration-person h2")).to_have_text(person)
    shown = small_rows(tab.page, "migration-person-accounts")
    assert sorted((r["account_id"], r["user"], r["state"]) for r in shown) == sorted(
        (r["account_id"], r["user"], r["state"]) for r in per_person[person]
    )


def test_the_person_picker_finds_anyone_by_what_is_typed(
    tab: Tab, database: Database, story: Story, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The picker lists a few people at a time (thousands would each be indexed by the browser); typing part of
    a name finds any of them on the server, and picking one opens their page."""
    monkeypatch.setattr(filters, "CHOICES_SHOWN", 2)
    day = story.newest - dt.timedelta(days=2)  # a view no other test draws (the server keeps what it drew)
    states = expected.people_states(database, day, scope_of(database, story.newest).accounts)
    people = sorted({str(r["person"]) for r in states if r["person"]})
    person = people[-1]  # not among the first two listed
    tab.open(view("/migration", date=day.isoformat()))
    picker = tab.page.locator("#migration-person-picker")
    picker.click()
    expect(tab.page.get_by_role("option")).to_have_count(2)
    assert person not in tab.page.get_by_role("option").all_text_contents()
    tab.page.locator("input.dash-dropdown-search:visible").fill(person[1:-1].upper())
    option = tab.page.get_by_role("option", name=person, exact=True)
    expect(option).to_have_count(1)
    option.click()
    expect(tab.page.locator("#migration-person h2")).to_have_text(person)
    expect(tab.page).to_have_url(tab.base + view("/migration", date=day.isoformat(), person=person))


def test_the_severity_filter_narrows_the_event_timeline(tab: Tab, database: Database, story: Story) -> None:
    start = story.newest - dt.timedelta(days=6)
    found = expected.events_of(
        database, start, story.newest, scope_of(database, story.newest).accounts, ALLOWED_REGIONS
    )
    high = [e for e in found if e["severity"] in ("critical", "high")]
    assert high and len(high) < len(found)  # the story has both: the filter has something to narrow
    tab.open("/changes")
    for severity in ("medium", "low"):  # untick them as a person does; informational is not ticked
        tab.page.locator("#changes-severity label").filter(has_text=severity).locator("input").uncheck()
    tab.drawn(view("/changes", severity="high,critical"))
    rows = grid_rows(tab.page, "changes-table-grid")
    assert sorted((r["account_id"], r["user"], r["kind"]) for r in rows) == sorted(
        (e["account_id"], e["user"], e["kind"]) for e in high
    )
    expect(tab.page.locator("#changes-table-title")).to_have_text(f"Events ({len(high)}), the worst first")


@pytest.mark.parametrize("path", [path for path, _label in NAVIGATION])
def test_a_date_before_every_snapshot_is_said_in_words_on_every_page(tab: Tab, path: str) -> None:
    """Each part says why it has nothing to show (no snapshot then, no Identity Center then), and the page is
    drawn: a question the store cannot answer is never a server error (the tab must end clean)."""
    tab.open(view(path, date="2020-01-01"))  # every part drew (an error would leave its mark behind)
    said = {
        "/": ("#overview-cards .notice", "No snapshot on or before 2020-01-01 for these accounts."),
        "/migration": ("#migration-summary .notice", "2020-01-01 is before the first Identity Center snapshot"),
    }
    if path in said:
        where, text = said[path]
        expect(tab.page.locator(where)).to_contain_text(text)
    tab.clean()  # no failed response, no error in the server's log


def test_an_unknown_page_says_so(tab: Tab) -> None:
    tab.page.goto(tab.base + "/no-such-page")
    expect(tab.page.locator("#page h1")).to_have_text("Not built yet")
    expect(tab.page.locator("#page .notice")).to_have_text(
        "The page /no-such-page is not part of this version of credsight."
    )
    expect(tab.page.locator("#nav-overview")).to_be_visible()
    assert "Traceback" not in tab.page.locator("body").inner_text()


def test_figures_draw_with_plotlys_cartesian_bundle_and_pages_without_one_load_none(tab: Tab) -> None:
    tab.requests.clear()
    tab.open("/users")
    assert not [u for u in tab.requests if "plotly" in u]  # no figure: no plotly.js
    tab.open("/")
    assert traces(tab.page, "overview-heatmap")[0]["type"] == "heatmap"
    assert traces(tab.page, "overview-trend")[0]["type"] == "scatter"
    loaded = [u.split("?")[0].rsplit("/", 1)[-1] for u in tab.requests if "plotly" in u]
    assert loaded == ["plotly-cartesian.min.js"]  # 1.5 MB, not the full bundle's 4.8
    tab.clean()
