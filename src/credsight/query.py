"""DuckDB over the store: the views, and the named, parameterised questions later features ask.

Views (what `credsight query` runs SQL against):

- `reports`  one row per (snapshot_date, account_id, user): AWS column names, typed, markers in
             `<column>_marker`, plus account_name, is_root, user_class, generated_time,
             collected_at, run_id. Where a day holds several runs for an account, the latest.
- `latest`   each account's most recent snapshot.
- `accounts` each account's latest metadata and its last snapshot date.
- `runs`     every account attempt of every run.
- `daily`    one row per report: user counts by class, console users without MFA, active keys.
- `key_use`  active keys per report by last-used region and service.

Local stores are read with DuckDB's Parquet reader; S3 stores through pyarrow's S3
filesystem, registered in DuckDB as Arrow datasets (no DuckDB extension download needed).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.dataset as ds

from credsight.model import ReportLayout, render_report
from credsight.scope import select_accounts
from credsight.store import ACCOUNT_SCHEMA, OUTCOME_SCHEMA, STORED_SCHEMA, Part, Store, schema_of

# Columns that exist so the original CSV can be written back; `reports` leaves them out.
FORMAT_COLUMNS = ("line_number", "raw_line")
LAYOUT_COLUMNS = ("csv_header", "csv_eol", "csv_final_eol")

VIEWS: dict[str, str] = {
    "superseded": """
        SELECT d.account_id, d.snapshot_date, d.run_id
        FROM daily_parts AS d
        JOIN (SELECT account_id, snapshot_date, max(run_id) AS newest FROM daily_parts
              GROUP BY account_id, snapshot_date HAVING count(*) > 1) AS repeated
        USING (account_id, snapshot_date)
        WHERE d.run_id < repeated.newest""",
    "daily": "SELECT * EXCLUDE ({layout_columns}) FROM daily_parts {unsuperseded}",
    "key_use": "SELECT * FROM key_use_parts {unsuperseded}",
    "account_metadata": """
        SELECT account_id, unnest(arg_max(
            struct_pack(name, email, state, ou_path, joined, tags, snapshot_date, run_id), (snapshot_date, run_id)))
        FROM account_parts GROUP BY account_id""",
    "accounts": """
        SELECT d.account_id, m.name, m.email, m.state, m.ou_path, m.joined, m.tags,
               d.first_snapshot_date, d.last_snapshot_date, d.snapshots
        FROM (SELECT account_id, min(snapshot_date) AS first_snapshot_date, max(snapshot_date) AS last_snapshot_date,
                     count(*) AS snapshots
              FROM daily GROUP BY account_id) AS d
        LEFT JOIN account_metadata AS m USING (account_id)""",
    "reports": """
        SELECT r.* EXCLUDE ({format_columns}), m.name AS account_name, r."user" = '<root_account>' AS is_root
        FROM report_parts AS r {unsuperseded}
        LEFT JOIN account_metadata AS m USING (account_id)""",
    "latest": """
        SELECT reports.* FROM reports
        SEMI JOIN (SELECT account_id, max(snapshot_date) AS snapshot_date FROM daily GROUP BY account_id) AS newest
        USING (account_id, snapshot_date)""",
    "runs": "SELECT * FROM outcome_parts",
}

# The questions the dashboard, findings and exports ask, by name; parameters are bound, never pasted.
QUERIES: dict[str, str] = {
    "users_per_day": """
        SELECT snapshot_date, account_id, users, humans, machines, dormant
        FROM daily WHERE snapshot_date BETWEEN $from AND $to ORDER BY snapshot_date, account_id""",
    "console_without_mfa_per_day": """
        SELECT snapshot_date, sum(console_without_mfa) AS console_without_mfa, sum(humans) AS humans
        FROM daily WHERE snapshot_date BETWEEN $from AND $to GROUP BY snapshot_date ORDER BY snapshot_date""",
    "latest_snapshot": "SELECT * FROM latest",  # unordered: sorting every column costs more than reading it
    "user_history": """
        SELECT * FROM reports WHERE account_id = $account AND "user" = $user ORDER BY snapshot_date""",
    "key_use_per_day": """
        SELECT snapshot_date, region, sum(keys) AS keys, sum(keys_used_recently) AS keys_used_recently
        FROM key_use WHERE snapshot_date BETWEEN $from AND $to
        GROUP BY snapshot_date, region ORDER BY snapshot_date, region""",
    "report_version": """
        SELECT run_id FROM daily WHERE account_id = $account AND snapshot_date = $date""",
    "report_rows": """
        SELECT * FROM report_parts WHERE account_id = $account AND snapshot_date = $date AND run_id = $run_id""",
    "report_layout": """
        SELECT csv_header, csv_eol, csv_final_eol FROM daily_parts
        WHERE account_id = $account AND snapshot_date = $date AND run_id = $run_id""",
    "stored_reports": "SELECT account_id, snapshot_date, content_sha256 FROM runs WHERE status = 'success'",
}


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


class Database:
    """A DuckDB connection with the store's views; open one per request or command."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.connection = duckdb.connect()
        live = store.live_parts()
        self.report_parts = live["reports"]  # the report files the views read, for readers that read them directly
        self._source("report_parts", live["reports"], STORED_SCHEMA)
        self._source("daily_parts", live["daily"], schema_of("daily"))
        self._source("key_use_parts", live["key_use"], schema_of("key_use"))
        self._source("account_parts", live["accounts"], ACCOUNT_SCHEMA)
        self._source(
            "outcome_parts", [Part("runs", p, p.rsplit("/", 1)[-1]) for p in store.outcome_files()], OUTCOME_SCHEMA
        )
        self._create_views()

    def _source(self, name: str, parts: Sequence[Part], schema: pa.Schema) -> None:
        self.register_files(name, [p.path for p in parts], schema)

    def register_files(self, name: str, paths: Sequence[str], schema: pa.Schema | None) -> None:
        """Make Parquet files of the store a table of the connection (local or S3 alike).

        `schema` is the table's (older files are read as it says); None: the files' own, for
        derived files, whose columns are whatever their kind keeps (then `paths` is not empty).
        A name registered again replaces what it named: a registered Arrow object would
        otherwise hide a view of the same name (DuckDB resolves registered objects first).
        """
        self.connection.unregister(name)
        self.connection.execute(f'DROP VIEW IF EXISTS "{name}"')
        if not paths:
            if schema is None:
                raise ValueError(f"no files for {name} and no schema")
            self.connection.register(name, schema.empty_table())
        elif self.store.is_local:
            relation = self.connection.read_parquet(paths, hive_partitioning=False)
            relation.create_view(name)
        else:
            dataset = ds.dataset(paths, schema=schema, format="parquet", filesystem=self.store.fs)
            self.connection.register(name, dataset)

    def _create_views(self) -> None:
        # Runs replaced by a later run of the same account and day: usually none, always few.
        self.connection.execute(f"CREATE TEMP TABLE superseded AS {VIEWS['superseded']}")
        has_superseded = self.connection.execute("SELECT count(*) FROM superseded").fetchall()[0][0] > 0
        # Where no day holds two runs of an account (the usual case), skip the anti-join.
        unsuperseded = "ANTI JOIN superseded USING (account_id, snapshot_date, run_id)" if has_superseded else ""
        for name, sql in VIEWS.items():
            if name == "superseded":
                continue
            text = sql.format(
                unsuperseded=unsuperseded,
                format_columns=", ".join(FORMAT_COLUMNS),
                layout_columns=", ".join(LAYOUT_COLUMNS),
            )
            # Account metadata is small and joined by every report query: computed once per open.
            kind = "TEMP TABLE" if name == "account_metadata" else "VIEW"
            self.connection.execute(f"CREATE {kind} {name} AS {text}")

    def sql(self, text: str, parameters: Mapping[str, object] | None = None) -> Result:
        """Run SQL (with $name parameters bound) and return the whole answer as Arrow."""
        relation = self.connection.sql(text, params=dict(parameters or {}))
        return Result(relation.to_arrow_table() if relation is not None else pa.table({}))

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

    def named(self, name: str, **parameters: object) -> Result:
        return self.sql(QUERIES[name], parameters)

    def close(self) -> None:
        self.connection.close()

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
