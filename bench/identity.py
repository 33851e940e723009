"""IAM Identity Center: collecting it from moto, and the SSO migration's states over the big store.

    python -m bench.identity                      # both parts, the sizes of the issue
    python -m bench.identity --part collect --users 20000 --groups 2000 --accounts 1000 --latency-ms 100
    python -m bench.identity --part states --store-accounts 1000 --store-users 100 --days 365

collect: an identity store of --users users and --groups groups in moto's server (a process of its own on
127.0.0.1), each user in a few groups, groups and some users assigned to --accounts accounts; a botocore
hook holds every call --latency-ms and counts it. Timed: `collect_identity_center` with --concurrency
calls in flight, and the snapshot checked against what was created.

states: the demo store of --store-accounts x --store-users x --days (bench/data, built once), with the
demo's own Identity Center story. Timed, from process start to exit: `credsight migration --format json`
to a file, with the rollup a collection keeps and after a settings change (computed from the snapshots);
and, the store open, the year's burn-down (states per day and OU, removed included) both ways.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import statistics
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3

from bench.common import credsight_command, demo_store, load_average, machine, quiet_environment, run_to_exit
from bench.moto_org import process_cpu
from credsight.query import Database
from credsight.store import Store

# -- states over the big store ----------------------------------------------------------------------


@dataclass(frozen=True)
class BurnDowns:
    opened: float  # the Database and the people (the rollup read, or the timeline's first tables)
    daily: list[float]  # the year's burn-down, a row a day
    weekly: list[float]  # the year told every 7 days, as a chart of a year asks it
    recent: list[float]  # the last 60 days, a row a day: what the projection fits
    rows: int
    projection: str


def burn_downs(store: Store, repeat: int, rollup: bool) -> BurnDowns:
    """The burn-downs a page asks, the store open, from the rollup or from the snapshots, `repeat` times each."""
    from credsight.rules.matching import PeopleSettings
    from credsight.rules.people import FIT_DAYS, describe, mapping_lines, open_people

    started = time.perf_counter()
    database = Database(store)
    settings = PeopleSettings()
    people = open_people(database, settings, *mapping_lines(store, settings), rollup=rollup)
    if rollup and people.rollup is None:
        raise SystemExit(f"{store.root} holds no SSO migration rollup: build it again (bench/data)")
    opened = time.perf_counter() - started
    end = database.newest_snapshot() or people.days[-1]

    def timed(**asked: Any) -> tuple[float, Any]:
        started = time.perf_counter()
        table = people.burn_down(**asked)
        return time.perf_counter() - started, table

    daily = [timed() for _ in range(repeat)]
    weekly = [timed(every=7)[0] for _ in range(repeat)]
    recent = [timed(start=end - dt.timedelta(days=FIT_DAYS - 1)) for _ in range(repeat)]
    projection = describe(people.projection(recent[-1][1]))
    database.close()
    return BurnDowns(opened, [d[0] for d in daily], weekly, [r[0] for r in recent], daily[0][1].num_rows, projection)


def rollup_seconds(store: Store) -> float:
    """What a collection adds to keep the rollup: the people computed from the snapshots (not written again)."""
    from credsight.rules.matching import PeopleSettings
    from credsight.rules.people import mapping_lines, open_people

    started = time.perf_counter()
    with Database(store) as database:
        settings = PeopleSettings()
        people = open_people(database, settings, *mapping_lines(store, settings), rollup=False)
        day = database.newest_snapshot() or people.days[-1]
        people.counts(people.days[0], day)
        people.states(day)
    return time.perf_counter() - started


def states_part(accounts: int, users: int, days: int, repeat: int) -> None:
    store = demo_store(accounts, days, users)
    out = Path(store.root).parent / f"{Path(store.root).name}-migration.json"
    command = [credsight_command(), "migration", "--store", store.root, "--format", "json"]
    before = load_average()
    runs = [run_to_exit(command, out, timeout=600, env=quiet_environment()) for _ in range(repeat)]
    rows = json.loads(out.read_text()) if all(r.code == 0 for r in runs) else []
    changed = Path(store.root).parent / f".settings-{os.getpid()}"  # [people] changed since the collection
    changed.mkdir(exist_ok=True)
    (changed / "credsight.toml").write_text("[people]\nready_days = 31\n")
    live = [run_to_exit(command, out, timeout=600, cwd=changed, env=quiet_environment()) for _ in range(repeat)]
    shutil.rmtree(changed)
    failed = [r for r in (*runs, *live) if r.code != 0]
    if failed:
        raise SystemExit(f"credsight migration failed: {failed[0].said}")
    between = load_average()
    kept, computed = burn_downs(store, repeat, rollup=True), burn_downs(store, repeat, rollup=False)
    keeping = rollup_seconds(store)
    end_to_end, from_snapshots = statistics.median(r.seconds for r in runs), statistics.median(r.seconds for r in live)
    daily, daily_computed = statistics.median(kept.daily), statistics.median(computed.daily)

    def each(values: list[float]) -> str:
        return ", ".join(f"{v:.2f}" for v in values)

    def both(a: list[float], b: list[float]) -> str:
        return f"{statistics.median(a):.2f} / {statistics.median(b):.2f} | {each(a)} / {each(b)}"

    print(f"## SSO migration states ({accounts:,} accounts x {users} users x {days} days)\n")
    print(f"`python -m bench.identity --part states --store-accounts {accounts} --store-users {users} --days {days}`")
    print(f"on {machine()}; load average {before} before, {between} between the two parts, {load_average()} after.\n")
    print(
        "The demo store's own Identity Center story. After each collection (`collect`, `ingest`, `compact`, the "
        "demo, the Finish step) credsight keeps the SSO migration's rollup (rules/people_rollup.py); a question it "
        "does not hold (another date, other `[people]` settings than at the collection) is computed from the "
        "snapshots. Both are timed, in the same run.\n"
    )
    print(f"| measure | seconds (median of {repeat}) | each | target |")
    print("|---|---:|---|---|")
    met = "met" if end_to_end < 2 else "NOT met"
    print(
        f"| `credsight migration --format json` to a file, start to exit ({len(rows):,} rows), rollup kept | "
        f"{end_to_end:.2f} | {each([r.seconds for r in runs])} | under 2 s: {met} |"
    )
    print(
        f"| the same after `[people]` changed (ready_days 31): from the snapshots | {from_snapshots:.2f} | "
        f"{each([r.seconds for r in live])} | {from_snapshots / end_to_end:.1f}x the rollup's |"
    )
    print(
        f"| the year's burn-down, a row a day ({kept.rows:,} rows: day x OU x state), store open: rollup / "
        f"snapshots | {both(kept.daily, computed.daily)} | under 3 s: {'met' if daily < 3 else 'NOT met'} "
        f"({daily_computed / daily:.1f}x faster) |"
    )
    print(f"| the year told every 7 days (`every=7`): rollup / snapshots | {both(kept.weekly, computed.weekly)} | |")
    print(f"| the last 60 days, a row a day: rollup / snapshots | {both(kept.recent, computed.recent)} | |")
    print(f"| opening the people: rollup / snapshots | {kept.opened:.2f} / {computed.opened:.2f} | | |")
    print(f"| keeping the rollup, what each collection adds (computed, not written) | {keeping:.2f} | | |")
    print(f"\nProjection: {kept.projection}.\n")


# -- collecting Identity Center from moto ------------------------------------------------------------

MOTO_ACCOUNT = "123456789012"  # the account moto gives the "testing" keys: the management account here
NAMESPACE = uuid.UUID("0b6f3c1e-2d4a-4e8b-9f7c-5a1e2d3c4b6a")


@dataclass(frozen=True)
class Made:
    """The identity store of a size: what is created in moto and what the snapshot must hold."""

    users: list[tuple[str, str, str]]  # id, user name, email
    groups: list[tuple[str, str]]  # id, display name
    memberships: list[tuple[str, str]]  # group id, user id
    assignments: list[tuple[str, str, str, str]]  # account, permission set, USER | GROUP, principal id

    @property
    def user_assignments(self) -> int:
        return sum(1 for a in self.assignments if a[2] == "USER")


def identity_center_of(users: int, groups: int, accounts: int) -> Made:
    """Each user in three groups, each group assigned to three accounts, one user in ten to one account directly."""
    ids = [f"{100000000000 + n * 7919:012d}" for n in range(accounts)]
    sets = [f"arn:aws:sso:::permissionSet/ssoins-bench000000000000/ps-{n:016x}" for n in range(2)]
    made_users = [
        (str(uuid.uuid5(NAMESPACE, f"u{n}")), f"user{n:05d}@example.com", f"user{n:05d}@example.com")
        for n in range(users)
    ]
    made_groups = [(str(uuid.uuid5(NAMESPACE, f"g{n}")), f"group-{n:04d}") for n in range(groups)]
    memberships = (
        sorted({(made_groups[(n * 7 + k * 131) % groups][0], made_users[n][0]) for n in range(users) for k in range(3)})
        if groups
        else []
    )
    assignments = (
        [
            (ids[(g * 3 + k) % accounts], sets[k % 2], "GROUP", made_groups[g][0])
            for g in range(groups)
            for k in range(3)
        ]
        if accounts
        else []
    )
    assignments += (
        [(ids[n % accounts], sets[0], "USER", made_users[n][0]) for n in range(0, users, 10)] if accounts else []
    )
    return Made(made_users, made_groups, memberships, sorted(set(assignments)))


def serve_moto(port: int, users: int, groups: int, accounts: int) -> None:
    """moto's server with the identity store built in its own memory (90,000 calls over HTTP would take minutes).

    moto answers ListGroupMemberships, ListUsers and ListAccountAssignmentsForPrincipal by scanning every
    membership, user and assignment on each call (quadratic at this size, while AWS is not): they are answered
    here from indexes built once, the same answers, so that the benchmark measures credsight's calls.
    """
    from moto.identitystore.models import Group, IdentityStoreBackend, Name, User, identitystore_backends
    from moto.server import main as moto_main
    from moto.ssoadmin.models import AccountAssignment, SSOAdminBackend, ssoadmin_backends
    from moto.ssoadmin.utils import PAGINATION_MODEL as ssoadmin_pagination
    from moto.utilities.paginator import paginate

    made = identity_center_of(users, groups, accounts)
    sso = ssoadmin_backends[MOTO_ACCOUNT]["us-east-1"]
    instance = sso.instances[0]
    backend = identitystore_backends[MOTO_ACCOUNT]["us-east-1"]
    data = backend._IdentityStoreBackend__get_identity_store(instance.identity_store_id)  # type: ignore[attr-defined]
    for user_id, name, email in made.users:
        data.users[user_id] = User(
            user_id,
            instance.identity_store_id,
            name,
            Name(None, "Bench", name[:1], None, None, None),
            name,
            None,
            None,
            [{"Value": email, "Primary": True}],
            [],
            [],
            None,
            None,
            None,
            None,
            None,
        )
    for group_id, name in made.groups:
        data.groups[group_id] = Group(group_id, name, [], "", instance.identity_store_id)
    members: dict[str, list[dict[str, Any]]] = {}
    for n, (group_id, user_id) in enumerate(made.memberships):
        membership = {
            "IdentityStoreId": instance.identity_store_id,
            "MembershipId": f"m-{n:08d}",
            "GroupId": group_id,
            "MemberId": {"UserId": user_id},
        }
        data.group_memberships[membership["MembershipId"]] = membership
        members.setdefault(group_id, []).append(membership)
    granted: dict[tuple[str, str], list[dict[str, str]]] = {}
    for account, permission_set, kind, principal in made.assignments:
        sso.account_assignments.append(
            AccountAssignment(instance.instance_arn, account, "AWS_ACCOUNT", permission_set, kind, principal)
        )
        granted.setdefault((kind, principal), []).append(
            {"AccountId": account, "PermissionSetArn": permission_set, "PrincipalId": principal, "PrincipalType": kind}
        )
    listed = [
        {**u._asdict(), "Name": u.Name._asdict()}
        for u in data.users.values()  # as moto's own list_users gives them
    ]

    @paginate(pagination_model=IdentityStoreBackend.PAGINATION_MODEL)  # type: ignore[misc]
    def list_group_memberships(self: Any, identity_store_id: str, group_id: str) -> list[Any]:
        return members.get(group_id, [])

    @paginate(pagination_model=IdentityStoreBackend.PAGINATION_MODEL)  # type: ignore[misc]
    def list_users(self: Any, identity_store_id: str, filters: list[dict[str, str]]) -> list[Any]:
        return listed

    @paginate(ssoadmin_pagination)  # type: ignore[misc]
    def list_account_assignments_for_principal(
        self: Any, filter_: Any, instance_arn: str, principal_id: str, principal_type: str
    ) -> list[dict[str, str]]:
        return granted.get((principal_type, principal_id), [])

    IdentityStoreBackend.list_group_memberships = list_group_memberships  # type: ignore[method-assign]
    IdentityStoreBackend.list_users = list_users  # type: ignore[method-assign]
    SSOAdminBackend.list_account_assignments_for_principal = list_account_assignments_for_principal  # type: ignore[method-assign]
    moto_main(["-H", "127.0.0.1", "-p", str(port)])


@dataclass(frozen=True)
class Collected:
    calls: int
    seconds: float
    cpu: float  # this process's CPU seconds meanwhile
    matches: bool  # the snapshot holds exactly what was made


def timed_collection(endpoint: str, made: Made, latency: float, concurrency: int) -> Collected:
    """credsight's Identity Center collection, every call held `latency` seconds by a botocore hook."""
    from bench.moto_org import Network
    from credsight.sources.aws import Aws
    from credsight.sources.credential_report import Timing
    from credsight.sources.identity_center import IdentityCenterSettings, collect_identity_center

    network = Network(latency)
    aws = Aws(
        network.attach(boto3.Session(region_name="us-east-1")), endpoint_url=endpoint, max_connections=concurrency
    )
    settings = IdentityCenterSettings("on", concurrency, Timing())
    started, cpu = time.perf_counter(), time.process_time()
    snapshot, outcome = collect_identity_center(aws, MOTO_ACCOUNT, dt.date.today(), settings)
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    if snapshot is None:
        raise SystemExit(f"the collection failed: {outcome.describe()}")
    got = (
        sorted((r["user_id"], r["user_name"], r["primary_email"]) for r in snapshot.users.to_pylist()),
        sorted((r["group_id"], r["display_name"]) for r in snapshot.groups.to_pylist()),
        sorted((r["group_id"], r["user_id"]) for r in snapshot.memberships.to_pylist()),
        sorted(
            {
                (r["account_id"], r["permission_set_arn"], r["principal_type"], r["principal_id"])
                for r in snapshot.assignments.to_pylist()
            }
        ),
    )
    wanted = (sorted(made.users), sorted(made.groups), made.memberships, made.assignments)
    return Collected(network.calls, seconds, cpu, got == wanted and outcome.calls == network.calls)


def collect_part(users: int, groups: int, accounts: int, latency_ms: float, concurrency: int) -> None:
    from bench.common import free_port, serving

    os.environ.update(
        {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"}
    )
    made = identity_center_of(users, groups, accounts)
    port = free_port()
    command = [
        sys.executable,
        "-m",
        "bench.identity",
        "--serve-moto",
        str(port),
        "--users",
        str(users),
        "--groups",
        str(groups),
        "--accounts",
        str(accounts),
    ]
    built = time.perf_counter()
    with serving(command, port, "moto's server") as server:
        built = time.perf_counter() - built
        before = load_average()
        result = timed_collection(f"http://127.0.0.1:{port}", made, latency_ms / 1000, concurrency)
        moto_cpu = process_cpu(server.pid)
        after = load_average()
    if not result.matches:
        raise SystemExit("the collected snapshot differs from what was created")
    bound = result.calls * latency_ms / 1000 / concurrency
    print(f"## Identity Center collection ({users:,} users, {groups:,} groups, {accounts:,} accounts)\n")
    print(
        f"`python -m bench.identity --part collect --users {users} --groups {groups} --accounts {accounts} "
        f"--latency-ms {latency_ms:g} --concurrency {concurrency}` on {machine()}; load average {before} before, "
        f"{after} after.\n"
    )
    print(
        f"moto's server, a process of its own on 127.0.0.1, holds {len(made.memberships):,} memberships and "
        f"{len(made.assignments):,} account assignments ({made.user_assignments:,} to users, the rest to groups); "
        f"built in its memory in {built:.1f} s (not counted). A botocore hook holds every call {latency_ms:g} ms. "
        "The snapshot collected equals what was made.\n"
    )
    print("| measure | value |")
    print("|---|---:|")
    print(f"| AWS calls | {result.calls:,} |")
    print(f"| calls in flight at most (`--concurrency`) | {concurrency} |")
    print(f"| time to collect | {result.seconds:.1f} s |")
    print(f"| bound: calls x latency / concurrency | {bound:.1f} s |")
    print(f"| time / bound | {result.seconds / bound:.2f} |")
    print(f"| CPU: credsight / moto | {result.cpu:.1f} s / {moto_cpu:.1f} s |\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--part", choices=("collect", "states", "both"), default="both")
    parser.add_argument("--users", type=int, default=20_000)
    parser.add_argument("--groups", type=int, default=2_000)
    parser.add_argument("--accounts", type=int, default=1_000)
    parser.add_argument("--latency-ms", type=float, default=100)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--store-accounts", type=int, default=1_000)
    parser.add_argument("--store-users", type=int, default=100)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--serve-moto", type=int, metavar="PORT", help=argparse.SUPPRESS)  # the moto side of collect
    arguments = parser.parse_args()
    if arguments.serve_moto:
        serve_moto(arguments.serve_moto, arguments.users, arguments.groups, arguments.accounts)
        return
    if arguments.part in ("collect", "both"):
        collect_part(arguments.users, arguments.groups, arguments.accounts, arguments.latency_ms, arguments.concurrency)
    if arguments.part in ("states", "both"):
        states_part(arguments.store_accounts, arguments.store_users, arguments.days, arguments.repeat)
    sys.stdout.flush()


if __name__ == "__main__":
    main()
