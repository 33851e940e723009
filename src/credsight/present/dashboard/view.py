"""The store as the dashboard sees it: one Database per state of the store, shared by every request
thread (each thread asks on its own DuckDB cursor), and bounded caches of the answers drawn for it.

Data only changes when parts are written, so an answer computed once for a state of the store is the
same answer again; a new run, ingest or compaction changes the state (a listing of the store's files,
looked at no more than every `freshness` seconds, so that an S3 store is not listed on every click).
A Database that a newer state replaced is closed once the last request using it has finished.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, TypeVar

from credsight.query import Database
from credsight.store import Store

T = TypeVar("T")
CACHED_ANSWERS = 512  # figures, cards and small tables, per state of the store
CACHED_TABLES = 24  # the rows behind the paged tables (each up to tens of thousands of rows)


@dataclass
class _Opened:
    database: Database
    state: Hashable
    users: int = 0
    retired: bool = False


class Answers:
    """A bounded least-recently-used cache, safe across threads; one computation per key at a time."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._lock = threading.Lock()
        self._found: OrderedDict[Hashable, Any] = OrderedDict()
        self._computing: dict[Hashable, threading.Lock] = {}

    def get(self, key: Hashable, compute: Callable[[], T]) -> T:
        with self._lock:
            if key in self._found:
                self._found.move_to_end(key)
                return self._found[key]  # type: ignore[no-any-return]
            guard = self._computing.setdefault(key, threading.Lock())
        with guard:  # two requests for the same answer: the second waits for the first's
            with self._lock:
                if key in self._found:
                    return self._found[key]  # type: ignore[no-any-return]
            value = compute()
            with self._lock:
                self._found[key] = value
                self._computing.pop(key, None)
                while len(self._found) > self.size:
                    self._found.popitem(last=False)
            return value

    def clear(self) -> None:
        with self._lock:
            self._found.clear()


@dataclass
class StoreView:
    """Hands out the store's Database for its current state, to any number of threads at once."""

    store: Store
    freshness: float = 2.0  # seconds between two looks at the store's files
    answers: Answers = field(default_factory=lambda: Answers(CACHED_ANSWERS))
    tables: Answers = field(default_factory=lambda: Answers(CACHED_TABLES))

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._current: _Opened | None = None
        self._looked = 0.0

    def _state(self) -> Hashable:
        return self.store.fingerprint()  # one listing: no footer read, no second listing

    @contextmanager
    def open(self) -> Iterator[Database]:
        """The Database of the store's current state, for the length of one request."""
        with self._opened() as opened:
            yield opened.database

    @contextmanager
    def _opened(self) -> Iterator[_Opened]:
        with self._lock:
            now = time.monotonic()
            current = self._current
            if current is None or now - self._looked >= self.freshness:
                self._looked = now
                state = self._state()
                if current is None or state != current.state:
                    if current is not None:
                        current.retired = True
                        if current.users == 0:
                            current.database.close()
                    current = self._current = _Opened(Database(self.store), state)
                    self.answers.clear()
                    self.tables.clear()
            current.users += 1
        try:
            yield current
        finally:
            with self._lock:
                current.users -= 1
                if current.retired and current.users == 0:
                    current.database.close()

    def state(self) -> Hashable:
        """The store's current state (looked at no more than every `freshness` seconds)."""
        with self._opened() as opened:
            return opened.state

    def answer(self, key: Hashable, compute: Callable[[Database], T]) -> T:
        """An answer for the store's current state, computed once (and kept, bounded)."""
        with self._opened() as opened:
            return self.answers.get((opened.state, key), lambda: compute(opened.database))

    def table(self, key: Hashable, compute: Callable[[Database], T]) -> T:
        """The rows behind a paged table, computed once per state and filters (and kept, bounded)."""
        with self._opened() as opened:
            return self.tables.get((opened.state, key), lambda: compute(opened.database))
