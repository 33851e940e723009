"""What makes a page's first draw quick: each page's newest view drawn before anyone asks (warm.py), the
page's HTML naming the scripts its parts will load, and long dropdowns given the choices matching what is
typed (filters.matching_choices), not every account or person."""

from __future__ import annotations

import datetime as dt
import queue
import re
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from credsight.present.dashboard.app import create_app, draw_newest, drawn_part
from credsight.present.dashboard.filters import CHOICES_SHOWN, matching_choices
from credsight.present.dashboard.pages import changes, compliance, health, overview
from credsight.present.dashboard.parts import Table, mark
from credsight.present.dashboard.view import StoreView
from credsight.present.dashboard.warm import keep_warm
from credsight.store import Store
from credsight.store.runs import Run, Snapshot
from tests.conftest import ACCOUNT, report, user_row

PAGES = [overview.page(), compliance.page(), changes.page(), health.page()]


def collect(store: Store, day: dt.date, *users: str) -> None:
    Run(store).write([Snapshot(report(*(user_row(u) for u in users)), f"{day}.csv", day, ACCOUNT)])


def test_every_part_of_every_page_is_drawn_for_its_newest_view(tmp_path: Path) -> None:
    store = Store(str(tmp_path / "store"))
    collect(store, dt.date(2026, 11, 1), "alice")
    view = StoreView(store, freshness=3600)
    draw_newest(view, PAGES)
    state = view.state()
    for page in PAGES:
        for part in page.parts:
            key = (state, (part.id, mark(page.path, "")))
            assert key in (view.tables if isinstance(part, Table) else view.answers)._found, (page.path, part.id)
    heading = next(p for p in PAGES[0].parts if p.id == "overview-heading")
    computed: list[object] = []
    view.answers.get((state, ("overview-heading", "/")), lambda: computed.append(1))
    assert not computed  # a request for it is answered from what the warm-up drew
    assert "2026-11-01" in str(drawn_part(view, PAGES[0], heading, ""))  # type: ignore[arg-type]


@contextmanager
def warming(tmp_path: Path, draw: Callable[[StoreView], None]) -> Iterator[tuple[Store, queue.Queue[str]]]:
    """A store of one snapshot kept warm by `draw` (looked at every 50 ms); what the warm-up says, in order."""
    store = Store(str(tmp_path / "store"))
    collect(store, dt.date(2026, 11, 1), "alice")
    view = StoreView(store, freshness=0)
    said: queue.Queue[str] = queue.Queue()
    stop = threading.Event()
    keep_warm(view, lambda: draw(view), said.put, every=0.05, stop=stop)
    try:
        yield store, said
    finally:
        stop.set()


def test_the_newest_views_are_drawn_again_when_the_store_changes(tmp_path: Path) -> None:
    drawn: list[object] = []
    with warming(tmp_path, lambda view: drawn.append(view.state())) as (store, said):
        assert "newest view drawn in" in said.get(timeout=30)
        collect(store, dt.date(2026, 11, 2), "alice", "bob")
        assert "newest view drawn in" in said.get(timeout=30)
        threading.Event().wait(0.3)  # several looks at an unchanged store: nothing drawn again
        assert said.empty() and len(drawn) == 2 and drawn[0] != drawn[1]


def test_a_store_that_cannot_be_read_is_said_in_one_line_and_tried_again(tmp_path: Path) -> None:
    tries: list[int] = []

    def draw(_view: StoreView) -> None:
        tries.append(1)
        if len(tries) == 1:
            raise OSError("the store is unreachable")

    with warming(tmp_path, draw) as (_store, said):
        first = said.get(timeout=30)
        assert first.startswith("could not draw the newest views (the store is unreachable)") and "\n" not in first
        assert "newest view drawn in" in said.get(timeout=30)


CHOICES = [{"label": f"{n:012d} team-{n % 7}", "value": f"{n:012d}"} for n in range(1, 251)]


def test_the_account_filter_lists_the_accounts_that_match_what_is_typed() -> None:
    assert matching_choices(CHOICES, None, None) == CHOICES[:CHOICES_SHOWN]  # nothing typed: the first ones
    found = matching_choices(CHOICES, None, "000000000200")
    assert [c["value"] for c in found] == ["000000000200"]  # beyond the first CHOICES_SHOWN
    # Every word, any case, in the id or the name: 19 and 190-199 hold the first word, 192 and 199 are team-3.
    by_name = matching_choices(CHOICES, None, "TEAM-3  00000000019")
    assert [c["value"] for c in by_name] == ["000000000192", "000000000199"]
    assert matching_choices(CHOICES, None, "nobody") == []


def test_the_accounts_chosen_stay_among_the_choices_whatever_is_typed() -> None:
    chosen = ["000000000240", "000000000003"]
    found = matching_choices(CHOICES, chosen, "team-1")
    assert [c["value"] for c in found[:2]] == ["000000000003", "000000000240"]  # in the choices' order
    assert len(found) == 2 + sum(1 for c in CHOICES if "team-1" in c["label"] and c["value"] not in chosen)
    assert len(matching_choices(CHOICES, chosen, None)) == 2 + CHOICES_SHOWN


def test_each_page_names_the_scripts_its_parts_will_load(tmp_path: Path) -> None:
    store = Store(str(tmp_path / "store"))
    collect(store, dt.date(2026, 11, 1), "alice")
    client = create_app(store).server.test_client()

    def preloaded(path: str) -> set[str]:
        page = client.get(path).get_data(as_text=True)
        return {name.rsplit("/", 1)[-1] for name in re.findall(r'<link rel="preload" as="script" href="([^"]+)"', page)}

    filters = {"async-dropdown.js", "async-datepicker.js"}
    figures = {"async-graph.js", "plotly-cartesian.min.js"}
    assert preloaded("/regions") == filters | figures | {"async-community.js"}  # a figure and tables
    assert preloaded("/") == filters | figures  # figures, no table
    assert preloaded("/health") == filters | {"async-community.js"}  # a table, no figure
    assert preloaded("/users") == filters  # neither, until a user is picked
    for name in sorted(filters | figures | {"async-community.js"}):  # each is served where the link says
        [href] = {
            h for h in re.findall(r'href="([^"]+)"', client.get("/regions").get_data(as_text=True)) if h.endswith(name)
        }
        assert client.get(href).status_code == 200, href
