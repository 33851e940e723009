"""`credsight migration` as a user meets it: a real process over a real store, its formats, its errors."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from credsight.store import Store
from credsight.store.files import PEOPLE_MAPPING
from tests.test_people import ACCOUNT, OTHER, Center, Person, at, build, console, day, machine

ANA = Person("ana@example.com", ("ana@example.com",))
BEN = Person("ben", ("ben@example.com",))


def credsight(*args: str, cwd: Path, config: str | None = None) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("CREDSIGHT_")}
    if config is not None:
        (cwd / "credsight.toml").write_text(config)
    return subprocess.run(
        [sys.executable, "-m", "credsight.cli", "migration", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=environment,
        check=False,
    )


@pytest.fixture
def store(tmp_path: Path) -> Store:
    """Two accounts over three days: ana migrated (a group), ben without access, cy unmatched, a machine user."""
    robot = machine("robot")
    rows = {
        ACCOUNT: [console("ana", used=at(0, 1)), console("ben", used=at(0, 1)), console("cy", used=at(0, 1)), robot],
        OTHER: [console("ana", OTHER, used=at(2, 9))],
    }
    given = Center([ANA, BEN], {"devs": ["ana@example.com"]}, [(ACCOUNT, "GROUP", "devs"), (OTHER, "GROUP", "devs")])
    return build(tmp_path, {n: rows for n in range(3)}, {0: Center([ANA, BEN]), 1: given, 2: given})


def test_json_has_every_field_the_page_needs(store: Store, tmp_path: Path) -> None:
    result = credsight("--store", store.root, "--format", "json", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    rows = {(r["account_id"], r["user"]): r for r in json.loads(result.stdout)}
    assert set(rows) == {(ACCOUNT, "ana"), (ACCOUNT, "ben"), (ACCOUNT, "cy"), (OTHER, "ana")}  # no machine user
    ana = rows[ACCOUNT, "ana"]
    assert {k: ana[k] for k in ("state", "person", "matched_by", "assigned_since", "last_iam_use", "arn")} == {
        "state": "migrated",
        "person": "ana@example.com",
        "matched_by": "email_local_part",
        "assigned_since": day(1).isoformat(),
        "last_iam_use": "2026-11-01T01:00:00Z",
        "arn": f"arn:aws:iam::{ACCOUNT}:user/ana",
    }
    assert rows[OTHER, "ana"]["state"] == "dual_use"  # used on day 2 at 09:00, after day 1's collection
    assert (rows[ACCOUNT, "ben"]["state"], rows[ACCOUNT, "ben"]["matched_by"]) == ("sso_user_no_access", "user_name")
    assert rows[ACCOUNT, "cy"] | {"account_name": None} == rows[ACCOUNT, "cy"]  # no metadata in this store
    assert (rows[ACCOUNT, "cy"]["state"], rows[ACCOUNT, "cy"]["person"], rows[ACCOUNT, "cy"]["matched_by"]) == (
        "no_sso_user",
        None,
        None,
    )


def test_date_account_and_state_narrow_it(store: Store, tmp_path: Path) -> None:
    result = credsight("--store", store.root, "--format", "json", "--date", day(0).isoformat(), cwd=tmp_path)
    assert {r["state"] for r in json.loads(result.stdout)} == {"sso_user_no_access", "no_sso_user"}  # before access
    result = credsight("--store", store.root, "--format", "csv", "--account", OTHER, cwd=tmp_path)
    assert [(r["account_id"], r["user"]) for r in csv.DictReader(io.StringIO(result.stdout))] == [(OTHER, "ana")]
    result = credsight(
        "--store", store.root, "--format", "json", "--state", "no_sso_user", "--state", "dual_use", cwd=tmp_path
    )
    assert sorted(r["user"] for r in json.loads(result.stdout)) == ["ana", "cy"]


def test_the_table_is_a_summary_per_state_and_ou_then_the_rows(store: Store, tmp_path: Path) -> None:
    result = credsight("--store", store.root, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    summary, rows = result.stdout.split("machine users (access keys only, not people): 1\n")
    assert summary.splitlines()[0].split() == ["ou", "path", "state", "users"]
    assert [line.split() for line in summary.splitlines()[2:]] == [
        ["dual_use", "1"],
        ["migrated", "1"],
        ["no_sso_user", "1"],
        ["sso_user_no_access", "1"],
    ]
    assert rows.splitlines()[0].split()[:4] == ["account", "id", "account", "name"]
    assert len(rows.splitlines()) == 2 + 4


def test_settings_come_from_people_and_a_bad_one_is_one_line(store: Store, tmp_path: Path) -> None:
    result = credsight("--store", store.root, "--format", "json", cwd=tmp_path, config='[people]\nrules = ["email"]\n')
    states = {(r["account_id"], r["user"]): r["state"] for r in json.loads(result.stdout)}
    assert states[ACCOUNT, "ana"] == "no_sso_user"  # the local part rule is off
    result = credsight("--store", store.root, cwd=tmp_path, config='[people]\nrules = ["user_name", "emails"]\n')
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "error: credsight.toml: [people] rules: unknown rule 'emails'; "
        "the rules are mapping, user_name, email, email_local_part, template"
    ]
    result = credsight("--store", store.root, cwd=tmp_path, config="[people]\nready-days = 1\ncolour = 2\n")
    assert result.returncode == 2 and "[people] has no setting 'colour'" in result.stderr
    ready = credsight("--store", store.root, "--format", "json", cwd=tmp_path, config="[people]\nready-days = 1\n")
    states = {(r["account_id"], r["user"]): r["state"] for r in json.loads(ready.stdout)}
    assert states[ACCOUNT, "ana"] == "ready_to_remove"  # unused since day 0: a day is enough


def test_the_stores_mapping_file_is_used_and_a_malformed_one_is_one_line(store: Store, tmp_path: Path) -> None:
    (Path(store.root) / PEOPLE_MAPPING).write_text("account_id,user,identity_center_user\n*,cy,ana@example.com\n")
    result = credsight("--store", store.root, "--format", "json", cwd=tmp_path)
    cy = next(r for r in json.loads(result.stdout) if r["user"] == "cy")
    assert (cy["matched_by"], cy["person"], cy["state"]) == ("mapping", "ana@example.com", "migrated")
    elsewhere = tmp_path / "people.csv"
    elsewhere.write_text("account_id,user,identity_center_user\n12345,cy,ana@example.com\n")
    result = credsight("--store", store.root, cwd=tmp_path, config=f'[people]\nmapping = "{elsewhere}"\n')
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"error: {elsewhere}: line 2: account '12345' is not 12 digits nor a glob of digits (e.g. 1111*)"
    ]
    assert result.stdout == ""  # nothing written


def test_a_mapping_to_nobody_is_said_on_stderr_and_in_the_rows(store: Store, tmp_path: Path) -> None:
    (Path(store.root) / PEOPLE_MAPPING).write_text("*,cy,cy@example.com\n")
    result = credsight("--store", store.root, "--format", "json", cwd=tmp_path)
    assert result.returncode == 0
    assert "line 1: 'cy@example.com' is not an Identity Center user; the IAM users it maps have no person" in (
        result.stderr
    )
    cy = next(r for r in json.loads(result.stdout) if r["user"] == "cy")
    assert cy["state"] == "no_sso_user" and "cy@example.com, who is not an Identity Center user" in cy["note"]


def test_a_store_without_identity_center_says_what_to_do(tmp_path: Path) -> None:
    from credsight.store.runs import Run, Snapshot
    from tests.conftest import report

    store = Store(str(tmp_path / "plain"))
    Run(store).write([Snapshot(report(console("ana"), account=ACCOUNT), "x", day(0), ACCOUNT)])
    result = credsight("--store", store.root, cwd=tmp_path)
    assert result.returncode == 2
    assert "no IAM Identity Center snapshot yet; run 'credsight collect'" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    bad = credsight("--store", store.root, "--state", "gone", cwd=tmp_path)
    assert bad.returncode == 2 and "'gone' is not one of" in bad.stderr
