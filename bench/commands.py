"""Commands: what a person waits for, each whole command from process start to exit (issue 11).

    python -m bench.commands [--accounts 1000] [--users 100] [--days 365] [--repeat 3]
                             [--only findings,changes,...] [--timeout 600]

Over the demo store of the size given (built once under bench/data), each command runs as a person
runs it (the installed `credsight`, its defaults, no CREDSIGHT_ settings, in an empty folder), with
its output written to a file; it is timed from process start to exit, `--repeat` times, and the
median is reported with the machine's load before and after, the size of what it wrote, and the
goal of issue 11. A command still running at `--timeout` seconds is killed and reported as such.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from bench.common import (
    Exited,
    credsight_command,
    demo_store,
    load_average,
    machine,
    quiet_environment,
    run_to_exit,
    verdict,
)

MB = 1e6


def size_text(size: int) -> str:
    return f"{size / MB:.2f} MB" if size >= 100_000 else f"{size / 1000:.1f} kB"


VIEW_QUERY = "SELECT * FROM latest"  # every user of every account on its newest snapshot


@dataclass(frozen=True)
class Command:
    name: str  # for --only
    arguments: list[str]  # after `credsight`; OUT stands for the file to write, where the command takes one
    goal_seconds: float | None
    goal_bytes: float | None = None  # of the file it writes (the report)
    writes_file: bool = False  # its output is the --out file, not stdout

    def shown(self) -> str:
        return " ".join(["credsight", *(f'"{a}"' if " " in a else a for a in self.arguments)]).replace("OUT", "F")


COMMANDS = (
    Command("findings", ["findings"], 3),
    Command("findings-json", ["findings", "--format", "json"], 3),
    Command("findings-csv", ["findings", "--format", "csv"], 3),
    Command("findings-ocsf", ["findings", "--format", "ocsf"], 3),
    Command("findings-asff", ["findings", "--format", "asff"], 3),
    Command("changes", ["changes"], 2),
    Command("trends", ["trends"], 2),
    Command("report", ["report", "--out", "OUT"], 5, goal_bytes=10 * MB, writes_file=True),
    Command("query", ["query", VIEW_QUERY, "--format", "csv"], None),
)


@dataclass(frozen=True)
class Measured:
    command: Command
    runs: list[Exited]
    written: int  # bytes of the output of the last run
    load_before: str
    load_after: str

    @property
    def failed(self) -> Exited | None:
        return next((run for run in self.runs if not run.timed_out and run.code != 0), None)

    @property
    def timed_out(self) -> bool:
        return any(run.timed_out for run in self.runs)

    @property
    def median(self) -> float:
        return statistics.median(run.seconds for run in self.runs)

    @property
    def cpu(self) -> float:
        return statistics.median(run.cpu for run in self.runs)


def run(command: Command, store: str, repeat: int, timeout: float, folder: Path) -> Measured:
    """`repeat` runs of one command (fewer if one fails or times out: the next would too)."""
    out = folder / f"{command.name}.out"
    written_to = folder / f"{command.name}.html" if command.writes_file else out
    arguments = [str(written_to) if a == "OUT" else a for a in command.arguments]
    load_before = load_average()
    runs: list[Exited] = []
    for _ in range(repeat):
        written_to.unlink(missing_ok=True)
        exited = run_to_exit(
            [credsight_command(), *arguments, "--store", store], out, timeout, cwd=folder, env=quiet_environment()
        )
        runs.append(exited)
        if exited.code != 0:
            break
    written = written_to.stat().st_size if written_to.exists() else 0
    return Measured(command, runs, written, load_before, load_average())


def goal_text(command: Command) -> str:
    parts = ([f"<= {command.goal_seconds:g} s"] if command.goal_seconds is not None else []) + (
        [f"<= {command.goal_bytes / MB:g} MB"] if command.goal_bytes is not None else []
    )
    return ", ".join(parts) or "-"


def outcome(measured: Measured, timeout: float) -> tuple[str, str]:
    """The time as shown, and whether the goal is met."""
    command = measured.command
    if measured.timed_out:
        return f"timed out at {timeout:g} s", "NOT met" if command.goal_seconds is not None else "-"
    if measured.failed is not None:
        return f"failed (exit {measured.failed.code}): {measured.failed.said}", "-"
    seconds = measured.median
    checks = ([seconds <= command.goal_seconds] if command.goal_seconds is not None else []) + (
        [measured.written <= command.goal_bytes] if command.goal_bytes is not None else []
    )
    runs = measured.runs
    shown = f"{seconds:.2f} s" + (f" ({max(r.seconds for r in runs):.2f})" if len(runs) > 1 else "")
    return shown, verdict(all(checks)) if checks else "-"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--accounts", type=int, default=1000)
    parser.add_argument("--users", type=int, default=100)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--repeat", type=int, default=3, help="runs of each command")
    parser.add_argument("--only", help="these commands only, comma separated: " + ", ".join(c.name for c in COMMANDS))
    parser.add_argument("--timeout", type=float, default=600, help="seconds allowed to each run of a command")
    args = parser.parse_args()
    chosen: tuple[Command, ...] = COMMANDS
    if args.only:
        names = [n.strip() for n in args.only.split(",") if n.strip()]
        unknown = [n for n in names if n not in {c.name for c in COMMANDS}]
        if unknown:
            parser.error(f"no command {unknown[0]!r}; the commands are: {', '.join(c.name for c in COMMANDS)}")
        chosen = tuple(c for c in COMMANDS if c.name in names)
    store = demo_store(args.accounts, args.days, users=args.users)
    built = (Path(store.root) / "built").read_text().strip()
    with tempfile.TemporaryDirectory(prefix="credsight-bench-commands-") as folder:
        measured = [run(command, store.url, args.repeat, args.timeout, Path(folder)) for command in chosen]
    only = f" --only {args.only}" if args.only else ""
    print(f"## Commands (issue 11: {args.accounts:,} accounts x {args.users} users x {args.days} days)\n")
    print(
        f"`python -m bench.commands --accounts {args.accounts} --users {args.users} --days {args.days} "
        f"--repeat {args.repeat}{only}` on {machine()} (store built once in {built}).\n"
    )
    print(
        "Each command as a person runs it (the installed `credsight`, its defaults, in an empty folder), its output "
        f"written to a file, timed from process start to exit: median (and slowest) of {args.repeat} runs, and the "
        "median CPU time it used (user and system), which other work on the machine does not inflate as much. The "
        "load average (1 / 5 / 15 min) is read before the first run and after the last: the machine is shared.\n"
    )
    print("| command | time | CPU | output | load before | load after | goal | met |")
    print("|---|---:|---:|---:|---|---|---|---|")
    for m in measured:
        shown, met = outcome(m, args.timeout)
        print(
            f"| `{m.command.shown()}` | {shown} | {m.cpu:.2f} s | {size_text(m.written)} | {m.load_before} | "
            f"{m.load_after} | {goal_text(m.command)} | {met} |"
        )
    print()
    failed = [m for m in measured if m.failed is not None]
    if failed:
        print(f"{', '.join(m.command.name for m in failed)} failed: see the table", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
