"""The Lambda package and handler, end to end against moto's server (Organizations, STS, IAM, S3).

The package is built as `credsight deploy package` builds it (manylinux wheels from PyPI), for
this machine's Python so that it can run here, and the handler runs from the unpacked package
alone (`python -S`: no site-packages), as Lambda runs it. Then `credsight query` reads the S3 store.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import uuid
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from credsight.deploy.package import DEPENDENCIES, UNZIPPED_LIMIT, PackageSize, build_package
from tests.aws_org import Organization, build_organization
from tests.conftest import moto_server_process

# The state machine's work, done in order by a script run from the package alone.
RUNNER = """
import json, sys
sys.path.insert(0, sys.argv[1])
from credsight.deploy.lambda_handler import handler

class Context:  # the one thing the handler asks of Lambda's context object
    def get_remaining_time_in_millis(self):
        return 900_000

if sys.argv[2] == "scheduled":  # what EventBridge Scheduler sends
    results = [handler({"version": "0", "source": "aws.scheduler", "detail-type": "Scheduled Event"}, Context())]
else:  # the state machine: list, each batch, finish
    planned = handler({"step": "list"}, Context())
    batches = [handler({"step": "collect", "run_id": planned["run_id"], "batch": b}, Context())
               for b in planned["batches"]]
    results = [planned, *batches, handler({"step": "finish", "run_id": planned["run_id"]}, Context())]
loaded = sorted({name.split(".")[0] for name in sys.modules} | {n for n in sys.modules if n.startswith("credsight.")})
print(json.dumps({"results": results, "modules": loaded}))
"""


@pytest.fixture(scope="module")
def package(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, PackageSize, list[str]]:
    """The package built for this Python, its size, and its unpacked folder's entries."""
    folder = tmp_path_factory.mktemp("package")
    size = build_package(folder / "credsight.zip", python=f"{sys.version_info.major}.{sys.version_info.minor}")
    with zipfile.ZipFile(folder / "credsight.zip") as archive:
        names = archive.namelist()
        archive.extractall(folder / "unpacked")
    return folder / "unpacked", size, names


@pytest.fixture(scope="module")
def organization() -> Iterator[Organization]:
    """An organization of its own, in a moto server of its own (the session's may hold another)."""
    with moto_server_process() as endpoint:
        yield build_organization(endpoint)


def run_handler(package: Path, organization: Organization, how: str, store: str, **environment: str) -> Any:
    done = subprocess.run(
        [sys.executable, "-S", "-c", RUNNER, str(package), how],
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
        env={
            **os.environ,
            "CREDSIGHT_STORE": store,
            "AWS_ENDPOINT_URL": organization.endpoint,
            "CREDSIGHT_CONCURRENCY": "8",
            **environment,
        },
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.splitlines()[-1])


def new_store(organization: Organization) -> str:
    bucket = f"credsight-{uuid.uuid4().hex[:12]}"
    boto3.client("s3", endpoint_url=organization.endpoint).create_bucket(Bucket=bucket)
    return f"s3://{bucket}/credsight"


def query(organization: Organization, store: str, sql: str) -> list[dict[str, Any]]:
    """`credsight query` on the store the Lambda wrote, as a user would run it."""
    credsight = shutil.which("credsight", path=str(Path(sys.executable).parent))
    assert credsight
    command = [credsight, "query", "--store", store, "--endpoint-url", organization.endpoint, "--format", "json", sql]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    return list(json.loads(done.stdout))


def stored_users(organization: Organization, store: str) -> dict[str, set[tuple[Any, ...]]]:
    found: dict[str, set[tuple[Any, ...]]] = {}
    for row in query(organization, store, 'SELECT account_id, "user", password_enabled, mfa_active FROM latest'):
        if row["user"] != "<root_account>":
            found.setdefault(row["account_id"], set()).add((row["user"], row["password_enabled"], row["mfa_active"]))
    return found


def created_users(organization: Organization) -> dict[str, set[tuple[Any, ...]]]:
    return {
        a: {(u.name, u.password, u.mfa) for u in organization.users[a]}
        for a in organization.active
        if organization.users[a]
    }


def test_package_is_within_lambda_limits_and_holds_only_the_collector(
    package: tuple[Path, PackageSize, list[str]],
) -> None:
    _folder, size, names = package
    assert size.unzipped < UNZIPPED_LIMIT, f"{size.unzipped / 2**20:.0f} MB unpacked"
    tops = {name.split("/")[0] for name in names}
    assert {"credsight", *DEPENDENCIES} <= tops
    assert "credsight/deploy/lambda_handler.py" in names
    assert not tops & {"duckdb", "dash", "plotly", "dash_ag_grid", "jinja2", "typer", "rich"}
    assert not [n for n in names if n.startswith("credsight/present/")]
    print(f"package: {size.zipped / 2**20:.1f} MB zipped, {size.unzipped / 2**20:.0f} MB unpacked")


def test_a_scheduled_event_collects_the_organization_into_s3(
    package: tuple[Path, PackageSize, list[str]], organization: Organization
) -> None:
    store = new_store(organization)
    answer = run_handler(package[0], organization, "scheduled", store)
    (result,) = answer["results"]
    assert sum(batch["collected"] for batch in result["batches"]) == len(organization.active)
    assert sum(batch["skipped"] for batch in result["batches"]) == 1  # the suspended account
    assert all(batch["failed"] == 0 for batch in result["batches"])
    assert not {"duckdb", "dash", "plotly"} & set(answer["modules"])
    assert not [m for m in answer["modules"] if m.startswith("credsight.present")]
    assert stored_users(organization, store) == created_users(organization)
    outcomes = query(organization, store, "SELECT status, count(*) AS n FROM runs GROUP BY status ORDER BY status")
    assert outcomes == [{"status": "skipped", "n": 1}, {"status": "success", "n": len(organization.active)}]


def test_the_state_machine_steps_collect_in_batches(
    package: tuple[Path, PackageSize, list[str]], organization: Organization
) -> None:
    store = new_store(organization)
    answer = run_handler(package[0], organization, "steps", store, CREDSIGHT_BATCH_SIZE="10")
    planned, *batches, finished = answer["results"]
    assert planned["accounts"] == len(organization.accounts)
    assert planned["batches"] == list(range((len(organization.accounts) + 9) // 10))
    assert [b["batch"] for b in batches] == planned["batches"]
    assert len({b["batch_run_id"] for b in batches}) == len(batches)  # each batch a run of its own
    assert sum(b["collected"] for b in batches) == len(organization.active)
    assert finished["compacted_parts"] > 0
    assert stored_users(organization, store) == created_users(organization)
    per_account = query(organization, store, "SELECT account_id, count(*) AS n FROM daily GROUP BY account_id")
    assert sorted(r["account_id"] for r in per_account) == sorted(organization.active)
    assert {r["n"] for r in per_account} == {1}
    ous = query(organization, store, "SELECT account_id, ou_path FROM accounts")
    assert {r["account_id"]: r["ou_path"] for r in ous} == {a: organization.ou_paths[a] for a in organization.active}


def test_a_missing_store_setting_is_a_clear_error(
    package: tuple[Path, PackageSize, list[str]], organization: Organization
) -> None:
    done = subprocess.run(
        [sys.executable, "-S", "-c", RUNNER, str(package[0]), "scheduled"],
        capture_output=True,
        text=True,
        check=False,
        env={k: v for k, v in os.environ.items() if k != "CREDSIGHT_STORE"},
    )
    assert done.returncode != 0
    assert "CREDSIGHT_STORE is not set" in done.stderr
