"""Start-up: how long `credsight` takes to answer before it does any work (issue 10: under 0.35 s).

    python -m bench.startup [--repeat 21]

Each command is timed from process start to exit, its output to a file, `--repeat` times after one
unmeasured run (the files it reads are then in the page cache, as for a person typing it twice); the
median is reported beside a bare `python -c pass`, the interpreter's own start-up, which no import
layout can beat.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from bench.common import credsight_command, load_average, machine, quiet_environment, run_to_exit, verdict

GOAL_SECONDS = 0.35
TIMEOUT_SECONDS = 60


@dataclass(frozen=True)
class Case:
    label: str
    command: list[str]
    code: int  # the exit code it must end with
    goal: bool  # whether the issue-10 goal applies


def cases() -> list[Case]:
    credsight = credsight_command()
    return [
        Case("`python -c pass` (the interpreter alone)", [sys.executable, "-c", "pass"], 0, goal=False),
        Case("`credsight --help`", [credsight, "--help"], 0, goal=True),
        Case("`credsight findings --bogus` (a usage error)", [credsight, "findings", "--bogus"], 2, goal=True),
    ]


def measure(case: Case, repeat: int, folder: Path) -> list[float]:
    """Seconds of `repeat` runs after one unmeasured; each must end with the case's exit code."""
    seconds = []
    for attempt in range(repeat + 1):
        exited = run_to_exit(case.command, folder / "out", TIMEOUT_SECONDS, cwd=folder, env=quiet_environment())
        if exited.code != case.code:
            raise SystemExit(f"{case.label} ended with {exited.code}, not {case.code}: {exited.said}")
        if attempt:
            seconds.append(exited.seconds)
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=21, help="measured runs of each command")
    args = parser.parse_args()
    load_before = load_average()
    with tempfile.TemporaryDirectory(prefix="credsight-bench-startup-") as folder:
        measured = {case.label: (case, measure(case, args.repeat, Path(folder))) for case in cases()}
    load_after = load_average()
    print("## Start-up (issue 10)\n")
    print(
        f"`python -m bench.startup --repeat {args.repeat}` on {machine()}; load average {load_before} before, "
        f"{load_after} after (1 / 5 / 15 min: the machine is shared).\n"
    )
    print(
        f"Each command from process start to exit, its output to a file; median (and slowest) of {args.repeat} "
        "runs after one unmeasured run.\n"
    )
    print(f"| command | median | slowest | goal: under {GOAL_SECONDS} s |")
    print("|---|---:|---:|---|")
    for label, (case, seconds) in measured.items():
        median = statistics.median(seconds)
        goal = verdict(median < GOAL_SECONDS) if case.goal else "-"
        print(f"| {label} | {median:.3f} s | {max(seconds):.3f} s | {goal} |")
    print()


if __name__ == "__main__":
    main()
