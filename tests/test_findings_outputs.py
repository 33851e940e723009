"""Findings as users get them: exceptions, CSV/JSON/OCSF/ASFF, exit codes for CI."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import boto3
import pytest
from py_ocsf_models.events.findings.detection_finding import DetectionFinding

from credsight.errors import ExceptionsError
from credsight.rules.catalogue import RULES
from credsight.rules.exceptions import AcceptedRisk, load_exceptions, match
from credsight.store import Store
from tests.conftest import user_row
from tests.test_findings import CLEAN, DAY, account_for, root_row, write_reports

RULE_IDS = [rule.id for rule in RULES]
ACCOUNT = account_for(7)


@pytest.fixture
def store_path(tmp_path: Path) -> Path:
    """One account: root without MFA (critical), a console user without MFA (high), an old key (medium)."""
    path = tmp_path / "store"
    rows = [
        root_row(ACCOUNT, mfa_active="false"),
        user_row("alice", account=ACCOUNT, **{**CLEAN, "mfa_active": "false"}),
        user_row(
            "ci-deploy",
            account=ACCOUNT,
            **{**CLEAN, "access_key_1_last_rotated": f"{DAY.replace(year=2025)}T00:00:00+00:00"},
        ),
        user_row("=1+2@evil", account=ACCOUNT, **{**CLEAN, "mfa_active": "false"}),
    ]
    write_reports(Store(str(path)), {(ACCOUNT, DAY): rows})
    return path


def credsight(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "credsight.cli", "findings", *args], capture_output=True, text=True, cwd=cwd, check=False
    )


def write_exceptions(path: Path, *entries: dict[str, Any]) -> Path:
    lines = []
    for entry in entries:
        lines.append("[[exception]]")
        for key, value in entry.items():
            lines.append(f"{key} = {value.isoformat() if isinstance(value, dt.date) else json.dumps(value)}")
    path.write_text("\n".join(lines) + "\n")
    return path


def entry(**values: Any) -> dict[str, Any]:
    return {
        "rule": "console-user-mfa",
        "account": ACCOUNT,
        "user": "alice",
        "reason": "break-glass user, hardware token in the safe",
        "owner": "security@example.com",
        "expires": dt.date(2099, 1, 1),
        **values,
    }


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"expires": "2099-01-01"}, "'expires' must be a date such as 2027-03-31"),
        ({"rule": "console-*-typo"}, "matches no rule"),
        ({"account": "prod"}, "must be a 12-digit id or a glob"),
        ({"reason": ""}, "'reason' must be a non-empty string"),
        ({"ticket": "SEC-1"}, "unknown field 'ticket'"),
    ],
)
def test_a_malformed_exception_is_named(tmp_path: Path, values: dict[str, Any], message: str) -> None:
    path = write_exceptions(tmp_path / "x.toml", entry(), entry(**values))
    with pytest.raises(ExceptionsError, match=message) as caught:
        load_exceptions(path, RULE_IDS)
    assert "exception 2" in str(caught.value)


def test_missing_field_and_bad_toml(tmp_path: Path) -> None:
    missing = entry()
    del missing["owner"]
    with pytest.raises(ExceptionsError, match="exception 1: 'owner' is missing"):
        load_exceptions(write_exceptions(tmp_path / "a.toml", missing), RULE_IDS)
    (tmp_path / "b.toml").write_text("[[exception]\n")
    with pytest.raises(ExceptionsError, match="is not valid TOML"):
        load_exceptions(tmp_path / "b.toml", RULE_IDS)


def test_globs_and_expiry() -> None:
    risk = AcceptedRisk("root-*", "1111*", "*", "r", "o", dt.date(2026, 12, 31), 1)
    assert match([risk], "root-mfa", "111122223333", "<root_account>", dt.date(2026, 12, 31)) is risk
    assert match([risk], "root-mfa", "111122223333", "<root_account>", dt.date(2027, 1, 1)) is None  # expired
    assert match([risk], "console-user-mfa", "111122223333", "bob", dt.date(2026, 1, 1)) is None
    assert match([risk], "root-mfa", "211122223333", "<root_account>", dt.date(2026, 1, 1)) is None


def test_json_statuses_exceptions_and_ci_gate(store_path: Path, tmp_path: Path) -> None:
    exceptions = write_exceptions(
        tmp_path / "credsight-exceptions.toml",
        entry(),  # alice: accepted
        entry(rule="root-mfa", user="<root_account>", expires=dt.date(2020, 1, 1)),  # expired: hides nothing
    )
    result = credsight("--store", str(store_path), "--format", "json", "--exceptions", str(exceptions))
    assert result.returncode == 0, result.stderr
    found = {(f["rule"], f["user"]): f for f in json.loads(result.stdout)}
    alice = found["console-user-mfa", "alice"]
    assert alice["status"] == "excepted" and alice["exception"]["owner"] == "security@example.com"
    assert found["root-mfa", "<root_account>"]["status"] == "open"
    assert "exception 2 (root-mfa" in result.stderr and "expired on 2020-01-01" in result.stderr
    for key in (
        "rule",
        "account_id",
        "account_name",
        "user",
        "arn",
        "severity",
        "snapshot_date",
        "first_seen",
        "evidence",
    ):
        assert key in alice
    assert found["access-key-rotation", "ci-deploy"]["evidence"]["access_key_1"]["age_days"] == 365
    # the gate: critical open (root-mfa) -> 4; only the high one excepted does not pass a high gate either
    gate = credsight("--store", str(store_path), "--fail-on", "critical", "--exceptions", str(exceptions))
    assert gate.returncode == 4, gate.stderr
    accepted = write_exceptions(tmp_path / "all.toml", entry(rule="*", user="*", reason="accepted while migrating"))
    gate = credsight("--store", str(store_path), "--fail-on", "low", "--exceptions", str(accepted))
    assert gate.returncode == 0, gate.stderr
    # found in the working folder without --exceptions
    result = credsight("--store", str(store_path), "--format", "json", cwd=tmp_path)
    assert {f["status"] for f in json.loads(result.stdout) if f["user"] == "alice"} == {"excepted"}


def test_bad_input_is_one_line(store_path: Path, tmp_path: Path) -> None:
    bad = write_exceptions(tmp_path / "bad.toml", entry(expires="soon"))
    for args, message in (
        (["--exceptions", str(bad)], "'expires' must be a date"),
        (["--exceptions", str(tmp_path / "none.toml")], "no exceptions file"),
        (["--format", "xml"], "'--format': 'xml' is not one of 'table', 'csv', 'json', 'ocsf', 'asff'"),
        (["--fail-on", "severe"], "'--fail-on': 'severe' is not one of 'informational', 'low'"),
        (["--rule", "nope"], "no rule 'nope'"),
        (["--ou", "Root/Nowhere"], "no account under --ou 'Root/Nowhere'"),
        (["--date", "2026-13-01"], "--date '2026-13-01' is not a date"),
    ):
        result = credsight("--store", str(store_path), *args)
        assert result.returncode == 2, (args, result.stderr)
        assert message in result.stderr and len(result.stderr.splitlines()) == 1, result.stderr


def test_csv_neutralises_formulas(store_path: Path) -> None:
    result = credsight("--store", str(store_path), "--format", "csv")
    assert result.returncode == 0, result.stderr
    assert ",'=1+2@evil," in result.stdout and ",=1+2" not in result.stdout
    assert result.stdout.splitlines()[0].startswith("rule,severity,status,account_id")


def test_ocsf_is_a_valid_detection_finding(store_path: Path) -> None:
    result = credsight("--store", str(store_path), "--format", "ocsf")
    assert result.returncode == 0, result.stderr
    events = json.loads(result.stdout)
    assert len(events) == 4
    for event in events:
        parsed = DetectionFinding(**event)  # the OCSF schema as pydantic models: raises when invalid
        assert parsed.class_uid == 2004 and parsed.type_uid == 200401
        assert parsed.finding_info.first_seen_time is not None
    root = next(e for e in events if e["resources"][0]["name"] == "<root_account>")
    assert root["severity_id"] == 5 and root["cloud"]["account"]["uid"] == ACCOUNT


def test_asff_is_accepted_by_security_hub(store_path: Path, moto_endpoint: str) -> None:
    result = credsight("--store", str(store_path), "--format", "asff", "--region", "us-east-1")
    assert result.returncode == 0, result.stderr
    findings = json.loads(result.stdout)
    hub = boto3.client("securityhub", endpoint_url=moto_endpoint, region_name="us-east-1")
    answer = hub.batch_import_findings(Findings=findings)  # botocore checks the shape, moto imports
    assert (answer["FailedCount"], answer["SuccessCount"]) == (0, len(findings))
    stored = {f["GeneratorId"]: f for f in hub.get_findings()["Findings"] if f["Id"].startswith("credsight/")}
    assert stored["credsight/root-mfa"]["Severity"]["Label"] == "CRITICAL"
    assert stored["credsight/root-mfa"]["Compliance"]["RelatedRequirements"] == [
        "CIS AWS Foundations Benchmark v1.4.0/1.5",
        "CIS AWS Foundations Benchmark v5.0.0/1.4",
    ]


def test_results_per_rule_and_account(store_path: Path) -> None:
    result = credsight("--store", str(store_path), "--results", "--format", "json")
    assert result.returncode == 0, result.stderr
    counts = {row["rule"]: row for row in json.loads(result.stdout) if row["account_id"] == ACCOUNT}
    assert (counts["console-user-mfa"]["evaluated"], counts["console-user-mfa"]["failed"]) == (3, 2)
    assert counts["root-mfa"]["failed"] == 1 and counts["root-access-key"]["passed"] == 1
    assert "root-hardware-mfa" not in counts
    result = credsight("--store", str(store_path), "--results", "--format", "ocsf")
    assert result.returncode == 2 and "--results is written as table, csv or json" in result.stderr
