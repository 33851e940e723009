"""DuckDB over the store: the Database every reader asks, and the Result it answers with.

`Database` is the boundary: rules, pages and commands ask it questions in SQL (with `$name`
parameters bound, never pasted) and get Arrow back; nobody else holds a DuckDB connection.

- The store's views (views.py) and macros are created once per Database, in its in-memory
  catalogue, and are shared by every thread.
- Each thread asks on a cursor of its own (DuckDB connections are not to be shared across
  threads; cursors of one connection share its catalogue), so the dashboard answers requests
  in parallel, not one at a time behind a lock.
- A call that needs intermediate tables or extra files takes a `scratch()`: a cursor of its own
  whose temporary tables and registered files are gone when the call ends. Nothing one call
  leaves behind can be read by another.

Local stores are read with DuckDB's Parquet reader; S3 stores through pyarrow's S3 filesystem,
registered as Arrow datasets on each cursor (no DuckDB extension download needed).
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.dataset as ds

from credsight.query.scope import select_accounts
from credsight.query.views import FORMAT_COLUMNS, LAYOUT_COLUMNS, MACROS, QUERIES, SHARED_TABLES, TABLE_MACROS, VIEWS
from credsight.report.model import ReportLayout, render_report
from credsight.store import Part, Store
from credsight.store.schemas import ACCOUNT_SCHEMA, OUTCOME_SCHEMA, STORED_SCHEMA, schema_of

# Outcome files written before a column was added (runs.kind) lack it: read as Arrow datasets of the
# table's schema, the column is NULL there, as on S3.
READ_AS_DATASETS = frozenset({"outcome_parts"})


@dataclass(frozen=True)
class Result:
    """A query's answer: column names and an Arrow table; pages never touch cursors."""

    table: pa.Table

    @property
    def columns(self) -> list[str]:
        return list(self.table.column_names)

    @property
    def rows(self) -> list[dict[str, Any]]:
        return list(self.table.to_pylist())

    def first(self) -> dict[str, Any] | None:
        return self.rows[0] if self.table.num_rows else None


def _answer(cursor: duckdb.DuckDBPyConnection, text: str, parameters: Mapping[str, object] | None) -> Result:
    relation = cursor.sql(text, params=dict(parameters or {}))
    return Result(relation.to_arrow_table() if relation is not None else pa.table({}))


class Scratch:
    """One call's own cursor: files registered and temporary tables made here end with the call."""

    def __init__(self, database: Database) -> None:
        self.database = database
        self.cursor = database.new_cursor()

    def files(self, name: str, paths: Sequence[str], schema: pa.Schema | None, filenames: bool = False) -> None:
        """Make Parquet files of the store a table `name` of this call (see Database.register_files);
        with `filenames`, each row says which file it is from (a `filename` column)."""
        self.database.register_files(self.cursor, name, paths, schema, filenames=filenames)

    def table(self, name: str, table: pa.Table) -> None:
        """Make an Arrow table a table `name` of this call."""
        self.cursor.register(name, table)

    def keep(self, name: str, text: str, parameters: Mapping[str, object] | None = None) -> None:
        """Compute `text` once and keep its rows as the temporary table `name`, for this call's later steps."""
        self.cursor.execute(f"CREATE TEMP TABLE {name} AS {text}", dict(parameters or {}))

    def sql(self, text: str, parameters: Mapping[str, object] | None = None) -> Result:
        return _answer(self.cursor, text, parameters)

    def close(self) -> None:
        self.cursor.close()


class Database:
    """The store's views over one DuckDB in-memory database; open one per command, or per state of the
    store in the dashboard, and ask it from any thread."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._connection = duckdb.connect()
        self._local = threading.local()
        self._lock = threading.Lock()
        self._cursors: list[duckdb.DuckDBPyConnection] = []
        live = store.live_parts()
        self.report_parts = live["reports"]  # the report files the views read, for readers that read them directly
        self._sources: dict[str, tuple[list[str], pa.Schema]] = {
            "report_parts": ([p.path for p in live["reports"]], STORED_SCHEMA),
            "daily_parts": ([p.path for p in live["daily"]], schema_of("daily")),
            "key_use_parts": ([p.path for p in live["key_use"]], schema_of("key_use")),
            "account_parts": ([p.path for p in live["accounts"]], ACCOUNT_SCHEMA),
            "outcome_parts": (store.outcome_files(), OUTCOME_SCHEMA),
            # IAM Identity Center's daily snapshots: identity_users_parts, ..., identity_snapshots_parts
            **{
                f"{name}_parts": ([p.path for p in parts], schema_of(name))
                for name, parts in store.identity_parts().items()
            },
        }
        for name, (paths, schema) in self._sources.items():
            self.register_files(self._connection, name, paths, schema, shared=True)
        self._create_views()

    # -- where the data is -------------------------------------------------------------------

    def source_paths(self) -> list[str]:
        """Every file the views read, by table: what an answer kept beside the store depends on (a file's
        content never changes under its name; compaction and new runs write new names), relative to the store."""
        root = self.store.root.rstrip("/") + "/"
        return [
            f"{name}:{path.removeprefix(root)}"
            for name, (paths, _schema) in sorted(self._sources.items())
            for path in sorted(paths)
        ]

    def register_files(
        self,
        cursor: duckdb.DuckDBPyConnection,
        name: str,
        paths: Sequence[str],
        schema: pa.Schema | None,
        shared: bool = False,
        filenames: bool = False,
    ) -> None:
        """Make Parquet files of the store a table of a cursor (local or S3 alike).

        `schema` is the table's (older files are read as it says); None: the files' own, for
        derived files, whose columns are whatever their kind keeps (then `paths` is not empty).
        `shared`: a view in the catalogue every cursor sees (the store's own parts, local stores).
        Otherwise the name lives on that cursor only.
        """
        if not paths:
            if schema is None:
                raise ValueError(f"no files for {name} and no schema")
            empty = schema.append(pa.field("filename", pa.string())) if filenames else schema
            cursor.register(name, empty.empty_table())
        elif self.store.is_local and name not in READ_AS_DATASETS:
            relation = cursor.read_parquet(list(paths), hive_partitioning=False, filename=filenames)
            if shared:
                relation.create_view(name)
            else:
                cursor.register(name, relation)
        elif filenames:  # each S3 file's rows, named after it: used for small files only (daily twins)
            if schema is None:
                raise ValueError(f"{name}: file names need the files' schema")
            tables = [self.store.read_files([path], schema) for path in paths]
            named = [
                t.append_column("filename", pa.array([path] * t.num_rows, pa.string()))
                for t, path in zip(tables, paths, strict=True)
            ]
            cursor.register(name, pa.concat_tables(named))
        else:
            cursor.register(name, ds.dataset(list(paths), schema=schema, format="parquet", filesystem=self.store.fs))

    def _register_sources(self, cursor: duckdb.DuckDBPyConnection) -> None:
        """A new cursor sees the catalogue's views; what is registered (S3 datasets, empty tables) it gets again."""
        for name, (paths, schema) in self._sources.items():
            if not paths or not self.store.is_local or name in READ_AS_DATASETS:
                self.register_files(cursor, name, paths, schema)

    def _create_views(self) -> None:
        for name, body in MACROS.items():
            self._connection.execute(f"CREATE MACRO {name}{body}")
        # Runs replaced by a later run of the same account and day: usually none, always few.
        for name, sql in SHARED_TABLES.items():
            self._connection.execute(f"CREATE TABLE {name} AS {sql}")
        has_superseded = self._connection.execute("SELECT count(*) FROM superseded").fetchall()[0][0] > 0
        # Where no day holds two runs of an account (the usual case), skip the anti-join.
        unsuperseded = "ANTI JOIN superseded USING (account_id, snapshot_date, run_id)" if has_superseded else ""
        for name, sql in VIEWS.items():
            text = sql.format(
                unsuperseded=unsuperseded,
                format_columns=", ".join(FORMAT_COLUMNS),
                layout_columns=", ".join(LAYOUT_COLUMNS),
            )
            # Account metadata is small and joined by every report query: computed once per open.
            kind = "TABLE" if name == "account_metadata" else "VIEW"
            self._connection.execute(f"CREATE {kind} {name} AS {text}")
        for name, body in TABLE_MACROS.items():
            self._connection.execute(f"CREATE MACRO {name}{body}")

    # -- asking ------------------------------------------------------------------------------

    def new_cursor(self) -> duckdb.DuckDBPyConnection:
        """A cursor that sees the store's views (DuckDB cursors of one connection share its catalogue)."""
        with self._lock:
            cursor = self._connection.cursor()
        self._register_sources(cursor)
        return cursor

    def _cursor(self) -> duckdb.DuckDBPyConnection:
        cursor: duckdb.DuckDBPyConnection | None = getattr(self._local, "cursor", None)
        if cursor is None:
            cursor = self._local.cursor = self.new_cursor()
            with self._lock:
                self._cursors.append(cursor)
        return cursor

    def sql(self, text: str, parameters: Mapping[str, object] | None = None) -> Result:
        """Run SQL (with $name parameters bound) on this thread's cursor; the whole answer as Arrow."""
        return _answer(self._cursor(), text, parameters)

    @contextmanager
    def stream(
        self, text: str, parameters: Mapping[str, object] | None = None, rows: int = 65_536
    ) -> Iterator[pa.RecordBatchReader]:
        """The answer as record batches while DuckDB produces them, for writers that stream."""
        with self.scratch() as work:
            relation = work.cursor.sql(text, params=dict(parameters or {}))
            if relation is None:  # a statement without an answer
                yield pa.RecordBatchReader.from_batches(pa.schema([]), [])
                return
            yield relation.to_arrow_reader(rows)

    @contextmanager
    def scratch(self) -> Iterator[Scratch]:
        """A cursor for one call's intermediate tables and files, closed (and they gone) when it ends."""
        work = Scratch(self)
        try:
            yield work
        finally:
            work.close()

    def named(self, name: str, **parameters: object) -> Result:
        return self.sql(QUERIES[name], parameters)

    def newest_snapshot(self) -> dt.date | None:
        """The latest snapshot date of any account, or None for an empty store."""
        found = self.sql("SELECT max(snapshot_date) AS d FROM daily").first()
        return found["d"] if found else None

    def scope(self, accounts: Sequence[str], ou: str | None) -> list[str] | None:
        """The account ids chosen by --account and --ou (None: every account); see scope.select_accounts."""
        places = [
            (r["account_id"], r["ou_path"]) for r in self.sql("SELECT account_id, ou_path FROM account_metadata").rows
        ]
        return select_accounts(places, accounts, ou)

    def close(self) -> None:
        with self._lock:
            for cursor in self._cursors:
                cursor.close()
            self._cursors.clear()
        self._connection.close()

    def __enter__(self) -> Database:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def original_report(database: Database, account: str, day: dt.date) -> bytes | None:
    """The report of an account on a day exactly as it was collected or ingested; None if not stored."""
    version = database.named("report_version", account=account, date=day).first()
    if version is None:
        return None
    where = {"account": account, "date": day, "run_id": version["run_id"]}
    layout = database.named("report_layout", **where).rows[0]
    rows = database.named("report_rows", **where).table
    return render_report(rows, ReportLayout(layout["csv_header"], layout["csv_eol"], layout["csv_final_eol"]))


__all__ = ["Database", "Part", "Result", "Scratch", "original_report"]
