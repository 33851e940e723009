"""An organization on moto's server, and faults moto cannot produce, injected through botocore hooks.

moto checks no permissions and never throttles, so AccessDenied, throttling, LimitExceeded,
reports stuck in progress and dropped connections are answered by a `before-send` hook in
place of moto, for chosen accounts and operations. Everything else reaches moto.
"""

from __future__ import annotations

import json
import math
import re
import threading
import time
import urllib.parse
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import boto3
import botocore.awsrequest
import botocore.exceptions

MANAGEMENT = "123456789012"  # moto's default account: the caller
SETUP_ROLE = "OrganizationAccountAccessRole"  # moto creates it in each member
# OU tree: name path -> accounts placed there
OU_TREE = {
    "Root": 2,
    "Root/Security": 3,
    "Root/Workloads": 2,
    "Root/Workloads/Prod": 6,
    "Root/Workloads/Prod/Payments": 5,
    "Root/Workloads/Dev": 8,
    "Root/Sandbox": 5,
}


@dataclass(frozen=True)
class User:
    name: str
    password: bool
    mfa: bool
    keys: int  # active access keys, 0..2


@dataclass
class Organization:
    endpoint: str
    accounts: dict[str, str] = field(default_factory=dict)  # id -> name
    ou_paths: dict[str, str] = field(default_factory=dict)  # id -> OU name path
    ou_ids: dict[str, str] = field(default_factory=dict)  # OU name path -> id
    users: dict[str, list[User]] = field(default_factory=dict)  # id -> users created
    suspended: str = ""

    @property
    def active(self) -> list[str]:
        return sorted(a for a in self.accounts if a != self.suspended)


def member_clients(endpoint: str, account: str) -> Any:
    sts = boto3.client("sts", endpoint_url=endpoint)
    given = sts.assume_role(RoleArn=f"arn:aws:iam::{account}:role/{SETUP_ROLE}", RoleSessionName="setup")
    keys = given["Credentials"]
    return boto3.client(
        "iam",
        endpoint_url=endpoint,
        aws_access_key_id=keys["AccessKeyId"],
        aws_secret_access_key=keys["SecretAccessKey"],
        aws_session_token=keys["SessionToken"],
    )


def create_users(iam: Any, account: str, users: list[User]) -> None:
    for user in users:
        iam.create_user(UserName=user.name)
        if user.password:
            iam.create_login_profile(UserName=user.name, Password="Correct-Horse-Battery-1")
        if user.mfa:
            device = iam.create_virtual_mfa_device(VirtualMFADeviceName=f"{user.name}-mfa")["VirtualMFADevice"]
            iam.enable_mfa_device(
                UserName=user.name,
                SerialNumber=device["SerialNumber"],
                AuthenticationCode1="123456",
                AuthenticationCode2="654321",
            )
        for _ in range(user.keys):
            iam.create_access_key(UserName=user.name)


def users_for(index: int) -> list[User]:
    """A varied, deterministic set of users: none in some accounts, up to five in others."""
    kinds = [
        User("alice", password=True, mfa=True, keys=0),
        User("bob", password=True, mfa=False, keys=1),
        User("ci-deploy", password=False, mfa=False, keys=2),
        User("carol", password=True, mfa=True, keys=1),
        User("svc.backup", password=False, mfa=False, keys=1),
    ]
    return kinds[: index % 6]


def build_organization(endpoint: str) -> Organization:
    """The management account, 31 members in nested OUs with users, and one suspended member."""
    org = boto3.client("organizations", endpoint_url=endpoint)
    org.create_organization(FeatureSet="ALL")
    root = org.list_roots()["Roots"][0]["Id"]
    built = Organization(endpoint, ou_ids={"Root": root})
    for path in OU_TREE:
        if path != "Root":
            parent, name = path.rsplit("/", 1)
            made = org.create_organizational_unit(ParentId=built.ou_ids[parent], Name=name)
            built.ou_ids[path] = made["OrganizationalUnit"]["Id"]
    built.accounts[MANAGEMENT] = "master"
    built.ou_paths[MANAGEMENT] = "Root"
    built.users[MANAGEMENT] = [User("admin", password=True, mfa=False, keys=1)]
    create_users(boto3.client("iam", endpoint_url=endpoint), MANAGEMENT, built.users[MANAGEMENT])
    index = 0
    for path, count in OU_TREE.items():
        for _ in range(count):
            name = f"{path.rsplit('/', 1)[-1].lower()}-{index:02d}"
            status = org.create_account(AccountName=name, Email=f"{name}@example.com")["CreateAccountStatus"]
            account = status["AccountId"]
            if path != "Root":
                org.move_account(AccountId=account, SourceParentId=root, DestinationParentId=built.ou_ids[path])
            built.accounts[account], built.ou_paths[account] = name, path
            built.users[account] = users_for(index)
            create_users(member_clients(endpoint, account), account, built.users[account])
            index += 1
    built.suspended = sorted(a for a in built.accounts if built.ou_paths[a] == "Root/Sandbox")[0]
    org.close_account(AccountId=built.suspended)
    return built


class RawBody:
    """The body of a response made up by a hook."""

    def __init__(self, data: bytes) -> None:
        self.data = data

    def stream(self, **_: Any) -> Any:
        yield self.data


@dataclass
class Fault:
    operation: str  # e.g. "sts.AssumeRole", "iam.GenerateCredentialReport"
    account: str | None  # None: every account
    code: str  # an AWS error code, "connection", or "INPROGRESS" (a report that never completes)
    status: int = 400
    times: float = math.inf  # how many calls it answers before letting them through


class Faults:
    """Answers chosen calls in moto's place. Knows each call's account from the role it assumed."""

    def __init__(self, session: boto3.Session) -> None:
        self.faults: list[Fault] = []
        self.keys: dict[str, str] = {"testing": MANAGEMENT}  # access key -> account
        self.calls: Counter[tuple[str, str]] = Counter()  # (operation, account) -> calls seen
        self.injected: Counter[tuple[str, str]] = Counter()
        self.lock = threading.Lock()
        self.latency = 0.0
        session.events.register("before-call.sts.AssumeRole", self._remember_role)
        session.events.register("after-call.sts.AssumeRole", self._learn_keys)
        session.events.register("before-send", self._answer)

    def add(self, operation: str, account: str | None, code: str, status: int = 400, times: float = math.inf) -> None:
        self.faults.append(Fault(operation, account, code, status, times))

    def _remember_role(self, params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        context["test_role_arn"] = params["body"]["RoleArn"]

    def _learn_keys(self, parsed: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        if "Credentials" in parsed:
            with self.lock:
                self.keys[parsed["Credentials"]["AccessKeyId"]] = context["test_role_arn"].split(":")[4]

    def account_of(self, request: botocore.awsrequest.AWSPreparedRequest, operation: str) -> str:
        if operation == "sts.AssumeRole":
            body = request.body.decode() if isinstance(request.body, bytes) else str(request.body)
            return urllib.parse.parse_qs(body)["RoleArn"][0].split(":")[4]
        authorization = request.headers.get("Authorization", b"")
        text = authorization.decode() if isinstance(authorization, bytes) else authorization
        found = re.search(r"Credential=([^/]+)/", text)
        with self.lock:
            return self.keys.get(found.group(1), "?") if found else "?"

    def _answer(self, request: botocore.awsrequest.AWSPreparedRequest, event_name: str, **_: Any) -> Any:
        operation = ".".join(event_name.split(".")[1:3])
        account = self.account_of(request, operation)
        if self.latency:
            time.sleep(self.latency)
        with self.lock:
            self.calls[operation, account] += 1
            fault = next(
                (f for f in self.faults if f.operation == operation and f.account in (None, account) and f.times > 0),
                None,
            )
            if fault is None:
                return None
            fault.times -= 1
            self.injected[operation, account] += 1
        if fault.code == "connection":
            raise botocore.exceptions.EndpointConnectionError(endpoint_url=request.url)
        service, name = operation.split(".")
        if fault.code == "INPROGRESS":
            body = (
                f"<{name}Response><{name}Result><State>INPROGRESS</State></{name}Result>"
                f"<ResponseMetadata><RequestId>test</RequestId></ResponseMetadata></{name}Response>"
            )
            return botocore.awsrequest.AWSResponse(request.url, 200, {}, RawBody(body.encode()))
        if service == "organizations":  # a JSON protocol
            error = json.dumps({"__type": fault.code, "Message": f"injected {fault.code}"})
            headers = {"Content-Type": "application/x-amz-json-1.1"}
            return botocore.awsrequest.AWSResponse(request.url, fault.status, headers, RawBody(error.encode()))
        body = (
            f"<ErrorResponse><Error><Type>Sender</Type><Code>{fault.code}</Code>"
            f"<Message>injected {fault.code} for {account}</Message></Error>"
            "<RequestId>test</RequestId></ErrorResponse>"
        )
        return botocore.awsrequest.AWSResponse(request.url, fault.status, {}, RawBody(body.encode()))
