"""The outcome files of the runs (one row per account attempt, `runs` in the views), and their compaction.

Each batch of a run writes `runs/run_id=<run_id>/outcomes-<seq>.parquet`; a year of daily runs is hundreds
of small files, which every question about collection health would open (on S3, one GET each).
`compact_outcomes` merges them into `runs/compacted/outcomes-c<newest run>-<token>.parquet`, whose metadata
names the files it holds (relative to runs/): readers see the merged file instead of those, so a compaction
cut short, before it removed them, changes nothing. Runs may write meanwhile (their new files are not
touched). Of two compactions that merged some of the same files at once, the one whose name sorts first is
kept; the other is hidden (and removes itself, if it sees that it lost).
"""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass

import pyarrow.parquet as pq

from credsight.store.files import REPLACES_KEY, Store
from credsight.store.schemas import OUTCOME_SCHEMA

COMPACTED = "compacted"  # runs/compacted/: merged outcome files
BATCH_FILE = re.compile(r"run_id=(?P<run_id>[^/]+)/outcomes-(?P<seq>\d{5})\.parquet")
MERGED_FILE = re.compile(rf"{COMPACTED}/outcomes-c[0-9A-Za-z_-]+\.parquet")


@dataclass(frozen=True)
class Outcomes:
    """The outcome files under runs/, by their path relative to it."""

    visible: list[str]  # what readers read: batch files no merged file holds, and the merged files that stand
    hidden: list[str]  # batch files a standing merged file holds, and merged files that lost
    losers: list[str]  # merged files that lost to another merged at the same time
    held: dict[str, list[str]]  # each merged file: the files it holds

    def batches_held(self) -> list[tuple[str, int]]:
        """(run_id, seq) of every batch file a merged file holds (a run's numbers stay taken)."""
        found = []
        for names in self.held.values():
            for name in names:
                if match := BATCH_FILE.fullmatch(name):
                    found.append((match.group("run_id"), int(match.group("seq"))))
        return found


def scan_outcomes(store: Store) -> Outcomes:
    """The outcome files and which a merged file stands for (one listing, and one footer read per merged file)."""
    root = store.join("runs").rstrip("/") + "/"
    names = sorted(i.path.removeprefix(root) for i in store.files_under(store.join("runs")) if i.path.startswith(root))
    batches = [n for n in names if BATCH_FILE.fullmatch(n)]
    merged = [n for n in names if MERGED_FILE.fullmatch(n)]
    held = {name: _holds(store, _path(store, name)) for name in merged}
    kept: list[tuple[str, set[str]]] = []
    losers = []
    for name in merged:
        holds = set(held[name])
        if any(holds & other and earlier not in holds and name not in other for earlier, other in kept):
            losers.append(name)
            continue
        kept.append((name, holds))
    covered = {n for _name, holds in kept for n in holds}
    visible = [n for n in batches if n not in covered] + [n for n, _holds in kept if n not in covered]
    hidden = [n for n in [*batches, *merged] if n in covered or n in losers]
    return Outcomes(visible, hidden, losers, held)


def outcome_paths(store: Store, outcomes: Outcomes) -> list[str]:
    return [_path(store, name) for name in outcomes.visible]


def _path(store: Store, name: str) -> str:
    """The store path of a name relative to runs/ (each component checked: a name never leaves the store)."""
    return store.join("runs", *name.split("/"))


def compact_outcomes(store: Store, min_files: int = 2) -> int:
    """Merge every visible outcome file into one, then remove what no reader sees; how many files were merged."""
    found = scan_outcomes(store)
    _remove(store, found.hidden)
    if len(found.visible) < min_files:
        return 0
    rows = store.read_files(outcome_paths(store, found), OUTCOME_SCHEMA)
    newest = max((m.group("run_id") for n in found.visible if (m := BATCH_FILE.fullmatch(n))), default="merged")
    name = f"outcomes-c{newest}-{secrets.token_hex(4)}.parquet"
    replaces = {REPLACES_KEY: json.dumps(found.visible).encode()}
    written = store.write_table(store.join("runs", COMPACTED), name, rows, replaces)
    if f"{COMPACTED}/{name}" in scan_outcomes(store).losers:  # another merged some of the same files first
        store.delete(written)
        return 0
    _remove(store, found.visible)
    return len(found.visible)


def _holds(store: Store, path: str) -> list[str]:
    with store.fs.open_input_file(path) as handle:
        metadata = pq.read_metadata(handle).metadata or {}
    return [str(name) for name in json.loads(metadata.get(REPLACES_KEY, b"[]"))]


def _remove(store: Store, names: Sequence[str]) -> None:
    for name in names:
        store.delete(_path(store, name))
