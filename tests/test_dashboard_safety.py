"""Values are data, and the dashboard stays on this machine, in the browser.

Markup sits where it can still come from: an account's name (Organizations allows printable ASCII) and a key's
last-used region and service (free text in the report). On every page it must show as the text it is: an
<img onerror> that would set window.__xss must not become an element (a MutationObserver installed before
the page loads records any <img> or inline handler added, so nothing has to wait for an image to fail).
Every request goes to the server on 127.0.0.1; the console shows no error on any page.
"""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Page, expect

from tests import dashboard_story as expected
from tests.dashboard_browser import (
    Tab,
    assert_left_nothing,
    browser,
    cell,
    choose_ou,
    context,
    database,
    download,
    filter_text,
    server,
    sort_by,
    story,
    tab,
    traces,
    type_date,
    view,
)
from tests.dashboard_story import EVIL, HOSTILE, Story

__all__ = ["browser", "context", "database", "server", "story", "tab"]  # the fixtures this module uses

PATHS = ["/", "/migration", "/compliance", "/users", "/regions", "/changes", "/health"]


def first_row_shows(page: Page, part: str, sort: str, column: str) -> None:
    """Sort a table by `sort` (the markup name sorts first: '<' comes before letters), then its first row's
    `column` reads as the markup, as text."""
    sort_by(page, part, sort, "ascending")
    expect(cell(page, f"{part}-grid", 0, column)).to_have_text(EVIL)


def account_choice_is_text(page: Page) -> None:
    page.locator("#filter-accounts").click()
    expect(page.get_by_role("option", name=f"{HOSTILE} {EVIL}", exact=True)).to_be_visible()
    page.keyboard.press("Escape")


def shows_markup_as_text(tab: Tab, path: str) -> None:
    page = tab.page
    if path == "/migration":
        first_row_shows(page, "migration-everyone", "account_name", "account_name")
    elif path == "/compliance":
        first_row_shows(page, "compliance-matrix", "name", "name")
    elif path == "/regions":
        traces(page, "regions-trend")  # drawn: its legend is there
        legend = page.locator("#regions-trend .legendtext").all_text_contents()
        assert [text for text in legend if "onerror" in text] == [EVIL], legend
        for part in ("regions-table", "regions-outside"):
            filter_text(page, part, "region", "onerror")
            for column in ("region", "service"):
                expect(cell(page, f"{part}-grid", 0, column)).to_have_text(EVIL)
    elif path == "/changes":
        first_row_shows(page, "changes-table", "account_name", "account_name")
    elif path == "/health":
        first_row_shows(page, "health-table", "account_name", "account_name")
    elif path == "/users":
        page.locator("#user-search").fill("bob")
        page.get_by_role("link", name=f"bob in {HOSTILE} {EVIL}", exact=True).click()
        tab.drawn(view("/users", accounts=HOSTILE, user="bob"))
        for column in ("access_key_1_last_used_region", "access_key_1_last_used_service"):
            expect(cell(page, "user-history", 0, column)).to_have_text(EVIL)
        for graph in ("user-regions", "user-services"):  # a category axis of the values as they are
            traces(page, graph)
            assert page.locator(f"#{graph} .ytick text").all_text_contents() == [EVIL]
    account_choice_is_text(page)


@pytest.mark.parametrize("path", PATHS)
def test_markup_in_names_regions_and_services_is_text_on_every_page(tab: Tab, path: str) -> None:
    tab.open(path)
    shows_markup_as_text(tab, path)
    assert tab.page.locator("img").count() == 0
    assert_left_nothing(tab)  # no <img> or handler was ever added, window.__xss unset


def test_markup_stays_text_in_the_views_a_filter_opens(tab: Tab, story: Story) -> None:
    tab.open("/health")
    choose_ou(tab.page, expected.PROD)
    tab.drawn(view("/health", ou=expected.PROD))
    first_row_shows(tab.page, "health-table", "account_name", "account_name")
    assert_left_nothing(tab)


def test_no_request_leaves_the_machine(tab: Tab, story: Story) -> None:
    tab.open("/")
    for path in PATHS[1:]:  # through the navigation, as a person moves (client-side, more callbacks)
        tab.page.locator(f"#nav-{path.strip('/')}").click()
        tab.drawn(path)
    choose_ou(tab.page, expected.PROD)
    tab.drawn(view("/health", ou=expected.PROD))
    type_date(tab.page, story.days[-3].isoformat())
    tab.drawn(view("/health", ou=expected.PROD, date=story.days[-3].isoformat()))
    download(tab.page, "health-table")
    tab.page.goto(tab.base + "/no-such-page")
    expect(tab.page.locator("#page .notice")).to_be_visible()
    paths = {urlsplit(url).path for url in tab.requests}
    assert "/_dash-update-component" in paths
    assert any(p.startswith("/_dash-component-suites/") for p in paths)  # Dash, plotly, AG Grid: served here
    port = urlsplit(tab.base).port
    assert {(urlsplit(u).scheme, urlsplit(u).hostname, urlsplit(u).port) for u in tab.requests} == {
        ("http", "127.0.0.1", port)
    }


@pytest.mark.parametrize("path", PATHS)
def test_the_console_has_no_error_on_any_page(tab: Tab, path: str) -> None:
    tab.open(path)
    expect(tab.page.locator("#page h1").first).to_be_visible()
    assert tab.errors == []
    assert tab.server.errors == []
