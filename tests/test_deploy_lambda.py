"""The Lambda package and handler, end to end against moto's server (Organizations, STS, IAM, S3).

The package is built as `credsight deploy package` builds it (manylinux wheels from PyPI), for
this machine's Python so that it can run here, and the handler runs from the unpacked package
(`python -S`: no site-packages) plus a folder holding only what the Lambda runtime provides
(boto3 and its dependencies), as Lambda runs it. Then `credsight query` reads the S3 store.
"""

from __future__ import annotations

import importlib.util
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

from credsight.deploy.package import DEPENDENCIES, RUNTIME_PROVIDED, UNZIPPED_LIMIT, PackageSize, build_package
from tests.aws_org import Organization, build_organization
from tests.conftest import moto_server_process

# The state machine's work, done in order by a script run from the package alone.
RUNNER = """
import json, sys
sys.path[:0] = [sys.argv[1], sys.argv[3]]  # the package, then what the Lambda runtime provides
from credsight.deploy.lambda_handler import handler

def loaded():
    return sorted({name.split(".")[0] for name in sys.modules} | {n for n in sys.modules if n.startswith("credsight.")})

class Context:  # the one thing the handler asks of Lambda's context object
    def get_remaining_time_in_millis(self):
        return 900_000

if sys.argv[2] == "scheduled":  # what EventBridge Scheduler sends
    results = [handler({"version": "0", "source": "aws.scheduler", "detail-type": "Scheduled Event"}, Context())]
    collecting = []
else:  # the state machine: list, each batch, finish
    planned = handler({"step": "list"}, Context())
    batches = [handler({"step": "collect", "run_id": planned["run_id"], "batch": b}, Context())
               for b in planned["batches"]]
    collecting = loaded()  # what listing and collecting imported
    results = [planned, *batches, handler({"step": "finish", "run_id": planned["run_id"]}, Context())]
print(json.dumps({"results": results, "collecting": collecting}))
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
def runtime(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """What the Lambda runtime provides beside the package: boto3 and its dependencies, and nothing else."""
    folder = tmp_path_factory.mktemp("runtime")
    for name in RUNTIME_PROVIDED:
        found = importlib.util.find_spec(name)
        assert found and found.origin, name
        origin = Path(found.origin)
        source = origin.parent if origin.name == "__init__.py" else origin
        (folder / source.name).symlink_to(source)
    return folder


@pytest.fixture(scope="module")
def organization() -> Iterator[Organization]:
    """An organization of its own, in a moto server of its own (the session's may hold another)."""
    with moto_server_process() as endpoint:
        yield build_organization(endpoint)


def run_handler(
    package: Path, runtime: Path, organization: Organization, how: str, store: str, **environment: str
) -> Any:
    done = subprocess.run(
        [sys.executable, "-S", "-c", RUNNER, str(package), how, str(runtime)],
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


def credsight_json(organization: Organization, store: str, *arguments: str) -> Any:
    """A credsight command's JSON output on the store the Lambda wrote, as a user would run it."""
    credsight = shutil.which("credsight", path=str(Path(sys.executable).parent))
    assert credsight
    command = [credsight, *arguments, "--store", store, "--endpoint-url", organization.endpoint, "--format", "json"]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def query(organization: Organization, store: str, sql: str) -> list[dict[str, Any]]:
    return list(credsight_json(organization, store, "query", sql))


def stored_findings(organization: Organization, store: str, path: str) -> list[tuple[str, str, str]]:
    """The findings file the Finish step wrote, as (rule, account, user)."""
    bucket, key = path.removeprefix("s3://").split("/", 1) if path.startswith("s3://") else path.split("/", 1)
    body = boto3.client("s3", endpoint_url=organization.endpoint).get_object(Bucket=bucket, Key=key)["Body"].read()
    return sorted((f["rule"], f["account_id"], f["user"]) for f in json.loads(body))


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


def test_package_is_within_lambda_limits_and_holds_only_what_the_function_imports(
    package: tuple[Path, PackageSize, list[str]],
) -> None:
    _folder, size, names = package
    assert size.unzipped < UNZIPPED_LIMIT, f"{size.unzipped / 2**20:.0f} MB unpacked"
    tops = {name.split("/")[0] for name in names}
    assert {"credsight", *DEPENDENCIES} <= tops
    assert "credsight/deploy/lambda_handler.py" in names
    assert not tops & {"dash", "plotly", "dash_ag_grid", "jinja2", "typer", "rich", *RUNTIME_PROVIDED}
    assert not [n for n in names if n.startswith(("credsight/present/", "credsight/demo/", "credsight/cli/"))]
    assert "credsight/formats/findings.py" in names  # the Finish step writes the findings as JSON
    print(f"package: {size.zipped / 2**20:.1f} MB zipped, {size.unzipped / 2**20:.0f} MB unpacked")


def test_a_scheduled_event_collects_the_organization_and_stores_its_findings(
    package: tuple[Path, PackageSize, list[str]], runtime: Path, organization: Organization
) -> None:
    store = new_store(organization)
    answer = run_handler(package[0], runtime, organization, "scheduled", store)
    (result,) = answer["results"]
    assert sum(batch["collected"] for batch in result["batches"]) == len(organization.active)
    assert sum(batch["skipped"] for batch in result["batches"]) == 1  # the suspended account
    assert all(batch["failed"] == 0 for batch in result["batches"])
    assert stored_users(organization, store) == created_users(organization)
    outcomes = query(organization, store, "SELECT status, count(*) AS n FROM runs GROUP BY status ORDER BY status")
    assert outcomes == [{"status": "skipped", "n": 1}, {"status": "success", "n": len(organization.active)}]
    expected = sorted((f["rule"], f["account_id"], f["user"]) for f in credsight_json(organization, store, "findings"))
    assert expected, "the organization has users without MFA: there must be findings"
    assert result["findings"] == len(expected)
    assert stored_findings(organization, store, result["findings_file"]) == expected


def test_the_state_machine_steps_collect_in_batches_without_duckdb(
    package: tuple[Path, PackageSize, list[str]], runtime: Path, organization: Organization
) -> None:
    store = new_store(organization)
    answer = run_handler(package[0], runtime, organization, "steps", store, CREDSIGHT_BATCH_SIZE="10")
    planned, *batches, finished = answer["results"]
    assert not {"duckdb", "dash", "plotly", "rich"} & set(answer["collecting"])
    assert not [m for m in answer["collecting"] if m.startswith("credsight.present")]
    assert planned["accounts"] == len(organization.accounts)
    assert planned["batches"] == list(range((len(organization.accounts) + 9) // 10))
    assert [b["batch"] for b in batches] == planned["batches"]
    assert len({b["batch_run_id"] for b in batches}) == len(batches)  # each batch a run of its own
    assert sum(b["collected"] for b in batches) == len(organization.active)
    assert finished["compacted_parts"] > 0 and finished["findings"] > 0
    assert stored_users(organization, store) == created_users(organization)
    per_account = query(organization, store, "SELECT account_id, count(*) AS n FROM daily GROUP BY account_id")
    assert sorted(r["account_id"] for r in per_account) == sorted(organization.active)
    assert {r["n"] for r in per_account} == {1}
    ous = query(organization, store, "SELECT account_id, ou_path FROM accounts")
    assert {r["account_id"]: r["ou_path"] for r in ous} == {a: organization.ou_paths[a] for a in organization.active}


def test_a_missing_store_setting_is_a_clear_error(package: tuple[Path, PackageSize, list[str]], runtime: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-S", "-c", RUNNER, str(package[0]), "scheduled", str(runtime)],
        capture_output=True,
        text=True,
        check=False,
        env={k: v for k, v in os.environ.items() if k != "CREDSIGHT_STORE"},
    )
    assert done.returncode != 0
    assert "CREDSIGHT_STORE is not set" in done.stderr


@pytest.mark.parametrize(
    ("event", "says"),
    [
        ({"step": "colect"}, "unknown step 'colect'"),
        ({"step": "collect", "batch": 0}, "the collect step needs 'run_id'"),
        ({"step": "collect", "run_id": "20261123T221500123456Z-1a2b3c"}, "the collect step needs 'batch'"),
        ({"step": "finish"}, "the finish step needs 'run_id'"),
    ],
)
def test_a_malformed_event_is_refused_before_any_work(
    event: dict[str, Any], says: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from credsight.deploy.lambda_handler import handler
    from credsight.errors import UserFixable

    monkeypatch.setenv("CREDSIGHT_STORE", str(tmp_path / "store"))
    with pytest.raises(UserFixable, match=says):
        handler(event, None)
    assert not (tmp_path / "store").exists()  # nothing written


def test_a_batch_outside_the_plan_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from credsight.deploy.lambda_handler import account_record, handler
    from credsight.errors import UserFixable
    from credsight.sources.organizations import Account
    from credsight.store import Store

    store = Store(str(tmp_path / "store"))
    run_id = "20261123T221500123456Z-1a2b3c"
    accounts = [account_record(Account(f"{i:012d}")) for i in range(3)]
    plan = {"caller": "123456789012", "partition": "aws", "batch_size": 2, "with_metadata": False, "accounts": accounts}
    store.write_plan(run_id, json.dumps(plan).encode())
    monkeypatch.setenv("CREDSIGHT_STORE", store.url)
    with pytest.raises(UserFixable, match=r"batch 2 is not in the plan of run .*, which has 2 batches"):
        handler({"step": "collect", "run_id": run_id, "batch": 2}, None)
