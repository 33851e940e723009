"""findings --format json / ocsf / asff, built a column at a time, give the bytes of the record-at-a-time
definitions (tests/finding_formats_reference.py) on a demo organization's findings, with accepted risks,
odd names and values that need escaping."""

from __future__ import annotations

import datetime as dt
import io
import json
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pytest

from credsight.demo import DemoOrganization
from credsight.demo.store import build_demo_store
from credsight.formats import findings as formats
from credsight.formats import joined
from credsight.query import Database
from credsight.rules.catalogue import RULES
from credsight.rules.exceptions import AcceptedRisk
from credsight.rules.findings import evaluate
from credsight.store import Store
from tests import finding_formats_reference as reference

TODAY = dt.date(2026, 11, 23)
RULE_OF = {rule.id: rule for rule in RULES}


@pytest.fixture(scope="module")
def findings(tmp_path_factory: pytest.TempPathFactory) -> Iterator[pa.Table]:
    """The demo's findings with accepted risks marked, and some rows made awkward on purpose."""
    store = Store(str(tmp_path_factory.mktemp("findings") / "store"))
    build_demo_store(store, DemoOrganization(accounts=6, days=40, seed=5, end=TODAY))
    with Database(store) as database:
        found = evaluate(database).findings
    risks = [
        AcceptedRisk("access-key-*", "*", "svc-*", "legacy CI", "platform@example.com", dt.date(2030, 1, 1), 1),
        AcceptedRisk("root-*", "1*", "*", 'owner says "fine" \\ é', "ops", dt.date(2030, 1, 1), 2),
        AcceptedRisk("inactive-user", "*", "*", "gone soon", "hr", dt.date(2020, 1, 1), 3),  # expired: hides nothing
    ]
    n = found.num_rows
    names = found.column("account_name").to_pylist()
    users = found.column("user").to_pylist()
    arns = found.column("arn").to_pylist()
    for i in range(0, n, 7):
        names[i] = [None, "", "prod-é", 'quo"te\\'][i % 4]
    for i in range(3, n, 11):
        users[i] = ["a\tb", "日本", 'x"y', "=SUM(A1)"][i % 4]
        arns[i] = arns[i].replace("arn:aws:", "arn:aws-us-gov:") if i % 2 else None
    found = found.set_column(found.schema.get_field_index("account_name"), "account_name", pa.array(names, pa.string()))
    found = found.set_column(found.schema.get_field_index("user"), "user", pa.array(users, pa.string()))
    found = found.set_column(found.schema.get_field_index("arn"), "arn", pa.array(arns, pa.string()))
    assert n > 200 and pc.count_distinct(found.column("rule")).as_py() >= 6, "the demo must exercise most rules"
    yield formats.marked(found, risks, TODAY)


def by_records(marked: pa.Table) -> list[dict[str, object]]:
    return reference.records(marked.to_pylist(), RULE_OF)


def dumped(value: object) -> str:
    out = io.StringIO()
    json.dump(value, out, indent=1)
    return out.getvalue() + "\n"


def test_json_records(findings: pa.Table) -> None:
    assert (pc.equal(findings.column("status"), "excepted").to_pylist()).count(True) > 0
    out = io.StringIO()
    formats.write_records(findings, out)
    assert out.getvalue() == dumped(by_records(findings))
    assert formats.records(findings) == by_records(findings)


@pytest.fixture(params=[16_384, 7], ids=["one slice", "slices of 7 rows"])
def slices(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> int:
    """The rows a thread writes at a time: all the demo's at once, or a few (the writer's joins between slices)."""
    monkeypatch.setattr(joined, "PARALLEL_ROWS", request.param)
    return int(request.param)


def test_ocsf(findings: pa.Table, slices: int) -> None:
    out = io.StringIO()
    formats.write_ocsf(findings, out)
    assert out.getvalue() == dumped([reference.ocsf(r, RULE_OF[str(r["rule"])]) for r in by_records(findings)])


@pytest.mark.parametrize("region", ["us-east-1", "eu-west-1"])
def test_asff(findings: pa.Table, region: str, slices: int) -> None:
    out = io.StringIO()
    formats.write_asff(findings, out, region)
    expected = [reference.asff(r, RULE_OF[str(r["rule"])], region) for r in by_records(findings)]
    assert out.getvalue() == dumped(expected)


def test_no_findings_is_an_empty_array(findings: pa.Table) -> None:
    empty = findings.slice(0, 0)
    for write in (formats.write_ocsf, lambda rows, out: formats.write_asff(rows, out, "x")):
        out = io.StringIO()
        write(empty, out)
        assert out.getvalue() == "[]\n"
    out = io.StringIO()
    formats.write_records(empty, out)
    assert out.getvalue() == "[]\n"


def test_the_reference_is_what_credsight_wrote_before(tmp_path: Path) -> None:
    """The reference module is the old code itself: it still has its record-at-a-time functions."""
    assert callable(reference.ocsf) and callable(reference.asff) and callable(reference.records)
