"""IAM Identity Center collected from moto's server (a process of its own: its identity store holds only what
this module creates), with throttling, AccessDenied and a missing instance injected through botocore hooks."""

from __future__ import annotations

import datetime as dt
import json
import math
import threading
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import botocore.awsrequest
import pyarrow as pa
import pytest

from credsight.cli.collect import CollectRequest, run_collect
from credsight.query import Database
from credsight.rules.matching import PeopleSettings
from credsight.rules.people import open_people
from credsight.sources import identity_center
from credsight.sources.aws import Aws
from credsight.sources.credential_report import Timing
from credsight.sources.identity_center import IdentityCenterSettings, collect_identity_center
from credsight.store import Store
from credsight.store.schemas import IDENTITY_COMMIT, IDENTITY_TABLES
from tests.aws_org import MANAGEMENT, RawBody, User, create_users, member_clients
from tests.conftest import moto_server_process

FAST = Timing(deadline=2.0, backoff_base=0.01, backoff_max=0.05)
PEOPLE = [  # (user name, emails)
    ("alice@example.com", ["alice@example.com"]),
    ("bob", ["bob@example.com", "robert@example.org"]),
    ("carol@example.com", ["carol@example.com"]),
    ("dave@example.com", ["dave@example.com"]),
    ("erin@example.com", ["erin@example.com"]),
    ("frank@example.com", ["frank@example.com"]),
    ("grace@example.com", []),
]


@dataclass
class Center:
    """What this module created in moto: the organization's members and its Identity Center."""

    endpoint: str
    members: list[str]
    users: dict[str, str] = field(default_factory=dict)  # user name -> id
    groups: dict[str, str] = field(default_factory=dict)  # display name -> id
    memberships: set[tuple[str, str]] = field(default_factory=set)  # (group id, user id)
    assignments: set[tuple[str, str, str, str]] = field(default_factory=set)  # account, set, type, principal


@pytest.fixture(scope="module")
def center() -> Iterator[Center]:
    with moto_server_process() as endpoint:
        organizations = boto3.client("organizations", endpoint_url=endpoint)
        organizations.create_organization(FeatureSet="ALL")
        members = []
        for n in range(3):
            made = organizations.create_account(AccountName=f"member-{n}", Email=f"member-{n}@example.com")
            members.append(made["CreateAccountStatus"]["AccountId"])
        for account in members:
            humans = [User("alice", True, True, 0), User("bob", True, False, 1), User("carol", True, False, 0)]
            create_users(member_clients(endpoint, account), account, [*humans, User("ci-deploy", False, False, 1)])
        built = Center(endpoint, members)
        sso = boto3.client("sso-admin", endpoint_url=endpoint)
        store = boto3.client("identitystore", endpoint_url=endpoint)
        instance = sso.list_instances()["Instances"][0]
        store_id, arn = instance["IdentityStoreId"], instance["InstanceArn"]
        for name, emails in PEOPLE:
            given = [{"Value": e, "Primary": i == 0} for i, e in enumerate(emails)]
            made = store.create_user(
                IdentityStoreId=store_id,
                UserName=name,
                DisplayName=name.split("@")[0].title(),
                Name={"GivenName": name[:1].upper(), "FamilyName": "Test"},
                **({"Emails": given} if given else {}),
            )
            built.users[name] = made["UserId"]
        for group in ("engineers", "auditors", "empty"):
            built.groups[group] = store.create_group(IdentityStoreId=store_id, DisplayName=group)["GroupId"]
        for user in ("bob", "carol@example.com", "dave@example.com"):
            member = {"UserId": built.users[user]}
            store.create_group_membership(IdentityStoreId=store_id, GroupId=built.groups["engineers"], MemberId=member)
            built.memberships.add((built.groups["engineers"], built.users[user]))
        store.create_group_membership(
            IdentityStoreId=store_id, GroupId=built.groups["auditors"], MemberId={"UserId": built.users["bob"]}
        )
        built.memberships.add((built.groups["auditors"], built.users["bob"]))
        admin = sso.create_permission_set(InstanceArn=arn, Name="Admin")["PermissionSet"]["PermissionSetArn"]
        read = sso.create_permission_set(InstanceArn=arn, Name="ReadOnly")["PermissionSet"]["PermissionSetArn"]
        granted = [
            (members[0], admin, "GROUP", built.groups["engineers"]),  # bob, carol and dave through the group
            (members[1], read, "GROUP", built.groups["auditors"]),
            (members[1], admin, "USER", built.users["alice@example.com"]),  # alice directly
            (members[2], read, "USER", built.users["alice@example.com"]),
        ]
        for account, permission_set, kind, principal in granted:
            sso.create_account_assignment(
                InstanceArn=arn,
                TargetId=account,
                TargetType="AWS_ACCOUNT",
                PermissionSetArn=permission_set,
                PrincipalType=kind,
                PrincipalId=principal,
            )
            built.assignments.add((account, permission_set, kind, principal))
        yield built


class IdentityFaults:
    """Answers chosen Identity Center calls in moto's place (a JSON protocol), and counts every call."""

    def __init__(self, session: boto3.Session) -> None:
        self.faults: list[list[Any]] = []  # [operation, code, status, times]
        self.calls: Counter[str] = Counter()
        self.lock = threading.Lock()
        session.events.register("before-send", self._answer)

    def add(self, operation: str, code: str, status: int = 400, times: float = math.inf) -> None:
        self.faults.append([operation, code, status, times])

    def _answer(self, request: botocore.awsrequest.AWSPreparedRequest, event_name: str, **_: Any) -> Any:
        operation = ".".join(event_name.split(".")[1:3])
        with self.lock:
            self.calls[operation] += 1
            fault = next((f for f in self.faults if f[0] == operation and f[3] > 0), None)
            if fault is None:
                return None
            fault[3] -= 1
        _, code, status, _ = fault
        headers = {"Content-Type": "application/x-amz-json-1.1"}
        if code == "NoInstance":
            body = json.dumps({"Instances": []})
            return botocore.awsrequest.AWSResponse(request.url, 200, headers, RawBody(body.encode()))
        error = json.dumps({"__type": code, "Message": f"injected {code}"})
        return botocore.awsrequest.AWSResponse(request.url, status, headers, RawBody(error.encode()))


def hooked(center: Center) -> tuple[Aws, IdentityFaults]:
    session = boto3.Session(region_name="us-east-1")
    return Aws(session, endpoint_url=center.endpoint, max_connections=8), IdentityFaults(session)


def as_created(snapshot_users: pa.Table) -> dict[str, list[str]]:
    return {r["user_name"]: r["emails"] for r in snapshot_users.to_pylist()}


def test_the_snapshot_holds_what_was_created_over_several_pages(
    center: Center, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(identity_center, "PAGE_SIZE", 2)  # 7 users and 3 groups: 4 and 2 pages
    aws, faults = hooked(center)
    day = dt.date(2026, 11, 23)
    snapshot, outcome = collect_identity_center(aws, MANAGEMENT, day, IdentityCenterSettings(timing=FAST))
    assert snapshot is not None and outcome.status == "success", outcome
    assert as_created(snapshot.users) == dict(PEOPLE)
    assert {r["user_name"]: r["user_id"] for r in snapshot.users.to_pylist()} == center.users
    assert faults.calls["identitystore.ListUsers"] == 4
    assert faults.calls["identitystore.ListGroups"] == 2
    assert {r["display_name"]: r["group_id"] for r in snapshot.groups.to_pylist()} == center.groups
    assert {(r["group_id"], r["user_id"]) for r in snapshot.memberships.to_pylist()} == center.memberships
    assignments = {
        (r["account_id"], r["permission_set_arn"], r["principal_type"], r["principal_id"])
        for r in snapshot.assignments.to_pylist()
    }
    assert assignments == center.assignments  # direct ones only, as AWS lists them, each principal's own
    # one listing of assignments per user and per group, and of members per group (engineers' 3 on 2 pages)
    assert faults.calls["sso-admin.ListAccountAssignmentsForPrincipal"] == len(PEOPLE) + len(center.groups)
    assert faults.calls["identitystore.ListGroupMemberships"] == len(center.groups) + 1
    assert outcome.calls == sum(faults.calls.values())
    assert {r["primary_email"] for r in snapshot.users.to_pylist()} == {e[0] if e else None for _, e in PEOPLE}


def test_throttling_is_retried_until_it_passes(center: Center) -> None:
    aws, faults = hooked(center)
    faults.add("identitystore.ListUsers", "ThrottlingException", times=3)
    faults.add("sso-admin.ListAccountAssignmentsForPrincipal", "TooManyRequestsException", times=4)
    snapshot, outcome = collect_identity_center(
        aws, MANAGEMENT, dt.date(2026, 11, 23), IdentityCenterSettings(timing=FAST)
    )
    assert outcome.status == "success" and snapshot is not None
    assert as_created(snapshot.users) == dict(PEOPLE)
    assert faults.calls["identitystore.ListUsers"] == 3 + 1


def test_a_collection_stores_identity_center_and_its_outcome(center: Center, tmp_path: Path) -> None:
    store = Store(str(tmp_path / "store"))
    aws, _faults = hooked(center)
    request = CollectRequest(accounts=center.members, endpoint_url=center.endpoint, log_format="json")
    assert run_collect(store, request, aws) == 0
    with Database(store) as database:
        runs = database.sql("SELECT kind, status, account_id, rows FROM runs ORDER BY kind, account_id").rows
        users = database.sql("SELECT user_name FROM identity_users ORDER BY 1").rows
        assigned = database.sql("SELECT count(*) AS n FROM identity_assignments").first()
        people = open_people(database, PeopleSettings())
        states = {(r["account_id"], r["user"]): (r["state"], r["matched_by"]) for r in people.states().to_pylist()}
        live = open_people(database, PeopleSettings(), rollup=False).states()
    assert people.rollup is not None  # the collection kept the SSO migration's rollup
    assert live.equals(people.states())
    assert [r["kind"] for r in runs] == ["credential_report"] * 3 + ["identity_center"]
    assert runs[-1] == {"kind": "identity_center", "status": "success", "account_id": MANAGEMENT, "rows": len(PEOPLE)}
    assert [u["user_name"] for u in users] == sorted(name for name, _ in PEOPLE)
    assert assigned == {"n": len(center.assignments)}
    first, second, third = center.members
    # bob reaches the first account through a group (moto lists only direct assignments: the expansion is ours)
    assert states[first, "bob"] == ("migrated", "user_name")
    assert states[first, "carol"] == ("migrated", "email_local_part")
    assert states[first, "alice"] == ("sso_user_no_access", "email_local_part")
    assert states[second, "alice"] == ("migrated", "email_local_part")  # directly
    assert states[second, "bob"] == ("migrated", "user_name")  # through the other group
    assert states[third, "carol"] == ("sso_user_no_access", "email_local_part")
    assert (first, "ci-deploy") not in states  # a machine user is not a person


@pytest.mark.parametrize(
    ("operation", "code", "error_class"),
    [
        ("sso-admin.ListInstances", "AccessDeniedException", "access_denied"),
        ("identitystore.ListGroupMemberships", "AccessDeniedException", "access_denied"),
        ("identitystore.ListUsers", "ThrottlingException", "throttled"),  # every time: throttled out
    ],
)
def test_when_identity_center_fails_the_reports_are_still_stored(
    center: Center, tmp_path: Path, capsys: pytest.CaptureFixture[str], operation: str, code: str, error_class: str
) -> None:
    store = Store(str(tmp_path / "store"))
    aws, faults = hooked(center)
    faults.add(operation, code)
    request = CollectRequest(
        accounts=center.members, endpoint_url=center.endpoint, account_timeout=5
    )  # a report takes about 1 s; a busy machine more
    assert run_collect(store, request, aws) == 3
    said = capsys.readouterr()
    assert f"Identity Center was not collected ({error_class})" in said.err
    assert "the credential reports are stored" in said.err
    with Database(store) as database:
        reports = database.sql("SELECT count(*) AS n FROM daily").first()
        runs = database.sql("SELECT status, error_class, error_message FROM runs WHERE kind = 'identity_center'").rows
        snapshots = database.sql("SELECT count(*) AS n FROM identity_snapshots").first()
    assert reports == {"n": len(center.members)}
    assert [(r["status"], r["error_class"]) for r in runs] == [("failed", error_class)]
    assert code in runs[0]["error_message"]
    assert snapshots == {"n": 0}
    assert not any((tmp_path / "store" / name).exists() for name in IDENTITY_TABLES)  # nothing half-written


def test_no_instance_is_skipped_unless_asked_for(
    center: Center, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for asked, code, status in (("auto", 0, "skipped"), ("on", 3, "failed")):
        store = Store(str(tmp_path / asked))
        aws, faults = hooked(center)
        faults.add("sso-admin.ListInstances", "NoInstance")
        request = CollectRequest(accounts=center.members, endpoint_url=center.endpoint, identity_center=asked)
        assert run_collect(store, request, aws) == code
        assert "no IAM Identity Center instance in us-east-1" in capsys.readouterr().out
        with Database(store) as database:
            runs = database.sql("SELECT status, error_class FROM runs WHERE kind = 'identity_center'").rows
        assert runs == [{"status": status, "error_class": None if asked == "auto" else "no_instance"}]
    store = Store(str(tmp_path / "off"))
    aws, faults = hooked(center)
    request = CollectRequest(accounts=center.members, endpoint_url=center.endpoint, identity_center="off")
    assert run_collect(store, request, aws) == 0
    assert not [call for call in faults.calls if call.startswith(("sso-admin", "identitystore"))]


def test_a_snapshot_killed_before_its_commit_is_never_seen(center: Center, tmp_path: Path) -> None:
    """A run killed between an Identity Center snapshot's tables and its identity_snapshots row: no cleanup runs
    (deletes are lost with the process), and still no reader sees any of it."""
    from credsight.store.runs import Run

    aws, _faults = hooked(center)
    snapshot, _outcome = collect_identity_center(aws, MANAGEMENT, dt.date(2026, 11, 23), IdentityCenterSettings())
    assert snapshot is not None
    store = Store(str(tmp_path / "store"))
    original = store.write_monthly

    def killed(table_name: str, run_id: str, seq: int, rows: pa.Table) -> list[str]:
        if table_name == IDENTITY_COMMIT:
            raise KeyboardInterrupt  # the commit is never written
        return original(table_name, run_id, seq, rows)

    store.write_monthly = killed  # type: ignore[method-assign]
    store.delete = lambda path: None  # type: ignore[method-assign]  # the process is gone: nothing cleans up
    with pytest.raises(KeyboardInterrupt):
        Run(store).write_identity([snapshot])
    assert all(list((tmp_path / "store" / name).rglob("*.parquet")) for name in IDENTITY_TABLES)  # parts were written
    assert all(parts == [] for parts in Store(str(tmp_path / "store")).identity_parts().values())
    with Database(Store(str(tmp_path / "store"))) as database:
        for view in ("identity_users", "identity_groups", "identity_memberships", "identity_assignments"):
            assert database.sql(f"SELECT count(*) AS n FROM {view}").first() == {"n": 0}  # noqa: S608
    Run(Store(str(tmp_path / "store"))).write_identity([snapshot])  # a later run's snapshot is whole
    with Database(Store(str(tmp_path / "store"))) as database:
        assert database.sql("SELECT count(*) AS n FROM identity_users").first() == {"n": len(PEOPLE)}


def test_outcomes_written_before_kind_existed_read_as_credential_reports(tmp_path: Path) -> None:
    """Old outcome files have no `kind` column: the runs view says credential_report for them, beside new ones."""
    import pyarrow.parquet as pq

    from credsight.store.runs import Failure, Run
    from credsight.store.schemas import OUTCOME_SCHEMA

    store = Store(str(tmp_path / "store"))
    run = Run(store)
    old_schema = pa.schema([f for f in OUTCOME_SCHEMA if f.name != "kind"])
    old = pa.Table.from_pylist(
        [
            {
                "run_id": run.run_id,
                "account_id": "111122223333",
                "status": "success",
                "finished_at": dt.datetime.now(dt.UTC),
            }
        ],
        schema=old_schema,
    )
    folder = tmp_path / "store" / "runs" / f"run_id={run.run_id}"
    folder.mkdir(parents=True)
    pq.write_table(old, folder / "outcomes-00001.parquet")
    run.seq = 1
    run.write_failures([Failure(MANAGEMENT, "access_denied", "AccessDeniedException: no", kind="identity_center")])
    with Database(store) as database:
        kinds = database.sql("SELECT account_id, kind FROM runs ORDER BY kind").rows
    assert kinds == [
        {"account_id": "111122223333", "kind": "credential_report"},
        {"account_id": MANAGEMENT, "kind": "identity_center"},
    ]
