"""The vendored plotly.js cartesian bundle (present/dashboard/assets/vendor) is the version of the full bundle the
plotly package ships, so the figures plotly builds are drawn by the plotly.js they were built for; and it holds every
trace type credsight draws."""

from __future__ import annotations

import re
from pathlib import Path

import plotly.offline

import credsight.present.figures as figures_module
from credsight.present.report import PLOTLY_JS

HEADER = re.compile(r"plotly\.js(?: \([a-z -]+\))? v(\d+\.\d+\.\d+)")


def version(text: str) -> str:
    found = HEADER.search(text[:400])
    assert found, text[:400]
    return found.group(1)


def test_the_cartesian_bundle_is_the_full_bundles_version() -> None:
    assert version(PLOTLY_JS.read_text(encoding="utf-8")) == version(plotly.offline.get_plotlyjs())


def test_the_cartesian_bundle_draws_every_trace_credsight_uses() -> None:
    present = Path(figures_module.__file__).parent
    used = {name for path in present.rglob("*.py") for name in re.findall(r"go\.(\w+)\(", path.read_text("utf-8"))}
    traces = {name for name in used if name not in {"Figure", "Layout"}}
    assert traces == {"Bar", "Heatmap", "Scatter"}
    bundle = PLOTLY_JS.read_text(encoding="utf-8")
    for trace in traces:
        assert f'moduleType:"trace",name:"{trace.lower()}"' in bundle, trace
