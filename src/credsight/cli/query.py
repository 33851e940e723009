"""`credsight query` and `credsight export`: SQL over the views, and a stored report back as its CSV."""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from credsight.cli.arguments import (
    DEFAULT_STORE,
    EndpointOption,
    StoreOption,
    TableFormat,
    TableFormatOption,
    open_store,
    parse_date,
)
from credsight.cli.output import write_rows
from credsight.errors import UserError

if TYPE_CHECKING:
    from credsight.query import Database

PEOPLE = re.compile(r"\bpeople\b", re.IGNORECASE)
TABLE_ROWS = 10_000  # a table is for reading; more rows are for --format csv or json


def query(
    sql: Annotated[str, typer.Argument(help="SQL over the views reports, latest, accounts, runs, daily, key_use.")],
    store: StoreOption = DEFAULT_STORE,
    format: TableFormatOption = TableFormat.table,
    endpoint_url: EndpointOption = None,
) -> None:
    """Run SQL against the store's views."""
    import duckdb
    import pyarrow as pa

    from credsight.query import Database

    with Database(open_store(store, endpoint_url)) as database:
        if PEOPLE.search(sql):  # the people view is made from the Identity Center snapshots when asked for
            open_people_view(database)
        try:
            with database.stream(sql) as reader:
                if format is not TableFormat.table:  # streamed: a year of rows never sits in memory whole
                    write_rows(reader, format, sys.stdout, schema=reader.schema)
                    return
                shown, rows = [], 0
                for batch in reader:
                    shown.append(batch)
                    rows += batch.num_rows
                    if rows > TABLE_ROWS:
                        break
        except duckdb.Error as e:
            raise UserError(f"the query failed: {str(e).splitlines()[0]}") from None
    table = pa.Table.from_batches(shown, schema=reader.schema)
    write_rows(table.slice(0, TABLE_ROWS), format, sys.stdout)
    if table.num_rows > TABLE_ROWS:
        print(f"(only the first {TABLE_ROWS} rows are shown: add a LIMIT, or use --format csv or json)")


def open_people_view(database: Database) -> None:
    """Create the `people` view (each person's IAM user's state per day) with the [people] settings."""
    from credsight.config import section
    from credsight.rules.matching import people_settings
    from credsight.rules.people import mapping_lines, open_people

    settings = people_settings(section("people"))
    lines, source = mapping_lines(database.store, settings)
    open_people(database, settings, lines, source, rollup=False).timeline()


def export(
    date: Annotated[str, typer.Option(help="Snapshot date, YYYY-MM-DD.")],
    account: Annotated[str, typer.Option(help="12-digit account id.")],
    store: StoreOption = DEFAULT_STORE,
    out: Annotated[Path | None, typer.Option(help="File to write; standard output if not given.")] = None,
    endpoint_url: EndpointOption = None,
) -> None:
    """Write one stored report back as the original CSV, byte for byte."""
    from credsight.query.database import Database, original_report
    from credsight.report.model import check_account_id

    day = parse_date(date, "--date")
    check_account_id(account, "--account")
    with Database(open_store(store, endpoint_url)) as database:
        content = original_report(database, account, day)
    if content is None:
        raise UserError(f"no report for account {account} on {date}; the daily view lists the stored reports")
    if out is None:
        sys.stdout.buffer.write(content)
        return
    try:
        out.write_bytes(content)
    except OSError as e:
        raise UserError(f"cannot write {out}: {e.strerror}; check the folder exists and is writable") from None
