"""One writer for every command that prints rows: a table for a person, CSV or JSON for programs."""

from __future__ import annotations

from collections.abc import Sequence
from typing import IO, TYPE_CHECKING

from credsight.cli.arguments import TableFormat

if TYPE_CHECKING:
    import pyarrow as pa


def write_rows(
    rows: pa.Table,
    format: TableFormat,
    out: IO[str],
    *,
    shown: Sequence[str] | None = None,
    width: int | None = None,
    headers: str = "as is",
) -> None:
    """Write `rows` as `format`: CSV and JSON carry every column; the table `shown` ones (default: all).

    `headers` is "as is" (column names) or "words" (underscores as spaces). CSV neutralises
    spreadsheet formulas (see formats/exports.py).
    """
    from credsight.formats.exports import write_csv, write_json

    if format is TableFormat.csv:
        write_csv(rows, out)
    elif format is TableFormat.json:
        write_json(rows, out)
    else:
        print_table(rows.select(list(shown)) if shown else rows, out, width=width, headers=headers)


def print_table(rows: pa.Table, out: IO[str], *, width: int | None = None, headers: str = "as is") -> None:
    from rich.console import Console
    from rich.table import Table

    names = [name.replace("_", " ") if headers == "words" else name for name in rows.column_names]
    table = Table(*names)
    for row in rows.to_pylist():
        table.add_row(*["" if v is None else str(v) for v in row.values()])
    Console(file=out, markup=False, highlight=False, width=width).print(table)
