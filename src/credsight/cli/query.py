"""`credsight query` and `credsight export`: SQL over the views, and a stored report back as its CSV."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

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


def query(
    sql: Annotated[str, typer.Argument(help="SQL over the views reports, latest, accounts, runs, daily, key_use.")],
    store: StoreOption = DEFAULT_STORE,
    format: TableFormatOption = TableFormat.table,
    endpoint_url: EndpointOption = None,
) -> None:
    """Run SQL against the store's views."""
    import duckdb

    from credsight.query import Database

    with Database(open_store(store, endpoint_url)) as database:
        try:
            result = database.sql(sql)
        except duckdb.Error as e:
            raise UserError(f"the query failed: {str(e).splitlines()[0]}") from None
    write_rows(result.table, format, sys.stdout)


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
