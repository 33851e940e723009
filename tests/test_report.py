"""The shareable HTML report: self-contained, escaped, redacted on request, opened from file://."""

from __future__ import annotations

import datetime as dt
import re
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pytest
from bench.common import CHROMIUM
from playwright.sync_api import sync_playwright

from credsight.demo import DemoOrganization
from credsight.demo.store import build_demo_store
from credsight.store import Store
from credsight.store.runs import Run, Snapshot
from credsight.store.schemas import ACCOUNT_SCHEMA
from tests.conftest import CHROMIUM_ARGS, report, user_row

CRAFTED = '<img src=x onerror="window.__xss=1">'  # a user's name
CRAFTED_ACCOUNT = '<svg onload="window.__xss=2">'  # an account's name
HOSTILE_ACCOUNT = "999988887777"


@pytest.fixture(scope="module")
def store_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("report") / "store"
    store = Store(str(path))
    build_demo_store(store, DemoOrganization(accounts=3, days=20, seed=2))
    day = dt.date(2026, 11, 23)
    content = report(user_row(CRAFTED, account=HOSTILE_ACCOUNT, mfa_active="false"), account=HOSTILE_ACCOUNT)
    metadata = pa.Table.from_pylist(
        [{"snapshot_date": day, "account_id": HOSTILE_ACCOUNT, "name": CRAFTED_ACCOUNT, "ou_path": "Root"}],
        schema=pa.schema([f for f in ACCOUNT_SCHEMA if f.name != "run_id"]),
    )
    Run(store).write([Snapshot(content, "crafted.csv", day, HOSTILE_ACCOUNT)], metadata)
    return path


def credsight(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "credsight.cli", "report", *args], capture_output=True, text=True, check=False
    )


def test_the_report_opens_offline_and_shows_names_as_text(store_path: Path, tmp_path: Path) -> None:
    out = tmp_path / "report.html"
    result = credsight("--store", str(store_path), "--out", str(out))
    assert result.returncode == 0, result.stderr
    text = out.read_text()
    assert CRAFTED not in text and "&lt;img src=x onerror=" in text  # escaped wherever it appears
    assert CRAFTED_ACCOUNT not in text and "&lt;svg onload=" in text
    assert "IAM credentials on 2026-11-23 (UTC)" in text
    requests: list[str] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page()
        page.on("request", lambda request: requests.append(request.url))
        page.goto(out.as_uri())
        page.wait_for_selector(".main-svg", timeout=20000)
        assert page.locator(".main-svg").count() >= 2  # the figures drew, from the plotly.js inside the file
        assert page.evaluate("window.__xss") is None
        assert page.get_by_text(CRAFTED).count() >= 1  # shown as text
        assert page.get_by_text(CRAFTED_ACCOUNT).count() >= 1
        browser.close()
    assert [r for r in requests if not r.startswith(("file://", "data:"))] == []


def test_redaction_is_stable_and_hides_names(store_path: Path, tmp_path: Path) -> None:
    first, second = tmp_path / "a.html", tmp_path / "b.html"
    for out in (first, second):
        result = credsight("--store", str(store_path), "--out", str(out), "--redact", "--account", HOSTILE_ACCOUNT)
        assert result.returncode == 0, result.stderr
    text = first.read_text()
    # the crafted user's name and ARN are gone (the account's name is not personal: it stays, escaped)
    assert "&lt;img" not in text and ":user/" not in text.replace(":user/user-", "")
    assert "&lt;svg onload=" in text
    names = set(re.findall(r"user-[0-9a-f]{10}", text))
    assert names and names == set(re.findall(r"user-[0-9a-f]{10}", second.read_text()))
    assert "replaced by pseudonyms" in text


def test_bad_requests_are_one_line(store_path: Path, tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    for args, message in (
        (["--store", str(empty), "--out", str(tmp_path / "x.html")], "holds no snapshots"),
        (["--store", str(store_path), "--out", str(tmp_path / "no" / "x.html")], "cannot write"),
        (["--store", str(store_path), "--out", str(tmp_path / "x.html"), "--ou", "Root/Nowhere"], "no account under"),
    ):
        result = credsight(*args)
        assert result.returncode == 2 and message in result.stderr and len(result.stderr.splitlines()) == 1, result
