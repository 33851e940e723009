"""Answers kept beside the store: tables computed from the store as it was when they were written (after a
collection), read back instead of computing them again while the store and what the answer depends on stay
as they were.

Each kind lives under `<store>/derived/<kind>/key=<digest>/`, one Parquet file per table. The digest covers
every file the views read (a file's content never changes under its name: new runs and compaction write new
names) and what else the caller says the answer depends on (settings, the rules' text); a reader whose store
or settings differ finds no files of its key, and computes its answer instead. Writing a kind's files
removes its other keys'; the tables are written in the order given and read only when all are there.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence

import pyarrow as pa
import pyarrow.parquet as pq

from credsight.errors import StoreError
from credsight.query.database import Database
from credsight.store import Store

ROW_GROUP_ROWS = 16_384  # small row groups: a reader decodes them on every core


def kept_key(database: Database, depends_on: Sequence[str], sources: Sequence[str] | None = None) -> str:
    """The digest of the files the views read (or of `sources`, some of database.source_paths()) and of
    `depends_on`."""
    digest = hashlib.sha256()
    for part in (*(database.source_paths() if sources is None else sources), "\1", *depends_on):
        digest.update(part.encode())
        digest.update(b"\0")
    return digest.hexdigest()[:24]


def has_kept(database: Database, kind: str, key: str, names: Sequence[str]) -> bool:
    """Whether every table `names` of a kind and key is kept (a listing; nothing read)."""
    files = database.store.derived_files(kind)
    return all((f"key={key}", f"{name}.parquet") in files for name in names)


def read_kept(database: Database, kind: str, key: str, names: Sequence[str]) -> dict[str, pa.Table] | None:
    """The kept tables of a kind and key, by name, or None when any is missing."""
    store = database.store
    folder = f"key={key}"
    files = store.derived_files(kind)
    if any((folder, f"{name}.parquet") not in files for name in names):
        return None
    return {name: _read(store, files[folder, f"{name}.parquet"]) for name in names}


def write_kept(store: Store, kind: str, key: str, tables: Mapping[str, pa.Table]) -> None:
    """Write the tables of a kind under its key, in order, then remove every other key's files."""
    folder = f"key={key}"
    for name, table in tables.items():
        store.write_derived(kind, folder, f"{name}.parquet", table, row_group_rows=ROW_GROUP_ROWS)
    for (other, _name), path in store.derived_files(kind).items():
        if other != folder:
            store.delete(path)


def _read(store: Store, path: str) -> pa.Table:
    try:
        return pq.read_table(path, filesystem=store.fs)
    except OSError as e:
        raise StoreError(f"cannot read {path}: {e}; check the store location and your permissions") from None
