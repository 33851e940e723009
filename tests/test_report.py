"""The shareable HTML report: self-contained, escaped, redacted on request, opened from file://."""

from __future__ import annotations

import base64
import csv
import datetime as dt
import gzip
import io
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

CRAFTED = '<img src=x onerror="window.__xss=1">'  # an accepted risk's reason (IAM user names cannot hold markup)
CRAFTED_ACCOUNT = '<svg onload="window.__xss=2">'  # an account's name (Organizations allows printable ASCII)
HOSTILE_ACCOUNT = "999988887777"
HOSTILE_USER = "=1+2@x"  # a name IAM allows, that a spreadsheet would run


@pytest.fixture(scope="module")
def store_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("report") / "store"
    store = Store(str(path))
    build_demo_store(store, DemoOrganization(accounts=3, days=20, seed=2))
    day = dt.date(2026, 11, 23)
    content = report(user_row(HOSTILE_USER, account=HOSTILE_ACCOUNT, mfa_active="false"), account=HOSTILE_ACCOUNT)
    metadata = pa.Table.from_pylist(
        [{"snapshot_date": day, "account_id": HOSTILE_ACCOUNT, "name": CRAFTED_ACCOUNT, "ou_path": "Root"}],
        schema=pa.schema([f for f in ACCOUNT_SCHEMA if f.name != "run_id"]),
    )
    Run(store).write([Snapshot(content, "crafted.csv", day, HOSTILE_ACCOUNT)], metadata)
    return path


def credsight(*args: str, command: str = "report", cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "credsight.cli", command, *args], capture_output=True, text=True, check=False, cwd=cwd
    )


@pytest.fixture(scope="module")
def exceptions(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An accepted risk for the hostile account's console user, whose reason is markup."""
    path = tmp_path_factory.mktemp("risks") / "credsight-exceptions.toml"
    path.write_text(
        "[[exception]]\n"
        f'rule = "console-user-mfa"\naccount = "{HOSTILE_ACCOUNT}"\nuser = "*"\n'
        f"reason = '{CRAFTED}'\nowner = \"sec@example.com\"\nexpires = 2099-01-01\n"
    )
    return path


def embedded(html: str, id: str) -> bytes:
    """What the report carries packed (gzip, base64) in the <script> element `id`."""
    found = re.search(rf'<script type="application/gzip-base64" id="{id}"[^>]*>([^<]*)</script>', html)
    assert found, f"no {id} in the report"
    return gzip.decompress(base64.b64decode(found.group(1)))


def test_the_report_opens_offline_and_shows_names_as_text(store_path: Path, exceptions: Path, tmp_path: Path) -> None:
    out = tmp_path / "report.html"
    result = credsight("--store", str(store_path), "--out", str(out), "--exceptions", str(exceptions))
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
    # the user's name and ARN are gone, in the page and in the CSV inside it (the account's name is not
    # personal: it stays, escaped)
    inside = embedded(text, "findings-csv").decode()
    for shown in (text, inside):
        assert HOSTILE_USER not in shown and "'=1+2@x" not in shown
        assert ":user/" not in shown.replace(":user/user-", "")
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


def test_every_finding_is_inside_the_file_as_the_cli_writes_it(
    store_path: Path, exceptions: Path, tmp_path: Path
) -> None:
    """The CSV packed in the report is byte for byte `credsight findings --format csv` for the same view."""
    out = tmp_path / "report.html"
    args = ["--store", str(store_path), "--exceptions", str(exceptions)]
    assert credsight(*args, "--out", str(out)).returncode == 0
    listed = credsight(*args, "--format", "csv", command="findings")
    assert listed.returncode == 0, listed.stderr
    inside = embedded(out.read_text(), "findings-csv").decode()
    assert inside == listed.stdout and inside.count("\n") > 50
    assert "'=1+2@x" in inside  # the formula-like name, neutralised as the CLI neutralises it
    assert "<svg" not in out.read_text().split('id="findings-csv"')[0]  # only escaped markup in the page


def test_the_rules_and_scorecards_say_what_the_findings_say(store_path: Path, tmp_path: Path) -> None:
    out = tmp_path / "report.html"
    assert credsight("--store", str(store_path), "--out", str(out)).returncode == 0
    text = out.read_text()
    rows = list(csv.DictReader(io.StringIO(embedded(text, "findings-csv").decode())))
    failing = {rule: sum(1 for r in rows if r["rule"] == rule) for rule in {r["rule"] for r in rows}}
    rules = re.search(r'<table id="rules">.*?</table>', text, re.S)
    assert rules
    for rule, count in failing.items():  # each rule's row: its failing count among the numbers
        row = re.search(rf"<tr><td>{re.escape(rule)}</td>.*?</tr>", rules.group(0), re.S)
        assert row and f'<td class="n">{count}</td>' in row.group(0), rule
    per_account = re.search(r'<table id="scorecard-account">.*?</table>', text, re.S)
    assert per_account and per_account.group(0).count("<tr><td>") == len(
        {r["account_id"] for r in rows} | {HOSTILE_ACCOUNT}
    )
    assert re.search(r'<table id="scorecard-ou">.*Root/', text, re.S)


def test_a_thousand_findings_per_account_stay_small(tmp_path: Path) -> None:
    """The findings are packed, not written as rows: 60 accounts of 100 users make a file under 4 MB."""
    store = Store(str(tmp_path / "store"))
    build_demo_store(store, DemoOrganization(accounts=60, days=3, seed=4, users_per_account=100))
    out = tmp_path / "big.html"
    assert credsight("--store", store.url, "--out", str(out)).returncode == 0
    text = out.read_text()
    listed = credsight("--store", store.url, "--format", "csv", command="findings").stdout
    assert embedded(text, "findings-csv").decode() == listed and listed.count("\n") > 3000
    assert len(text.encode()) < 4e6, len(text.encode())
