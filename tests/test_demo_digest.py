"""The demo's story is pinned: a golden digest of a small organisation, and named draws that stay put."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

from credsight.demo import DemoOrganization
from credsight.demo.draws import Draws, named_stream

# A change to these digests is a change to the demo story (who exists, their credentials,
# every byte of every report). Update them deliberately, and say so in the commit.
ACCOUNTS_DIGEST = "0c40afce6784411fe23adb40f467732e924075f8e7304dc813f1470cae9e9713"
REPORTS_DIGEST = "360ece14047353ea1e4d5ffeed6d02f8acebd2ccf4bade59b7e5b8475d946512"


def small_organisation() -> DemoOrganization:
    """The default demo story (seed 0), cut down to 4 accounts and 6 days."""
    return DemoOrganization(accounts=4, days=6, seed=0)


def test_the_accounts_of_the_default_demo_are_pinned() -> None:
    h = hashlib.sha256()
    for a in small_organisation().accounts():
        h.update(f"{a.account_id},{a.name},{a.email},{a.state},{a.ou_path},{a.joined.isoformat()}\n".encode())
    assert h.hexdigest() == ACCOUNTS_DIGEST, "the demo story changed: update ACCOUNTS_DIGEST deliberately"


def test_the_reports_of_the_default_demo_are_pinned() -> None:
    h, reports = hashlib.sha256(), 0
    for day in small_organisation().reports():
        for r in day:
            framing = f"{r.account_id} {r.snapshot_date.isoformat()} {r.generated_time.isoformat()} {len(r.content)}\n"
            h.update(framing.encode())
            h.update(r.content)
            reports += 1
    assert reports == 4 * 6
    assert h.hexdigest() == REPORTS_DIGEST, "the demo story changed: update REPORTS_DIGEST deliberately"


def test_a_named_stream_does_not_depend_on_what_was_drawn_before() -> None:
    alone = named_stream(0, "organisation.home_region").random(8)
    for other in ("organisation.personal_key", "organisation.rotation_cadence", "day.signs_in"):
        named_stream(0, other).random(1000)
    assert np.array_equal(named_stream(0, "organisation.home_region").random(8), alone)


def test_a_new_draw_leaves_the_others_as_they_were() -> None:
    before = Draws(0, "organisation")
    personal, cadence = before("personal_key").random(50), before("rotation_cadence").random(50)
    after = Draws(0, "organisation")  # one more trait, drawn first, and the old ones in another order
    after("a_new_trait").random(50)
    assert np.array_equal(after("rotation_cadence").random(50), cadence)
    assert np.array_equal(after("personal_key").random(50), personal)


@pytest.mark.parametrize(
    "other",
    [
        (1, "organisation", (), "personal_key"),  # another seed
        (0, "organisation", (), "service_key_use"),  # another trait
        (0, "account", (), "personal_key"),  # another part of the story
        (0, "organisation", (3,), "personal_key"),  # the same trait of another account or day
    ],
)
def test_each_seed_part_index_and_name_has_its_own_stream(other: tuple[int, str, tuple[int, ...], str]) -> None:
    seed, part, index, name = other
    base = Draws(0, "organisation")("personal_key").random(20)
    assert not np.array_equal(Draws(seed, part, *index)(name).random(20), base)


def test_a_name_is_drawn_once_per_part() -> None:
    draws = Draws(0, "organisation")
    draws("home_region")
    with pytest.raises(ValueError, match="give the new trait its own name"):
        draws("home_region")


@pytest.mark.parametrize("name", ["", "région", "home\0region"])
def test_a_draw_name_is_printable_ascii(name: str) -> None:
    with pytest.raises(ValueError, match="printable ASCII"):
        named_stream(0, name)
