"""The Lambda package and handler, end to end against moto's server (Organizations, STS, IAM, S3).

The package is built as `credsight deploy package` builds it (manylinux wheels from PyPI) twice:
for the runtime the collector template declares (python3.12 on Amazon Linux 2023), checked for it
(every wheel's tags, every shared library's glibc needs against Amazon Linux 2023's) and run by
Python 3.12 from its own files for a whole collection; and for this machine's Python (3.11), from the
same recipe, so that the failure paths can run the handler in this process. The handler runs from
the unpacked package (`python -S`: no site-packages) plus a folder holding only what the Lambda
runtime provides (boto3 and its dependencies), as Lambda runs it. Then `credsight query` reads the
S3 store.

The failure paths run the handler in this process against the same moto server, with faults moto
cannot produce (a report that never completes) injected through botocore hooks: an account still
running near the invocation's end, a batch retried after it wrote, a batch whose invocation raised.
The state machine itself runs in tests/test_state_machine.py.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import time
import uuid
import zipfile
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from credsight.deploy import lambda_handler
from credsight.deploy.lambda_handler import BATCH_FAILED, SAFETY_SECONDS, handler
from credsight.deploy.package import (
    DEFAULT_PYTHON,
    DEPENDENCIES,
    RUNTIME_GLIBC,
    RUNTIME_PROVIDED,
    UNZIPPED_LIMIT,
    PackageSize,
    build_package,
)
from credsight.deploy.templates import render
from credsight.errors import StoreError
from credsight.query import Database
from credsight.sources.aws import Aws
from credsight.store import Store
from tests.aws_org import Faults, Organization, build_organization
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


def runtime_python() -> str:
    """The Python of the Lambda runtime the template declares, to run its package: $CREDSIGHT_LAMBDA_PYTHON, or
    pyenv's (these machines carry pyenv's Pythons beside the system's 3.11), or python3.12 on the PATH."""
    wanted = f"python{DEFAULT_PYTHON}"
    candidates = [
        os.environ.get("CREDSIGHT_LAMBDA_PYTHON"),
        *map(str, sorted(Path("/root/.pyenv/versions").glob(f"{DEFAULT_PYTHON}.*/bin/{wanted}"))),
        shutil.which(wanted),
    ]
    for candidate in filter(None, candidates):
        answer = subprocess.run([candidate, "-c", "import sys; print(sys.version_info[:2])"], capture_output=True)
        if answer.returncode == 0 and answer.stdout.decode().strip() == str(tuple(map(int, DEFAULT_PYTHON.split(".")))):
            return candidate
    raise AssertionError(
        f"no {wanted} here: set CREDSIGHT_LAMBDA_PYTHON to one, to run the package the template deploys"
    )


def run_handler(
    package: Path,
    runtime: Path,
    organization: Organization,
    how: str,
    store: str,
    python: str = sys.executable,
    **environment: str,
) -> Any:
    done = subprocess.run(
        [python, "-S", "-c", RUNNER, str(package), how, str(runtime)],
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
    outcomes = query(
        organization,
        store,
        "SELECT kind, status, count(*) AS n FROM runs GROUP BY kind, status ORDER BY kind, status",
    )
    assert outcomes == [
        {"kind": "credential_report", "status": "skipped", "n": 1},
        {"kind": "credential_report", "status": "success", "n": len(organization.active)},
        {"kind": "identity_center", "status": "success", "n": 1},  # moto has an instance: read with the accounts
    ]
    assert result["identity_center"]["status"] == "success"
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


# -- the package for the runtime the template declares ------------------------------------------

WHEEL_TAG = re.compile(r"Tag: (?P<python>[^-]+)-(?P<abi>[^-]+)-(?P<platform>\S+)")


@pytest.fixture(scope="module")
def runtime_package(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, PackageSize]:
    """The package as `credsight deploy package` builds it by default: for the template's runtime."""
    folder = tmp_path_factory.mktemp("runtime-package")
    size = build_package(folder / "credsight.zip")
    with zipfile.ZipFile(folder / "credsight.zip") as archive:
        archive.extractall(folder / "unpacked")
    return folder / "unpacked", size


def glibc_needed(library: Path) -> tuple[int, int]:
    """The newest GLIBC_x.y symbol version a shared library needs (readelf's version references)."""
    done = subprocess.run(["readelf", "-V", "--wide", str(library)], capture_output=True, text=True, check=True)
    versions = [(int(a), int(b)) for a, b in re.findall(r"Name: GLIBC_(\d+)\.(\d+)", done.stdout)]
    return max(versions, default=(0, 0))


def test_the_package_is_built_for_the_runtime_the_template_declares(
    runtime_package: tuple[Path, PackageSize],
) -> None:
    """What a package for another machine must be: the runtime named once, every wheel built for
    it, every compiled module for its ABI, and no library needing a glibc newer than Amazon Linux 2023's."""
    folder, size = runtime_package
    function = json.loads(render("collector"))["Resources"]["CollectorFunction"]["Properties"]
    assert function["Runtime"] == f"python{DEFAULT_PYTHON}"
    python = "cp" + DEFAULT_PYTHON.replace(".", "")
    tags = {}
    for wheel in folder.glob("*.dist-info/WHEEL"):
        found = [m.groupdict() for m in WHEEL_TAG.finditer(wheel.read_text())]
        assert found, wheel
        tags[wheel.parent.name.split("-")[0].lower()] = found
    assert {name.lower() for name in DEPENDENCIES} <= set(tags)
    for name, found in tags.items():
        # cp312 itself, or the stable ABI of an older Python (which 3.12 loads), or pure Python.
        fits = [
            t
            for t in found
            if t["python"] in (python, "py3")
            or (t["abi"] == "abi3" and int(t["python"][3:]) <= int(DEFAULT_PYTHON.split(".")[1]))
        ]
        assert fits, (name, found)
        for tag in fits:
            manylinux = re.match(r"manylinux_(\d+)_(\d+)_", tag["platform"])
            if manylinux:
                assert (int(manylinux.group(1)), int(manylinux.group(2))) <= RUNTIME_GLIBC, (name, tag)
            else:  # the legacy names: glibc 2.5, 2.12 and 2.17, all older than the runtime's
                assert tag["platform"] in ("any", *(f"manylinux{n}_x86_64" for n in ("1", "2010", "2014"))), (name, tag)
    extensions = [p for p in folder.rglob("*.so") if ".cpython-" in p.name]
    assert extensions, "no compiled module: the wheels did not land"
    assert [p.name for p in extensions if f".cpython-{python[2:]}-" not in p.name] == []
    libraries = [p for p in folder.rglob("*.so*") if p.is_file() and p.read_bytes()[:4] == b"\x7fELF"]
    needs = {str(p.relative_to(folder)): glibc_needed(p) for p in libraries}
    assert max(needs.values()) > (2, 17)  # readelf did read the version references
    assert {p: v for p, v in needs.items() if v > RUNTIME_GLIBC} == {}
    assert size.unzipped < UNZIPPED_LIMIT, f"{size.unzipped / 2**20:.0f} MB unpacked"


def test_the_package_built_for_the_templates_runtime_collects_under_that_python(
    runtime_package: tuple[Path, PackageSize], runtime: Path, organization: Organization
) -> None:
    """The package `credsight deploy package` builds by default (cp312 wheels), run by Python 3.12 from its own
    files and the runtime's boto3, as Lambda's python3.12 runs it: the whole scheduled collection."""
    python = runtime_python()  # checked to be that version
    store = new_store(organization)
    answer = run_handler(runtime_package[0], runtime, organization, "scheduled", store, python=python)
    (result,) = answer["results"]
    assert sum(batch["collected"] for batch in result["batches"]) == len(organization.active)
    assert stored_users(organization, store) == created_users(organization)
    assert result["findings"] == len(credsight_json(organization, store, "findings"))
    # The Finish step's notifications to a secret's URLs go through apprise, from the package too.
    probe = "import sys; sys.path[:0] = sys.argv[1:]; import apprise; print(apprise.Apprise().add('json://x/y'))"
    done = subprocess.run(
        [python, "-S", "-c", probe, str(runtime_package[0]), str(runtime)], capture_output=True, text=True, check=False
    )
    assert (done.returncode, done.stdout.strip()) == (0, "True"), done.stderr[-2000:]


# -- failure paths, the handler in this process ------------------------------------------------------


class Context:
    """Lambda's context object, as far as the handler asks it: the time left."""

    def __init__(self, seconds: float) -> None:
        self.deadline = time.monotonic() + seconds

    def get_remaining_time_in_millis(self) -> int:
        return int((self.deadline - time.monotonic()) * 1000)


@pytest.fixture
def in_lambda(organization: Organization, monkeypatch: pytest.MonkeyPatch) -> Callable[[], tuple[Store, Faults]]:
    """The function's environment on a fresh S3 store, and the faults its AWS calls meet."""

    def prepare() -> tuple[Store, Faults]:
        store = new_store(organization)
        session = boto3.Session(region_name="us-east-1")
        faults = Faults(session)
        monkeypatch.setattr(lambda_handler, "Aws", lambda **options: Aws(session=session, **options))
        for name, value in {
            "CREDSIGHT_STORE": store,
            "AWS_ENDPOINT_URL": organization.endpoint,
            "CREDSIGHT_CONCURRENCY": "8",
            "CREDSIGHT_BATCH_SIZE": "10",
        }.items():
            monkeypatch.setenv(name, value)
        return Store(store, endpoint_url=organization.endpoint), faults

    return prepare


def planned_batches(store: Store, run_id: str) -> list[list[str]]:
    plan = json.loads(store.read_plan(run_id))
    ids, size = [a["id"] for a in plan["accounts"]], plan["batch_size"]
    return [ids[i : i + size] for i in range(0, len(ids), size)]


def outcomes(store: Store) -> list[dict[str, Any]]:
    with Database(store) as database:
        return database.sql(
            "SELECT account_id, run_id, status, error_class, error_message FROM runs WHERE kind = 'credential_report'"
        ).rows


def test_an_account_still_running_near_the_deadline_ends_timeout_not_lost(
    in_lambda: Callable[[], tuple[Store, Faults]], organization: Organization
) -> None:
    store, faults = in_lambda()
    planned = handler({"step": "list"}, Context(900))
    batches = planned_batches(store, planned["run_id"])
    stuck = next(a for a in batches[0] if a in organization.active and a != "123456789012")
    faults.add("iam.GenerateCredentialReport", stuck, "INPROGRESS")  # its report never completes
    left = SAFETY_SECONDS + 6  # the invocation has 66 s left: each account may take 6 of them
    started = time.monotonic()
    result = handler({"step": "collect", "run_id": planned["run_id"], "batch": 0}, Context(left))
    took = time.monotonic() - started
    assert took < left - SAFETY_SECONDS / 2, f"the batch ran {took:.0f} s of the {left} s it had"
    assert faults.injected["iam.GenerateCredentialReport", stuck] >= 2  # it was polled until its time was up
    assert result["failed"] == 1 and result["failed_by_class"] == {"timeout": 1}
    found = {r["account_id"]: r for r in outcomes(store)}
    assert set(found) == set(batches[0])  # every account of the batch recorded, none lost
    assert (found[stuck]["status"], found[stuck]["error_class"]) == ("failed", "timeout")
    assert "gave up after" in found[stuck]["error_message"]
    assert {r["status"] for a, r in found.items() if a != stuck} <= {"success", "skipped"}


def unique(rows: list[dict[str, Any]], *key: str) -> bool:
    counted = Counter(tuple(row[k] for k in key) for row in rows)
    return bool(counted) and max(counted.values()) == 1


def test_a_batch_retried_after_it_wrote_gives_no_duplicate_row_in_any_view(
    in_lambda: Callable[[], tuple[Store, Faults]],
) -> None:
    store, _faults = in_lambda()
    planned = handler({"step": "list"}, Context(900))
    run_id, batches = planned["run_id"], planned["batches"]
    first = handler({"step": "collect", "run_id": run_id, "batch": 0}, Context(900))
    again = handler({"step": "collect", "run_id": run_id, "batch": 0}, Context(900))  # Step Functions' retry
    assert first["collected"] == again["collected"] > 0 and first["batch_run_id"] != again["batch_run_id"]
    for batch in batches[1:]:
        handler({"step": "collect", "run_id": run_id, "batch": batch}, Context(900))

    def check() -> None:
        with Database(store) as database:
            views = {v: database.sql(f"SELECT * FROM {v}").rows for v in ("reports", "latest", "daily", "key_use")}  # noqa: S608
            accounts = database.sql("SELECT * FROM accounts").rows
        for view, rows in views.items():
            assert len({json.dumps(r, default=str, sort_keys=True) for r in rows}) == len(rows), view
        assert unique(views["reports"], "account_id", "user", "snapshot_date")
        assert unique(views["latest"], "account_id", "user")
        assert unique(views["daily"], "account_id", "snapshot_date")
        assert unique(views["key_use"], "snapshot_date", "account_id", "region", "service")
        assert unique(accounts, "account_id")
        assert {r["run_id"] for r in views["daily"] if r["account_id"] in planned_batches(store, run_id)[0]} == {
            again["batch_run_id"]
        }  # the retry's rows, the newer run, are the ones shown

    check()
    attempts = Counter(r["account_id"] for r in outcomes(store))
    assert {attempts[a] for a in planned_batches(store, run_id)[0]} == {2}  # runs keeps every attempt
    finished = handler({"step": "finish", "run_id": run_id}, Context(900))
    assert finished["compacted_parts"] > 0 and finished["batch_failed"] == 0
    check()  # and so does the compacted store


def test_a_batch_whose_invocation_raised_is_recorded_by_the_finish_step(
    in_lambda: Callable[[], tuple[Store, Faults]], organization: Organization, monkeypatch: pytest.MonkeyPatch
) -> None:
    store, _faults = in_lambda()
    planned = handler({"step": "list"}, Context(900))
    run_id, batches = planned["run_id"], planned_batches(store, planned["run_id"])
    assert len(batches) >= 3
    handler({"step": "collect", "run_id": run_id, "batch": 0}, Context(900))
    with monkeypatch.context() as broken:  # batch 1's invocation cannot reach the store: it raises
        broken.setenv("CREDSIGHT_STORE", f"s3://credsight-missing-{uuid.uuid4().hex[:8]}/credsight")
        with pytest.raises(StoreError, match="cannot read the plan"):
            handler({"step": "collect", "run_id": run_id, "batch": 1}, Context(900))
    for batch in range(2, len(batches)):  # the Map goes on
        handler({"step": "collect", "run_id": run_id, "batch": batch}, Context(900))
    finished = handler({"step": "finish", "run_id": run_id}, Context(900))
    assert finished["batch_failed"] == len(batches[1])
    found = {r["account_id"]: r for r in outcomes(store)}
    assert set(found) == {a for batch in batches for a in batch}  # every planned account recorded
    failed = {a for a, r in found.items() if r["error_class"] == BATCH_FAILED}
    assert failed == set(batches[1])
    assert all(
        found[a]["status"] == "failed" and f"batch 1 of run {run_id}" in found[a]["error_message"] for a in failed
    )
    again = handler({"step": "finish", "run_id": run_id}, Context(900))  # Finish retried: nothing recorded twice
    assert again["batch_failed"] == 0


# -- the state machine, executed by moto's Step Functions interpreter -------------------------------

BROKEN_BATCH = 1  # the batch whose invocation raises (see tests/lambda_on_moto.py)
SUBSTITUTIONS = {"LambdaInvoke": "arn:aws:states:::lambda:invoke", "MaxConcurrency": "{% 2 %}"}
# What moto's interpreter cannot check, so these tests do not either: IAM (moto checks no permission:
# the roles' policies are checked by cfn-lint, checkov and tests/test_deploy_templates.py); the Lambda
# service's own failures and the Retry that answers them (moto's Lambda never fails as a service);
# the Map's MaxConcurrency as a limit (moto may run iterations one at a time); the 256 KB payload
# limit of a state; logging and X-Ray tracing; the EventBridge schedule; and DefinitionSubstitutions,
# which CloudFormation fills in (here, the same text substitution, done by the test).


@pytest.fixture(scope="module")
def machine_aws(package: tuple[Path, PackageSize, list[str]], runtime: Path) -> Iterator[Organization]:
    """moto with a Step Functions interpreter that executes and a Lambda that runs the package."""
    from bench.common import free_port, serving

    from tests.conftest import AWS_TEST_ENVIRONMENT

    os.environ.update(AWS_TEST_ENVIRONMENT)
    port = free_port()
    launcher = Path(__file__).with_name("lambda_on_moto.py")
    command = [sys.executable, str(launcher), str(port), str(package[0]), str(runtime), str(BROKEN_BATCH)]
    with serving(command, port, "moto with the package's Lambda"):
        yield build_organization(f"http://127.0.0.1:{port}")


def deployed_machine(organization: Organization, store: str) -> str:
    """The collector's function and state machine as the template declares them; the machine's ARN."""
    from credsight.deploy.state_machine import run_definition
    from credsight.deploy.templates import HANDLER, RUNTIME

    endpoint = organization.endpoint
    iam = boto3.client("iam", endpoint_url=endpoint)
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}
        ],
    }
    name = f"credsight-{uuid.uuid4().hex[:8]}"
    role = iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
    collector = json.loads(render("collector"))["Resources"]["CollectorFunction"]["Properties"]
    function = boto3.client("lambda", endpoint_url=endpoint).create_function(
        FunctionName=f"{name}-collector",
        Runtime=RUNTIME,
        Handler=HANDLER,
        Role=role,
        Code={"ZipFile": b"PK\x05\x06" + b"\x00" * 18},  # moto keeps the code; the package runs from its folder
        Timeout=collector["Timeout"],
        MemorySize=collector["MemorySize"],
        Environment={
            "Variables": {
                "CREDSIGHT_STORE": store,
                "AWS_ENDPOINT_URL": endpoint,
                "CREDSIGHT_CONCURRENCY": "8",
                "CREDSIGHT_BATCH_SIZE": "8",
            }
        },
    )
    text = json.dumps(run_definition())
    for key, value in {**SUBSTITUTIONS, "CollectorFunctionArn": function["FunctionArn"]}.items():
        text = text.replace("${" + key + "}", value)
    assert "${" not in text
    sfn = boto3.client("stepfunctions", endpoint_url=endpoint)
    made = sfn.create_state_machine(name=name, definition=text, roleArn=role, type="STANDARD")
    return str(made["stateMachineArn"])


def executed(organization: Organization, machine: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Start the machine as the schedule does (input {}); its description once it ended, and its history."""
    sfn = boto3.client("stepfunctions", endpoint_url=organization.endpoint)
    execution = sfn.start_execution(stateMachineArn=machine, input="{}")["executionArn"]
    deadline = time.monotonic() + 600
    while (described := sfn.describe_execution(executionArn=execution))["status"] == "RUNNING":
        assert time.monotonic() < deadline, "the execution did not end in 10 minutes"
        time.sleep(0.5)  # polling moto for the execution's end: there is no waiter for it
    history = sfn.get_execution_history(executionArn=execution, maxResults=1000)["events"]
    return described, history


def test_the_state_machine_runs_the_collection_and_a_failed_batch_is_kept_while_the_map_goes_on(
    machine_aws: Organization,
) -> None:
    organization = machine_aws
    store = new_store(organization)
    described, history = executed(organization, deployed_machine(organization, store))
    assert described["status"] == "SUCCEEDED", json.dumps(history[-3:], default=str)[:3000]
    output = json.loads(described["output"])
    batches = list(range((len(organization.accounts) + 7) // 8))
    assert output["batches"] == batches and output["accounts"] == len(organization.accounts)
    collected = output["collected"]
    assert len(collected) == len(batches)
    broken = collected[BROKEN_BATCH]
    assert broken["batch"] == BROKEN_BATCH and broken["error"] == "StoreError"
    assert "cannot read the plan" in broken["cause"]  # the Catch kept the handler's own error
    assert all("error" not in c and c["batch"] == b for b, c in enumerate(collected) if b != BROKEN_BATCH)
    failed_events = [e for e in history if e["type"] == "TaskFailed"]
    assert len(failed_events) == 1 and failed_events[0]["taskFailedEventDetails"]["error"] == "StoreError"
    finished = output["finished"]
    plan = json.loads(Store(store, endpoint_url=organization.endpoint).read_plan(output["run_id"]))
    lost = [a["id"] for a in plan["accounts"][BROKEN_BATCH * 8 : (BROKEN_BATCH + 1) * 8]]
    assert finished["batch_failed"] == len(lost) and finished["compacted_parts"] > 0 and finished["findings"] > 0
    runs = query(
        organization, store, "SELECT account_id, status, error_class FROM runs WHERE kind = 'credential_report'"
    )
    assert sorted(r["account_id"] for r in runs) == sorted(organization.accounts)  # every account recorded once
    assert sorted(r["account_id"] for r in runs if r["error_class"] == BATCH_FAILED) == sorted(lost)
    expected = {a: users for a, users in created_users(organization).items() if a not in lost}
    assert stored_users(organization, store) == expected
    assert stored_findings(organization, store, finished["findings_file"])
