"""Writing rows as CSV and JSON, safe to open in a spreadsheet, streamed a batch at a time from Arrow.

`plain` and `csv_text` say what a value becomes (dates in ISO 8601, UTC times ending in Z, nested values
as JSON); the writers produce exactly the bytes `json.dump([plain(row) ...], indent=1)` and `csv.writer`
would, but build them a column at a time with Arrow compute (formats/text.py) instead of a Python object
per field.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from collections.abc import Iterable
from typing import IO, Any, TypeAlias

import pyarrow as pa

# A cell starting with one of these is run as a formula by Excel, LibreOffice and Sheets.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "\n")

Rows: TypeAlias = "pa.Table | pa.RecordBatch | Iterable[pa.RecordBatch]"


def neutralise(value: object) -> object:
    """Prefix a text that a spreadsheet would run as a formula with a quote (OWASP CSV injection)."""
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value


def plain(value: Any) -> Any:
    """A value as JSON holds it: dates and times as ISO 8601 text (UTC written Z), lists and objects within."""
    if isinstance(value, dt.datetime):
        return value.isoformat().replace("+00:00", "Z")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, list):
        return [plain(v) for v in value]
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    return value


def csv_text(value: Any) -> Any:
    """A value as a CSV cell holds it: plain(), nested values as JSON, nothing for null."""
    value = plain(value)
    if isinstance(value, list | dict):
        return json.dumps(value)
    return "" if value is None else value


def batches_of(rows: Rows) -> tuple[pa.Schema | None, Iterable[pa.RecordBatch | pa.Table]]:
    if isinstance(rows, pa.Table | pa.RecordBatch):
        return rows.schema, [rows]
    iterator = iter(rows)
    first = next(iterator, None)
    if first is None:
        return None, []
    return first.schema, _chain(first, iterator)


def _chain(first: pa.RecordBatch, rest: Iterable[pa.RecordBatch]) -> Iterable[pa.RecordBatch]:
    yield first
    yield from rest


def write_csv(rows: Rows, stream: IO[str], schema: pa.Schema | None = None) -> None:
    """The rows as CSV with a header line; formulas neutralised. `schema` names the columns when `rows`
    is an empty stream of batches."""
    from credsight.formats.joined import write_joined
    from credsight.formats.text import csv_line_array

    found, batches = batches_of(rows)
    names = (found or schema or pa.schema([])).names
    header = io.StringIO()
    csv.writer(header, lineterminator="\n").writerow(names)
    stream.write(header.getvalue())
    for batch in batches:
        if batch.num_rows:
            write_joined(stream, csv_line_array(batch), "\n", after="\n")


def write_json(rows: Rows, stream: IO[str]) -> None:
    """The rows as one JSON array of objects, indented by one space, ending in a line break."""
    from credsight.formats.text import JsonRecords

    _found, batches = batches_of(rows)
    writer = JsonRecords(stream)
    for batch in batches:
        writer.write(batch)
    writer.close()
