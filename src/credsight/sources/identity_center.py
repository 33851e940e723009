"""IAM Identity Center, read once per collection: who the people are and which accounts they reach.

    sso-admin:ListInstances                           the organization's instance and its identity store
    identitystore:ListUsers, ListGroups               every user (name, emails, external ids) and group
    identitystore:ListGroupMemberships                per group: its members
    sso-admin:ListAccountAssignmentsForPrincipal      per user and per group: the accounts assigned

ListAccountAssignmentsForPrincipal lists a principal's direct assignments only: a user reaches an
account through a group by the group's own assignments plus the membership, which readers combine
(rules/people.py). Every listing follows NextToken to its end (a page may be empty while NextToken
is still set). Throttling (ThrottlingException, TooManyRequestsException), service failures and
dropped connections are retried with exponentially growing, fully jittered waits, as the report state
machine does (credential_report.py), until `Timing.deadline` seconds have passed for that call.

Calls in flight are bounded by `concurrency` worker threads: the user and group listings page one
after the other (each page names the next), and as their pages arrive each user's and group's own
calls are queued for the workers. Identity Center exposes no sign-in times (CloudTrail only), so none
are collected. Run from the management account or the Identity Center delegated administrator, in
the instance's region.
"""

from __future__ import annotations

import datetime as dt
import random
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any

import botocore.exceptions
import pyarrow as pa

from credsight.sources.aws import Aws
from credsight.sources.credential_report import NETWORK_ERRORS, RETRYABLE, THROTTLED, Timing
from credsight.store.runs import IdentitySnapshot
from credsight.store.schemas import (
    IDENTITY_ASSIGNMENT_SCHEMA,
    IDENTITY_GROUP_SCHEMA,
    IDENTITY_MEMBERSHIP_SCHEMA,
    IDENTITY_USER_SCHEMA,
)

# What the collector calls in the management (or delegated administrator) account; the deployment
# templates grant exactly these (deploy/iam_policies.py).
PERMISSIONS = (
    "sso:ListInstances",
    "identitystore:ListUsers",
    "identitystore:ListGroups",
    "identitystore:ListGroupMemberships",
    "sso:ListAccountAssignmentsForPrincipal",
)
PAGE_SIZE = 100  # the largest MaxResults these listings accept
MODES = ("auto", "on", "off")  # auto: when an instance is found
ERROR_CLASSES = ("no_instance", "access_denied", "throttled", "network", "other")
DENIED = frozenset({"AccessDenied", "AccessDeniedException", "UnauthorizedOperation", "UnrecognizedClientException"})


@dataclass(frozen=True)
class IdentityCenterSettings:
    mode: str = "auto"
    concurrency: int = 16
    timing: Timing = field(default_factory=Timing)


@dataclass(frozen=True)
class IdentityCenterOutcome:
    """What happened to Identity Center in one run, as logged and summarised."""

    account_id: str  # where it was read from
    status: str  # success | failed | skipped
    error_class: str | None = None
    message: str | None = None
    instance_arn: str | None = None
    users: int = 0
    groups: int = 0
    memberships: int = 0
    assignments: int = 0
    calls: int = 0
    seconds: float | None = None

    def record(self) -> dict[str, object]:
        """The outcome as one JSON log line says it (`collect --log-format json`, the Lambda's log)."""
        return {"identity_center": self.summary()}

    def summary(self) -> dict[str, object]:
        return {
            "status": self.status,
            "error_class": self.error_class,
            "message": self.message,
            "instance_arn": self.instance_arn,
            "users": self.users,
            "groups": self.groups,
            "memberships": self.memberships,
            "assignments": self.assignments,
            "calls": self.calls,
            "seconds": self.seconds,
        }

    def describe(self) -> str:
        if self.status == "success":
            return (
                f"Identity Center: {self.users} users, {self.groups} groups, {self.memberships} memberships, "
                f"{self.assignments} account assignments ({self.calls} calls, {self.seconds or 0:.1f} s)"
            )
        if self.status == "skipped":
            return f"Identity Center: not collected ({self.message})"
        return f"Identity Center: failed ({self.error_class}): {self.message}"


class IdentityCenterFailed(Exception):
    """A call that cannot succeed (denied, or retried until its deadline): the whole snapshot is given up."""

    def __init__(self, error_class: str, message: str) -> None:
        super().__init__(message)
        self.error_class, self.message = error_class, message


@dataclass
class Calls:
    """Makes one Identity Center call at a time per thread, retrying what AWS says to retry; counts them."""

    timing: Timing
    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep
    rng: random.Random = field(default_factory=random.Random)
    stop: threading.Event | None = None
    made: int = 0
    given_up: threading.Event = field(default_factory=threading.Event)  # another call failed: make no more
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __call__(self, method: Callable[..., dict[str, Any]], **arguments: Any) -> dict[str, Any]:
        started, retries = self.clock(), 0
        while True:
            if self.stop is not None and self.stop.is_set():
                raise KeyboardInterrupt
            if self.given_up.is_set():
                raise IdentityCenterFailed("other", "given up: another Identity Center call failed")
            with self._lock:
                self.made += 1
                jitter = self.rng.random()
            try:
                return method(**arguments)
            except botocore.exceptions.ClientError as e:
                code = str(e.response.get("Error", {}).get("Code", ""))
                message = f"{code}: {e.response.get('Error', {}).get('Message', '')}".rstrip(": ")
                if code in DENIED:
                    raise IdentityCenterFailed("access_denied", message) from None
                if code not in RETRYABLE | {"InternalServerException", "ServiceQuotaExceededException"}:
                    raise IdentityCenterFailed("other", message) from None
                error_class = "throttled" if code in THROTTLED else "other"
            except NETWORK_ERRORS as e:
                error_class, message = "network", str(e)
            except botocore.exceptions.BotoCoreError as e:
                raise IdentityCenterFailed("other", str(e)) from None
            retries += 1
            pause = jitter * min(self.timing.backoff_max, self.timing.backoff_base * 2**retries)
            if self.clock() + pause - started > self.timing.deadline:
                given = f"gave up after {self.timing.deadline:g} s of retries; last: {message}"
                raise IdentityCenterFailed(error_class, given)
            self.sleep(pause)


def pages(calls: Calls, method: Callable[..., dict[str, Any]], key: str, **arguments: Any) -> Iterator[list[Any]]:
    """Each page's items of a listing, following NextToken to the end (empty pages included)."""
    token: str | None = None
    while True:
        asked = {**arguments, "MaxResults": PAGE_SIZE, **({"NextToken": token} if token else {})}
        page = calls(method, **asked)
        yield list(page.get(key) or [])
        following = page.get("NextToken")
        if not following:
            return
        if following == token:
            raise IdentityCenterFailed("other", f"{key}: AWS sent the same NextToken twice; try again later")
        token = following


def collect_identity_center(
    aws: Aws,
    account_id: str,
    day: dt.date,
    settings: IdentityCenterSettings,
    *,
    clock: Callable[[], float] = time.monotonic,
    stop: threading.Event | None = None,
) -> tuple[IdentitySnapshot | None, IdentityCenterOutcome]:
    """Read Identity Center: a snapshot and its outcome, or no snapshot and an outcome saying why."""
    started = clock()
    collected_at = dt.datetime.now(dt.UTC)
    calls = Calls(settings.timing, clock=clock, stop=stop)
    sso, store = aws.client("sso-admin"), aws.client("identitystore")

    def outcome(status: str, error_class: str | None = None, message: str | None = None) -> IdentityCenterOutcome:
        seconds = round(clock() - started, 3)
        return IdentityCenterOutcome(account_id, status, error_class, message, calls=calls.made, seconds=seconds)

    try:
        instances = [i for page in pages(calls, sso.list_instances, "Instances") for i in page]
        chosen = choose_instance(instances, account_id)
        if chosen is None:
            message = (
                f"no IAM Identity Center instance in {aws.region} (sso:ListInstances); in another region? pass --region"
            )
            if settings.mode == "on":
                return None, outcome("failed", "no_instance", message)
            return None, outcome("skipped", None, message)
        listed = _listing(calls, sso, store, chosen["InstanceArn"], chosen["IdentityStoreId"], settings.concurrency)
    except IdentityCenterFailed as e:
        return None, outcome("failed", e.error_class, e.message)
    seconds = round(clock() - started, 3)
    snapshot = IdentitySnapshot(
        snapshot_date=day,
        account_id=account_id,
        instance_arn=chosen["InstanceArn"],
        identity_store_id=chosen["IdentityStoreId"],
        users=listed["users"],
        groups=listed["groups"],
        memberships=listed["memberships"],
        assignments=listed["assignments"],
        collected_at=collected_at,
        calls=calls.made,
        seconds=seconds,
    )
    done = IdentityCenterOutcome(
        account_id,
        "success",
        instance_arn=chosen["InstanceArn"],
        users=snapshot.users.num_rows,
        groups=snapshot.groups.num_rows,
        memberships=snapshot.memberships.num_rows,
        assignments=snapshot.assignments.num_rows,
        calls=calls.made,
        seconds=seconds,
    )
    return snapshot, done


def choose_instance(instances: list[dict[str, Any]], account_id: str) -> dict[str, Any] | None:
    """The organization's instance: an active one, the caller's own first (there is one per organization)."""
    active = [i for i in instances if i.get("Status", "ACTIVE") == "ACTIVE" and i.get("IdentityStoreId")]
    active.sort(key=lambda i: (i.get("OwnerAccountId") != account_id, i["InstanceArn"]))
    return active[0] if active else None


def _listing(
    calls: Calls, sso: Any, store: Any, instance: str, identity_store: str, concurrency: int
) -> dict[str, pa.Table]:
    """Users, groups, memberships and assignments, with at most `concurrency` calls in flight."""
    users: dict[str, dict[str, Any]] = {}
    groups: dict[str, dict[str, Any]] = {}
    tasks: list[Future[list[dict[str, Any]]]] = []
    lock = threading.Lock()

    def assignments(principal_type: str, principal_id: str) -> list[dict[str, Any]]:
        listing = pages(
            calls,
            sso.list_account_assignments_for_principal,
            "AccountAssignments",
            InstanceArn=instance,
            PrincipalId=principal_id,
            PrincipalType=principal_type,
        )
        return [
            {
                "instance_arn": instance,
                "account_id": a["AccountId"],
                "permission_set_arn": a["PermissionSetArn"],
                "principal_type": principal_type,
                "principal_id": principal_id,
            }
            for page in listing
            for a in page
        ]

    def members(group_id: str) -> list[dict[str, Any]]:
        listing = pages(
            calls, store.list_group_memberships, "GroupMemberships", IdentityStoreId=identity_store, GroupId=group_id
        )
        return [
            {"identity_store_id": identity_store, "group_id": group_id, "user_id": m["MemberId"]["UserId"]}
            for page in listing
            for m in page
            if "UserId" in (m.get("MemberId") or {})
        ]

    with ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="credsight-identity") as pool:

        def walk(method: Callable[..., dict[str, Any]], key: str, id_key: str, into: dict[str, dict[str, Any]]) -> None:
            for page in pages(calls, method, key, IdentityStoreId=identity_store):
                for item in page:
                    if item[id_key] in into:  # listed twice while the store changed: once is enough
                        continue
                    into[item[id_key]] = item
                    with lock:
                        if id_key == "GroupId":
                            tasks.append(pool.submit(members, item[id_key]))
                        tasks.append(pool.submit(assignments, "GROUP" if id_key == "GroupId" else "USER", item[id_key]))

        walks = [
            pool.submit(walk, store.list_users, "Users", "UserId", users),
            pool.submit(walk, store.list_groups, "Groups", "GroupId", groups),
        ]
        try:
            _all_done(walks)
            with lock:
                queued = list(tasks)
            _all_done(queued)
        except BaseException:
            calls.given_up.set()
            with lock:
                for task in tasks:
                    task.cancel()
            raise
    rows = [row for task in queued for row in task.result()]
    return {
        "users": _table([_user_row(u, identity_store) for u in users.values()], IDENTITY_USER_SCHEMA),
        "groups": _table([_group_row(g, identity_store) for g in groups.values()], IDENTITY_GROUP_SCHEMA),
        "memberships": _table([r for r in rows if "user_id" in r], IDENTITY_MEMBERSHIP_SCHEMA),
        "assignments": _table([r for r in rows if "principal_id" in r], IDENTITY_ASSIGNMENT_SCHEMA),
    }


def _all_done(futures: list[Future[Any]]) -> None:
    """Wait for every future; the first failure is raised (the others are then cancelled by the caller)."""
    done, pending = wait(futures, return_when=FIRST_EXCEPTION)
    for future in done:
        error = future.exception()
        if error is not None:
            raise error
    if pending:
        wait(pending)
        for future in pending:
            future.result()


def _table(rows: list[dict[str, Any]], schema: pa.Schema) -> pa.Table:
    """Rows in a stored table's layout but snapshot_date and run_id, which the run adds."""
    columns = pa.schema([f for f in schema if f.name not in ("snapshot_date", "run_id")])
    return pa.Table.from_pylist(rows, schema=columns)


def _external_ids(item: dict[str, Any]) -> list[tuple[str, str]] | None:
    found = [(e["Issuer"], e["Id"]) for e in item.get("ExternalIds") or [] if "Issuer" in e and "Id" in e]
    return found or None


def _user_row(user: dict[str, Any], identity_store: str) -> dict[str, Any]:
    emails = [e for e in user.get("Emails") or [] if e.get("Value")]
    primary = next((e["Value"] for e in emails if e.get("Primary")), emails[0]["Value"] if emails else None)
    name = user.get("Name") or {}
    return {
        "identity_store_id": identity_store,
        "user_id": user["UserId"],
        "user_name": user.get("UserName"),
        "display_name": user.get("DisplayName"),
        "given_name": name.get("GivenName"),
        "family_name": name.get("FamilyName"),
        "emails": [e["Value"] for e in emails],
        "primary_email": primary,
        "external_ids": _external_ids(user),
    }


def _group_row(group: dict[str, Any], identity_store: str) -> dict[str, Any]:
    return {
        "identity_store_id": identity_store,
        "group_id": group["GroupId"],
        "display_name": group.get("DisplayName"),
        "description": group.get("Description"),
        "external_ids": _external_ids(group),
    }
