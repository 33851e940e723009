"""The dashboard in a real headless Chromium (Playwright) against a real server over a small demo store.

Chromium is Debian's (/usr/bin/chromium, `make test` installs it); Playwright downloads no browser.
Screenshots of each page go to test-artifacts/screenshots/ (git-ignored) for a person to look at.
"""

from __future__ import annotations

import base64
import datetime as dt
import logging
import os
import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import dash
import pyarrow as pa
import pytest
from bench.common import CHROMIUM
from playwright.sync_api import Browser, ConsoleMessage, Page, Playwright, Request, expect, sync_playwright
from werkzeug.serving import make_server

from credsight.demo import DemoOrganization
from credsight.demo.store import METADATA_SCHEMA, build_demo_store
from credsight.present.dashboard import create_app
from credsight.present.dashboard.security import COOKIE, Auth
from credsight.query import Database
from credsight.query.maintenance import summarise
from credsight.rules.summaries import SUMMARY_KINDS
from credsight.store import Store
from credsight.store.compaction import compact
from credsight.store.runs import Run, Snapshot
from tests.conftest import CHROMIUM_ARGS, report, user_row

WAIT_MS = 20_000
expect.set_options(timeout=WAIT_MS)  # every expectation waits as long as the waits do (the machine is shared)
SCREENSHOTS = Path(__file__).resolve().parent.parent / "test-artifacts" / "screenshots"

# Markup where a name belongs: shown as text it is harmless; run as HTML it sets window.__xss.
EVIL = '<img src=x onerror="window.__xss=1">'
EVIL_ACCOUNT = "999900001111"
EMPTY_STORE_SENTENCE = "The store holds no snapshots yet"

# The figures' data as plotly holds it (dcc.Graph puts the plot in a child div).
TRACES = """id => {
    const plot = document.querySelector(`#${id} .js-plotly-plot`);
    return plot && plot.data ? plot.data.map(t => ({type: t.type, x: t.x || null, y: t.y || null, z: t.z || null}))
                             : null;
}"""
HEATMAP_ACCOUNTS_ARE = """accounts => {
    const plot = document.querySelector('#overview-heatmap .js-plotly-plot');
    return !!(plot && plot.data && plot.data.length === 1
              && JSON.stringify(plot.data[0].x) === JSON.stringify(accounts));
}"""


@dataclass(frozen=True)
class Demo:
    store: Store
    accounts: list[str]  # the demo organisation's, sorted
    days: list[dt.date]  # every snapshot date, oldest first

    @property
    def newest(self) -> dt.date:
        return self.days[-1]


@dataclass
class Tab:
    """A fresh browser page, with what it logged as errors and every URL it asked for."""

    page: Page
    base: str
    errors: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)

    def open(self, path: str) -> None:
        self.page.goto(self.base + path)


def evil_report(day: dt.date, with_evil_user: bool = True) -> Snapshot:
    """A report of EVIL_ACCOUNT with a user named EVIL (quoted as CSV, as AWS would quote it)."""
    quoted = '"' + EVIL.replace('"', '""') + '"'
    arn = '"' + f"arn:aws:iam::{EVIL_ACCOUNT}:user/{EVIL}".replace('"', '""') + '"'
    rows = [user_row(quoted, account=EVIL_ACCOUNT, arn=arn)] if with_evil_user else []
    rows.append(user_row("alice", account=EVIL_ACCOUNT))
    return Snapshot(report(*rows, account=EVIL_ACCOUNT), f"evil-{day}.csv", day, EVIL_ACCOUNT)


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Demo:
    """Six demo accounts over 40 days, plus one account whose name (and one user's) is markup."""
    store = Store(str(tmp_path_factory.mktemp("dashboard") / "store"))
    organization = DemoOrganization(accounts=6, days=40, seed=5)
    build_demo_store(store, organization)
    days = organization.days()
    names = [{"snapshot_date": days[-1], "account_id": EVIL_ACCOUNT, "name": EVIL, "ou_path": "Root/Sandbox"}]
    # The day before without EVIL, so that /changes shows EVIL created on the newest day.
    evil_days = [evil_report(days[-2], with_evil_user=False), evil_report(days[-1])]
    Run(store).write(evil_days, pa.Table.from_pylist(names, schema=METADATA_SCHEMA))
    compact(store)
    summarise(store, SUMMARY_KINDS)
    return Demo(store, sorted(a.account_id for a in organization.accounts()), days)


@contextmanager
def serving(app: dash.Dash) -> Iterator[str]:
    """The app's Flask server on 127.0.0.1, a free port, in a daemon thread; yields its base URL."""
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one line per request otherwise
    server = make_server("127.0.0.1", 0, app.server, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


@pytest.fixture(scope="module")
def base_url(demo: Demo) -> Iterator[str]:
    with serving(create_app(demo.store)) as url:
        yield url


@pytest.fixture(scope="module")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as running:
        yield running


@pytest.fixture(scope="module")
def browser(playwright: Playwright) -> Iterator[Browser]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: 'make test' installs it, or apt-get install chromium")
    launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
    yield launched
    launched.close()


# Every URL any page of this module asked for, to check that none left the machine.
REQUESTED: list[str] = []


def new_tab(browser: Browser, base: str) -> Tab:
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    context.set_default_timeout(WAIT_MS)
    tab = Tab(context.new_page(), base)

    def console(message: ConsoleMessage) -> None:
        if message.type == "error":
            tab.errors.append(message.text)

    def requested(request: Request) -> None:
        tab.requests.append(request.url)
        REQUESTED.append(request.url)

    tab.page.on("console", console)
    tab.page.on("pageerror", lambda error: tab.errors.append(f"uncaught: {error}"))
    context.on("request", requested)
    return tab


@pytest.fixture
def tab(browser: Browser, base_url: str) -> Iterator[Tab]:
    opened = new_tab(browser, base_url)
    yield opened
    opened.page.context.close()


def traces(page: Page, graph_id: str) -> list[dict[str, Any]]:
    found = page.evaluate(TRACES, graph_id)
    assert found is not None, f"#{graph_id} has no plotly figure"
    return list(found)


def card(page: Page, label: str) -> int:
    """The number on the card labelled `label` (labels are exact)."""
    value = page.locator(".card").filter(has=page.locator(".label", has_text=re.compile(f"^{re.escape(label)}$")))
    return int(value.locator(".value").inner_text())


def wait_for_overview(page: Page) -> None:
    page.wait_for_function(
        "() => ['overview-heatmap', 'overview-trend'].every(id => {"
        "  const plot = document.querySelector(`#${id} .js-plotly-plot`); return plot && plot.data; })",
        timeout=WAIT_MS,
    )


def expected_users(store: Store, accounts: list[str], day: dt.date) -> dict[str, int]:
    """The user counts of the cards, computed straight from the daily view."""
    with Database(store) as database:
        rows = database.sql(
            "SELECT sum(humans)::BIGINT AS humans, sum(machines)::BIGINT AS machines, sum(dormant)::BIGINT AS dormant "
            "FROM daily WHERE snapshot_date = $day AND list_contains($accounts, account_id)",
            {"day": day, "accounts": accounts},
        ).rows
    return {k: int(v) for k, v in rows[0].items()}


def shown_users(page: Page) -> dict[str, int]:
    return {
        "humans": card(page, "human IAM users"),
        "machines": card(page, "machine IAM users"),
        "dormant": card(page, "dormant IAM users"),
    }


def choose_account(page: Page, account: str) -> None:
    """Pick one account in the account dropdown, as a person would, and close it."""
    page.locator("#filter-accounts").click()
    page.get_by_role("option", name=re.compile(f"^{account}\\b")).click()
    page.keyboard.press("Escape")


def test_overview_renders_with_data(tab: Tab, demo: Demo) -> None:
    tab.open("/")
    expect(tab.page.locator("h1")).to_have_text(f"Overview on {demo.newest} (UTC)")
    wait_for_overview(tab.page)
    everyone = [*demo.accounts, EVIL_ACCOUNT]
    (heatmap,) = traces(tab.page, "overview-heatmap")
    assert heatmap["type"] == "heatmap"
    assert sorted(heatmap["x"]) == sorted(everyone)
    assert any(value > 0 for row in heatmap["z"] for value in row), "the demo has findings; the heatmap shows none"
    trend = traces(tab.page, "overview-trend")
    assert len(trend) == 3 and all(len(t["x"]) == len(demo.days) for t in trend)
    assert trend[0]["x"][-1] == demo.newest.isoformat()
    expect(tab.page.locator("#overview-trend .scatterlayer .trace")).to_have_count(3)
    assert card(tab.page, "accounts covered") == len(everyone)
    assert shown_users(tab.page) == expected_users(demo.store, everyone, demo.newest)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    tab.page.screenshot(path=str(SCREENSHOTS / "overview.png"), full_page=True)
    assert tab.errors == []


def test_health_renders_with_rows(tab: Tab, demo: Demo) -> None:
    tab.open("/health")
    expect(tab.page.locator("h1")).to_have_text("Collection health")
    rows = tab.page.locator("#health-table .ag-center-cols-container .ag-row")
    expect(rows).to_have_count(len(demo.accounts) + 1)
    shown = sorted(tab.page.locator("#health-table .ag-center-cols-container [col-id=account_id]").all_inner_texts())
    assert shown == sorted([*demo.accounts, EVIL_ACCOUNT])
    assert set(tab.page.locator("#health-table [col-id=last_status].ag-cell").all_inner_texts()) == {"success"}
    assert card(tab.page, "accounts") == len(demo.accounts) + 1
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    tab.page.screenshot(path=str(SCREENSHOTS / "health.png"), full_page=True)
    assert tab.errors == []


def test_account_filter_changes_figures_and_url(tab: Tab, demo: Demo) -> None:
    account = demo.accounts[1]
    tab.open("/")
    wait_for_overview(tab.page)
    before = traces(tab.page, "overview-trend")
    choose_account(tab.page, account)
    expect(tab.page).to_have_url(re.compile(rf"\?accounts={account}$"))  # no date pinned: it follows the newest
    tab.page.wait_for_function(HEATMAP_ACCOUNTS_ARE, arg=[account], timeout=WAIT_MS)
    after = traces(tab.page, "overview-trend")
    assert [t["y"] for t in after] != [t["y"] for t in before]
    assert sum(t["y"][-1] for t in after) < sum(t["y"][-1] for t in before)
    expect(tab.page.locator("#filter-accounts-value")).to_contain_text(account)
    assert card(tab.page, "accounts covered") == 1
    assert shown_users(tab.page) == expected_users(demo.store, [account], demo.newest)
    assert tab.errors == []


def test_link_with_filters_opens_the_same_view(tab: Tab, demo: Demo) -> None:
    account, day = demo.accounts[2], demo.days[-10]
    tab.open(f"/?accounts={account}&date={day}")
    expect(tab.page.locator("h1")).to_have_text(f"Overview on {day} (UTC)")
    wait_for_overview(tab.page)
    expect(tab.page.locator("#filter-accounts-value")).to_contain_text(account)
    expect(tab.page.locator("input#filter-date")).to_have_value(day.isoformat())
    (heatmap,) = traces(tab.page, "overview-heatmap")
    assert heatmap["x"] == [account]
    trend = traces(tab.page, "overview-trend")
    assert trend[0]["x"][-1] == day.isoformat()
    assert card(tab.page, "accounts covered") == 1
    assert shown_users(tab.page) == expected_users(demo.store, [account], day)
    assert tab.errors == []


def test_no_request_leaves_the_machine(tab: Tab, demo: Demo) -> None:
    for path in ("/", "/health", f"/?accounts={demo.accounts[0]}", "/no-such-page"):
        tab.open(path)
        expect(tab.page.locator("#page > *").first).to_be_visible()
    tab.page.locator("#nav-overview").click()  # client-side navigation fetches more
    wait_for_overview(tab.page)
    assert any("/_dash-update-component" in url for url in tab.requests), "the dashboard made no callback at all"
    port = urlsplit(tab.base).port
    assert [url for url in tab.requests if urlsplit(url).port != port] == []
    assert [url for url in REQUESTED if urlsplit(url).hostname != "127.0.0.1"] == [], "requests that left 127.0.0.1"
    assert tab.errors == []


@pytest.mark.parametrize("path", ["/", "/health", f"/?accounts={EVIL_ACCOUNT}"])
def test_markup_in_names_is_text(tab: Tab, path: str) -> None:
    tab.open(path)
    expect(tab.page.locator("#filter-accounts")).to_be_visible()
    if path == "/health":
        cell = tab.page.locator(f"#health-table .ag-row:has([col-id=account_id]:text-is('{EVIL_ACCOUNT}'))")
        expect(cell.locator("[col-id=account_name]")).to_have_text(EVIL)
    else:
        wait_for_overview(tab.page)
    tab.page.locator("#filter-accounts").click()
    expect(tab.page.get_by_role("option", name=f"{EVIL_ACCOUNT} {EVIL}", exact=True)).to_be_visible(timeout=WAIT_MS)
    tab.page.keyboard.press("Escape")
    assert tab.page.locator("img[onerror], img[src=x]").count() == 0
    tab.page.wait_for_timeout(300)  # an injected <img src=x> would have failed to load and run its onerror by now
    assert tab.page.evaluate("() => window.__xss") is None
    assert not any(urlsplit(url).path == "/x" for url in tab.requests)
    assert tab.errors == []


@pytest.mark.parametrize(
    "path",
    [
        "/migration",
        "/compliance",
        "/regions",
        f"/changes?accounts={EVIL_ACCOUNT}",
        f"/users?accounts={EVIL_ACCOUNT}&user={quote(EVIL)}",
    ],
)
def test_markup_is_text_on_every_page(tab: Tab, path: str) -> None:
    tab.open(path)
    expect(tab.page.locator("#page h1")).to_be_visible(timeout=WAIT_MS)
    if path.startswith("/users"):
        expect(tab.page.locator("#page h1")).to_have_text(f"{EVIL} in {EVIL_ACCOUNT}")
    if path.startswith("/changes"):  # the user's creation is in the change log, shown as text
        expect(tab.page.locator("#changes-table [col-id=user]").get_by_text(EVIL, exact=True).first).to_be_visible()
    tab.page.wait_for_timeout(300)
    assert tab.page.locator("img[onerror], img[src=x]").count() == 0
    assert tab.page.evaluate("() => window.__xss") is None
    assert tab.errors == []


def test_serve_beyond_loopback_without_auth_refuses_to_start(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CREDSIGHT_")}
    (tmp_path / "store").mkdir()
    command = [sys.executable, "-m", "credsight.cli", "serve", "--store", str(tmp_path / "store"), "--host", "0.0.0.0"]
    try:
        done = subprocess.run(command, capture_output=True, text=True, cwd=tmp_path, env=env, timeout=60, check=False)
    except subprocess.TimeoutExpired:
        pytest.fail("credsight serve --host 0.0.0.0 started serving without authentication")
    assert done.returncode == 2, done.stderr
    assert done.stderr.startswith("error: refusing to serve on 0.0.0.0 without authentication")
    assert done.stderr.count("\n") == 1, done.stderr
    assert "dashboard on" not in done.stdout


def test_token_is_asked_of_every_request(demo: Demo) -> None:
    server = create_app(demo.store, Auth(token="t0k")).server
    client = server.test_client()
    assert client.get("/").status_code == 401
    assert client.get("/_dash-layout").status_code == 401
    assert client.post("/_dash-update-component", json={}).status_code == 401
    assert client.get("/", headers={"Authorization": "Bearer wrong"}).status_code == 401
    allowed = client.get("/", headers={"Authorization": "Bearer t0k"})
    assert allowed.status_code == 200
    assert "<title>credsight</title>" in allowed.get_data(as_text=True)

    browser = server.test_client()
    first = browser.get("/?token=t0k")
    assert first.status_code == 302 and first.headers["Location"] == "/"  # the token leaves the address bar
    linked = server.test_client().get("/compliance?token=t0k&accounts=111122223333&date=2026-11-01")
    assert linked.headers["Location"] == "/compliance?accounts=111122223333&date=2026-11-01"  # the filters stay
    cookie = first.headers["Set-Cookie"]
    assert cookie.startswith(f"{COOKIE}=t0k;") and "HttpOnly" in cookie and "SameSite=Strict" in cookie
    assert browser.get("/").status_code == 200
    assert browser.get("/_dash-layout").status_code == 200

    forged = server.test_client()
    forged.set_cookie(COOKIE, "wrong")
    assert forged.get("/").status_code == 401


def test_basic_auth_takes_the_right_password_only(demo: Demo) -> None:
    client = create_app(demo.store, Auth(user="ana", password="s3cret")).server.test_client()

    def basic(credentials: str) -> dict[str, str]:
        return {"Authorization": "Basic " + base64.b64encode(credentials.encode()).decode()}

    refused = client.get("/")
    assert refused.status_code == 401 and refused.headers["WWW-Authenticate"].startswith("Basic")
    assert client.get("/", headers=basic("ana:s3cret")).status_code == 200
    assert client.get("/_dash-layout", headers=basic("ana:s3cret")).status_code == 200
    assert client.get("/", headers=basic("ana:wrong")).status_code == 401
    assert client.get("/", headers=basic("bob:s3cret")).status_code == 401
    assert client.get("/", headers={"Authorization": "Basic !!not-base64"}).status_code == 401


@pytest.mark.parametrize("path", ["/", "/health"])
def test_empty_store_says_so(browser: Browser, tmp_path: Path, path: str) -> None:
    (tmp_path / "empty").mkdir()
    with serving(create_app(Store(str(tmp_path / "empty")))) as url:
        empty = new_tab(browser, url)
        try:
            empty.open(path)
            expect(empty.page.locator(".notice")).to_contain_text(EMPTY_STORE_SENTENCE)
            assert "Traceback" not in empty.page.locator("body").inner_text()
            assert empty.errors == []
        finally:
            empty.page.context.close()


def test_unknown_page_gives_a_message(tab: Tab) -> None:
    tab.open("/no-such-page")
    expect(tab.page.locator(".notice")).to_contain_text("/no-such-page")
    assert "Traceback" not in tab.page.locator("body").inner_text()
    expect(tab.page.locator("#nav-overview")).to_be_visible()
    assert tab.errors == []


@pytest.mark.parametrize("path", ["/", "/health"])
def test_a_page_is_drawn_once(tab: Tab, path: str) -> None:
    """The filter bar is drawn with each page; writing its unchanged values back must not draw it again."""
    drawn: list[str] = []
    tab.page.on(
        "request",
        lambda request: drawn.append(request.url) if '"output":"page.children"' in (request.post_data or "") else None,
    )
    tab.open(path)
    expect(tab.page.locator("#page h1")).to_be_visible()
    tab.page.wait_for_timeout(2000)
    assert len(drawn) == 1, f"the page was drawn {len(drawn)} times"
