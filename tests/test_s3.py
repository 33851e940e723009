"""The store on S3 and the QuickSight pattern's bucket, against moto's server on 127.0.0.1."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys

import boto3
import pytest

from credsight.errors import StoreError
from credsight.query import Database
from credsight.sources.files import ingest
from credsight.store import Store
from credsight.store.compaction import compact
from credsight.store.runs import Run, Snapshot
from tests.conftest import ACCOUNT, DAY, report, user_row
from tests.test_store import export

OTHER = "109876543210"


def pattern_bucket(endpoint: str, bucket: str, prefix: str = "credential-reports") -> dict[tuple[str, dt.date], bytes]:
    """Upload reports in the pattern's layout: YYYY-MM-DD/<account>/credentialReport_<account>.csv."""
    s3 = boto3.client("s3", endpoint_url=endpoint)
    written = {}
    for offset in range(3):
        day = DAY + dt.timedelta(days=offset)
        for account in (ACCOUNT, OTHER):
            content = report(user_row(f"user{offset}", account=account), account=account)
            key = f"{prefix}/{day.isoformat()}/{account}/credentialReport_{account}.csv"
            s3.put_object(Bucket=bucket, Key=key, Body=content)
            written[(account, day)] = content
    return written


def test_s3_store_round_trip(moto_endpoint: str, bucket: str) -> None:
    store = Store(f"s3://{bucket}/store", endpoint_url=moto_endpoint)
    content = report(user_row("alice"), user_row("bob"))
    Run(store).write([Snapshot(content, "r.csv", DAY, ACCOUNT)])
    with Database(store) as database:
        assert database.sql("select count(*) as n from reports").rows == [{"n": 3}]
        assert database.sql("select users from daily").rows == [{"users": 2}]
    assert export(store, ACCOUNT, DAY) == content


def test_s3_store_writes_no_directory_markers(moto_endpoint: str, bucket: str) -> None:
    store = Store(f"s3://{bucket}/store", endpoint_url=moto_endpoint)
    Run(store).write([Snapshot(report(user_row("alice")), "r.csv", DAY, ACCOUNT)])
    keys = [o["Key"] for o in boto3.client("s3", endpoint_url=moto_endpoint).list_objects_v2(Bucket=bucket)["Contents"]]
    assert keys and not [k for k in keys if k.endswith("/")]
    assert all(k.startswith("store/") for k in keys)
    assert any(k.startswith("store/reports/snapshot_month=2026-11/part-") for k in keys)


def test_pattern_bucket_imports_into_an_s3_store(moto_endpoint: str, bucket: str) -> None:
    written = pattern_bucket(moto_endpoint, bucket)
    store = Store(f"s3://{bucket}/store", endpoint_url=moto_endpoint)
    summary = ingest(store, [f"s3://{bucket}/credential-reports"], endpoint_url=moto_endpoint)
    assert (summary.reports, summary.rows, summary.skipped) == (6, 12, 0)
    with Database(store) as database:
        per_day = database.sql("select snapshot_date, count(*) as n from daily group by all order by all").rows
    assert per_day == [{"snapshot_date": DAY + dt.timedelta(days=i), "n": 2} for i in range(3)]
    for (account, day), content in written.items():
        assert export(store, account, day) == content
    again = ingest(store, [f"s3://{bucket}/credential-reports"], endpoint_url=moto_endpoint)
    assert (again.reports, again.skipped) == (0, 6)


def test_pattern_bucket_imports_into_a_local_store(moto_endpoint: str, bucket: str, store: Store) -> None:
    pattern_bucket(moto_endpoint, bucket, prefix="old")
    summary = ingest(store, [f"s3://{bucket}/old/2026-11-02"], endpoint_url=moto_endpoint)
    assert summary.reports == 2
    with Database(store) as database:
        assert database.sql("select distinct snapshot_date from reports").rows == [
            {"snapshot_date": DAY + dt.timedelta(1)}
        ]


def test_an_unreachable_s3_store_is_a_clear_error() -> None:
    store = Store("s3://no-such-bucket/x", endpoint_url="http://127.0.0.1:9")
    with pytest.raises(StoreError, match="cannot reach the store at s3://no-such-bucket/x"):
        store.check_reachable()


def test_a_missing_bucket_is_a_clear_error(moto_endpoint: str) -> None:
    store = Store("s3://credsight-missing-bucket/x", endpoint_url=moto_endpoint)
    with pytest.raises(StoreError):
        Run(store).write([Snapshot(report(user_row("alice")), "r.csv", DAY, ACCOUNT)])


def test_compact_on_s3_changes_no_view(moto_endpoint: str, bucket: str) -> None:
    store = Store(f"s3://{bucket}/store", endpoint_url=moto_endpoint)
    for offset in range(3):
        day = DAY + dt.timedelta(days=offset)
        Run(store).write([Snapshot(report(user_row(f"u{offset}")), "r.csv", day, ACCOUNT)])
    with Database(store) as database:
        before = database.sql("select * from reports order by all").rows
    assert compact(store) == 9
    assert len(store.live_parts()["reports"]) == 1
    with Database(store) as database:
        assert database.sql("select * from reports order by all").rows == before
    assert export(store, ACCOUNT, DAY + dt.timedelta(days=2)) == report(user_row("u2"))


def test_cli_ingests_the_pattern_bucket_into_an_s3_store_and_queries_it(moto_endpoint: str, bucket: str) -> None:
    pattern_bucket(moto_endpoint, bucket)
    env = {**os.environ, "AWS_ENDPOINT_URL": moto_endpoint, "CREDSIGHT_STORE": f"s3://{bucket}/store"}
    command = [sys.executable, "-m", "credsight.cli"]
    ingested = subprocess.run(
        [*command, "ingest", f"s3://{bucket}/credential-reports"], env=env, capture_output=True, text=True
    )
    assert ingested.returncode == 0, ingested.stderr
    assert "ingested 6 reports (12 rows)" in ingested.stdout
    sql = "select account_id, count(*) as reports from daily group by 1 order by 1"
    queried = subprocess.run([*command, "query", sql, "--format", "json"], env=env, capture_output=True, text=True)
    assert queried.returncode == 0, queried.stderr
    assert json.loads(queried.stdout) == [{"account_id": ACCOUNT, "reports": 3}, {"account_id": OTHER, "reports": 3}]


def test_summaries_on_s3_give_the_answers_of_the_rows(moto_endpoint: str, bucket: str) -> None:
    """Summaries written by compact are read back from S3 with their own columns."""
    from credsight.demo import DemoOrganization
    from credsight.demo.store import build_demo_store
    from credsight.query.maintenance import summarise
    from credsight.rules.changes import changes
    from credsight.rules.findings import evaluate
    from credsight.rules.summaries import SUMMARY_KINDS

    store = Store(f"s3://{bucket}/store", endpoint_url=moto_endpoint)
    build_demo_store(store, DemoOrganization(accounts=2, days=40, seed=2, end=dt.date(2026, 11, 23)))
    compact(store)
    assert summarise(store, SUMMARY_KINDS) >= 4  # two kinds, two months at least
    since = dt.date(2026, 10, 1)
    with Database(store) as database:
        answers = [
            (
                evaluate(database, use_summaries=use).findings.to_pylist(),
                changes(database, since, use_summaries=use).to_pylist(),
            )
            for use in (True, False)
        ]
    assert answers[0][0] and answers[0][1]
    assert answers[0] == answers[1]
