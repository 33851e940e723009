"""Collector: a collection run against in-process moto, with network latency injected.

    python -m bench.collect [--accounts 200] [--latency-ms 100] [--concurrency 32]
                            [--reference-accounts N] [--scale 1000,10000] [--scale-concurrency 16]
                            [--only-scale]

moto answers in microseconds, so a botocore `before-send` hook registered ahead of moto's own
holds each AWS call for `--latency-ms` first. Four measurements:

1. credsight at `--concurrency 1` and at `--concurrency 32`, each against the bound
   max(latency x calls / concurrency, CPU time of the process).
2. The AWS QuickSight pattern's collector on the same accounts and latency: one account at a
   time, a new boto3 Session per account, 1 s polls (about 1.6 s an account; with
   `--reference-accounts` fewer, the result is extrapolated linearly and says so).
3. CPU per account without latency, moto's own CPU (timed inside its request handler) taken out.
4. Scale: 1,000 and 10,000 accounts without latency, each size in its own process so that each
   has its own memory peak, against a moto server in a process of its own (AWS is on other
   machines: moto's growing state must not weigh on credsight's heap and garbage collector);
   building the organization in moto is timed apart and not counted.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import boto3
import moto
from moto import mock_aws

from bench.common import GarbageCollections, MemoryPeak, machine
from bench.moto_org import (
    REGION,
    REPO,
    ROLE,
    USERS_PER_ACCOUNT,
    MotoMeter,
    MotoReading,
    Network,
    Organization,
    ServerMeter,
    build_organization,
    forget_reports,
    freeze_heap,
    moto_process,
)
from credsight.sources.aws import Aws, role_arn
from credsight.sources.collect import Settings, collect
from credsight.sources.organizations import Account
from credsight.store import Store


@dataclass(frozen=True)
class Measured:
    accounts: int
    concurrency: int
    latency: float
    wall: float
    cpu: float  # process CPU seconds, all threads
    calls: int  # AWS calls, counted by Network's hook
    reported_calls: int  # the same, as credsight's outcomes count them
    moto: MotoReading
    succeeded: int
    rows: int
    memory_growth: int  # peak resident bytes during the run above those at its start
    gc_cpu: float  # of `cpu`, in the garbage collector
    gc_full: int  # full collections

    @property
    def bound(self) -> float:
        """No run can beat this: the calls' latency spread over the workers, or the CPU it used."""
        return max(self.latency * self.calls / self.concurrency, self.cpu)

    def check(self, users: int) -> None:
        """Every account collected with all its users; every call delayed and counted."""
        assert self.succeeded == self.accounts, f"{self.accounts - self.succeeded} accounts failed"
        assert self.rows == users, f"{self.rows} report rows, expected {users}"
        assert self.moto.bypassed == 0, f"{self.moto.bypassed} calls reached moto without the latency hook"
        assert self.calls == self.moto.calls == self.reported_calls, (self.calls, self.moto.calls, self.reported_calls)


def run_credsight(
    org: Organization,
    accounts: list[Account],
    concurrency: int,
    latency: float,
    meter: MotoMeter | ServerMeter,
    endpoint: str | None = None,
) -> Measured:
    """One collection into a fresh store: a new Session, as a run of `credsight collect` makes.

    In-process moto (no `endpoint`) forgets the reports of an earlier run first; a server is fresh.
    """
    if endpoint is None:
        forget_reports(accounts)
    network = Network(latency)
    session = network.attach(boto3.Session(region_name=REGION))
    aws = Aws(session, endpoint_url=endpoint, max_connections=concurrency)
    folder = tempfile.mkdtemp(prefix="credsight-bench-collect-")
    try:
        before = meter.reading
        with MemoryPeak() as memory, GarbageCollections() as collections:
            cpu, started = time.process_time(), time.perf_counter()
            summary = collect(
                Store(folder),
                aws,
                "aws",
                accounts,
                Settings(role=ROLE, concurrency=concurrency),
                caller_account=org.caller,
            )
            wall, cpu = time.perf_counter() - started, time.process_time() - cpu
    finally:
        shutil.rmtree(folder)
    return Measured(
        len(accounts),
        concurrency,
        latency,
        wall,
        cpu,
        network.calls,
        sum(o.calls for o in summary.outcomes),
        meter.reading - before,
        summary.count("success"),
        sum(o.rows or 0 for o in summary.outcomes),
        memory.peak - memory.start,
        collections.cpu,
        collections.full,
    )


def run_quicksight_pattern(accounts: list[Account], latency: float, meter: MotoMeter) -> Measured:
    """The AWS QuickSight pattern's collector: one account at a time, a new Session and clients
    for each, GenerateCredentialReport again every second until COMPLETE, the CSV to a file."""
    forget_reports(accounts)
    network = Network(latency)
    folder = Path(tempfile.mkdtemp(prefix="credsight-bench-reference-"))
    rows = 0
    try:
        before = meter.reading
        cpu, started = time.process_time(), time.perf_counter()
        for account in accounts:
            session = network.attach(boto3.Session())
            arn = role_arn("aws", account.id, ROLE.role_name)
            given = session.client("sts").assume_role(RoleArn=arn, RoleSessionName="credential-report")["Credentials"]
            iam = session.client(
                "iam",
                aws_access_key_id=given["AccessKeyId"],
                aws_secret_access_key=given["SecretAccessKey"],
                aws_session_token=given["SessionToken"],
            )
            while iam.generate_credential_report()["State"] != "COMPLETE":
                time.sleep(1)
            content = iam.get_credential_report()["Content"]
            path = folder / account.id / f"credentialReport_{account.id}.csv"
            path.parent.mkdir(parents=True)
            path.write_bytes(content)
            rows += content.count(b"\n") - 1  # moto's report has no root row and ends each line
        wall, cpu = time.perf_counter() - started, time.process_time() - cpu
    finally:
        shutil.rmtree(folder)
    return Measured(
        len(accounts),
        1,
        latency,
        wall,
        cpu,
        network.calls,
        network.calls,
        meter.reading - before,
        len(accounts),
        rows,
        0,
        0.0,
        0,
    )


def scale_child(size: int, concurrency: int) -> dict[str, Any]:
    """One size of the scale test, in this (child) process: build, then collect without latency."""
    with moto_process() as (endpoint, pid):
        meter = ServerMeter(pid)
        org = build_organization(size, (1,), meter, through_roles=False, endpoint=endpoint)
        freeze_heap()
        measured = run_credsight(org, org.members, concurrency, 0.0, meter, endpoint)
        measured.check(org.users)
    return {
        "size": size,
        "setup_seconds": org.seconds,
        "create_ms_first": org.create_ms_first,
        "create_ms_last": org.create_ms_last,
        "discover_seconds": org.discover_seconds,
        "discover_moto_cpu": org.discover_moto_cpu,
        "measured": asdict(measured),
        "max_rss": resource_max_rss(),
    }


def resource_max_rss() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux


def run_scale(size: int, concurrency: int, timeout: float) -> dict[str, Any] | None:
    """`scale_child` in a fresh process, so that each size has its own memory peak; None past `timeout`."""
    command = [
        sys.executable,
        "-m",
        "bench.collect",
        "--scale-child",
        str(size),
        "--scale-concurrency",
        str(concurrency),
    ]
    try:
        done = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=timeout, check=True)
    except subprocess.TimeoutExpired:
        return None
    except subprocess.CalledProcessError as e:
        raise RuntimeError(f"scale {size} failed:\n{e.stderr}") from None
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def cpu_parts(m: Measured, accounts: int) -> list[float]:
    """moto's CPU (its own process), the garbage collector's, and the rest of credsight's, in ms per account."""
    return [x / accounts * 1000 for x in (m.moto.cpu, m.gc_cpu, m.cpu - m.gc_cpu)]


def ms_per_account(seconds: float, accounts: int) -> str:
    return f"{seconds / accounts * 1000:.1f} ms"


def verdict(met: bool) -> str:
    return "met" if met else "**missed**"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--accounts", type=int, default=200)
    parser.add_argument("--latency-ms", type=int, default=100)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument(
        "--reference-accounts", type=int, help="run the QuickSight pattern on this many (default: all; 1.6 s each)"
    )
    parser.add_argument("--scale", default="1000,10000", help="sizes of the scale test, comma separated")
    parser.add_argument("--scale-concurrency", type=int, default=16)
    parser.add_argument("--scale-timeout", type=float, default=1800, help="seconds allowed to each size")
    parser.add_argument("--only-scale", action="store_true", help="run the scale test alone")
    parser.add_argument("--scale-child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    args.reference_accounts = args.reference_accounts or args.accounts
    os.environ.update(AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing", AWS_DEFAULT_REGION=REGION)
    if args.scale_child:
        print(json.dumps(scale_child(args.scale_child, args.scale_concurrency)))
        return
    if args.only_scale:
        load_before = os.getloadavg()[0]
        scaled = {
            int(size): run_scale(int(size), args.scale_concurrency, args.scale_timeout)
            for size in args.scale.split(",")
        }
        print(
            f"`python -m bench.collect --only-scale --scale {args.scale}` on {machine()}, moto {moto.__version__} "
            f"(load average {load_before:.1f} before, {os.getloadavg()[0]:.1f} after)\n"
        )
        print_scale(args, scaled)
        return
    latency = args.latency_ms / 1000
    load_before = os.getloadavg()[0]
    with mock_aws(), MotoMeter().installed() as meter:
        org = build_organization(args.accounts, USERS_PER_ACCOUNT, meter)
        freeze_heap()
        run_credsight(org, org.members[:10], 2, 0.0, meter)  # warm up: imports, first store write
        wide = [run_credsight(org, org.members, args.concurrency, latency, meter) for _ in range(3)]
        one = run_credsight(org, org.members, 1, latency, meter)
        cpu = run_credsight(org, org.members, 1, 0.0, meter)
        for m in (*wide, one, cpu):
            m.check(org.users)
        reference_accounts = org.members[: args.reference_accounts]
        reference = run_quicksight_pattern(reference_accounts, latency, meter)
    sizes = [int(s) for s in args.scale.split(",") if s]
    scaled = {size: run_scale(size, args.scale_concurrency, args.scale_timeout) for size in sizes}
    load_after = os.getloadavg()[0]
    print_report(args, org, wide, one, cpu, reference, scaled, (load_before, load_after))


def print_report(
    args: argparse.Namespace,
    org: Organization,
    wide: list[Measured],
    one: Measured,
    cpu: Measured,
    reference: Measured,
    scaled: dict[int, dict[str, Any] | None],
    load: tuple[float, float],
) -> None:
    n, latency_ms, concurrency = args.accounts, args.latency_ms, args.concurrency
    print(f"## Collector ({n} accounts, {latency_ms} ms per AWS call)\n")
    print(
        f"`python -m bench.collect --accounts {n} --latency-ms {latency_ms} --concurrency {concurrency} "
        f"--reference-accounts {args.reference_accounts} --scale {args.scale} --scale-concurrency "
        f"{args.scale_concurrency}` on {machine()}, moto {moto.__version__} in process (load average "
        f"{load[0]:.1f} before, {load[1]:.1f} after).\n"
    )
    print(
        f"An organization of {n} member accounts with {org.users} IAM users, built in moto in {org.seconds:.0f} s "
        f"(not counted). A botocore `before-send` hook, registered ahead of moto's, holds every AWS call "
        f"{latency_ms} ms; it counted every call, and none reached moto without it. Each run writes a fresh "
        "store and starts with no report in any account, so each account costs 4 calls: AssumeRole, "
        "GenerateCredentialReport (STARTED), GenerateCredentialReport (COMPLETE) after the 0.5 s poll, "
        "GetCredentialReport. moto is told each call's account in its `x-moto-account-id` header (left to find "
        "it, moto scans every account's access keys on every call: 40 ms a call at 3,000 accounts), and the "
        "objects that exist once the organization is built are frozen out of garbage collection (`gc.freeze`): "
        "a real run holds no emulator.\n"
    )
    wide_median = sorted(wide, key=lambda m: m.wall)[len(wide) // 2]
    walls = ", ".join(f"{m.wall:.1f}" for m in wide)
    print("| run | AWS calls | wall | process CPU | bound | wall / bound |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, m in [
        (f"credsight `--concurrency {concurrency}` (median of {len(wide)}: {walls} s)", wide_median),
        ("credsight `--concurrency 1`", one),
    ]:
        print(f"| {name} | {m.calls:,} | {m.wall:.1f} s | {m.cpu:.1f} s | {m.bound:.1f} s | {m.wall / m.bound:.2f} |")
    scale = n / reference.accounts
    extrapolated = reference.accounts != n
    how = f", measured on {reference.accounts} accounts ({reference.wall:.0f} s) x {scale:g}" if extrapolated else ""
    ref_wall = reference.wall * scale
    print(
        f"| QuickSight pattern: one account at a time, a new Session per account, 1 s polls{how} | "
        f"{round(reference.calls * scale):,} | {ref_wall:.0f} s | {reference.cpu * scale:.1f} s | - | - |"
    )
    speed_up, closeness = one.wall / wide_median.wall, wide_median.wall / wide_median.bound
    print(
        f"\nBound: max(latency x calls / concurrency, process CPU); it leaves out that each account also takes "
        f"{latency_ms * 4 / 1000 + 0.5:.1f} s end to end (4 calls and the 0.5 s poll). Targets: "
        f"`--concurrency {concurrency}` at least 15x faster than `--concurrency 1`: {speed_up:.1f}x, "
        f"{verdict(speed_up >= 15)}; within 1.5x of its bound: {closeness:.2f}x, {verdict(closeness <= 1.5)}. "
        "Against the QuickSight pattern"
        f"{' (extrapolated linearly from ' + str(reference.accounts) + ' accounts)' if extrapolated else ''}: "
        f"credsight is {ref_wall / wide_median.wall:.0f}x faster at `--concurrency {concurrency}`, "
        f"{ref_wall / one.wall:.1f}x at `--concurrency 1`.\n"
    )
    best = one.wall / wide_median.bound
    if speed_up < 15 and best < 15:
        per_account, needed = wide_median.cpu / n * 1000, latency_ms * wide_median.calls / n / 14
        print(
            f"No schedule beats the bound, so here `--concurrency {concurrency}` could be at most {best:.1f}x "
            f"faster. The process spends {per_account:.0f} ms of CPU per account (moto's included) and Python runs "
            f"one thread at a time: 15x needs at most {needed:.0f} ms (see the CPU table below).\n"
        )
    elif speed_up < 15:
        print(f"The bound would allow {best:.1f}x: the run is {closeness:.2f}x slower than its bound.\n")
    print_cpu(cpu)
    print_scale(args, scaled)


def print_cpu(m: Measured) -> None:
    print(f"### CPU per account ({m.accounts} accounts, `--concurrency 1`, no latency)\n")
    ours = m.cpu - m.moto.cpu
    print("| | CPU per account | share |")
    print("|---|---:|---:|")
    for name, seconds in [
        ("the process", m.cpu),
        (f"moto answering the {m.moto.calls:,} calls", m.moto.cpu),
        ("**credsight** (with boto3, botocore, pyarrow): the process less moto", ours),
        (f"... of which the garbage collector ({m.gc_full} full collections)", m.gc_cpu),
    ]:
        print(f"| {name} | {ms_per_account(seconds, m.accounts)} | {seconds / m.cpu:.0%} |")
    print(
        "\nmoto's CPU is the thread CPU time inside its request handler (`BotocoreStubber.__call__`), a "
        "collection that starts there included; the collector's, from `gc.callbacks`. Wall time of this run: "
        f"{m.wall:.1f} s (the 0.5 s polls are not overlapped enough by one worker).\n"
    )


def print_scale(args: argparse.Namespace, scaled: dict[int, dict[str, Any] | None]) -> None:
    print(f"### Scale (`--concurrency {args.scale_concurrency}`, no latency, 1 IAM user per account)\n")
    print(
        "Each size runs in its own process, with the setup heap frozen as above, against a moto server in a "
        "process of its own on 127.0.0.1 (real HTTP, as to AWS): moto's state, which grows with the organization, "
        "is not in credsight's heap, and moto's CPU (read from /proc) runs beside credsight's. Building the "
        "organization in moto is timed apart and not counted (its users are made by one IAM client naming each "
        "account in moto's header, no AssumeRole per account); CreateAccount's cost is shown over the first and "
        "the last tenth of the accounts created. Memory growth: credsight's peak resident memory during the "
        "collect (sampled every 10 ms) above that at its start; peak RSS: credsight's process.\n"
    )
    print(
        "| accounts | build in moto (not counted) | CreateAccount, first / last tenth | discover (moto's CPU) | "
        "collect | per account | CPU per account: credsight (of which GC) / moto | memory growth | peak RSS |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    done = {}
    for size, result in scaled.items():
        if result is None:
            print(f"| {size:,} | did not finish within {args.scale_timeout:.0f} s | | | | | | | |")
            continue
        m = Measured(**{**result["measured"], "moto": MotoReading(**result["measured"]["moto"])})
        done[size] = m
        cpu_split = (  # moto ran in its own process: the process's CPU is credsight's alone
            f"{ms_per_account(m.cpu, size)} ({ms_per_account(m.gc_cpu, size)}) / {ms_per_account(m.moto.cpu, size)}"
        )
        print(
            f"| {size:,} | {result['setup_seconds']:.0f} s | {result['create_ms_first']:.1f} / "
            f"{result['create_ms_last']:.1f} ms | {result['discover_seconds']:.1f} s "
            f"({result['discover_moto_cpu']:.1f} s) | {m.wall:.0f} s | {ms_per_account(m.wall, size)} | {cpu_split} | "
            f"{m.memory_growth / 2**20:.0f} MiB | {result['max_rss'] / 2**20:.0f} MiB |"
        )
    if len(done) < 2:
        print("\nToo few sizes finished to compare: the time per account cannot be checked for flatness.\n")
        return
    (small, a), (large, b) = min(done.items()), max(done.items())
    ratio = (b.wall / large) / (a.wall / small)

    names = ("moto", "the garbage collector", "the rest of credsight")
    split = ", ".join(
        f"{name} {x:.1f} -> {y:.1f} ms"
        for name, x, y in zip(names, cpu_parts(a, small), cpu_parts(b, large), strict=True)
    )
    print(
        f"\nTarget: time per account flat from {small:,} to {large:,} accounts (ratio at most 1.2): {ratio:.2f}, "
        f"{verdict(ratio <= 1.2)}. CPU per account, {small:,} -> {large:,}: {split}.\n"
    )


if __name__ == "__main__":
    main()
