"""The command line as a user meets it: real processes, one-line errors, exit codes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ACCOUNT, report, user_row


def credsight(
    *args: str, cwd: Path | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "credsight.cli", *args], capture_output=True, text=True, cwd=cwd, env=env, check=False
    )


@pytest.fixture
def pattern(tmp_path: Path) -> Path:
    """Two days of the QuickSight pattern's layout on disk."""
    root = tmp_path / "bucket"
    for day, users in (("2026-11-01", ["alice", "bob"]), ("2026-11-02", ["alice"])):
        folder = root / day / ACCOUNT
        folder.mkdir(parents=True)
        (folder / f"credentialReport_{ACCOUNT}.csv").write_bytes(report(*[user_row(u) for u in users]))
    return root


def test_ingest_query_export(tmp_path: Path, pattern: Path) -> None:
    store = str(tmp_path / "store")
    result = credsight("ingest", "--store", store, str(pattern))
    assert result.returncode == 0, result.stderr
    assert "ingested 2 reports (5 rows)" in result.stdout
    result = credsight(
        "query", "--store", store, "select snapshot_date, users from daily order by 1", "--format", "json"
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == [
        {"snapshot_date": "2026-11-01", "users": 2},
        {"snapshot_date": "2026-11-02", "users": 1},
    ]
    exported = subprocess.run(
        [
            sys.executable,
            "-m",
            "credsight.cli",
            "export",
            "--store",
            store,
            "--date",
            "2026-11-01",
            "--account",
            ACCOUNT,
        ],
        capture_output=True,
        check=True,
    ).stdout
    assert exported == (pattern / "2026-11-01" / ACCOUNT / f"credentialReport_{ACCOUNT}.csv").read_bytes()


def test_store_from_the_environment(tmp_path: Path, pattern: Path) -> None:
    env = {**__import__("os").environ, "CREDSIGHT_STORE": str(tmp_path / "env-store")}
    assert credsight("ingest", str(pattern), env=env).returncode == 0
    assert (tmp_path / "env-store" / "daily").is_dir()


def test_ingest_with_date_and_account_flags(tmp_path: Path) -> None:
    loose = tmp_path / "report.csv"
    loose.write_bytes(report(user_row("alice")))
    store = str(tmp_path / "store")
    assert "cannot tell the report's date" in credsight("ingest", "--store", store, str(loose)).stderr
    result = credsight("ingest", "--store", store, "--date", "2026-10-01", str(loose))
    assert result.returncode == 0, result.stderr
    result = credsight(
        "query", "--store", store, "select distinct account_id, snapshot_date from reports", "--format", "csv"
    )
    assert result.stdout == f"account_id,snapshot_date\n{ACCOUNT},2026-10-01\n"


def test_a_bad_file_among_good_ones_writes_nothing(tmp_path: Path, pattern: Path) -> None:
    bad = pattern / "2026-11-03" / ACCOUNT / f"credentialReport_{ACCOUNT}.csv"
    bad.parent.mkdir(parents=True)
    bad.write_bytes(report(user_row("eve", mfa_active="sometimes")))
    store = tmp_path / "store"
    result = credsight("ingest", "--store", str(store), str(pattern))
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert "credentialReport_012345678901.csv: line 3, column mfa_active: 'sometimes' does not parse" in result.stderr
    assert not [p for p in store.rglob("*") if p.is_file()]


def test_path_and_rows_must_agree_on_the_account(tmp_path: Path) -> None:
    folder = tmp_path / "2026-11-01" / "109876543210"
    folder.mkdir(parents=True)
    (folder / "credentialReport_109876543210.csv").write_bytes(report(user_row("alice")))
    result = credsight("ingest", "--store", str(tmp_path / "store"), str(tmp_path / "2026-11-01"))
    assert result.returncode == 2
    assert "ARN account 012345678901 differs from the report's account 109876543210" in result.stderr


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["query", "--bogus"], "No such option: --bogus"),
        (["query", "--store", "{store}", "select * from nowhere"], "the query failed: Catalog Error"),
        (
            ["query", "--store", "{store}", "select 1", "--format", "xml"],
            "'--format': 'xml' is not one of 'table', 'csv', 'json'",
        ),
        (["query", "--store", "{missing}", "select 1"], "no store at"),
        (["export", "--store", "{store}", "--date", "2026-02-30", "--account", ACCOUNT], "is not a date"),
        (["export", "--store", "{store}", "--date", "2026-11-01", "--account", "12"], "not 12 digits"),
        (["export", "--store", "{store}", "--date", "2026-11-01", "--account", "../../etc/x"], "not 12 digits"),
        (["export", "--store", "{store}", "--date", "2020-01-01", "--account", ACCOUNT], "no report for account"),
        (["ingest", "--store", "{store}", "{missing}"], "no such file or folder"),
        (["ingest", "--store", "{store}", "--date", "2099-01-01", "{loose}"], "snapshot date 2099-01-01 is outside"),
        (["ingest", "--store", "{store}", "--date", "1999-12-31", "{loose}"], "snapshot date 1999-12-31 is outside"),
        (["ingest", "--store", "{store}", "--account", "abc", "{missing}"], "not 12 digits"),
        (
            ["query", "--store", "s3://bucket/x", "--endpoint-url", "http://127.0.0.1:9", "select 1"],
            "cannot reach the store",
        ),
        (["query", "--store", "ftp://x/y", "select 1"], "only a folder or s3://bucket/prefix"),
        (["demo", "--accounts", "0"], "Invalid value for '--accounts'"),
        (["deploy", "template", "nope"], "no template 'nope'; choose one of: collector, member-role"),
        (["deploy", "package", "--out", "{missing}/x.zip"], "a folder that exists and is writable"),
        (["deploy", "package", "--out", "{store}"], "give a file name"),
        (["deploy", "package", "--out", "{missing}.zip", "--architecture", "sparc"], "Lambda runs x86_64 or arm64"),
        (["athena-ddl", "--location", "{store}"], "is not an S3 location"),
        (["serve", "--store", "{store}", "--exceptions", "{missing}/x.toml"], "no exceptions file"),
        (["report", "--store", "{store}", "--out", "{missing}.html", "--date", "2015-01-01"], "pick a later --date"),
        (
            ["report", "--store", "{store}", "--out", "{missing}.html", "--exceptions", "{missing}/x.toml"],
            "no exceptions",
        ),
        (
            [
                "export",
                "--store",
                "{store}",
                "--date",
                "2026-11-01",
                "--account",
                ACCOUNT,
                "--out",
                "{missing}/x/y.csv",
            ],
            "cannot write",
        ),
    ],
)
def test_user_errors_are_one_line_with_exit_code_2(tmp_path: Path, pattern: Path, args: list[str], says: str) -> None:
    store = tmp_path / "store"
    assert credsight("ingest", "--store", str(store), str(pattern)).returncode == 0
    loose = tmp_path / "loose.csv"
    loose.write_bytes(report(user_row("alice")))
    filled = [a.format(store=store, missing=tmp_path / "missing", loose=loose) for a in args]
    result = credsight(*filled)
    assert result.returncode == 2, result.stdout + result.stderr
    assert result.stderr.startswith("error: ") and result.stderr.count("\n") == 1, result.stderr
    assert says in result.stderr
    assert "Traceback" not in result.stderr


def test_csv_export_neutralises_spreadsheet_formulas(tmp_path: Path) -> None:
    folder = tmp_path / "2026-11-01" / ACCOUNT
    folder.mkdir(parents=True)
    name = "=1+2@x"
    content = report(user_row(name, arn=f"arn:aws:iam::{ACCOUNT}:user/x"))
    (folder / "r.csv").write_bytes(content)
    store = str(tmp_path / "store")
    assert credsight("ingest", "--store", store, str(tmp_path / "2026-11-01")).returncode == 0
    result = credsight("query", "--store", store, "select user from reports where not is_root", "--format", "csv")
    assert result.stdout == "user\n'=1+2@x\n"


def test_help_lists_every_command() -> None:
    result = credsight("--help")
    assert result.returncode == 0
    for command in ("ingest", "query", "export", "compact", "demo"):
        assert command in result.stdout


def test_demo_builds_a_store_once_and_keeps_it(tmp_path: Path) -> None:
    store = str(tmp_path / "demo")
    result = credsight("demo", "--store", store, "--accounts", "3", "--days", "10", "--no-serve")
    assert result.returncode == 0, result.stderr
    assert "built the demo organization" in result.stdout
    counts = credsight(
        "query",
        "--store",
        store,
        "select count(*) as reports, count(distinct account_id) as accounts from daily",
        "--format",
        "json",
    )
    assert json.loads(counts.stdout) == [{"reports": 30, "accounts": 3}]
    named = credsight(
        "query", "--store", store, "select count(*) as n from accounts where name is not null", "--format", "json"
    )
    assert json.loads(named.stdout) == [{"n": 3}]
    assert sorted(p.name for p in (tmp_path / "demo" / "derived" / "people").glob("key=*/*")) == [
        "counts.parquet",
        "states.parquet",
    ]  # the SSO migration's rollup
    again = credsight("demo", "--store", store, "--accounts", "3", "--days", "10", "--no-serve")
    assert again.returncode == 0 and "already holds data" in again.stdout


@pytest.mark.parametrize(
    ("path", "flags", "says"),
    [
        ("2026-02-30/012345678901/credentialReport_012345678901.csv", {}, "is not a valid date"),
        ("2026-11-01/012345678901/credentialReport_109876543210.csv", {}, "name different accounts"),
        ("2026-11-01/12345/credentialReport_12345.csv", {}, "not 12 digits"),
        ("reports/r.csv", {}, "cannot tell the report's date"),
        ("2026-11-01/012345678901/r.csv", {"account": "109876543210"}, "name different accounts"),
    ],
)
def test_what_a_path_says_is_checked(path: str, flags: dict[str, str], says: str) -> None:
    from credsight.errors import ReportError
    from credsight.sources.files import describe_path

    with pytest.raises(ReportError, match=says):
        describe_path(path, None, flags.get("account"))


def test_what_a_path_says_is_read() -> None:
    from credsight.sources.files import describe_path

    found = describe_path("bucket/2026-11-01/012345678901/credentialReport_012345678901.csv", None, None)
    assert (found.snapshot_date.isoformat(), found.account_id) == ("2026-11-01", ACCOUNT)
    hive = describe_path("x/snapshot_date=2026-10-31/report.csv", None, None)
    assert (hive.snapshot_date.isoformat(), hive.account_id) == ("2026-10-31", None)
