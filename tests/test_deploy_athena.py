"""`credsight athena-ddl`: the tables match the files, the views give the rows the store's views give,
and every statement parses as the engine Athena routes it to reads it.

Athena is not here, so its views run in DuckDB over the same files, laid out as Athena sees them
(partition columns from the folders, no compaction footers): their SQL is plain enough for both.
Its grammar is checked by two independent parsers: sqlglot's Athena dialect (which, like Athena,
sends `CREATE EXTERNAL TABLE` to Hive's grammar and views to Trino's), errors raised, and
sqlfluff's Hive and Trino grammars (its Athena dialect cannot parse `STORED AS PARQUET`, which
Athena's own DDL reference uses, so the tables are checked with its Hive grammar, Athena's DDL engine).
Spark's side is tests/test_spark.py.
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
import sqlglot
from sqlfluff.core import FluffConfig, Linter
from sqlglot import exp
from sqlglot.errors import ErrorLevel, ParseError
from sqlglot.tokens import TokenType

from credsight.demo import DemoOrganization
from credsight.demo.store import build_demo_store
from credsight.deploy.athena import STORE_TABLES, athena_ddl, glue_columns, glue_type, views
from credsight.query import Database
from credsight.store import Store
from credsight.store.compaction import compact
from credsight.store.runs import Run, Snapshot
from credsight.store.schemas import IDENTITY_COMMIT, IDENTITY_TABLES
from tests.conftest import report, user_row

IDENTITY_VIEWS = (IDENTITY_COMMIT, *IDENTITY_TABLES)
VIEWS = ("reports", "daily", "key_use", "accounts", "latest", "runs", *IDENTITY_VIEWS)


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
        (["--location", "file:///tmp/store"], "is not an S3 location"),  # Athena reads S3 only
        (["--location", "/tmp/store", "--dialect", "spark"], "is not a location Spark reads"),
        (["--location", "file:///tmp/it's", "--dialect", "spark"], "is not a location Spark reads"),
        (["--location", "s3://bucket/x", "--dialect", "presto"], "'presto' is not one of 'athena', 'spark'"),
    ],
)
def test_bad_arguments_are_one_line_errors(arguments: list[str], message: str) -> None:
    credsight = shutil.which("credsight", path=str(Path(sys.executable).parent))
    assert credsight
    done = subprocess.run([credsight, "athena-ddl", *arguments], capture_output=True, text=True, check=False)
    assert done.returncode == 2
    assert message in done.stderr and "Traceback" not in done.stderr
    assert done.stdout == ""


# -- the grammar ---------------------------------------------------------------------------------


def statements(ddl: str) -> list[str]:
    """Each statement of the DDL as a person pastes it into Athena's editor: one at a time."""
    return [f"{text.strip()};" for text in ddl.split(";\n") if text.strip()]


def athena_parse(text: str) -> tuple[exp.Expression, bool]:
    """The statement as sqlglot's Athena dialect parses it (errors raised), and whether it went to Hive."""
    tokens = sqlglot.Dialect.get_or_raise("athena").tokenize(text)
    [parsed] = sqlglot.parse(text, read="athena", error_level=ErrorLevel.RAISE)
    assert parsed is not None
    return parsed, tokens[0].token_type == TokenType.HIVE_TOKEN_STREAM


def test_every_statement_parses_in_athenas_dialect_as_the_engine_athena_routes_it_to() -> None:
    found: dict[str, list[str]] = {}
    for text in statements(athena_ddl("s3://my-bucket/credsight")):
        parsed, hive = athena_parse(text)
        assert isinstance(parsed, exp.Create), text[:80]
        assert not list(parsed.find_all(exp.Command)), f"sqlglot fell back to an opaque command: {text[:80]}"
        kind = str(parsed.args["kind"])
        assert hive == (kind in ("DATABASE", "TABLE")), f"{kind} parsed as {'Hive' if hive else 'Trino'}"
        found.setdefault(kind, []).append(parsed.this.sql("athena"))
        # What sqlglot understood, written back and read again, is the same statement.
        assert athena_parse(parsed.sql("athena"))[0] == parsed
    assert len(found["TABLE"]) == len(STORE_TABLES) and len(found["VIEW"]) == len(views("credsight"))
    assert len(found["DATABASE"]) == 1


def test_the_views_read_only_columns_that_exist() -> None:
    """Every column a view names is a column of a store table or one a view makes: a view misspelt
    or left behind by a schema change would fail here, not in Athena."""
    known = {name for table in STORE_TABLES for name in table.schema.names} | {"snapshot_month"}
    view_texts = [t for t in statements(athena_ddl("s3://my-bucket/credsight")) if " VIEW " in t]
    parsed = [athena_parse(text)[0] for text in view_texts]
    known |= {alias.alias for view in parsed for alias in view.find_all(exp.Alias)}
    named = {column.name for view in parsed for column in view.find_all(exp.Column) if not column.is_star}
    assert named and named - known == set()
    # Trino's double quotes are identifiers, never strings: no view compares a column to its own name.
    assert not [lit for view in parsed for lit in view.find_all(exp.Literal) if lit.is_string and lit.this in known]


def fluff_errors(text: str, dialect: str) -> list[str]:
    parsed = Linter(config=FluffConfig(overrides={"dialect": dialect})).parse_string(text + "\n")
    unparsable = list(parsed.tree.recursive_crawl("unparsable")) if parsed.tree else ["no tree"]
    return [v.desc() for v in parsed.violations] + [str(u) for u in unparsable]


def test_every_statement_parses_in_sqlfluffs_hive_and_trino_grammars() -> None:
    checked = {"hive": 0, "trino": 0}
    for text in statements(athena_ddl("s3://my-bucket/credsight")):
        dialect = "hive" if athena_parse(text)[1] else "trino"
        assert fluff_errors(text, dialect) == [], text[:80]
        checked[dialect] += 1
    assert checked == {"hive": 1 + len(STORE_TABLES), "trino": len(views("credsight"))}


@pytest.mark.parametrize(
    "text",
    [
        'CREATE OR REPLACE VIEW "credsight"."broken" AS SELECT FROM WHERE;',  # no select list
        "CREATE EXTERNAL TABLE `credsight`.`t` (`a` string) PARTITIONED (`m` string) STORED AS PARQUET;",  # no BY
        "CREATE EXTERNAL TABLE `credsight`.`t` (`a` strin g) STORED AS PARQUET;",  # a type of two words
    ],
)
def test_both_parsers_refuse_what_athena_would(text: str) -> None:
    """The checks above can fail: sqlglot raises or gives up (an opaque command), and sqlfluff objects."""
    try:
        parsed, _hive = athena_parse(text)
    except ParseError:
        pass
    else:
        assert list(parsed.find_all(exp.Command)), f"sqlglot took {text!r}"
    assert fluff_errors(text, "trino" if "VIEW" in text else "hive")


def test_the_spark_statements_parse_in_sparks_grammars() -> None:
    texts = statements(athena_ddl("s3://my-bucket/credsight", dialect="spark"))
    kinds = []
    for text in texts:
        assert fluff_errors(text, "sparksql") == [], text[:80]
        [parsed] = sqlglot.parse(text, read="spark", error_level=ErrorLevel.RAISE)
        assert parsed is not None
        if text.endswith("RECOVER PARTITIONS;"):  # sqlglot has no grammar for it (sqlfluff and Spark do)
            kinds.append("Recover")
            continue
        assert not list(parsed.find_all(exp.Command)), text[:80]
        kinds.append(type(parsed).__name__ + (f" {parsed.args['kind']}" if isinstance(parsed, exp.Create) else ""))
    monthly = sum(t.monthly for t in STORE_TABLES)
    assert kinds.count("Create TABLE") == len(STORE_TABLES) and kinds.count("Recover") == monthly
    assert kinds.count("Create VIEW") == len(views("credsight"))
    assert "TBLPROPERTIES" not in " ".join(texts)  # no partition projection: Spark discovers the months
