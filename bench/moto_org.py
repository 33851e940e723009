"""The emulated AWS of the collector benchmark: an organization in moto (in-process, or a moto
server in a process of its own for the scale test), a network hook that holds every call, and a
meter of moto's own CPU."""

from __future__ import annotations

import gc
import os
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
from moto.core.botocore_stubber import BotocoreStubber

from bench.common import free_port, serving
from credsight.sources.aws import RoleSettings, role_arn
from credsight.sources.organizations import Account, discover

REGION = "us-east-1"
MOTO_DEFAULT_ACCOUNT = "123456789012"  # the account moto gives credentials it does not know
ROLE = RoleSettings(role_name="OrganizationAccountAccessRole", session_name="credsight-bench")
USERS_PER_ACCOUNT = (2, 3)  # alternately, in the 200-account organization
REPO = Path(__file__).parent.parent
_through_network = threading.local()  # set by Network's hook, read by MotoMeter: was this call delayed?


class Network:
    """What lies between boto3 and in-process moto: a delay and a count for every AWS call.

    It also names each call's account in moto's `x-moto-account-id` header (read by moto's
    `BaseResponse.get_current_account`). Without it moto finds the account by scanning every
    account's access keys on every call (about 40 ms a call at 3,000 accounts, 85 ms at
    10,000): an emulator cost, not credsight's. The account of each assumed role's key is
    learned from the AssumeRole answer.
    """

    every_call = 0  # over every Network of the process (read by ServerMeter)

    def __init__(self, latency: float) -> None:
        self.latency = latency
        self.calls = 0
        self.account_of_key: dict[str, str] = {}
        self.account: str | None = None  # when set, every call goes to this account (building only)
        self._lock = threading.Lock()

    def attach(self, session: boto3.Session) -> boto3.Session:
        """Hook into `session` (before its first client); first, so that moto's handler runs after."""
        session.events.register_first("before-send", self._before_send)
        session.events.register("after-call.sts.AssumeRole", self._learn)
        return session

    def _before_send(self, request: Any, **kwargs: Any) -> None:
        with self._lock:
            self.calls += 1
            Network.every_call += 1
        authorization = request.headers.get("Authorization") or b""
        if isinstance(authorization, bytes):
            authorization = authorization.decode()
        key = authorization.partition("Credential=")[2].partition("/")[0]
        request.headers["x-moto-account-id"] = self.account or self.account_of_key.get(key, MOTO_DEFAULT_ACCOUNT)
        if self.latency:
            time.sleep(self.latency)
        _through_network.passed = True
        return None  # no answer: the call goes on to moto

    def _learn(self, parsed: dict[str, Any], **kwargs: Any) -> None:
        if "Credentials" in parsed:
            account = parsed["AssumedRoleUser"]["Arn"].split(":")[4]
            self.account_of_key[parsed["Credentials"]["AccessKeyId"]] = account


@dataclass(frozen=True)
class MotoReading:
    calls: int
    cpu: float  # thread CPU seconds spent answering
    bypassed: int  # calls that reached moto without passing Network's hook

    def __sub__(self, other: MotoReading) -> MotoReading:
        return MotoReading(self.calls - other.calls, self.cpu - other.cpu, self.bypassed - other.bypassed)


class MotoMeter:
    """moto's own work, timed inside its request handler (`BotocoreStubber.__call__`)."""

    def __init__(self) -> None:
        self.reading = MotoReading(0, 0.0, 0)
        self._lock = threading.Lock()

    @contextmanager
    def installed(self) -> Iterator[MotoMeter]:
        original = BotocoreStubber.__call__
        meter = self

        def metered(stubber: BotocoreStubber, event_name: str, request: Any, **kwargs: Any) -> Any:
            passed = getattr(_through_network, "passed", False)
            _through_network.passed = False
            started = time.thread_time()
            try:
                return original(stubber, event_name, request, **kwargs)
            finally:
                spent = time.thread_time() - started
                with meter._lock:
                    r = meter.reading
                    meter.reading = MotoReading(r.calls + 1, r.cpu + spent, r.bypassed + (not passed))

        BotocoreStubber.__call__ = metered  # type: ignore[method-assign,assignment]
        try:
            yield self
        finally:
            BotocoreStubber.__call__ = original  # type: ignore[method-assign]


def process_cpu(pid: int) -> float:
    """CPU seconds (user + system) of a process so far, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class ServerMeter:
    """moto's work when it is a server of its own: its process's CPU; the calls, as Network counted them."""

    def __init__(self, pid: int) -> None:
        self.pid = pid

    @property
    def reading(self) -> MotoReading:
        return MotoReading(Network.every_call, process_cpu(self.pid), 0)


@contextmanager
def moto_process() -> Iterator[tuple[str, int]]:
    """moto's server on 127.0.0.1 in a process of its own, as AWS is on other machines: (URL, pid)."""
    port = free_port()
    command = [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)]
    with serving(command, port, "moto's server") as server:
        yield f"http://127.0.0.1:{port}", server.pid


@dataclass(frozen=True)
class Organization:
    caller: str
    members: list[Account]
    users: int
    seconds: float  # to build it in moto (not counted anywhere)
    create_ms_first: float  # ms per CreateAccount over the first tenth of the accounts ...
    create_ms_last: float  # ... and over the last tenth
    discover_seconds: float
    discover_moto_cpu: float  # of which moto answering


def build_organization(
    size: int,
    users_per_account: tuple[int, ...],
    meter: MotoMeter | ServerMeter,
    through_roles: bool = True,
    endpoint: str | None = None,
) -> Organization:
    """An organization of `size` members in moto, each with IAM users.

    The users are created through each member's OrganizationAccountAccessRole, as an
    administrator would; or, `through_roles=False` (3 times faster, for the scale test), by one
    IAM client whose calls name the member in moto's header.
    """
    started = time.perf_counter()
    network = Network(0.0)
    session = network.attach(boto3.Session(region_name=REGION))
    organizations = session.client("organizations", endpoint_url=endpoint)
    sts = session.client("sts", endpoint_url=endpoint)
    own_iam = session.client("iam", endpoint_url=endpoint)
    organizations.create_organization(FeatureSet="ALL")
    ids, creating = [], []
    for i in range(size):
        t = time.perf_counter()
        answer = organizations.create_account(AccountName=f"member-{i:05d}", Email=f"member-{i:05d}@example.com")
        creating.append(time.perf_counter() - t)
        ids.append(answer["CreateAccountStatus"]["AccountId"])
    users = 0
    for i, account_id in enumerate(ids):
        iam = own_iam
        network.account = None if through_roles else account_id
        if through_roles:
            arn = role_arn("aws", account_id, ROLE.role_name)
            given = sts.assume_role(RoleArn=arn, RoleSessionName="bench-setup")["Credentials"]
            iam = session.client(
                "iam",
                endpoint_url=endpoint,
                aws_access_key_id=given["AccessKeyId"],
                aws_secret_access_key=given["SecretAccessKey"],
                aws_session_token=given["SessionToken"],
            )
        for u in range(users_per_account[i % len(users_per_account)]):
            name = f"user-{u}"
            iam.create_user(UserName=name)
            if u != 1:  # user-1 has only an access key
                iam.create_login_profile(UserName=name, Password="Bench-Passw0rd!")
            if u != 2:  # user-2 has only a password
                iam.create_access_key(UserName=name)
            users += 1
    network.account = None
    caller = sts.get_caller_identity()["Account"]
    t, before = time.perf_counter(), meter.reading
    members = [a for a in discover(organizations) if a.id != caller]
    discover_seconds, discover_moto = time.perf_counter() - t, meter.reading - before
    assert len(members) == size, f"discover found {len(members)} members, expected {size}"
    tenth = max(1, size // 10)
    return Organization(
        caller,
        members,
        users,
        time.perf_counter() - started,
        sum(creating[:tenth]) / tenth * 1000,
        sum(creating[-tenth:]) / tenth * 1000,
        discover_seconds,
        discover_moto.cpu,
    )


def forget_reports(accounts: list[Account]) -> None:
    """Drop each account's report in moto, so that every run sees GenerateCredentialReport say
    STARTED, then COMPLETE (moto would otherwise answer COMPLETE at once from the second run on)."""
    from moto.iam.models import iam_backends

    for account in accounts:
        iam_backends[account.id]["global"].credential_report = None


def freeze_heap() -> None:
    """Keep what exists now (moto's organization above all) out of every later garbage collection.

    A collector's process holds no emulator; left in, moto's state makes each full collection
    slower as the organization grows (at 3,000 accounts, credsight's CPU per account: 34 ms, 30
    frozen), and the scale test would measure moto's heap.
    """
    gc.collect()
    gc.freeze()
