"""Objects built from pieces not yet joined (formats.joined.Text) give json.dump's bytes: constants, nested
objects, members missing in some rows (the first one too), and rows written a slice at a time."""

from __future__ import annotations

import io
import json

import pyarrow as pa
import pytest

from credsight.formats import joined
from credsight.formats.joined import Text, write_rows
from credsight.formats.text import json_object, json_values, object_text, records_text


def dumped(value: object, level: int) -> str:
    return json.dumps(value, indent=1).replace("\n", "\n" + " " * level)


def test_nested_objects_with_constants_and_missing_members() -> None:
    names = pa.array(["a", None, 'q"é'], pa.string())
    counts = pa.array([1, 2, None], pa.int64())
    inner = object_text(["name", "kind"], [json_values(names, 3), json.dumps("user")], 2)
    present = json_values(counts, 2)
    optional = pa.array(["1", None, "3"], pa.string())  # null: the key is left out of that row
    found = json_object(["inner", "count", "maybe", "fixed"], [inner, present, optional, "true"], 1).to_pylist()
    expected = [
        {"inner": {"name": "a", "kind": "user"}, "count": 1, "maybe": 1, "fixed": True},
        {"inner": {"name": None, "kind": "user"}, "count": 2, "fixed": True},
        {"inner": {"name": 'q"é', "kind": "user"}, "count": None, "maybe": 3, "fixed": True},
    ]
    assert found == [dumped(row, 1) for row in expected]


def test_a_first_member_missing_in_some_rows() -> None:
    first = pa.array([None, '"x"', None], pa.string())
    second = pa.array([None, None, "2"], pa.string())
    found = json_object(["a", "b", "c"], [first, second, Text("[]")], 1).to_pylist()
    expected = [{"c": []}, {"a": "x", "c": []}, {"b": 2, "c": []}]
    assert found == [dumped(row, 1) for row in expected]


def test_constants_only_and_no_members() -> None:
    assert json_object(["a"], ["1"], 1, length=2).to_pylist() == [dumped({"a": 1}, 1)] * 2
    assert json_object([], [], 1, length=2).to_pylist() == ["{}", "{}"]
    assert Text("a", Text("b", "c"), "").parts == ("abc",)


@pytest.mark.parametrize("rows", [0, 1, 5, 23])
def test_rows_written_a_slice_at_a_time_are_one_document(monkeypatch: pytest.MonkeyPatch, rows: int) -> None:
    monkeypatch.setattr(joined, "PARALLEL_ROWS", 4)
    table = pa.table({"n": pa.array(range(rows), pa.int64()), "s": pa.array([f"é{i}" for i in range(rows)])})
    out = io.StringIO()
    write_rows(out, table, records_text, ",\n ", lead="[\n ")
    expected = json.dumps(table.to_pylist(), indent=1)
    assert out.getvalue() + "\n]" == (expected if rows else "[\n \n]")


def test_bytes_of_a_sliced_array() -> None:
    texts = pa.array(["ab", "cd", "ef", "gh"]).slice(1, 2)
    assert bytes(joined.values_bytes(texts)) == b"cdef"
    assert bytes(joined.values_bytes(texts.slice(0, 0))) == b""


def test_columns_of_few_values_are_written_through_their_distinct_values() -> None:
    values = ["a", None, 'q"\\', "é\t"] * 700  # more than json_values samples
    column = pa.array(values, pa.string())
    expected = [dumped(value, 2) for value in values]
    assert json_values(column, 2).to_pylist() == expected
    assert json_values(column.dictionary_encode(), 2).to_pylist() == expected
    assert json_values(column.slice(3, 2000), 2).to_pylist() == expected[3:2003]
