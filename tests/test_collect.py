"""The collector against moto's server: an organization of 32 accounts, faults injected on top."""

from __future__ import annotations

import datetime as dt
import io
import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.parse
from pathlib import Path
from typing import Any

import boto3
import botocore.awsrequest
import pyarrow
import pyarrow.csv
import pytest
from rich.console import Console

from credsight.cli.collect import CollectRequest, choose_accounts, reporting, run_collect, stop_on_signals
from credsight.errors import SourceError
from credsight.query import Database
from credsight.sources.aws import Aws, RoleSettings
from credsight.sources.collect import Outcome, Settings, collect
from credsight.sources.credential_report import Timing
from credsight.sources.organizations import Account, discover, under
from credsight.store import Store
from tests.aws_org import (
    MANAGEMENT,
    Faults,
    Organization,
    RawBody,
    build_organization,
    create_users,
    member_clients,
)
from tests.aws_org import User as MadeUser

# Backoffs and polls shrunk so that a test waits milliseconds where AWS would wait seconds.
FAST = Timing(deadline=8.0, poll_first=0.01, poll_max=0.05, backoff_base=0.01, backoff_max=0.05)
OUTSIDER = "555555555555"  # an account outside the organization whose report does not parse


@pytest.fixture(scope="module")
def organization(moto_endpoint: str) -> Organization:
    built = build_organization(moto_endpoint)
    # moto writes user names into the report unquoted, so a comma (legal in IAM names) breaks the CSV.
    create_users(member_clients(moto_endpoint, OUTSIDER), OUTSIDER, [MadeUser("ops,admin", True, False, 0)])
    return built


def hooked(organization: Organization) -> tuple[Aws, Faults]:
    session = boto3.Session(region_name="us-east-1")
    return Aws(session, endpoint_url=organization.endpoint, max_connections=8), Faults(session)


def stored_users(store: Store, run_id: str | None = None) -> dict[str, set[tuple[Any, ...]]]:
    """Each account's users as stored: (name, password, MFA, key 1 active, key 2 active)."""
    sql = """SELECT account_id, "user", password_enabled, mfa_active, access_key_1_active, access_key_2_active
             FROM reports WHERE run_id = coalesce($run, run_id)"""
    found: dict[str, set[tuple[Any, ...]]] = {}
    with Database(store) as database:
        for row in database.sql(sql, {"run": run_id}).rows:
            values = (row["user"], row["password_enabled"], row["mfa_active"])
            found.setdefault(row["account_id"], set()).add(
                (*values, row["access_key_1_active"], row["access_key_2_active"])
            )
    return found


def created_users(organization: Organization, accounts: list[str]) -> dict[str, set[tuple[Any, ...]]]:
    return {
        a: {(u.name, u.password, u.mfa, u.keys >= 1, u.keys >= 2) for u in organization.users[a]}
        for a in accounts
        if organization.users[a]
    }


def members_called(faults: Faults) -> set[str]:
    """The accounts whose IAM was asked for a report."""
    return {account for operation, account in faults.calls if operation.startswith("iam.")}


def reports_per_account(store: Store) -> dict[str, int]:
    with Database(store) as database:
        rows = database.sql("SELECT account_id, count(*) AS n FROM daily_parts GROUP BY account_id").rows
    return {r["account_id"]: r["n"] for r in rows}


def test_collects_every_account_as_created(
    organization: Organization, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store = Store(str(tmp_path / "store"))
    aws, faults = hooked(organization)
    code = run_collect(store, CollectRequest(endpoint_url=organization.endpoint, log_format="json"), aws)
    assert code == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    by_account = {line["account_id"]: line for line in lines if "account_id" in line}
    assert set(by_account) == set(organization.accounts)
    assert by_account[organization.suspended]["status"] == "skipped"
    assert {by_account[a]["status"] for a in organization.active} == {"success"}
    assert lines[-1]["summary"]["collected"] == len(organization.active)
    # user by user, as created; an account with no users is collected with none, not missing
    assert stored_users(store) == created_users(organization, organization.active)
    assert set(reports_per_account(store)) == set(organization.active)
    with Database(store) as database:
        accounts = {r["account_id"]: r for r in database.sql("SELECT * FROM account_metadata").rows}
        runs = {r["account_id"]: r for r in database.sql("SELECT * FROM runs").rows}
    assert {a: accounts[a]["ou_path"] for a in organization.accounts} == organization.ou_paths
    assert {a: accounts[a]["name"] for a in organization.accounts} == organization.accounts
    assert accounts[organization.suspended]["state"] == "SUSPENDED"
    assert runs[organization.suspended]["status"] == "skipped"
    assert runs[organization.suspended]["error_message"] == "account is SUSPENDED"
    # the suspended account was never touched; the management account used the caller's own keys
    assert not [key for key in faults.calls if key[1] == organization.suspended]
    assert faults.calls["sts.AssumeRole", MANAGEMENT] == 0
    assert faults.calls["iam.GetCredentialReport", MANAGEMENT] == 1


def test_accounts_ou_and_exclude_narrow_the_run(organization: Organization) -> None:
    aws, _faults = hooked(organization)
    everyone = discover(aws.client("organizations"))
    prod = organization.ou_ids["Root/Workloads/Prod"]
    expected = {a for a, path in organization.ou_paths.items() if path.startswith("Root/Workloads/Prod")}
    for ou in (prod, "Root/Workloads/Prod", "Workloads/Prod", "/Root/Workloads/Prod/"):
        chosen, with_metadata = choose_accounts(aws, MANAGEMENT, CollectRequest(ou=ou))
        assert {a.id for a in chosen} == expected, ou
        assert with_metadata
    left_out = sorted(expected)[0]
    chosen, _ = choose_accounts(aws, MANAGEMENT, CollectRequest(ou=prod, exclude=[left_out]))
    assert {a.id for a in chosen} == expected - {left_out}
    chosen, with_metadata = choose_accounts(aws, MANAGEMENT, CollectRequest(accounts=[left_out, OUTSIDER]))
    assert [a.id for a in chosen] == [left_out, OUTSIDER] and not with_metadata
    assert not under(next(a for a in everyone if a.id == left_out), "Root/Workloads/Dev")
    with pytest.raises(SourceError, match="no accounts under --ou 'Root/Nowhere'"):
        choose_accounts(aws, MANAGEMENT, CollectRequest(ou="Root/Nowhere"))


def test_status_is_read_when_state_is_absent_and_empty_pages_are_followed(organization: Organization) -> None:
    """ListAccounts may answer an empty page with a NextToken; old answers carry only Status."""
    session = boto3.Session(region_name="us-east-1")
    calls = {"n": 0}

    def empty_first_page(request: Any, **_: Any) -> Any:
        body = json.loads(request.body or b"{}")
        calls["n"] += 1
        if calls["n"] == 1:
            page = json.dumps({"Accounts": [], "NextToken": "empty-page"}).encode()
            return botocore.awsrequest.AWSResponse(request.url, 200, {}, RawBody(page))
        if body.get("NextToken") == "empty-page":  # moto does not know our token: ask it for its first page
            del body["NextToken"]
            request.body = json.dumps(body).encode()
            request.headers["Content-Length"] = str(len(request.body))
        return None

    def drop_state(parsed: dict[str, Any], **_: Any) -> None:
        for account in parsed.get("Accounts", []):
            account.pop("State", None)

    session.events.register("before-send.organizations.ListAccounts", empty_first_page)
    session.events.register("after-call.organizations.ListAccounts", drop_state)
    found = discover(Aws(session, endpoint_url=organization.endpoint).client("organizations"))
    assert calls["n"] >= 3  # the empty page, then moto's pages of 20
    assert {a.id for a in found} == set(organization.accounts)
    assert [a.id for a in found if a.skipped] == [organization.suspended]


def test_organizations_errors(organization: Organization) -> None:
    aws, faults = hooked(organization)
    faults.add("organizations.ListAccounts", None, "AWSOrganizationsNotInUseException", times=1)
    chosen, with_metadata = choose_accounts(aws, MANAGEMENT, CollectRequest())
    assert [a.id for a in chosen] == [MANAGEMENT] and not with_metadata
    faults.add("organizations.ListAccounts", None, "AccessDeniedException", times=1)
    with pytest.raises(SourceError, match="run from the management account or a delegated administrator"):
        choose_accounts(aws, MANAGEMENT, CollectRequest())


def test_faults_are_classified_nothing_is_lost_and_resume_completes(organization: Organization, tmp_path: Path) -> None:
    store = Store(str(tmp_path / "store"))
    aws, faults = hooked(organization)
    members = [a for a in organization.active if a != MANAGEMENT]
    broken = dict(
        zip(
            ["role_missing", "access_denied", "region_disabled", "timeout", "network", "throttled", "report_failed"],
            members[:7],
            strict=True,
        )
    )
    faults.add("sts.AssumeRole", broken["role_missing"], "AccessDenied", 403)
    faults.add("iam.GenerateCredentialReport", broken["access_denied"], "AccessDenied", 403)
    faults.add("sts.AssumeRole", broken["region_disabled"], "RegionDisabledException", 403)
    faults.add("iam.GenerateCredentialReport", broken["timeout"], "INPROGRESS")
    faults.add("iam.GetCredentialReport", broken["network"], "connection")
    faults.add("iam.GenerateCredentialReport", broken["throttled"], "Throttling")
    faults.add("iam.GenerateCredentialReport", broken["report_failed"], "ServiceFailure", 500)
    # and faults that pass: throttling bursts, too many reports at once, a lost report, a dropped connection
    recovering = members[7:12]
    faults.add("sts.AssumeRole", None, "Throttling", times=15)
    faults.add("iam.GenerateCredentialReport", recovering[0], "LimitExceeded", 409, times=3)
    faults.add("iam.GetCredentialReport", recovering[1], "ReportNotPresent", 410, times=1)
    faults.add("iam.GetCredentialReport", recovering[2], "ReportExpired", 410, times=1)
    faults.add("iam.GenerateCredentialReport", recovering[3], "connection", times=2)
    faults.add("iam.GetCredentialReport", None, "Throttling", times=10)
    faults.add("iam.GetCredentialReport", recovering[4], "ExpiredToken", times=1)  # the role's session ran out
    accounts = [Account(a) for a in organization.active]
    summary = collect(store, aws, "aws", accounts, Settings(timing=FAST, concurrency=8), caller_account=MANAGEMENT)

    failed = {o.account.id: o.error_class for o in summary.failed}
    assert failed == {account: error_class for error_class, account in broken.items()}
    assert summary.count("success") == len(organization.active) - len(broken)
    for account in recovering:
        assert sum(n for (_, a), n in faults.injected.items() if a == account), account  # they were hit
    assert faults.calls["iam.GenerateCredentialReport", recovering[1]] >= 2  # generated again after the loss
    assert faults.calls["sts.AssumeRole", recovering[4]] >= 2  # assumed again after the session expired
    collected = [a for a in organization.active if a not in failed]
    assert stored_users(store) == created_users(organization, collected)
    with Database(store) as database:
        runs = database.sql("SELECT account_id, status, error_class, error_message FROM runs").rows
    recorded = {r["account_id"]: r for r in runs}
    assert {a: r["error_class"] for a, r in recorded.items() if r["status"] == "failed"} == failed
    assert "gave up after 8 s" in recorded[broken["timeout"]]["error_message"]
    assert "AccessDenied" in recorded[broken["role_missing"]]["error_message"]
    assert set(reports_per_account(store)) == set(collected)  # a failed account is never an empty one

    # the resume collects only what is missing, into the same run
    resumed_aws, resumed_calls = hooked(organization)
    request = CollectRequest(resume=summary.run_id, accounts=organization.active, endpoint_url=organization.endpoint)
    assert run_collect(store, request, resumed_aws) == 0
    assert members_called(resumed_calls) == set(broken.values())
    assert reports_per_account(store) == {a: 1 for a in organization.active}
    assert stored_users(store, summary.run_id) == created_users(organization, organization.active)


def test_only_failed_finishes_the_latest_run(organization: Organization, tmp_path: Path) -> None:
    store = Store(str(tmp_path / "store"))
    aws, faults = hooked(organization)
    chosen = [a for a in organization.active if a != MANAGEMENT][:6]
    faults.add("sts.AssumeRole", chosen[2], "AccessDenied", 403)
    request = CollectRequest(accounts=chosen, endpoint_url=organization.endpoint)
    assert run_collect(store, request, aws) == 3
    again, calls = hooked(organization)
    assert run_collect(store, CollectRequest(only_failed=True, accounts=chosen), again) == 0
    assert members_called(calls) == {chosen[2]}
    assert set(reports_per_account(store)) == set(chosen)
    with pytest.raises(SourceError, match="no run 20200101T000000000000Z-abcdef"):
        run_collect(store, CollectRequest(resume="20200101T000000000000Z-abcdef", accounts=chosen), again)
    with pytest.raises(SourceError, match="has no runs yet"):
        run_collect(Store(str(tmp_path / "empty")), CollectRequest(only_failed=True, accounts=chosen), again)


def test_a_recent_report_is_reused_within_max_age(organization: Organization, tmp_path: Path) -> None:
    account = organization.active[3]
    aws, faults = hooked(organization)
    generated = {"at": dt.datetime.now(dt.UTC) - dt.timedelta(hours=10)}

    def recent(parsed: dict[str, Any], **_: Any) -> None:
        parsed["GeneratedTime"] = generated["at"]  # moto's reports all say 2015

    aws.session.events.register("after-call.iam.GetCredentialReport", recent)

    def run(max_age: dt.timedelta) -> None:
        timing = Timing(deadline=5, poll_first=0.01, max_age=max_age)
        store = Store(str(tmp_path / f"store-{max_age.total_seconds():.0f}"))
        summary = collect(store, aws, "aws", [Account(account)], Settings(timing=timing))
        assert summary.count("success") == 1

    run(dt.timedelta(hours=24))  # 10 hours old: reused, no new report asked for
    assert faults.calls["iam.GenerateCredentialReport", account] == 0
    run(dt.timedelta(hours=4))  # AWS's own 4 hours: generate (AWS hands back one under 4 hours old)
    assert faults.calls["iam.GenerateCredentialReport", account] >= 1
    generated["at"] = dt.datetime.now(dt.UTC) - dt.timedelta(hours=30)
    before = faults.calls["iam.GenerateCredentialReport", account]
    run(dt.timedelta(hours=24))  # too old: read, then generated anew
    assert faults.calls["iam.GenerateCredentialReport", account] > before


def credsight(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "credsight.cli", "collect", *args],
        capture_output=True,
        text=True,
        check=False,
        env=env,
    )


def test_command_exit_codes_and_json_lines(organization: Organization, tmp_path: Path) -> None:
    store = str(tmp_path / "store")
    good = organization.active[1]
    base = ["--store", store, "--endpoint-url", organization.endpoint]
    result = credsight(*base, "--accounts", f"{good},{OUTSIDER}", "--log-format", "json")
    assert result.returncode == 3, result.stderr
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    outcome = {line["account_id"]: line for line in lines if "account_id" in line}
    assert outcome[good]["status"] == "success" and outcome[good]["rows"] == len(organization.users[good])
    assert outcome[OUTSIDER]["error_class"] == "report_failed"
    assert "line 2" in outcome[OUTSIDER]["message"]
    assert "accounts not collected" in result.stderr and OUTSIDER in result.stderr
    assert "Traceback" not in result.stderr
    result = credsight(*base, "--accounts", good)
    assert result.returncode == 0, result.stderr
    assert "collected 1 accounts" in result.stdout
    for bad, message in (
        (["--accounts", "12345"], "--accounts: account id '12345' is not 12 digits"),
        (["--log-format", "xml"], "'--log-format': 'xml' is not one of 'text', 'json'"),
        (["--concurrency", "0"], "--concurrency"),
        (["--max-age", "soon"], "--max-age 'soon' is not a duration"),
        (["--resume", "yesterday"], "run id 'yesterday' is malformed"),
        (["--profile", "nobody-has-this"], "no AWS profile named 'nobody-has-this'"),
    ):
        result = credsight(*base, *bad)
        assert result.returncode == 2, (bad, result.stderr)
        assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1, result.stderr
    no_keys = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")} | {
        "AWS_CONFIG_FILE": str(tmp_path / "none"),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "none"),
        "AWS_EC2_METADATA_DISABLED": "true",
    }
    result = credsight(*base, env=no_keys)
    assert result.returncode == 2 and "no AWS credentials found" in result.stderr, result.stderr


def start_and_stop(organization: Organization, store_path: Path, how: signal.Signals) -> subprocess.Popen[bytes]:
    """Start a slowed-down collector in a child process and signal it once a first batch is committed."""
    child = subprocess.Popen(
        [sys.executable, "-m", "tests.collect_child", organization.endpoint, str(store_path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 60
    while not list(store_path.glob("daily/*/part-*.parquet")):
        assert child.poll() is None, child.communicate()
        assert time.monotonic() < deadline
        time.sleep(0.02)
    child.send_signal(how)
    child.wait(timeout=60)
    return child


@pytest.mark.parametrize("how", [signal.SIGKILL, signal.SIGTERM])
def test_stopped_mid_run_the_store_stays_readable_and_resume_finishes(
    organization: Organization, tmp_path: Path, how: signal.Signals
) -> None:
    store_path = tmp_path / "store"
    child = start_and_stop(organization, store_path, how)
    if how is signal.SIGTERM:  # stopped the way Ctrl-C stops it: what finished is written, outcomes included
        assert child.returncode == 130, child.stderr.read() if child.stderr else b""
        assert b"stopped: what finished is stored; finish the run with: credsight collect --resume" in (
            child.stderr.read() if child.stderr else b""
        )
        with Database(Store(str(store_path))) as database:
            succeeded = database.sql("SELECT account_id FROM runs WHERE status = 'success'").rows
        assert {r["account_id"] for r in succeeded} == set(reports_per_account(Store(str(store_path))))
    store = Store(str(store_path))
    done = reports_per_account(store)
    assert done and len(done) < len(organization.active)  # killed mid-run
    assert set(done) <= set(organization.active)
    aws, calls = hooked(organization)
    request = CollectRequest(only_failed=True, endpoint_url=organization.endpoint)  # finish the latest run
    assert run_collect(store, request, aws) == 0
    assert not members_called(calls) & set(done)  # what was finished is not collected again
    assert reports_per_account(store) == {a: 1 for a in organization.active}
    assert stored_users(store) == created_users(organization, organization.active)
    with Database(store) as database:
        assert database.sql("SELECT count(DISTINCT run_id) AS n FROM daily").rows == [{"n": 1}]  # one run in all


def test_a_stop_signal_during_a_parse_does_not_cancel_it() -> None:
    """pyarrow cancels its CSV reader on SIGTERM by default; during a run the signal only asks to stop."""
    rows = b"".join(
        b"user%d,arn:aws:iam::123456789012:user/u%d,2026-01-01T00:00:00+00:00\n" % (i, i) for i in range(3_000_000)
    )
    csv = b"user,arn,user_creation_time\n" + rows
    with stop_on_signals() as stop:
        threading.Timer(0.02, os.kill, (os.getpid(), signal.SIGTERM)).start()
        started = time.monotonic()
        table = pyarrow.csv.read_csv(io.BytesIO(csv))
        parsing = time.monotonic() - started
        stopped = stop.is_set()  # the handler ran as soon as the parse returned: the signal came during it
        deadline = time.monotonic() + 60  # a late signal must still land inside: outside, it would end the worker
        while not stop.is_set() and time.monotonic() < deadline:
            time.sleep(0.01)
    assert table.num_rows == 3_000_000
    assert parsing > 0.1, "the parse was too quick for the signal to land during it"
    assert stopped


def test_a_second_stop_signal_stops_at_once() -> None:
    with pytest.raises(KeyboardInterrupt), stop_on_signals() as stop:
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(0.1)
        assert stop.is_set()
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(5)  # interrupted by the second signal


def test_progress_bar_on_a_terminal() -> None:
    screen = io.StringIO()
    console = Console(file=screen, force_terminal=True, width=100)
    with reporting("text", console, 3) as advance:
        advance(Outcome(Account("111122223333"), "success"))
        advance(Outcome(Account("444455556666"), "failed", "timeout"))
        advance(Outcome(Account("777788889999"), "success"))
    shown = screen.getvalue()
    assert "collecting" in shown and "3/3" in shown and "1 failed" in shown
    quiet = io.StringIO()
    with reporting("text", Console(file=quiet, force_terminal=False), 1) as advance:
        advance(Outcome(Account("111122223333"), "success"))
    assert quiet.getvalue() == ""  # no bar in a log file


def test_role_arn_partition_and_session_settings(organization: Organization, tmp_path: Path) -> None:
    """The role ARN takes the caller's partition (aws-us-gov here), and the role settings go to AssumeRole."""
    aws, _faults = hooked(organization)
    asked: list[dict[str, list[str]]] = []

    def gov_cloud(parsed: dict[str, Any], **_: Any) -> None:
        parsed["Arn"] = parsed["Arn"].replace("arn:aws:", "arn:aws-us-gov:")

    def record(request: Any, **_: Any) -> None:
        body = request.body
        asked.append(urllib.parse.parse_qs(body.decode() if isinstance(body, bytes) else body))

    aws.session.events.register("after-call.sts.GetCallerIdentity", gov_cloud)
    aws.session.events.register("before-send.sts.AssumeRole", record)
    member = next(a for a in organization.active if a != MANAGEMENT)
    role = RoleSettings("audit-reader", external_id="xyz-123", session_name="nightly", duration_seconds=900)
    request = CollectRequest(role=role, accounts=[member, MANAGEMENT], caller_via_role=True)
    assert run_collect(Store(str(tmp_path / "store")), request, aws) == 0
    assert sorted(a["RoleArn"][0] for a in asked) == sorted(
        f"arn:aws-us-gov:iam::{account}:role/audit-reader" for account in (member, MANAGEMENT)
    )
    assert {(a["ExternalId"][0], a["RoleSessionName"][0], a["DurationSeconds"][0]) for a in asked} == {
        ("xyz-123", "nightly", "900")
    }
