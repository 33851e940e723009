"""A dashboard over a store that holds nothing yet says so in words on every page (and draws no traceback,
no empty frame, no console error)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import expect

from credsight.present.dashboard import create_app
from credsight.store import Store
from tests.dashboard_browser import Server, Tab, browser, context, serving, tab, traces

__all__ = ["browser", "context", "tab"]  # the fixtures this module uses

EMPTY = "The store holds no snapshots yet: run 'credsight collect', 'credsight ingest' or 'credsight demo'."
PAGES = {  # each page, and its figures
    "/": ["overview-heatmap", "overview-trend"],
    "/migration": ["migration-trend", "migration-by-ou"],
    "/compliance": [],
    "/users": [],
    "/regions": ["regions-trend"],
    "/changes": [],
    "/health": [],
}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    empty = tmp_path_factory.mktemp("empty") / "store"
    empty.mkdir()
    with serving(create_app(Store(str(empty)))) as served:
        yield served


@pytest.mark.parametrize("path", list(PAGES))
def test_an_empty_store_says_so_on_every_page(tab: Tab, path: str) -> None:
    tab.open(path)
    expect(tab.page.locator("#page .notice").first).to_have_text(EMPTY)
    for graph in PAGES[path]:  # a figure says it too, in place of an empty frame
        assert traces(tab.page, graph) == []
        expect(tab.page.locator(f"#{graph} .annotation-text")).to_have_text(EMPTY)
    assert "Traceback" not in tab.page.locator("body").inner_text()
