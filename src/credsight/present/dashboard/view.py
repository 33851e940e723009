"""The store as the dashboard sees it: one DuckDB connection and a cache of drawn pages per state
of the store. Data only changes when parts are written, so a page drawn once for a state of the
store is drawn the same again; a new run, ingest or compaction changes the state.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterator
from contextlib import contextmanager
from typing import Any

from credsight.query import Database
from credsight.store import Store

CACHED_PAGES = 64


class StoreView:
    """Hands out the store's Database, one request at a time (a DuckDB connection is not shared)."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.lock = threading.Lock()
        self.state: tuple[Any, ...] | None = None
        self.database: Database | None = None
        self.pages: OrderedDict[Hashable, list[Any]] = OrderedDict()

    @contextmanager
    def open(self) -> Iterator[Database]:
        with self.lock:
            state = self.store.fingerprint()  # one listing per request: no footer read, no second listing
            if state != self.state or self.database is None:
                if self.database is not None:
                    self.database.close()
                self.database = Database(self.store)
                self.state = state
                self.pages.clear()
            yield self.database

    def page(self, key: Hashable, draw: Callable[[Database], list[Any]]) -> list[Any]:
        """A drawn page from the cache, or drawn now (and kept) for the store's current state."""
        with self.open() as database:
            if key in self.pages:
                self.pages.move_to_end(key)
                return self.pages[key]
            drawn = draw(database)
            self.pages[key] = drawn
            if len(self.pages) > CACHED_PAGES:
                self.pages.popitem(last=False)
            return drawn
