"""The default `credsight findings` table is a summary a person reads on a terminal: counts per rule and
per OU (or account) and severity, the worst findings, and how to get all of them; `--all` lists each one.

The store is made by hand, so every count below is known without running the rules.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pytest

from credsight.report.model import CURRENT_HEADER
from credsight.store import Store
from credsight.store.runs import Run, Snapshot
from credsight.store.schemas import ACCOUNT_SCHEMA
from tests.conftest import user_row
from tests.test_findings import CLEAN, DAY, account_for, root_row, ts

PROD, DEV = account_for(1), account_for(2)
METADATA = pa.schema([f for f in ACCOUNT_SCHEMA if f.name != "run_id"])


@pytest.fixture(scope="module")
def store_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Prod: root without MFA (critical) and two console users without MFA (high). Dev: one user with a key
    rotated 91 days ago (medium) and a second active key (low), and one user without MFA (high)."""
    path = tmp_path_factory.mktemp("summary") / "store"
    prod = [
        root_row(PROD, mfa_active="false"),
        user_row("ann", account=PROD, **{**CLEAN, "mfa_active": "false"}),
        user_row("bob", account=PROD, **{**CLEAN, "mfa_active": "false"}),
        user_row("cid", account=PROD, **CLEAN),
    ]
    dev = [
        root_row(DEV),
        user_row(
            "dan",
            account=DEV,
            **{
                **CLEAN,
                "access_key_1_last_rotated": ts(91),
                "access_key_2_active": "true",
                "access_key_2_last_rotated": ts(5),
                "access_key_2_last_used_date": ts(1),
                "access_key_2_last_used_region": "eu-west-1",
                "access_key_2_last_used_service": "s3",
            },
        ),
        user_row("eve", account=DEV, **{**CLEAN, "mfa_active": "false"}),
    ]
    snapshots = []
    for account, rows in ((PROD, prod), (DEV, dev)):
        text = "\n".join([",".join(CURRENT_HEADER)] + [",".join(row[c] for c in CURRENT_HEADER) for row in rows])
        snapshots.append(Snapshot(text.encode(), f"{account}.csv", DAY, account))
    metadata = pa.Table.from_pylist(
        [
            {"snapshot_date": DAY, "account_id": PROD, "name": "prod-app", "ou_path": "Root/Workloads/Prod"},
            {"snapshot_date": DAY, "account_id": DEV, "name": "dev-app", "ou_path": "Root/Workloads/Dev"},
        ],
        schema=METADATA,
    )
    Run(Store(str(path))).write(snapshots, metadata)
    return path


def findings(*args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "credsight.cli", "findings", *args], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def section(text: str, title: str) -> list[list[str]]:
    """The rows of the table under `title` (header and rule line left out), split into columns."""
    lines = text.split(title + "\n", 1)[1].split("\n\n", 1)[0].splitlines()[2:]
    return [re.split(r"\s{2,}", line.strip()) for line in lines]


def test_the_summary_counts_per_rule_ou_and_severity(store_path: Path) -> None:
    text = findings("--store", str(store_path))
    assert text.startswith(f"Findings on {DAY} (each account's newest snapshot on or before it): 6 in 2 accounts")
    per_rule = {row[0]: (row[1], int(row[2]), int(row[3])) for row in section(text, "By rule")}
    assert per_rule["root-mfa"] == ("critical", 1, 1)
    assert per_rule["console-user-mfa"] == ("high", 3, 2)
    assert per_rule["access-key-rotation"] == ("medium", 1, 1)
    assert per_rule["multiple-active-keys"] == ("low", 1, 1)
    assert sum(n for _, n, _ in per_rule.values()) == 6
    per_ou = {row[0]: [int(n) for n in row[1:]] for row in section(text, "By OU and severity")}
    # critical, high, medium, low, informational, excepted; the worst OU first
    assert list(per_ou) == ["Root/Workloads/Prod", "Root/Workloads/Dev"]
    assert per_ou["Root/Workloads/Prod"] == [1, 2, 0, 0, 0, 0]
    assert per_ou["Root/Workloads/Dev"] == [0, 1, 1, 1, 0, 0]
    worst = section(text, "The 6 worst (by severity, then rule, account, user)")
    assert [row[:2] for row in worst] == [
        ["critical", "root-mfa"],
        *[["high", "console-user-mfa"]] * 3,
        ["medium", "access-key-rotation"],
        ["low", "multiple-active-keys"],
    ]
    assert "more:" not in text  # all six are shown: nothing more to get


def test_by_account_and_the_way_to_everything(store_path: Path) -> None:
    text = findings("--store", str(store_path), "--by", "account")
    per_account = {row[0]: [int(n) for n in row[1:]] for row in section(text, "By account and severity")}
    assert per_account == {PROD: [1, 2, 0, 0, 0, 0], DEV: [0, 1, 1, 1, 0, 0]}


def test_all_lists_every_finding(store_path: Path) -> None:
    text = findings("--store", str(store_path), "--all")
    rows = [line for line in text.splitlines()[2:] if line and not line.endswith("findings")]
    assert len(rows) == 6 and text.rstrip().endswith("6 findings")
    expected = [("critical", "root-mfa"), *[("high", "console-user-mfa")] * 3]
    expected += [("medium", "access-key-rotation"), ("low", "multiple-active-keys")]
    assert sorted((row.split()[0], row.split()[1]) for row in rows) == sorted(expected)
