"""The shareable report's Content-Security-Policy: what it allows, and that the report still draws under it.

The report is opened from a file in Chromium with the network off: every figure must be drawn, with
no violation of the policy, and the policy must really be in force (a request elsewhere is blocked).
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from bench.common import CHROMIUM
from playwright.sync_api import sync_playwright

from credsight.demo import DemoOrganization
from credsight.demo.store import build_demo_store
from credsight.query.maintenance import compact_and_summarise
from credsight.rules.summaries import SUMMARY_KINDS
from credsight.store import Store
from tests.conftest import CHROMIUM_ARGS

CSP_VIOLATIONS = """document.addEventListener('securitypolicyviolation',
    e => (window.__csp = window.__csp || []).push(e.violatedDirective + ' ' + e.blockedURI));"""
# One per figure drawn, whether plotly draws into the figure's own element or into one inside it.
DRAWN = ", ".join(
    f"{p} > .plot-container .main-svg:first-child" for p in (".figure.js-plotly-plot", ".figure .js-plotly-plot")
)
LOCAL = ("'none'", "data:", "blob:")  # sources that reach nothing beyond the file
INLINE = ("'unsafe-inline'", "'unsafe-eval'")
HASH = re.compile(r"'sha(256|384|512)-[A-Za-z0-9+/=]+'")
META = re.compile(r'<meta http-equiv="Content-Security-Policy" content="([^"]+)">')


@pytest.fixture(scope="module")
def written(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("report-csp")
    store = Store(str(folder / "store"))
    build_demo_store(store, DemoOrganization(accounts=3, days=8, seed=6))
    compact_and_summarise(store, SUMMARY_KINDS)
    out = folder / "report.html"
    done = subprocess.run(
        [sys.executable, "-m", "credsight.cli", "report", "--store", store.root, "--out", str(out)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return out


def policy_of(html: str) -> dict[str, list[str]]:
    found = META.findall(html)
    assert len(found) == 1, "the report must carry exactly one Content-Security-Policy"
    return {d.split()[0]: d.split()[1:] for d in found[0].split(";") if d.strip()}


def test_the_policy_allows_nothing_from_anywhere_else(written: Path) -> None:
    html = written.read_text(encoding="utf-8")
    policy = policy_of(html)
    assert html.index('http-equiv="Content-Security-Policy"') < html.index("<script")  # in force before any script
    assert policy["default-src"] == ["'none'"]  # so no connect-src, frame-src, media-src, worker-src...
    for directive in ("connect-src", "img-src", "font-src", "frame-src", "media-src", "worker-src"):
        assert set(policy.get(directive, ["'none'"])) <= set(LOCAL), (directive, policy.get(directive))
    assert policy["style-src"] == ["'unsafe-inline'"]
    # inline scripts only (plotly.js and the figures are in the file), whether allowed wholesale or by hash
    assert policy["script-src"] and all(s in INLINE or HASH.fullmatch(s) for s in policy["script-src"])
    sources = [source for values in policy.values() for source in values]
    assert not [s for s in sources if s not in (*LOCAL, *INLINE) and not HASH.fullmatch(s)], sources
    assert "<script src=" not in html and "<link " not in html  # nothing the file would fetch


def test_the_report_draws_offline_under_its_policy(written: Path) -> None:
    html = written.read_text(encoding="utf-8")
    figures = html.count('<div class="figure"')
    assert figures >= 2
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            context = browser.new_context(offline=True)
            page = context.new_page()
            page.add_init_script(CSP_VIOLATIONS)
            errors: list[str] = []
            asked: list[str] = []
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.on("request", lambda r: asked.append(r.url))
            page.goto(written.as_uri())
            page.wait_for_function(f"() => document.querySelectorAll({DRAWN!r}).length >= {figures}", timeout=30_000)
            assert page.locator(DRAWN).count() == figures  # every figure drawn
            assert page.locator(".figure .heatmaplayer, .figure .scatterlayer").count()  # with data in them
            assert page.evaluate("() => window.__csp || []") == [] and errors == []
            assert [u for u in asked if not u.startswith(("file:", "data:"))] == []
            # ... and the policy is in force: a request elsewhere is blocked, and said so
            outcome = page.evaluate("() => fetch('http://127.0.0.1:9/').then(() => 'fetched', () => 'blocked')")
            assert outcome == "blocked"
            assert any(v.startswith("connect-src") for v in page.evaluate("() => window.__csp"))
        finally:
            browser.close()
