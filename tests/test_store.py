"""The store: round trips, append-only runs, whole-or-nothing files, compaction, path safety."""

from __future__ import annotations

import csv
import datetime as dt
import io
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from credsight.errors import ReportError, StoreError
from credsight.query.database import Database, original_report
from credsight.report.model import COLUMNS, CURRENT_HEADER, MARKERS, OLD_HEADER, Kind
from credsight.store import Store, check_run_id
from credsight.store.compaction import compact
from credsight.store.runs import Failure, Run, Snapshot
from tests.conftest import ACCOUNT, DAY, report, user_row


def export(store: Store, account: str, day: dt.date) -> bytes:
    with Database(store) as database:
        content = original_report(database, account, day)
    assert content is not None
    return content


def count(store: Store, sql: str) -> int:
    with Database(store) as database:
        return int(database.sql(sql).rows[0]["n"])


# -- byte-for-byte round trip, for any report ------------------------------------------------

# IAM user names allow letters, digits and +=,.@_- (a comma makes the CSV quote the field).
names = st.from_regex(r"[A-Za-z0-9+=,.@_-]{1,24}", fullmatch=True)
moments = st.datetimes(min_value=dt.datetime(2010, 1, 1), max_value=dt.datetime(2030, 1, 1)).map(
    lambda d: d.replace(microsecond=0, tzinfo=dt.UTC)
)
# AWS writes +00:00; other offsets and Z parse too and must come back exactly as written.
time_formats = st.sampled_from(["%Y-%m-%dT%H:%M:%S+00:00", "%Y-%m-%dT%H:%M:%SZ", "%Y-%m-%dT%H:%M:%S+02:00"])
time_text = st.one_of(st.sampled_from(MARKERS), st.builds(lambda d, f: d.strftime(f), moments, time_formats))
bool_text = st.sampled_from(["true", "false", *MARKERS])
text_text = st.one_of(st.sampled_from(MARKERS), st.sampled_from(["us-east-1", "eu-west-1", "s3", "sts", "iam"]))
extra_text = st.from_regex(r"[a-z0-9=;: ]{0,12}", fullmatch=True)


@st.composite
def user_rows(draw: st.DrawFn, extra: int) -> list[str]:
    name = draw(names)
    row = [name, f"arn:aws:iam::{ACCOUNT}:user/{name}"]
    strategies = {Kind.TIME: time_text, Kind.BOOL: bool_text, Kind.TEXT: text_text}
    row += [draw(strategies[COLUMNS[column]]) for column in CURRENT_HEADER[2:]]
    return row + [draw(extra_text) for _ in range(extra)]


@st.composite
def reports(draw: st.DrawFn) -> bytes:
    """Any report: old or new header, extra columns, BOM, line endings, quoted fields."""
    old, extra = draw(st.booleans()), draw(st.integers(0, 2))
    header = list(OLD_HEADER if old else CURRENT_HEADER) + [f"extra_{i}" for i in range(extra)]
    keep = [i for i, name in enumerate(CURRENT_HEADER) if name in header] + list(range(22, 22 + extra))
    rows = draw(st.lists(user_rows(extra), max_size=8, unique_by=lambda r: r[0]))
    buffer = io.StringIO()
    eol = draw(st.sampled_from(["\n", "\r\n"]))
    writer = csv.writer(buffer, lineterminator=eol)
    writer.writerow(header)
    writer.writerows([[row[i] for i in keep] for row in rows])
    text = buffer.getvalue()
    if not draw(st.booleans()):
        text = text[: -len(eol)]
    return (("\ufeff" if draw(st.booleans()) else "") + text).encode()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(content=reports())
def test_any_report_survives_parse_store_export_byte_for_byte(tmp_path: Path, content: bytes) -> None:
    store = Store(str(tmp_path / f"s{abs(hash(content))}"))
    Run(store).write([Snapshot(content, "generated.csv", DAY, ACCOUNT)])
    assert export(store, ACCOUNT, DAY) == content


def test_report_with_no_rows_is_kept_as_collected_not_as_missing(store: Store) -> None:
    content = ",".join(CURRENT_HEADER).encode()
    Run(store).write([Snapshot(content, "moto.csv", DAY, ACCOUNT)])
    assert count(store, "select count(*) as n from daily where users = 0") == 1
    assert count(store, "select count(*) as n from runs where status = 'success' and rows = 0") == 1
    assert export(store, ACCOUNT, DAY) == content


# -- append-only runs, latest wins, no doubling ------------------------------------------------


def test_the_same_report_stored_twice_is_not_doubled_in_any_view(store: Store) -> None:
    content = report(user_row("alice"), user_row("bob"))
    for _ in range(2):
        Run(store).write([Snapshot(content, "r.csv", DAY, ACCOUNT)])
    assert count(store, "select count(*) as n from reports") == 3
    assert count(store, "select count(*) as n from latest") == 3
    assert count(store, "select count(*) as n from daily") == 1
    assert count(store, "select count(*) as n from key_use") == 1
    assert count(store, "select count(*) as n from runs") == 2  # both attempts are on record


def test_a_later_run_of_the_same_day_replaces_the_earlier_in_views(store: Store) -> None:
    Run(store).write([Snapshot(report(user_row("alice"), user_row("bob")), "1.csv", DAY, ACCOUNT)])
    Run(store).write([Snapshot(report(user_row("alice")), "2.csv", DAY, ACCOUNT)])
    with Database(store) as database:
        assert [r["user"] for r in database.sql("select user from reports order by user").rows] == [
            "<root_account>",
            "alice",
        ]
        assert database.sql("select users from daily").rows == [{"users": 1}]


def test_latest_is_each_accounts_most_recent_snapshot(store: Store) -> None:
    other = "109876543210"
    Run(store).write(
        [
            Snapshot(report(user_row("old")), "a1.csv", DAY, ACCOUNT),
            Snapshot(report(user_row("new")), "a2.csv", DAY + dt.timedelta(days=1), ACCOUNT),
            Snapshot(report(user_row("b", account=other), account=other), "b.csv", DAY, other),
        ]
    )
    with Database(store) as database:
        latest = database.sql("select account_id, snapshot_date, user from latest where not is_root order by 1").rows
    assert latest == [
        {"account_id": ACCOUNT, "snapshot_date": DAY + dt.timedelta(days=1), "user": "new"},
        {"account_id": other, "snapshot_date": DAY, "user": "b"},
    ]


def test_account_ids_stay_twelve_character_strings(store: Store) -> None:
    Run(store).write([Snapshot(report(user_row("alice")), "r.csv", DAY, ACCOUNT)])
    with Database(store) as database:
        assert database.sql("select distinct account_id from reports").rows == [{"account_id": "012345678901"}]
        assert database.sql("select typeof(account_id) as t from reports limit 1").rows == [{"t": "VARCHAR"}]


def test_two_reports_for_one_account_and_day_in_one_run_are_refused(store: Store) -> None:
    run = Run(store)
    with pytest.raises(ReportError, match="a second report for account 012345678901"):
        run.write([Snapshot(report(), "a.csv", DAY, ACCOUNT), Snapshot(report(user_row("x")), "b.csv", DAY, None)])
    assert store.live_parts()["daily"] == []


# -- whole or nothing --------------------------------------------------------------------------


def die_during(tmp_path: Path, patch: str) -> None:
    """Run a write in a child process that SIGKILLs itself at the patched point."""
    script = textwrap.dedent(
        f"""
        import os, signal, datetime as dt
        import credsight.store as store_module
        from credsight.store.runs import Run, Snapshot
        from tests.conftest import report, user_row
        {patch}
        store = store_module.Store({str(tmp_path / "store")!r})
        Run(store).write([Snapshot(report(user_row("alice")), "r.csv", dt.date(2026, 11, 2), "012345678901")])
        """
    )
    result = subprocess.run([sys.executable, "-c", script], cwd=Path(__file__).parent.parent, check=False)
    assert result.returncode == -9, "the child was meant to be killed mid-write"


def test_a_write_killed_before_its_rename_leaves_no_visible_file(tmp_path: Path) -> None:
    store = Store(str(tmp_path / "store"))
    Run(store).write([Snapshot(report(user_row("bob")), "r.csv", DAY, ACCOUNT)])
    die_during(tmp_path, "os.fsync = lambda fd: os.kill(os.getpid(), signal.SIGKILL)")
    leftovers = [p for p in (tmp_path / "store").rglob("*") if p.is_file() and p.name.startswith(".")]
    assert leftovers, "the temporary file should be there, hidden"
    assert len(store.live_parts()["reports"]) == 1
    assert count(store, "select count(*) as n from reports") == 2


def test_a_batch_killed_before_its_commit_stays_invisible(tmp_path: Path) -> None:
    store = Store(str(tmp_path / "store"))
    Run(store).write([Snapshot(report(user_row("bob")), "r.csv", DAY, ACCOUNT)])
    die_during(
        tmp_path,
        """
original = store_module.Store.write_monthly
def write_monthly(self, table, *args, **kwargs):
    if table == "daily":
        os.kill(os.getpid(), signal.SIGKILL)
    return original(self, table, *args, **kwargs)
store_module.Store.write_monthly = write_monthly
""".replace("\n", "\n        "),
    )
    assert len(list((tmp_path / "store" / "reports").rglob("part-*.parquet"))) == 2  # written, not committed
    assert count(store, "select count(*) as n from reports") == 2
    assert count(store, "select count(*) as n from reports where snapshot_date = '2026-11-02'") == 0


def test_a_failed_run_can_be_discarded_leaving_the_store_as_it_was(store: Store) -> None:
    Run(store).write([Snapshot(report(user_row("bob")), "r.csv", DAY, ACCOUNT)])
    before = sorted(p.path for p in store.live_parts()["reports"])
    run = Run(store)
    run.write([Snapshot(report(user_row("carol")), "c.csv", DAY + dt.timedelta(1), ACCOUNT)])
    run.discard()
    assert sorted(p.path for p in store.live_parts()["reports"]) == before


# -- compaction --------------------------------------------------------------------------------


def fill(store: Store, days: int) -> None:
    for offset in range(days):
        day = DAY + dt.timedelta(days=offset)
        Run(store).write([Snapshot(report(user_row("alice"), user_row(f"u{offset}")), f"{offset}.csv", day, ACCOUNT)])


def snapshot_of_views(store: Store) -> list[object]:
    with Database(store) as database:
        return [
            database.sql(f"select * from {view} order by all").rows  # noqa: S608 (our own view names)
            for view in ("reports", "daily", "key_use", "latest", "accounts")
        ]


def test_compact_merges_a_months_parts_and_changes_no_view(store: Store) -> None:
    fill(store, 5)
    before = snapshot_of_views(store)
    assert len(store.live_parts()["reports"]) == 5
    assert compact(store) == 5 * 3
    assert len(store.live_parts()["reports"]) == 1
    assert len(list(Path(store.root, "reports").rglob("*.parquet"))) == 1
    assert snapshot_of_views(store) == before
    assert export(store, ACCOUNT, DAY) == report(user_row("alice"), user_row("u0"))


def test_a_compaction_cut_short_after_its_commit_changes_no_view(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    fill(store, 3)
    before = snapshot_of_views(store)
    monkeypatch.setattr(store, "delete", lambda path: (_ for _ in ()).throw(StoreError("cut")))
    with pytest.raises(StoreError):
        compact(store)
    assert len(list(Path(store.root, "reports").rglob("*.parquet"))) == 4  # old parts still on disk
    assert snapshot_of_views(store) == before


def test_a_compaction_cut_short_before_its_commit_changes_no_view(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    fill(store, 3)
    before = snapshot_of_views(store)
    original = store.write_table

    def fail_on_daily(directory: str, *args: object, **kwargs: object) -> str:
        if "/daily/" in directory:
            raise OSError("cut")
        return original(directory, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(store, "write_table", fail_on_daily)
    with pytest.raises(OSError):
        compact(store)
    assert snapshot_of_views(store) == before


# -- paths -------------------------------------------------------------------------------------


@pytest.mark.parametrize("run_id", ["../../etc", "20261123T221500123456Z-1a2b3c/..", "", "x" * 23])
def test_malformed_run_ids_are_refused(run_id: str) -> None:
    with pytest.raises(StoreError, match="malformed"):
        check_run_id(run_id)


@pytest.mark.parametrize("component", ["..", ".", "", "a/b", "a\\b"])
def test_store_paths_cannot_leave_the_store(store: Store, component: str) -> None:
    with pytest.raises(StoreError, match="leave the store"):
        store.join("reports", component)


def test_nothing_is_written_outside_the_store(tmp_path: Path) -> None:
    store = Store(str(tmp_path / "store"))
    Run(store).write([Snapshot(report(user_row("alice")), "../../../etc/passwd", DAY, ACCOUNT)])
    written = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert written and all(Path(store.root) in p.parents for p in written)


def test_a_store_that_is_a_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    with pytest.raises(StoreError, match="is a file"):
        Store(str(tmp_path / "file")).check_reachable()
    assert os.path.isfile(tmp_path / "file")


def test_compaction_puts_the_newest_days_in_row_groups_of_their_own(store: Store) -> None:
    # Two months: October's last 3 days and November's first 9.
    start = dt.date(2026, 10, 29)
    for offset in range(12):
        day = start + dt.timedelta(days=offset)
        Run(store).write([Snapshot(report(user_row("alice"), user_row("bob")), f"{offset}.csv", day, ACCOUNT)])
    compact(store)
    files = {p.path.split("/")[-2]: p.path for p in store.live_parts()["reports"]}

    def row_group_dates(path: str) -> list[tuple[object, object]]:
        metadata = pq.read_metadata(path)
        column = metadata.schema.names.index("snapshot_date")
        groups = [metadata.row_group(i).column(column).statistics for i in range(metadata.num_row_groups)]
        return [(g.min, g.max) for g in groups]

    november = row_group_dates(files["snapshot_month=2026-11"])
    newest = start + dt.timedelta(days=11)
    assert november[-7:] == [(newest - dt.timedelta(days=k), newest - dt.timedelta(days=k)) for k in range(6, -1, -1)]
    assert november[0] == (dt.date(2026, 11, 1), dt.date(2026, 11, 2))
    assert row_group_dates(files["snapshot_month=2026-10"]) == [(start, start + dt.timedelta(days=2))]
    with Database(store) as database:
        assert database.sql("select count(*) as n from latest").rows == [{"n": 3}]


def test_a_failed_account_is_recorded_and_never_looks_empty(store: Store) -> None:
    other = "109876543210"
    failure = Failure(other, "access_denied", "not authorized to perform sts:AssumeRole", DAY)
    Run(store).write([Snapshot(report(user_row("alice")), "r.csv", DAY, ACCOUNT)], failures=[failure])
    with Database(store) as database:
        runs = database.sql("select account_id, status, error_class, error_message, rows from runs order by 1").rows
        assert runs == [
            {"account_id": ACCOUNT, "status": "success", "error_class": None, "error_message": None, "rows": 2},
            {
                "account_id": other,
                "status": "failed",
                "error_class": "access_denied",
                "error_message": "not authorized to perform sts:AssumeRole",
                "rows": None,
            },
        ]
        assert database.sql("select account_id from daily").rows == [{"account_id": ACCOUNT}]
        assert database.sql("select count(*) as n from reports where account_id = $a", {"a": other}).rows == [{"n": 0}]


def test_two_compactions_at_once_lose_nothing_and_double_nothing(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    fill(store, 4)
    before = snapshot_of_views(store)
    stale = store.live_parts()  # what a second compaction, started now, lists
    deletions: list[str] = []
    monkeypatch.setattr(store, "delete", deletions.append)  # the first one is cut short before deleting
    compact(store)
    assert snapshot_of_views(store) == before
    monkeypatch.undo()
    monkeypatch.setattr(store, "live_of", lambda scan: stale)
    monkeypatch.setattr(store, "sweep", lambda scan: None)  # it started before the first one committed
    compact(store)  # merges the same four parts again, into a file with another name
    monkeypatch.undo()
    assert snapshot_of_views(store) == before
    compact(store)  # sweeps what no reader sees
    assert snapshot_of_views(store) == before
    assert len(list(Path(store.root, "reports").rglob("*.parquet"))) == 1
    assert export(store, ACCOUNT, DAY) == report(user_row("alice"), user_row("u0"))


def test_a_part_only_the_losing_compaction_merged_stays_visible(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    fill(store, 3)
    stale = store.live_parts()
    monkeypatch.setattr(store, "delete", lambda path: None)
    compact(store)  # the winner: its name sorts first (its newest run is older)
    monkeypatch.undo()
    late = DAY + dt.timedelta(days=3)
    Run(store).write([Snapshot(report(user_row("late")), "late.csv", late, ACCOUNT)])
    newest = store.live_parts()
    both = {
        t: stale[t] + [p for p in newest[t] if p.name not in {q.name for q in stale[t]} and "-c" not in p.name[-19:]]
        for t in stale
    }
    monkeypatch.setattr(store, "live_of", lambda scan: both)
    monkeypatch.setattr(store, "sweep", lambda scan: None)
    compact(store)  # the loser merged the three parts and the late one; it backs out
    monkeypatch.undo()
    with Database(store) as database:
        days = database.sql("select snapshot_date, count(*) as n from reports group by 1 order by 1").rows
    assert days == [{"snapshot_date": DAY + dt.timedelta(days=i), "n": 3 if i < 3 else 2} for i in range(4)]


def test_runs_count_every_row_of_a_report_whatever_its_markers(store: Store) -> None:
    content = report(user_row("alice")).replace(b"not_supported,true,false", b"not_supported,N/A,false", 1)
    Run(store).write([Snapshot(content, "r.csv", DAY, ACCOUNT)])
    with Database(store) as database:
        assert database.sql("select rows from runs").rows == [{"rows": 2}]
        assert database.sql("select root_mfa from daily").rows == [{"root_mfa": None}]
