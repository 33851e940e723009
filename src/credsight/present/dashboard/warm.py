"""Each page's newest view drawn before anyone asks: when the server starts, and again whenever the store
changes (a new run, ingest or compaction), so the first person to open the dashboard in the morning is
answered from memory instead of waiting for the computation.

One thread per server process, looking at the store every `every` seconds (on S3: one listing); the views
it draws are the ones a request would keep (view.StoreView), so a request that arrives while it draws waits
for the same answer rather than computing it twice.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Hashable

from credsight.errors import UserFixable
from credsight.present.dashboard.view import StoreView

LOOK_EVERY = 60.0  # seconds between two looks at the store for a new state


def keep_warm(
    view: StoreView,
    draw: Callable[[], None],
    said: Callable[[str], None],
    every: float = LOOK_EVERY,
    stop: threading.Event | None = None,
) -> threading.Thread:
    """Start the thread that calls `draw()` for each new state of the store, saying how long it took."""
    stopped = stop or threading.Event()

    def run() -> None:
        drawn: Hashable = None
        while not stopped.is_set():
            try:
                state = view.state()
                if state != drawn:
                    started = time.monotonic()
                    draw()
                    drawn = state
                    said(f"each page's newest view drawn in {time.monotonic() - started:.1f} s")
            except (UserFixable, OSError) as e:  # an unreachable store, a bad setting: the requests say it too
                said(f"could not draw the newest views ({e}); trying again in {every:.0f} s")
            stopped.wait(every)

    thread = threading.Thread(target=run, name="credsight-warm-up", daemon=True)
    thread.start()
    return thread
