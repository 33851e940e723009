"""The filter bar in the browser: the OU filter narrows every figure and table of a page to exactly the OU's
accounts, the date picker moves the snapshot, one account alone, a link reproduces a view, the navigation
keeps the filters. Each page is compared with the store for the new view (tests/dashboard_pages.py).
"""

from __future__ import annotations

import datetime as dt

import pytest
from playwright.sync_api import Route, expect

from credsight.present.dashboard import filters
from credsight.query import Database
from tests import dashboard_story as expected
from tests.dashboard_browser import (
    Tab,
    browser,
    choose_account,
    choose_ou,
    context,
    database,
    server,
    story,
    tab,
    type_date,
)
from tests.dashboard_pages import PAGES, dated, scope_of, shows_compliance, shows_health, shows_overview
from tests.dashboard_story import Story

__all__ = ["browser", "context", "database", "server", "story", "tab"]  # the fixtures this module uses

PAGE_PATHS = list(PAGES)


def test_the_prod_ou_is_the_accounts_the_story_put_there(database: Database, story: Story) -> None:
    """What the OU tests below rest on: a demo account, the hostile one and the one whose role is missing."""
    names = expected.account_names(database)
    (demo,) = [a for a in story.demo_accounts if names[a] == "prod-payments"]
    assert expected.ou_accounts(database, expected.PROD) == sorted([demo, expected.HOSTILE, expected.ROLE_MISSING])


@pytest.mark.parametrize("path", PAGE_PATHS)
def test_the_ou_filter_narrows_every_figure_and_table_to_the_ou(
    tab: Tab, database: Database, story: Story, path: str
) -> None:
    tab.open(path)
    choose_ou(tab.page, expected.PROD)
    scope = scope_of(database, story.newest, ou=expected.PROD)
    tab.drawn(scope.mark(path))
    expect(tab.page).to_have_url(tab.base + scope.mark(path))
    expect(tab.page.locator("#filter-ou-value")).to_have_text(expected.PROD)
    PAGES[path](tab, scope)


def test_a_parent_ou_takes_every_account_below_it(tab: Tab, database: Database, story: Story) -> None:
    tab.open("/")
    choose_ou(tab.page, "Root/Workloads")
    scope = scope_of(database, story.newest, ou="Root/Workloads")
    assert set(expected.ou_accounts(database, expected.PROD)) < set(scope.accounts)
    tab.drawn(scope.mark("/"))
    shows_overview(tab, scope)


@pytest.mark.parametrize("path", PAGE_PATHS)
def test_the_date_picker_moves_the_snapshot(tab: Tab, database: Database, story: Story, path: str) -> None:
    day = story.newest - dt.timedelta(days=10)
    tab.open(path)
    type_date(tab.page, day.isoformat())
    scope = dated(scope_of(database, story.newest), day)
    tab.drawn(scope.mark(path))
    expect(tab.page.locator("input#filter-date")).to_have_value(day.isoformat())
    PAGES[path](tab, scope)


def test_one_account_in_the_account_filter(tab: Tab, database: Database, story: Story) -> None:
    account = story.demo_accounts[1]
    tab.open("/")
    choose_account(tab.page, account)
    scope = scope_of(database, story.newest, accounts=[account])
    tab.drawn(scope.mark("/"))
    expect(tab.page.locator("#filter-accounts-value")).to_contain_text(account)
    shows_overview(tab, scope)


def test_the_navigation_keeps_the_filters(tab: Tab, database: Database, story: Story) -> None:
    tab.open("/")
    choose_ou(tab.page, expected.PROD)
    scope = scope_of(database, story.newest, ou=expected.PROD)
    tab.drawn(scope.mark("/"))
    tab.page.locator("#nav-health").click()
    tab.drawn(scope.mark("/health"))
    shows_health(tab, scope)


PARTS_DREW = "view => (document.querySelector('#drawn') || {}).textContent === view"  # the filter bar may load


def held_choices(tab: Tab) -> list[Route]:
    """Hold the request for the filter bar's choices (as a cold or busy server answers it last)."""
    held: list[Route] = []

    def route(request: Route) -> None:
        if "filter-accounts.options" in (request.request.post_data or ""):
            held.append(request)
        else:
            request.continue_()

    tab.page.route("**/_dash-update-component*", route)
    return held


def test_a_link_with_filters_opens_the_same_view_even_when_the_choices_come_last(
    tab: Tab, database: Database, story: Story
) -> None:
    day = story.newest - dt.timedelta(days=1)
    scope = dated(scope_of(database, story.newest, ou=expected.PROD), day)
    held = held_choices(tab)
    tab.page.goto(tab.base + scope.mark("/compliance"))
    try:  # the parts draw the link's view while the choices are still on their way
        tab.page.wait_for_function(PARTS_DREW, arg=scope.mark("/compliance"))
    except Exception:
        raise AssertionError(f"the link's view was never drawn: the page went to {tab.page.url}") from None
    finally:
        for request in held:
            request.continue_()
    tab.drawn(scope.mark("/compliance"))
    expect(tab.page.locator("#filter-ou-value")).to_have_text(expected.PROD)
    expect(tab.page.locator("input#filter-date")).to_have_value(day.isoformat())
    expect(tab.page).to_have_url(tab.base + scope.mark("/compliance"))
    shows_compliance(tab, scope)


def test_a_filter_change_redraws_the_parts_not_the_page(tab: Tab, database: Database, story: Story) -> None:
    """The frame and the page's skeleton are drawn once; a filter change redraws each part in place."""
    skeletons: list[str] = []
    tab.page.on(
        "request", lambda r: skeletons.append(r.url) if '"output":"page.children"' in (r.post_data or "") else None
    )
    tab.open("/")
    tab.page.evaluate("() => { document.querySelector('#page > :first-child').dataset.kept = 'yes'; }")
    choose_ou(tab.page, expected.PROD)
    scope = scope_of(database, story.newest, ou=expected.PROD)
    tab.drawn(scope.mark("/"))
    shows_overview(tab, scope)
    expect(tab.page.locator("#page > :first-child[data-kept=yes]")).to_have_count(1)  # the skeleton stayed
    assert len(skeletons) == 1, f"the page's skeleton was drawn {len(skeletons)} times"


def test_an_account_beyond_the_listed_ones_is_found_by_typing(
    tab: Tab, database: Database, story: Story, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The filter lists a few accounts at a time (at 1,000 the browser would index every label); typing finds
    any of them on the server, by id or by part of its name."""
    monkeypatch.setattr(filters, "CHOICES_SHOWN", 2)
    names = expected.account_names(database)
    account = story.demo_accounts[-1]
    tab.open("/")
    tab.page.locator("#filter-accounts").click()
    expect(tab.page.get_by_role("option")).to_have_count(2)
    listed = tab.page.get_by_role("option").all_text_contents()
    assert not any(account in text for text in listed), listed  # not among the first two
    tab.page.locator("input.dash-dropdown-search").first.fill(names[account][-6:].upper())
    option = tab.page.get_by_role("option").filter(has_text=account)
    expect(option).to_have_count(1)
    option.click()
    tab.page.keyboard.press("Escape")
    scope = scope_of(database, story.newest, accounts=[account])
    tab.drawn(scope.mark("/"))
    expect(tab.page.locator("#filter-accounts-value")).to_contain_text(account)
    shows_overview(tab, scope)
