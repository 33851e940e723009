"""The column-at-a-time JSON and CSV writers give exactly the bytes of the row-by-row writers they replace.

The row writers below are the ones credsight used before (json.dump of every row as a dict, csv.writer of
every row): they are the specification. Hypothesis generates tables of every type the store and the
views hold, with the values that need care (quotes, backslashes, control and non-ASCII characters,
formulas, line breaks, nulls), and both must write the same text.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import re
from typing import Any

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from credsight.formats.exports import csv_text, neutralise, plain, write_csv, write_json
from credsight.formats.text import compact_json, json_values, raw_json_field


def json_by_rows(table: pa.Table) -> str:
    out = io.StringIO()
    json.dump([plain(row) for row in table.to_pylist()], out, indent=1)
    out.write("\n")
    return out.getvalue()


def csv_by_rows(table: pa.Table) -> str:
    """csv.writer's rows (QUOTE_MINIMAL), except that a carriage return is quoted too (Python 3.11 leaves it
    bare, and a spreadsheet would then start a line, unneutralised, in the middle of the value)."""

    def cell(value: object) -> str:
        text = repr(value) if isinstance(value, float) else str(value)
        return '"' + text.replace('"', '""') + '"' if re.search('[,"\r\n]', text) else text

    def line(values: list[object]) -> str:
        return '""' if values == [""] else ",".join(cell(v) for v in values)

    rows = [line(list(table.column_names))]
    rows += [line([neutralise(csv_text(v)) for v in row.values()]) for row in table.to_pylist()]
    return "\n".join(rows) + "\n"


def csv_by_python(table: pa.Table) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(table.column_names)
    for row in table.to_pylist():
        writer.writerow([neutralise(csv_text(v)) for v in row.values()])
    return out.getvalue()


def written(writer: Any, table: pa.Table) -> str:
    out = io.StringIO()
    writer(table, out)
    return out.getvalue()


TEXT = st.one_of(
    st.text(max_size=12),
    st.sampled_from(['a"b', "a\\b", "=SUM(A1)", "+1", "-2", "@x", "\tx", "\rx", "\nx", "a,b", "é", "日本", "\x7f", ""]),
)
UTC = dt.UTC
TIMES = st.datetimes(min_value=dt.datetime(1990, 1, 1), max_value=dt.datetime(2100, 1, 1))
COLUMNS: dict[str, tuple[pa.DataType, st.SearchStrategy[Any]]] = {
    "text": (pa.string(), TEXT),
    "number": (pa.int64(), st.integers(-(2**40), 2**40)),
    "small": (pa.int32(), st.integers(-1000, 1000)),
    "flag": (pa.bool_(), st.booleans()),
    "day": (pa.date32(), st.dates(dt.date(1990, 1, 1), dt.date(2100, 1, 1))),
    "utc_seconds": (pa.timestamp("s", tz="UTC"), TIMES.map(lambda t: t.replace(microsecond=0, tzinfo=UTC))),
    "utc_micros": (pa.timestamp("us", tz="UTC"), TIMES.map(lambda t: t.replace(tzinfo=UTC))),
    "naive": (pa.timestamp("us"), TIMES),
    "ratio": (pa.float64(), st.floats(allow_nan=False, allow_infinity=False, width=64)),
    "texts": (pa.list_(pa.string()), st.lists(TEXT, max_size=3)),
    "numbers": (pa.list_(pa.int64()), st.lists(st.integers(-5, 5), max_size=3)),
    "tags": (pa.map_(pa.string(), pa.string()), st.lists(st.tuples(TEXT, TEXT), max_size=2)),
    "nested": (
        pa.struct(
            [("key", pa.int8()), ("when", pa.timestamp("s", tz="UTC")), ("inner", pa.struct([("ok", pa.bool_())]))]
        ),
        st.fixed_dictionaries(
            {
                "key": st.integers(1, 2),
                "when": st.none() | TIMES.map(lambda t: t.replace(microsecond=0, tzinfo=UTC)),
                "inner": st.fixed_dictionaries({"ok": st.none() | st.booleans()}),
            }
        ),
    ),
}


@st.composite
def tables(draw: st.DrawFn) -> pa.Table:
    names = draw(st.lists(st.sampled_from(sorted(COLUMNS)), min_size=1, max_size=6, unique=True))
    rows = draw(st.integers(0, 6))
    data = {
        name: pa.array([draw(st.none() | COLUMNS[name][1]) for _ in range(rows)], COLUMNS[name][0]) for name in names
    }
    table = pa.table(data)
    start = draw(st.integers(0, rows))  # a slice: offsets inside lists and structs are not zero
    return table.slice(start, draw(st.integers(0, rows - start)))


@settings(max_examples=300, deadline=None)
@given(tables())
def test_json_is_the_bytes_of_json_dump(table: pa.Table) -> None:
    assert written(write_json, table) == json_by_rows(table)


@settings(max_examples=300, deadline=None)
@given(tables())
def test_csv_is_the_bytes_of_csv_writer(table: pa.Table) -> None:
    found = written(write_csv, table)
    assert found == csv_by_rows(table)
    if "\r" not in found:  # where no value holds a carriage return, Python's own csv.writer agrees byte for byte
        assert found == csv_by_python(table)


def test_a_carriage_return_is_quoted_so_no_formula_starts_a_line() -> None:
    found = written(write_csv, pa.table({"region": ["eu\r=cmd|' /C calc'!A0", "\r=x", "eu"]}))
    # neither value can start a line of its own in a spreadsheet; the second is neutralised too
    assert found == 'region\n"eu\r=cmd|\' /C calc\'!A0"\n"\'\r=x"\neu\n'


def test_a_stream_of_batches_is_one_document() -> None:
    table = pa.table({"user": ["a", "b", "c"], "n": [1, 2, 3]})
    batches = table.to_batches(max_chunksize=1)
    assert written(lambda t, out: write_json(iter(batches), out), table) == json_by_rows(table)
    assert written(lambda t, out: write_csv(iter(batches), out), table) == csv_by_rows(table)
    assert written(lambda t, out: write_json(iter([]), out), table) == "[]\n"


@pytest.mark.parametrize("level", [0, 1, 2, 4])
def test_raw_json_is_placed_as_json_places_the_value_it_holds(level: int) -> None:
    """json_pretty's text (DuckDB's, 4 spaces an indent) re-indented like json.dump(indent=1) at any level."""
    import duckdb

    pretty = duckdb.sql(
        """SELECT json_pretty(to_json(v)) AS j FROM (VALUES
            ({'a': 1, 'b': {'c': true, 'd': NULL, 'e': {'f': [1, 2]}}, 'g': []::INT[]}),
            ({'a': 2, 'b': {'c': false, 'd': 'x\\\\y "q" é', 'e': {'f': []::INT[]}}, 'g': [3]})) AS t(v)"""
    ).to_arrow_table()
    field = raw_json_field("j")
    values = json_values(pretty.column("j").combine_chunks(), level, raw=True).to_pylist()
    expected = [
        json.dumps(json.loads(text), indent=1).replace("\n", "\n" + " " * level)
        for text in pretty.column("j").to_pylist()
    ]
    assert values == expected and field.metadata
    assert compact_json(pretty.column("j").combine_chunks()).to_pylist() == [
        json.dumps(json.loads(text)) for text in pretty.column("j").to_pylist()
    ]
