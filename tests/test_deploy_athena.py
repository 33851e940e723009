"""`credsight athena-ddl`: the tables match the files, and the views give the rows the store's views give.

Athena is not here, so its views run in DuckDB over the same files, laid out as Athena sees them
(partition columns from the folders, no compaction footers): their SQL is plain enough for both.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from credsight.demo import DemoOrganization
from credsight.demo.store import build_demo_store
from credsight.deploy.athena import STORE_TABLES, athena_ddl, glue_columns, glue_type
from credsight.query import Database
from credsight.store import Store
from credsight.store.compaction import compact
from credsight.store.runs import Run, Snapshot
from tests.conftest import report, user_row

VIEWS = ("reports", "daily", "key_use", "accounts", "latest", "runs")


@pytest.fixture(scope="module")
def awkward_store(tmp_path_factory: pytest.TempPathFactory) -> Store:
    """A demo store with a day collected twice, compacted, and a replaced part left behind."""
    store = Store(str(tmp_path_factory.mktemp("athena") / "store"))
    organization = DemoOrganization(accounts=4, days=35, seed=3)
    build_demo_store(store, organization)
    account = organization.accounts()[0].account_id
    newest = organization.days()[-1]
    again = report(user_row("late-user", account=account), account=account)
    Run(store).write([Snapshot(again, "again.csv", newest, account)])  # the newer run of that day wins
    root = Path(store.url)
    before = {p: p.read_bytes() for p in root.glob("daily/*/part-*.parquet")}
    assert compact(store) > 0
    left_behind, content = next(iter(before.items()))  # as if the compaction was cut short before deleting
    left_behind.write_bytes(content)
    return store


def athena_views_in_duckdb(store: Store) -> duckdb.DuckDBPyConnection:
    """The DDL's views over the store's files, read as Athena reads them."""
    connection = duckdb.connect()
    connection.execute("CREATE SCHEMA credsight")
    for table in STORE_TABLES:
        files = f"{store.url}/{table.name}/*/*.parquet"
        hive = "true" if table.monthly else "false"
        source = f"read_parquet('{files}', hive_partitioning = {hive}, union_by_name = true)"
        connection.execute(f"CREATE VIEW credsight.{table.table} AS SELECT * FROM {source}")  # noqa: S608
    for statement in athena_ddl("s3://bucket/store").split(";\n"):
        if statement.strip().startswith("CREATE OR REPLACE VIEW"):
            connection.execute(statement)
    return connection


def rows(connection: Any, sql: str) -> list[tuple[Any, ...]]:
    return sorted_rows(connection.sql(sql).to_arrow_table())


def sorted_rows(table: pa.Table) -> list[tuple[Any, ...]]:
    return sorted((tuple(row.values()) for row in table.to_pylist()), key=repr)


@pytest.mark.parametrize("view", VIEWS)
def test_athena_views_give_the_rows_of_the_store_views(awkward_store: Store, view: str) -> None:
    connection = athena_views_in_duckdb(awkward_store)
    with Database(awkward_store) as database:
        columns = database.sql(f"SELECT * FROM {view} LIMIT 0").columns  # noqa: S608 (names from VIEWS)
        listed = ", ".join(f'"{c}"' for c in columns)
        expected = sorted_rows(database.sql(f"SELECT {listed} FROM {view}").table)  # noqa: S608
    found = rows(connection, f'SELECT {listed} FROM credsight."{view}"')  # noqa: S608
    assert expected, f"the store's {view} view is empty: the comparison would prove nothing"
    assert len(found) == len(expected)
    assert found == expected


def test_the_newer_run_of_a_day_is_the_one_athena_shows(awkward_store: Store) -> None:
    connection = athena_views_in_duckdb(awkward_store)
    users = rows(
        connection,
        """SELECT DISTINCT "user" FROM credsight.latest
           WHERE account_id = (SELECT account_id FROM credsight.latest WHERE "user" = 'late-user')""",
    )
    assert sorted(u for (u,) in users) == ["<root_account>", "late-user"]


def test_declared_columns_are_the_columns_of_the_files(awkward_store: Store) -> None:
    for table in STORE_TABLES:
        written = next(Path(awkward_store.url, table.name).glob("*/*.parquet"))
        schema = pq.read_schema(written)
        assert [(f.name, glue_type(f.type)) for f in schema] == glue_columns(table), table.name


def test_tables_use_partition_projection_not_a_crawler() -> None:
    ddl = athena_ddl("s3://my-bucket/credsight/")
    assert "LOCATION 's3://my-bucket/credsight/reports/'" in ddl
    assert "'storage.location.template' = 's3://my-bucket/credsight/reports/snapshot_month=${snapshot_month}/'" in ddl
    assert "'projection.snapshot_month.range' = '2014-01,NOW'" in ddl
    assert "GROUP BY ALL" not in ddl  # DuckDB's, not Athena's (Trino's GROUP BY ALL needs columns after it)
    assert ddl.count("'projection.enabled' = 'true'") == sum(t.monthly for t in STORE_TABLES)
    assert ddl.count("PARTITIONED BY (`snapshot_month` string)") == sum(t.monthly for t in STORE_TABLES)


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--location", "/tmp/store"], "is not an S3 location"),
        (["--location", "s3://bucket/a'b"], "is not an S3 location"),
        (["--location", "s3://bucket/x", "--database", "Bad-Name"], "--database 'Bad-Name'"),
    ],
)
def test_bad_arguments_are_one_line_errors(arguments: list[str], message: str) -> None:
    credsight = shutil.which("credsight", path=str(Path(sys.executable).parent))
    assert credsight
    done = subprocess.run([credsight, "athena-ddl", *arguments], capture_output=True, text=True, check=False)
    assert done.returncode == 2
    assert message in done.stderr and "Traceback" not in done.stderr
    assert done.stdout == ""
