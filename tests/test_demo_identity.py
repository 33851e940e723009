"""The demo's Identity Center story: pinned by a digest, told as the issue tells it, and leaving the demo's credential
reports as they were (tests/test_demo_digest.py pins those)."""

from __future__ import annotations

import datetime as dt
import hashlib
import itertools
from pathlib import Path

import pytest

from credsight.demo import DemoOrganization
from credsight.demo.identity import WAVE_DAYS, WAVES, DemoIdentityCenter, cast_of
from credsight.demo.store import build_demo_store
from credsight.query import Database
from credsight.rules.matching import PeopleSettings
from credsight.rules.people import People, mapping_lines, open_people
from credsight.store import Store
from credsight.store.files import PEOPLE_MAPPING

# A change to this digest is a change to the demo's Identity Center story (who exists when, their groups and
# access, the mapping file). Update it deliberately, and say so in the commit.
IDENTITY_DIGEST = "92b0f3e47bf500d4f16c1e72da235806a2e1e8e6caa90e55ccbd817938e68192"


def test_the_identity_center_of_the_default_demo_is_pinned() -> None:
    center = DemoIdentityCenter(cast_of(DemoOrganization(accounts=25, days=180, seed=0)))
    h, days = hashlib.sha256(), 0
    for snapshot in center.snapshots():
        framing = f"{snapshot.snapshot_date} {snapshot.collected_at.isoformat()} {snapshot.instance_arn} "
        h.update(f"{framing}{snapshot.identity_store_id}\n".encode())
        for table in snapshot.tables().values():
            for row in sorted(map(repr, table.to_pylist())):
                h.update(row.encode())
        days += 1
    h.update(center.mapping_csv().encode())
    assert days == 180
    assert h.hexdigest() == IDENTITY_DIGEST, "the demo's Identity Center story changed: update IDENTITY_DIGEST"


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Store, DemoIdentityCenter]:
    store = Store(str(tmp_path_factory.mktemp("demo") / "store"))
    organization = DemoOrganization(accounts=12, days=120, seed=0)
    build_demo_store(store, organization)
    return store, DemoIdentityCenter(cast_of(organization))


def opened(store: Store) -> tuple[Database, People]:
    settings = PeopleSettings()
    lines, source = mapping_lines(store, settings)
    database = Database(store)
    return database, open_people(database, settings, lines, source)


def test_people_are_created_ou_by_ou_and_access_comes_in_weekly_waves(demo: tuple[Store, DemoIdentityCenter]) -> None:
    store, center = demo
    first_seen: dict[str, int] = {}
    for person in center.people:
        first_seen[person.ous[0]] = min(first_seen.get(person.ous[0], 10**9), person.created)
    waves = [first_seen[ou] for ou in WAVES if ou in first_seen]
    assert len(waves) >= 4 and waves == sorted(waves) and len(set(waves)) == len(waves)
    assert center.assigned and all(when % WAVE_DAYS == 0 for when in center.assigned.values())
    with Database(store) as database:
        counted = database.sql(
            "SELECT snapshot_date, users, assignments FROM identity_snapshots ORDER BY snapshot_date"
        ).rows
    assert len(counted) == 120 and counted[0]["users"] < counted[-1]["users"]  # people arrive over the period
    grew = [b["assignments"] - a["assignments"] for a, b in itertools.pairwise(counted)]
    assert {n for n in grew if n} and all(n >= 0 for n in grew)  # access only ever added, a wave at a time
    assert sum(1 for n in grew if n) < len(grew) / 3


def test_the_story_has_dual_use_removals_the_unmatched_and_one_ambiguous_pair(
    demo: tuple[Store, DemoIdentityCenter],
) -> None:
    store, center = demo
    database, people = opened(store)
    with database:
        burn = people.burn_down()
        end = people.states()
    totals: dict[tuple[dt.date, str], int] = {}
    for row in burn.to_pylist():
        totals[row["snapshot_date"], row["state"]] = totals.get((row["snapshot_date"], row["state"]), 0) + row["users"]
    days = sorted({d for d, _ in totals})
    assert max(totals[d, "dual_use"] for d in days) > 0
    assert totals[days[-1], "removed"] > 0 and totals[days[0], "removed"] == 0
    assert totals[days[-1], "ready_to_remove"] > 0
    assert totals[days[0], "no_sso_user"] > totals[days[-1], "no_sso_user"] > 0  # some never matched
    states = end.to_pylist()
    ambiguous = {r["user"] for r in states if r["state"] == "ambiguous"}
    assert ambiguous == {center.ambiguous}
    assert {tuple(r["candidates"]) for r in states if r["state"] == "ambiguous"} == {
        (f"{center.ambiguous}@example.com", f"{center.ambiguous}@partner.example")
    }
    mapped = {r["user"] for r in states if r["matched_by"] == "mapping"}
    assert mapped and mapped <= {p.iam_name for p in center.renamed[:2]}
    unmapped = center.renamed[2].iam_name  # renamed, and not in the mapping file: no rule can tell
    assert {r["state"] for r in states if r["user"] == unmapped} <= {"no_sso_user"}
    assert {r["matched_by"] for r in states} >= {"user_name", "email_local_part", "mapping", None}


def test_the_demo_writes_its_mapping_file_and_identity_in_few_files(demo: tuple[Store, DemoIdentityCenter]) -> None:
    store, center = demo
    text = (Path(store.root) / PEOPLE_MAPPING).read_text()
    assert text == center.mapping_csv()
    assert text.splitlines()[0] == "account_id,user,identity_center_user"
    assert text.splitlines()[1].startswith("*,")  # an example of a glob
    parts = store.identity_parts()
    assert len(parts["identity_snapshots"]) == len({p.path.rsplit("/", 2)[-2] for p in parts["identity_users"]})
    assert len(parts["identity_users"]) <= 5  # one part per month of the period, not one per day
