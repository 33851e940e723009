"""The command line's shared arguments: options several commands take, their choices, and their parsing.

Nothing heavy is imported here: `credsight --help` and a usage error must answer at once, so the
store, DuckDB, pyarrow and boto3 are imported inside the commands that use them.
"""

from __future__ import annotations

import datetime as dt
import os
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from credsight.errors import UserError

if TYPE_CHECKING:
    from credsight.store import Store

DEFAULT_STORE = "./credsight-data"
StoreOption = Annotated[
    str,
    typer.Option(
        "--store", envvar="CREDSIGHT_STORE", help="Store: a folder or s3://bucket/prefix. [env: CREDSIGHT_STORE]"
    ),
]
EndpointOption = Annotated[
    str | None,
    typer.Option(
        "--endpoint-url", envvar="AWS_ENDPOINT_URL", help="S3 endpoint, for emulators. [env: AWS_ENDPOINT_URL]"
    ),
]
AccountsOption = Annotated[
    list[str] | None, typer.Option(help="Only these account ids (repeat the flag or separate with commas).")
]
OuOption = Annotated[str | None, typer.Option(help="Only accounts in this OU and below (a path such as Root/Prod).")]
ExceptionsOption = Annotated[
    Path | None, typer.Option(help="Accepted risks (default: ./credsight-exceptions.toml if present).")
]


class TableFormat(StrEnum):
    """How a command that prints rows writes them."""

    table = "table"
    csv = "csv"
    json = "json"


TableFormatOption = Annotated[TableFormat, typer.Option("--format", help="How to write the rows.")]


def command_group(help: str) -> typer.Typer:
    """A command or group of commands as every credsight command is made: help when called bare,
    no completion, no rich tracebacks (main() turns user errors into one line)."""
    return typer.Typer(
        help=help, no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False, rich_markup_mode=None
    )


def parse_date(value: str, flag: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise UserError(f"{flag} {value!r} is not a date; use YYYY-MM-DD, e.g. 2026-11-23") from None


def maybe_date(value: str | None, flag: str) -> dt.date | None:
    """An optional date option: None when not given."""
    return parse_date(value, flag) if value else None


def open_store(url: str, endpoint_url: str | None, must_exist: bool = True) -> Store:
    from credsight.store import Store

    store = Store(url, endpoint_url=endpoint_url)
    store.check_reachable()
    if must_exist and store.is_local and not os.path.isdir(store.root):
        raise UserError(f"no store at {url}; create one with 'credsight ingest' or 'credsight demo', or pass --store")
    return store


def split_values(values: list[str] | None) -> list[str]:
    return [part.strip() for value in values or [] for part in value.split(",") if part.strip()]


def parse_ids(values: list[str] | None, flag: str) -> list[str]:
    """Account ids given as repeated flags and/or comma-separated lists."""
    from credsight.report.model import check_account_id

    ids = split_values(values)
    for account_id in ids:
        check_account_id(account_id, flag)
    return ids


def parse_hours(value: str, flag: str) -> dt.timedelta:
    """A duration: 4h, 90m, 1d, or a number of hours."""
    units = {"m": "minutes", "h": "hours", "d": "days"}
    number, unit = (value[:-1], units.get(value[-1:])) if value[-1:] in units else (value, "hours")
    try:
        amount = float(number)
    except ValueError:
        raise UserError(f"{flag} {value!r} is not a duration; use e.g. 4h, 90m or 1d") from None
    if amount < 0:
        raise UserError(f"{flag} {value!r} is negative; use e.g. 4h, 90m or 1d")
    return dt.timedelta(**{unit or "hours": amount})
