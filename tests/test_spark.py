"""Spark reads the store as it is: a local Spark session (pyspark on Java 17) runs what
`credsight athena-ddl --dialect spark` prints over a store folder, and its views give exactly the rows
of the store's own DuckDB views.

The store is awkward on purpose (tests/test_deploy_athena.py): a day collected twice, and a part a
compaction replaced left behind, which Spark, reading no compaction footer, sees beside the merged
file. The session is started once for the module (a JVM costs seconds) and stays on loopback.
"""

from __future__ import annotations

import datetime as dt
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from pyspark.sql import SparkSession

from credsight.deploy.athena import STORE_TABLES
from credsight.query import Database
from credsight.store import Store
from tests.test_deploy_athena import VIEWS, awkward_store, statements

__all__ = ["awkward_store"]  # the fixture, shared with the Athena tests


def spark_ddl(store: Store) -> str:
    """What a person runs: `credsight athena-ddl --dialect spark` for the store's folder."""
    credsight = shutil.which("credsight", path=str(Path(sys.executable).parent))
    assert credsight
    command = [credsight, "athena-ddl", "--dialect", "spark", "--location", f"file://{store.root}"]
    return subprocess.run(command, capture_output=True, text=True, check=True).stdout


@pytest.fixture(scope="module")
def spark(awkward_store: Store, tmp_path_factory: pytest.TempPathFactory) -> Iterator[SparkSession]:
    """One local Spark session with the store's tables and views declared, as the DDL says."""
    folder = tmp_path_factory.mktemp("spark")
    session = (
        SparkSession.builder.master("local[1]")
        .appName("credsight-tests")
        .config("spark.driver.host", "127.0.0.1")
        .config("spark.driver.bindAddress", "127.0.0.1")
        .config("spark.ui.enabled", "false")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.shuffle.partitions", "1")
        # A few thousand rows: compiling whole-stage code and re-planning cost more than they save.
        .config("spark.sql.codegen.wholeStage", "false")
        .config("spark.sql.adaptive.enabled", "false")
        .config("spark.sql.warehouse.dir", str(folder / "warehouse"))
        .config("spark.driver.extraJavaOptions", f"-Djava.io.tmpdir={folder}")
        .getOrCreate()
    )
    session.sparkContext.setLogLevel("ERROR")
    for statement in statements(spark_ddl(awkward_store)):
        session.sql(statement.removesuffix(";"))
    yield session
    session.stop()


def normalised(value: Any) -> Any:
    """One value as both engines can hand it back: UTC datetimes, maps as sorted pairs, lists as lists."""
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC)
    if isinstance(value, list):
        return [normalised(v) for v in value]
    if isinstance(value, tuple):
        return tuple(normalised(v) for v in value)
    return value


def rows_of(table: pa.Table) -> list[tuple[Any, ...]]:
    return sorted((tuple(normalised(v) for v in row.values()) for row in table.to_pylist()), key=repr)


@pytest.mark.parametrize("view", VIEWS)
def test_spark_gives_the_rows_of_the_store_views(spark: SparkSession, awkward_store: Store, view: str) -> None:
    with Database(awkward_store) as database:
        columns = database.sql(f"SELECT * FROM {view} LIMIT 0").columns  # noqa: S608 (names from VIEWS)
        listed = ", ".join(f'"{c}"' for c in columns)
        expected = rows_of(database.sql(f"SELECT {listed} FROM {view}").table)  # noqa: S608
    selected = ", ".join(f"`{c}`" for c in columns)
    found = rows_of(spark.sql(f"SELECT {selected} FROM credsight.{view}").toArrow())  # noqa: S608
    assert expected, f"the store's {view} view is empty: the comparison would prove nothing"
    assert len(found) == len(expected)
    assert found == expected


def test_spark_sees_the_left_behind_part_and_its_views_keep_one_copy(spark: SparkSession, awkward_store: Store) -> None:
    """The tables hold the replaced part's rows twice (Spark reads no footer); the views do not."""
    stored = spark.sql("SELECT count(*) AS n FROM credsight.credsight_daily").toArrow()["n"][0].as_py()
    viewed = spark.sql("SELECT count(*) AS n FROM credsight.daily").toArrow()["n"][0].as_py()
    with Database(awkward_store) as database:
        assert database.sql("SELECT count(*) AS n FROM daily").rows == [{"n": viewed}]
    assert stored > viewed


def test_the_month_partitions_are_discovered_from_the_folders(spark: SparkSession, awkward_store: Store) -> None:
    for table in STORE_TABLES:
        months = sorted({p.parent.name for p in Path(awkward_store.root, table.name).glob("*/*.parquet")})
        if not table.monthly:
            continue
        shown = spark.sql(f"SHOW PARTITIONS credsight.{table.table}").toArrow().column(0).to_pylist()
        assert months and sorted(shown) == months, table.name


def test_the_newer_run_of_a_day_is_the_one_spark_shows(spark: SparkSession) -> None:
    users = spark.sql(
        """SELECT DISTINCT `user` FROM credsight.latest
           WHERE account_id = (SELECT account_id FROM credsight.latest WHERE `user` = 'late-user')"""
    ).toArrow()
    assert sorted(users.column(0).to_pylist()) == ["<root_account>", "late-user"]
