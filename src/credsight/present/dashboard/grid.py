"""Tables paged on the server: AG Grid's infinite row model asks for a block of rows with its sort and
filter models, and gets just that block, sorted and filtered over every row (not the first page).

The rows behind a table are an Arrow table computed once per view (see view.StoreView.table); sorting,
filtering and slicing it is Arrow compute. Filter values are data: they are compared, never pasted
into SQL or code. A model naming a column the table does not have, or an operator this module does
not know, is ignored (the grid sends only what it was configured with).
"""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Mapping, Sequence
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from credsight.formats.exports import write_csv

BLOCK_ROWS = 100  # rows the grid asks for at a time (cacheBlockSize)


def kind_of(column: pa.DataType) -> str:
    """The grid filter a column gets: numbers, dates (and times), or text."""
    if pa.types.is_integer(column) or pa.types.is_floating(column):
        return "number"
    if pa.types.is_date(column) or pa.types.is_timestamp(column):
        return "date"
    return "text"


FILTERS = {"number": "agNumberColumnFilter", "date": "agDateColumnFilter", "text": "agTextColumnFilter"}


def column_defs(columns: Sequence[tuple[str, str]], kinds: Mapping[str, str]) -> list[dict[str, Any]]:
    """The grid's columns: the shown ones, each with the filter of its kind (sorting and filtering on)."""
    return [
        {"field": field, "headerName": name, "filter": FILTERS[kinds.get(field, "text")]} for field, name in columns
    ]


def _text(column: pa.ChunkedArray | pa.Array) -> pa.Array:
    return pc.fill_null(pc.cast(column, pa.string()), "") if not pa.types.is_string(column.type) else column


def _day(value: Any) -> dt.date | None:
    """A grid date filter's value ('2026-11-23 00:00:00') as a date; anything else is no value."""
    try:
        return dt.date.fromisoformat(str(value)[:10])
    except ValueError:
        return None


def _condition(column: pa.ChunkedArray, kind: str, model: Mapping[str, Any]) -> pa.ChunkedArray | pa.Array | None:
    """The rows one filter condition keeps (None: a condition this module does not know: keeps all)."""
    operator = model.get("type")
    if operator == "blank":
        return pc.or_(pc.is_null(column), pc.equal(_text(column), "")) if kind == "text" else pc.is_null(column)
    if operator == "notBlank":
        return pc.invert(_condition(column, kind, {"type": "blank"}))
    if kind == "text":
        text = pc.utf8_lower(pc.fill_null(_text(column), ""))
        wanted = str(model.get("filter") or "").lower()
        tests = {
            "contains": lambda: pc.match_substring(text, wanted),
            "notContains": lambda: pc.invert(pc.match_substring(text, wanted)),
            "equals": lambda: pc.equal(text, wanted),
            "notEqual": lambda: pc.not_equal(text, wanted),
            "startsWith": lambda: pc.starts_with(text, wanted),
            "endsWith": lambda: pc.ends_with(text, wanted),
        }
        test = tests.get(str(operator))
        return test() if test else None
    if kind == "number":
        values = pc.cast(column, pa.float64())
        low, high = model.get("filter"), model.get("filterTo")
    else:
        values = (
            pc.cast(pc.cast(column, pa.timestamp("s")), pa.date32()) if pa.types.is_timestamp(column.type) else column
        )
        low, high = _day(model.get("dateFrom")), _day(model.get("dateTo"))
    if low is None:
        return None
    compare = {
        "equals": pc.equal,
        "notEqual": pc.not_equal,
        "lessThan": pc.less,
        "lessThanOrEqual": pc.less_equal,
        "greaterThan": pc.greater,
        "greaterThanOrEqual": pc.greater_equal,
    }
    if operator == "inRange" and high is not None:
        return pc.and_(pc.greater_equal(values, low), pc.less_equal(values, high))
    test = compare.get(str(operator))
    return test(values, low) if test else None


def filtered(rows: pa.Table, model: Mapping[str, Any] | None) -> pa.Table:
    """The rows the grid's filter model keeps (conditions joined by AND / OR as the model says)."""
    keep = None
    for name, spec in (model or {}).items():
        if name not in rows.column_names or not isinstance(spec, Mapping):
            continue
        column = rows.column(name)
        kind = kind_of(column.type)
        parts = spec.get("conditions") if "conditions" in spec else [spec]
        tests = [
            t
            for t in (_condition(column, kind, part) for part in parts or [] if isinstance(part, Mapping))
            if t is not None
        ]
        if not tests:
            continue
        joined = tests[0]
        for test in tests[1:]:
            joined = pc.or_(joined, test) if spec.get("operator") == "OR" else pc.and_(joined, test)
        joined = pc.fill_null(joined, False)
        keep = joined if keep is None else pc.and_(keep, joined)
    return rows if keep is None else rows.filter(keep)


def ordered(rows: pa.Table, model: Sequence[Mapping[str, Any]] | None) -> pa.Table:
    """The rows in the grid's sort order (several columns: the first decides first)."""
    keys = [
        (str(item["colId"]), "descending" if item.get("sort") == "desc" else "ascending")
        for item in model or []
        if isinstance(item, Mapping) and item.get("colId") in rows.column_names
    ]
    return rows.sort_by(keys) if keys else rows


def shown(rows: pa.Table, request: Mapping[str, Any] | None) -> pa.Table:
    """Every row the grid shows for a request: filtered, then sorted (the block is sliced from this)."""
    request = request or {}
    return ordered(filtered(rows, request.get("filterModel")), request.get("sortModel"))


def block(rows: pa.Table, request: Mapping[str, Any] | None) -> dict[str, Any]:
    """The answer to a grid's getRowsRequest: the block of rows asked for and how many there are in all."""
    request = request or {}
    every = shown(rows, request)
    start = max(0, int(request.get("startRow") or 0))
    end = max(start, int(request.get("endRow") or start + BLOCK_ROWS))
    page = every.slice(start, end - start)
    return {"rowData": plain_rows(page), "rowCount": every.num_rows}


def plain_rows(rows: pa.Table) -> list[dict[str, Any]]:
    """Rows as the browser gets them: dates and times as ISO text (UTC), values as they are."""
    out = []
    for row in rows.to_pylist():
        out.append({k: (v.isoformat() if isinstance(v, dt.date) else v) for k, v in row.items()})
    return out


def csv_of(rows: pa.Table, request: Mapping[str, Any] | None, columns: Sequence[str]) -> str:
    """Every row the grid shows (filtered and sorted as it is), as CSV with formulas neutralised."""
    buffer = io.StringIO()
    write_csv(shown(rows, request).select([c for c in columns if c in rows.column_names]), buffer)
    return buffer.getvalue()
