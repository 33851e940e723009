"""The store as Athena (and the Glue catalogue) sees it: tables over the same Parquet files, and the
views of query.py in Athena's SQL (Trino), so the same questions can be asked there; and the same for
Spark (EMR, Glue, a laptop's pyspark): `athena_ddl(..., dialect="spark")`.

Tables are partitioned by `snapshot_month` with partition projection: Athena computes the
partitions from the month range, no crawler and no MSCK REPAIR. The outcome files of `runs`
are under run_id=<run id> folders, which cannot be projected; that table is not partitioned
and reads every outcome file (few: `compact` merges them into one, under runs/compacted/).

Files a compaction replaced may still be there for a moment (the store's readers skip them by
the compacted file's footer, which Athena cannot read): the views therefore keep one copy of
each row, and, where one day holds several runs for an account, the newest run, as query.py does.

The tables are the store's own: every month-partitioned table store/schemas.py declares
(PARTITIONED_TABLES, each with its schema_of) and the runs' outcomes, so a table the store gains is
declared here, and in the collector template's Glue catalogue, with no second list.
Athena routes `CREATE EXTERNAL TABLE` to its Hive engine (Hive DDL, backquotes) and views to Trino
(double quotes): each statement is written in its engine's syntax, and the tests parse each one with
sqlglot's Athena dialect and with sqlfluff's Hive and Trino grammars.

For Spark the tables are Spark's own Parquet tables over the same folders (Spark reads no partition
projection: `ALTER TABLE ... RECOVER PARTITIONS` discovers the month folders), and the views are the
Athena views translated by sqlglot from Athena's SQL to Spark's.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import pyarrow as pa

from credsight.errors import UserFixable
from credsight.query.views import FORMAT_COLUMNS, LAYOUT_COLUMNS
from credsight.store.schemas import IDENTITY_COMMIT, IDENTITY_TABLES, OUTCOME_SCHEMA, PARTITIONED_TABLES, schema_of

FIRST_MONTH = "2014-01"  # the credential report API dates from 2014
BUCKET_LOCATION = re.compile(r"s3://[a-z0-9][a-z0-9.\-]{1,61}[a-z0-9](/[A-Za-z0-9_./\-]*)?")
# Spark also reads s3a:// (Hadoop's S3 connector) and a local folder (file:///...).
SPARK_LOCATION = re.compile(
    r"(s3a?://[a-z0-9][a-z0-9.\-]{1,61}[a-z0-9](/[A-Za-z0-9_./\-]*)?|file:///[A-Za-z0-9_./\-]+)"
)
DIALECTS = ("athena", "spark")
TABLE_PREFIX = "credsight_"  # store tables are <prefix><name>; the views take the plain names


@dataclass(frozen=True)
class StoreTable:
    name: str  # the store's folder, e.g. reports
    schema: pa.Schema  # the columns in the files
    monthly: bool  # partitioned by snapshot_month=YYYY-MM (else: one folder of files, read whole)

    @property
    def table(self) -> str:
        return TABLE_PREFIX + self.name


STORE_TABLES = (
    *(StoreTable(name, schema_of(name), monthly=True) for name in PARTITIONED_TABLES),
    StoreTable("runs", OUTCOME_SCHEMA, monthly=False),
)
BY_NAME = {table.name: table for table in STORE_TABLES}
DATABASE_NAME = re.compile(r"[a-z0-9_]{1,255}")

# The Hive / Glue type that reads a Parquet column written from each Arrow type the store uses.
GLUE_TYPES = {
    pa.string(): "string",
    pa.bool_(): "boolean",
    pa.date32(): "date",
    pa.int64(): "bigint",
    pa.int32(): "int",
    pa.float64(): "double",
}


def glue_type(arrow: pa.DataType) -> str:
    if pa.types.is_timestamp(arrow):
        return "timestamp"
    if pa.types.is_list(arrow):
        return f"array<{glue_type(arrow.value_type)}>"
    if pa.types.is_map(arrow):
        return f"map<{glue_type(arrow.key_type)},{glue_type(arrow.item_type)}>"
    if arrow not in GLUE_TYPES:
        raise TypeError(f"no Glue type for {arrow}")
    return GLUE_TYPES[arrow]


def glue_columns(table: StoreTable) -> list[tuple[str, str]]:
    return [(field.name, glue_type(field.type)) for field in table.schema]


def check_location(location: str, dialect: str = "athena") -> str:
    """An s3://bucket[/prefix] location (for Spark also s3a:// or file:///folder), without a trailing
    slash; anything else is the user's to fix. Nothing else can reach the SQL text."""
    trimmed = location.rstrip("/")
    if dialect == "spark":
        if not SPARK_LOCATION.fullmatch(trimmed):
            raise UserFixable(
                f"--location {location!r} is not a location Spark reads the store from; give s3://bucket/prefix "
                "(EMR, Glue), s3a://bucket/prefix or file:///folder (letters, digits and - _ . / only)"
            )
    elif not BUCKET_LOCATION.fullmatch(trimmed):
        raise UserFixable(
            f"--location {location!r} is not an S3 location; give the store's s3://bucket/prefix "
            "(letters, digits and - _ . / only)"
        )
    return trimmed


def projection_properties(table: StoreTable, location: str) -> dict[str, str]:
    """Partition projection of a monthly table: months from FIRST_MONTH to now."""
    return {
        "projection.enabled": "true",
        "projection.snapshot_month.type": "date",
        "projection.snapshot_month.format": "yyyy-MM",
        "projection.snapshot_month.range": f"{FIRST_MONTH},NOW",
        "projection.snapshot_month.interval": "1",
        "projection.snapshot_month.interval.unit": "MONTHS",
        "storage.location.template": f"{location}/{table.name}/snapshot_month=${{snapshot_month}}/",
    }


def create_table(table: StoreTable, location: str, database: str) -> str:
    columns = ",\n".join(f"  `{name}` {kind}" for name, kind in glue_columns(table))
    text = f"CREATE EXTERNAL TABLE IF NOT EXISTS `{database}`.`{table.table}` (\n{columns}\n)\n"
    if table.monthly:
        text += "PARTITIONED BY (`snapshot_month` string)\n"
    text += f"STORED AS PARQUET\nLOCATION '{location}/{table.name}/'\n"
    properties = {"parquet.compression": "ZSTD"}
    if table.monthly:
        properties |= projection_properties(table, location)
    pairs = ",\n".join(f"  '{key}' = '{value}'" for key, value in properties.items())
    return text + f"TBLPROPERTIES (\n{pairs}\n);"


def _columns_except(table: StoreTable, left_out: tuple[str, ...], alias: str) -> str:
    return ", ".join(f'{alias}."{name}"' for name in table.schema.names if name not in left_out)


def views(database: str) -> dict[str, str]:
    """The views of query.py in Athena's SQL: the same names, the same rows."""
    stored = {name: f'"{database}"."{table.table}"' for name, table in BY_NAME.items()}
    viewed = {name: f'"{database}"."{name}"' for name in ("daily", "account_metadata", "reports")}

    def newest_run_of(name: str, left_out: tuple[str, ...] = ()) -> str:
        """One copy of each row of the store table, of the newest run of each account and day."""
        columns = _columns_except(BY_NAME[name], left_out, "t")
        return f"""SELECT DISTINCT {columns} FROM {stored[name]} AS t
            JOIN (SELECT account_id, snapshot_date, max(run_id) AS run_id FROM {stored["daily"]}
                  GROUP BY account_id, snapshot_date) AS n
              ON t.account_id = n.account_id AND t.snapshot_date = n.snapshot_date AND t.run_id = n.run_id"""  # noqa: S608 (names from this module, the database name checked)

    return {
        "daily": newest_run_of("daily", LAYOUT_COLUMNS),
        "key_use": newest_run_of("key_use"),
        "account_metadata": f"""SELECT account_id, name, email, state, ou_path, joined, tags FROM (
            SELECT *, row_number() OVER (PARTITION BY account_id ORDER BY snapshot_date DESC, run_id DESC) AS n
            FROM {stored["accounts"]}) WHERE n = 1""",  # noqa: S608 (names from this module, the database name checked)
        "accounts": f"""SELECT d.account_id, m.name, m.email, m.state, m.ou_path, m.joined, m.tags,
                   d.first_snapshot_date, d.last_snapshot_date, d.snapshots
            FROM (SELECT account_id, min(snapshot_date) AS first_snapshot_date,
                         max(snapshot_date) AS last_snapshot_date, count(*) AS snapshots
                  FROM {viewed["daily"]} GROUP BY account_id) AS d
            LEFT JOIN {viewed["account_metadata"]} AS m ON m.account_id = d.account_id""",  # noqa: S608 (names from this module, the database name checked)
        "reports": f"""SELECT r.*, m.name AS account_name, r."user" = '<root_account>' AS is_root
            FROM ({newest_run_of("reports", FORMAT_COLUMNS)}) AS r
            LEFT JOIN {viewed["account_metadata"]} AS m ON m.account_id = r.account_id""",  # noqa: S608 (names from this module, the database name checked)
        "latest": f"""SELECT r.* FROM {viewed["reports"]} AS r
            JOIN (SELECT account_id, max(snapshot_date) AS snapshot_date FROM {viewed["daily"]}
                  GROUP BY account_id) AS newest
              ON r.account_id = newest.account_id AND r.snapshot_date = newest.snapshot_date""",  # noqa: S608 (names from this module, the database name checked)
        "runs": f"""SELECT DISTINCT {_columns_except(BY_NAME["runs"], ("kind",), "t")},
                   coalesce(t.kind, 'credential_report') AS kind FROM {stored["runs"]} AS t""",  # noqa: S608 (names from this module)
        IDENTITY_COMMIT: f"""SELECT DISTINCT {_columns_except(BY_NAME[IDENTITY_COMMIT], (), "s")}
            FROM {stored[IDENTITY_COMMIT]} AS s
            JOIN (SELECT snapshot_date, max(run_id) AS run_id FROM {stored[IDENTITY_COMMIT]}
                  GROUP BY snapshot_date) AS n
              ON s.snapshot_date = n.snapshot_date AND s.run_id = n.run_id""",  # noqa: S608 (names from this module)
        **{
            # No DISTINCT (Spark cannot set-compare their map columns): Identity Center parts are never
            # compacted, so no part is left behind twice, as in the store's own views.
            name: f"""SELECT {_columns_except(BY_NAME[name], (), "t")} FROM {stored[name]} AS t
                JOIN "{database}"."{IDENTITY_COMMIT}" AS s
                  ON t.snapshot_date = s.snapshot_date AND t.run_id = s.run_id"""  # noqa: S608 (names from this module)
            for name in IDENTITY_TABLES
        },
    }


def create_views(database: str) -> list[str]:
    """The views as Athena creates them (Trino's SQL), in the order they depend on each other."""
    return [
        f'CREATE OR REPLACE VIEW "{database}"."{name}" AS\n{" ".join(sql.split())};'
        for name, sql in views(database).items()
    ]


def spark_table(table: StoreTable, location: str, database: str) -> list[str]:
    """A store table as a Spark Parquet table over its folder; its month folders discovered."""
    columns = glue_columns(table) + ([("snapshot_month", "string")] if table.monthly else [])
    listed = ",\n".join(f"  `{name}` {kind}" for name, kind in columns)
    text = f"CREATE TABLE IF NOT EXISTS `{database}`.`{table.table}` (\n{listed}\n)\nUSING PARQUET\n"
    if table.monthly:
        text += "PARTITIONED BY (`snapshot_month`)\n"
    else:  # runs/run_id=<run id>/ folders hold the outcome files; they are not partitions (run_id is a column)
        text += "OPTIONS ('recursiveFileLookup' = 'true')\n"
    statements = [text + f"LOCATION '{location}/{table.name}/';"]
    if table.monthly:
        statements.append(f"ALTER TABLE `{database}`.`{table.table}` RECOVER PARTITIONS;")
    return statements


def spark_views(database: str) -> list[str]:
    """The Athena views, translated by sqlglot from Athena's SQL (Trino) to Spark's."""
    import sqlglot

    return [sqlglot.transpile(view, read="athena", write="spark")[0] + ";" for view in create_views(database)]


def athena_ddl(location: str, database: str = "credsight", dialect: str = "athena") -> str:
    """Every statement, in order, separated by blank lines: tables, then views; for Athena, or for Spark."""
    if dialect not in DIALECTS:
        raise UserFixable(f"--dialect {dialect!r}: choose one of {', '.join(DIALECTS)}")
    trimmed = check_location(location, dialect)
    if not DATABASE_NAME.fullmatch(database):
        raise UserFixable(f"--database {database!r}: use lower-case letters, digits and _ only")
    statements = [f"CREATE DATABASE IF NOT EXISTS `{database}`;"]
    if dialect == "spark":
        statements += [statement for table in STORE_TABLES for statement in spark_table(table, trimmed, database)]
        statements += spark_views(database)
    else:
        statements += [create_table(table, trimmed, database) for table in STORE_TABLES]
        statements += create_views(database)
    return "\n\n".join(statements) + "\n"


def view_schemas(database: str = "credsight") -> dict[str, pa.Schema]:
    """Each view's columns and types, as the views' own SQL makes them: the views run in DuckDB over
    empty tables of the store's schemas (their SQL is plain enough for both engines; see the tests)."""
    import duckdb

    connection = duckdb.connect()
    try:
        connection.execute(f'CREATE SCHEMA "{database}"')
        for table in STORE_TABLES:
            schema = table.schema.append(pa.field("snapshot_month", pa.string())) if table.monthly else table.schema
            connection.register(f"empty_{table.name}", schema.empty_table())
            connection.execute(f'CREATE VIEW "{database}"."{table.table}" AS SELECT * FROM empty_{table.name}')  # noqa: S608 (names from this module)
        for statement in create_views(database):
            connection.execute(statement)
        return {
            name: connection.sql(f'SELECT * FROM "{database}"."{name}" LIMIT 0').to_arrow_table().schema  # noqa: S608
            for name in views(database)
        }
    finally:
        connection.close()
