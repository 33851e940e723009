"""Arrow columns as text, a column at a time: the values of JSON and CSV output without a Python object
per field (100,000 findings as Python dicts cost 20 s in json.dump; as Arrow strings, a fraction of one).

Each function gives, for every value of an array, the exact text Python's `json.dump(..., indent=1)`
(or `csv.writer`) writes for the value `formats.exports.plain()` makes of it, so the bytes are those of
the row-by-row writers (tests/test_text_formats.py compares them on generated tables). Values the fast
path cannot be sure of (non-ASCII or control characters, floats) go through Python's own encoder, one
value at a time; everything else is Arrow compute.

A JSON value "at level L" is written as json does for a value whose key sits at indentation L: its own
members at L+1, its closing bracket at L.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any, TypeAlias, TypeGuard

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from credsight.formats.exports import FORMULA_START, csv_text, plain
from credsight.formats.joined import Piece, Text, in_parallel, joined, string_buffers, write_rows

# A field with one of these is quoted. A carriage return too, although Python 3.11's csv.writer leaves it bare:
# a spreadsheet breaks the row there, and the rest of the value would start a line of its own, unneutralised.
QUOTED_WHEN = '[,"\r\n]'
# A field carrying JSON text as DuckDB's json_pretty writes it (4 spaces an indent), placed as is.
RAW_JSON = b"credsight.raw_json"


def raw_json_field(name: str, nullable: bool = True) -> pa.Field:
    """A string field whose values are JSON text (json_pretty's): written into JSON output as values."""
    return pa.field(name, pa.string(), nullable=nullable, metadata={RAW_JSON: b"1"})


def _strings(values: Sequence[str]) -> pa.Array:
    return pa.array(values, pa.string())


def by_python(array: pa.Array, mask: pa.Array, encode: Callable[[Any], str], text: pa.Array) -> pa.Array:
    """`text`, with the values where `mask` holds encoded by Python instead (few of them)."""
    where = np.flatnonzero(pc.fill_null(mask, False).to_numpy(zero_copy_only=False))
    if not where.size:
        return text
    slow = [encode(array[int(i)].as_py()) for i in where]
    python = pa.array(np.full(len(array), None, dtype=object), pa.string())
    python = pc.replace_with_mask(python, pc.fill_null(mask, False), _strings(slow))
    return pc.if_else(pc.fill_null(mask, False), python, text)


def json_string(array: pa.Array) -> pa.Array:
    """Each string as a JSON string (ensure_ascii, like json.dumps); null stays null."""
    array = array.cast(pa.string())
    offsets, data = string_buffers(array)
    escaped = array
    if (data == ord("\\")).any():  # backslashes first: escaping the quotes adds some
        escaped = pc.replace_substring(escaped, "\\", "\\\\")
    if (data == ord('"')).any():
        escaped = pc.replace_substring(escaped, '"', '\\"')
    quoted = pc.binary_join_element_wise('"', escaped, '"', "")
    unusual = _rows_holding(array, offsets, (data < 0x20) | (data > 0x7E))  # not printable ASCII
    return by_python(array, unusual, json.dumps, quoted)


def _rows_holding(array: pa.Array, offsets: np.ndarray, found: np.ndarray) -> pa.Array:
    """Whether each string holds one of the bytes `found` marks (a mask over string_buffers()); null: false."""
    rows = np.zeros(len(array), dtype=bool)
    rows[np.searchsorted(offsets, np.flatnonzero(found) + offsets[0], side="right") - 1] = True
    return pc.and_(pa.array(rows), pc.is_valid(array))


def _indent(level: int) -> str:
    return "\n" + " " * level


def _or_null(array: pa.Array, text: pa.Array) -> pa.Array:
    if not array.null_count:
        return text
    return pc.if_else(pc.is_valid(array), text, pa.scalar("null"))


def _iso_datetime(array: pa.Array) -> pa.Array:
    """datetime.isoformat() of each timestamp, with +00:00 written Z (as exports.plain does)."""
    unit, zone = array.type.unit, array.type.tz
    seconds = pc.cast(array, pa.timestamp("s", zone), safe=False) if unit != "s" else array
    # Arrow's cast to text writes "YYYY-MM-DD HH:MM:SS" of the UTC time, eight times faster than strftime.
    text = pc.replace_substring(pc.cast(pc.cast(seconds, pa.timestamp("s")), pa.string()), " ", "T", max_replacements=1)
    if unit != "s":
        fraction = pc.subtract(
            pc.cast(pc.cast(array, pa.timestamp("us", zone)), pa.int64()),
            pc.multiply(pc.cast(seconds, pa.int64()), 1_000_000),  # (floored: negative times are rare)
        )
        micros = pc.utf8_lpad(pc.cast(fraction, pa.string()), 6, "0")
        with_fraction = pc.binary_join_element_wise(text, micros, ".")
        text = pc.if_else(pc.equal(fraction, 0), text, with_fraction)
    if zone is None:
        return text
    if zone not in ("UTC", "+00:00", "Etc/UTC", "Z"):  # another offset: Python writes it; rare
        return by_python(array, pc.is_valid(array), lambda v: str(plain(v)), text)
    return pc.binary_join_element_wise(text, pa.scalar("Z"), "")


def _scalar_kind(kind: pa.DataType) -> bool:
    """Whether values of this type are written one by one from their own value (no nesting)."""
    return bool(
        pa.types.is_string(kind)
        or pa.types.is_large_string(kind)
        or pa.types.is_date(kind)
        or pa.types.is_timestamp(kind)
    )


def _scalar_text(array: pa.Array) -> tuple[pa.Array, bool] | None:
    """(text, quoted) of a scalar column as exports.plain() renders it, or None for a nested type."""
    kind = array.type
    if pa.types.is_dictionary(kind):
        return _scalar_text(array.dictionary_decode())
    if pa.types.is_string(kind) or pa.types.is_large_string(kind):
        return array.cast(pa.string()), True
    if pa.types.is_boolean(kind):
        return pc.if_else(array, pa.scalar("true"), pa.scalar("false")), False
    if pa.types.is_integer(kind):
        return pc.cast(array, pa.string()), False
    if pa.types.is_date(kind):
        return pc.cast(array, pa.string()), True  # YYYY-MM-DD
    if pa.types.is_timestamp(kind):
        return _iso_datetime(array), True
    if pa.types.is_null(kind):
        return pa.nulls(len(array), pa.string()), False
    return None


REPEATED = 4  # a column holding each value this many times on average is written through its distinct values
SAMPLE = 1024  # values looked at to tell (counting every distinct value costs as much as the writing)


def json_values(array: pa.Array, level: int, raw: bool = False) -> pa.Array:
    """The JSON text of each value at indentation `level`, as json.dump(indent=1) writes plain(value)."""
    if isinstance(array, pa.ChunkedArray):
        array = array.combine_chunks()
    if pa.types.is_dictionary(array.type):  # each distinct value written once
        return _or_null(array, json_values(array.dictionary, level, raw=raw).take(array.indices))
    if _scalar_kind(array.type) and len(array) > SAMPLE:
        sample = array.take(np.arange(0, len(array), len(array) // SAMPLE))  # spread over the rows
        if pc.count_distinct(sample, mode="all").as_py() * REPEATED < len(sample):  # a rule's title, a date
            return json_values(pc.dictionary_encode(array), level, raw=raw)
    if raw:
        return _raw_json(array, level)
    scalar = _scalar_text(array)
    if scalar is not None:
        text, quoted = scalar
        return _or_null(array, json_string(text) if quoted else text)
    kind = array.type
    if pa.types.is_struct(kind):
        names = [kind.field(i).name for i in range(kind.num_fields)]
        children = array.flatten()  # the parent's offset applied
        members = [json_values(child, level + 1, raw=_is_raw(kind.field(i))) for i, child in enumerate(children)]
        return _or_null(array, json_object(names, members, level, length=len(array)))
    if pa.types.is_map(kind):
        pairs = pa.StructArray.from_arrays([array.keys, array.items], ["key", "value"])
        entries = _json_pairs(pairs, level + 1)
        return _json_list(array, entries, level)
    if pa.types.is_list(kind) or pa.types.is_large_list(kind):
        return _json_list(array, json_values(array.flatten(), level + 1), level)
    everything = pa.array(np.ones(len(array), dtype=bool))  # null included: Python writes it "null"
    return by_python(array, everything, lambda v: _json_dumps(v, level), pa.nulls(len(array), pa.string()))


def _json_dumps(value: Any, level: int) -> str:
    """What json.dump(indent=1) writes for one value at `level` (the slow path, one value)."""
    return json.dumps(plain(value), indent=1).replace("\n", _indent(level))


def _is_raw(field: pa.Field) -> bool:
    return bool(field.metadata and field.metadata.get(RAW_JSON))


Member: TypeAlias = Piece  # a column of JSON texts, one JSON text for every row, or texts not yet joined


def json_object(names: Sequence[str], members: Sequence[Member], level: int, length: int | None = None) -> pa.Array:
    """object_text(), joined (`length` rows, for objects whose members are all constants)."""
    return object_text(names, members, level).array(length or 0)


def object_text(names: Sequence[str], members: Sequence[Member], level: int) -> Text:
    """Objects of the given keys and member texts (each at level+1), written at `level`, not yet joined.

    A member may be one text for every row (a constant). A member that is null in a row (not the text
    "null": a missing value) leaves its key out of that row, for objects whose keys vary by row (an ASFF
    finding's optional Note, say).
    """
    if not names:
        return Text("{}")
    keys = [json.dumps(name) + ": " for name in names]
    separator = "," + _indent(level + 1)
    opening, closing = "{" + _indent(level + 1), _indent(level) + "}"
    if _nullable(members[0]):  # which key comes first varies by row
        rows = len(members[0])
        parts = [
            pc.binary_join_element_wise(key, Text(m).array(rows), "") for key, m in zip(keys, members, strict=True)
        ]
        return Text(opening, _join_present(parts, separator), closing)
    pieces: list[Piece] = [opening + keys[0], members[0]]
    for key, member in zip(keys[1:], members[1:], strict=True):
        if _nullable(member):  # the separator and key where the member is, nothing where it is not
            pieces.append(pc.fill_null(pc.binary_join_element_wise(separator + key, member, ""), ""))
        else:
            pieces += [separator + key, member]
    return Text(*pieces, closing)


def _nullable(member: Member) -> TypeGuard[pa.Array | pa.ChunkedArray]:
    return isinstance(member, pa.Array | pa.ChunkedArray) and member.null_count > 0


def _join_present(parts: Sequence[pa.Array], separator: str) -> pa.Array:
    """Each row's non-null parts joined by `separator` (rows with none: empty)."""
    led = [pc.if_else(pc.is_valid(part), pc.binary_join_element_wise(separator, part, ""), "") for part in parts]
    return pc.utf8_slice_codeunits(pc.binary_join_element_wise(*led, ""), len(separator))


def _json_list(array: pa.Array, items: pa.Array, level: int) -> pa.Array:
    """Lists of already encoded items (at level+1), written at `level`; [] when empty."""
    offsets = array.offsets
    if array.offset:  # a slice: offsets are absolute into the flattened values
        offsets = pc.subtract(offsets, offsets[0])
    lists = pa.ListArray.from_arrays(offsets, items)
    body = pc.binary_join(lists, "," + _indent(level + 1))
    text = pc.binary_join_element_wise("[" + _indent(level + 1), body, _indent(level) + "]", "")
    lengths = pc.subtract(offsets[1:], offsets[:-1])
    return _or_null(array, pc.if_else(pc.equal(lengths, 0), pa.scalar("[]"), text))


def _json_pairs(pairs: pa.StructArray, level: int) -> pa.Array:
    """A map's entries as json writes plain()'s (key, value) tuples: two-item lists at `level`."""
    key = json_values(pairs.field(0), level + 1)
    value = json_values(pairs.field(1), level + 1)
    return pc.binary_join_element_wise(
        "[" + _indent(level + 1), key, "," + _indent(level + 1), value, _indent(level) + "]", ""
    )


def _raw_json(array: pa.Array, level: int) -> pa.Array:
    """json_pretty's text (4 spaces an indent, from level 0) re-indented as json.dump(indent=1) at `level`.
    (A line break in json_pretty's text is always one of its own: one inside a string is escaped.)"""
    text = array.cast(pa.string())
    unusual = _unusual_json(text)
    for deep in range(_depth(text), 0, -1):  # deepest first: a shallower pattern would match their start
        text = pc.replace_substring(text, _indent(4 * deep), "\n" + "\x00" * deep)
    text = pc.replace_substring(pc.replace_substring(text, "\n", _indent(level)), "\x00", " ")
    text = by_python(array, unusual, lambda v: _json_dumps(json.loads(v), level), text)
    return _or_null(array, text)


def compact_json(pretty: pa.Array) -> pa.Array:
    """json_pretty's text as json.dumps(value) writes it: one line, ', ' and ': ' between members."""
    text = pretty.cast(pa.string())
    unusual = _unusual_json(text)
    for deep in range(_depth(text), 0, -1):  # deepest first, as in _raw_json
        text = pc.replace_substring(text, _indent(4 * deep), "\n")
    text = pc.replace_substring(pc.replace_substring(text, ",\n", ", "), "\n", "")
    return by_python(pretty, unusual, lambda v: json.dumps(json.loads(v)), text)


def _depth(pretty: pa.Array) -> int:
    """How deep json_pretty's text nests: its deepest line's indent, in steps of 4 spaces."""
    _offsets, data = string_buffers(pretty)
    lines = np.flatnonzero(data == 0x0A) + 1  # where each line after the first starts
    depth = 0
    while True:
        lines = lines[lines + 4 * depth < len(data)]
        lines = lines[data[lines + 4 * depth] == 0x20]  # indented deeper than that (no value starts with a space)
        if not len(lines):
            return depth
        depth += 1


def _unusual_json(text: pa.Array) -> pa.Array:
    """Whether json_pretty's text may hold an escape Python would write otherwise (anything but printable
    ASCII and line breaks, or a backslash)."""
    offsets, data = string_buffers(text)
    return _rows_holding(text, offsets, ((data < 0x20) & (data != 0x0A)) | (data > 0x7E) | (data == 0x5C))


def records_text(batch: pa.RecordBatch | pa.Table) -> Text:
    """Each row as a JSON object at level 1 (an item of the top-level array), not yet joined."""
    fields = list(batch.schema)
    members = [json_values(batch.column(i), 2, raw=_is_raw(field)) for i, field in enumerate(fields)]
    return object_text([field.name for field in fields], members, 1)


class JsonRecords:
    """Writes record batches as one JSON array, exactly as json.dump([plain(row) ...], indent=1) would."""

    def __init__(self, out: Any) -> None:  # out: IO[str]
        self.out = out
        self.started = False

    def write(self, batch: pa.RecordBatch | pa.Table) -> None:
        if batch.num_rows == 0:
            return
        write_rows(self.out, batch, records_text, ",\n ", lead=",\n " if self.started else "[\n ")
        self.started = True

    def close(self) -> None:
        self.out.write("\n]\n" if self.started else "[]\n")


def display_values(array: pa.Array) -> tuple[pa.Array, bool]:
    """Each value as a CSV cell or a table shows it (plain(); nested values as json.dumps; null empty), and
    whether the column holds text (only text is ever neutralised: a number is never run as a formula)."""
    if isinstance(array, pa.ChunkedArray):
        array = array.combine_chunks()
    is_text = False
    if pa.types.is_boolean(array.type):
        text = pc.if_else(array, pa.scalar("True"), pa.scalar("False"))
    elif (scalar := _scalar_text(array)) is not None:
        text, is_text = scalar
    else:  # nested, floats: as the row writer does, one value at a time (but empty lists, most of them)
        text = pa.nulls(len(array), pa.string())
        slow = pc.is_valid(array)
        if pa.types.is_list(array.type) or pa.types.is_large_list(array.type):
            empty = pc.fill_null(pc.equal(pc.list_value_length(array), 0), False)
            text = pc.if_else(empty, pa.scalar(str(csv_text([]))), text)
            slow = pc.and_(slow, pc.invert(empty))
        text = by_python(array, slow, lambda v: str(csv_text(v)), text)
        is_text = not pa.types.is_floating(array.type)
    return pc.fill_null(text, ""), is_text


def csv_values(array: pa.Array) -> pa.Array:
    """Each value as exports.write_csv writes it: display_values(), formulas neutralised, quoted as
    csv.writer's QUOTE_MINIMAL quotes (a comma, a quote or a line break inside)."""
    text, is_text = display_values(array)
    if is_text:
        starts = pc.starts_with(text, FORMULA_START[0])
        for start in FORMULA_START[1:]:
            starts = pc.or_(starts, pc.starts_with(text, start))
        text = pc.if_else(starts, pc.binary_join_element_wise("'", text, ""), text)
    special = pc.match_substring_regex(text, QUOTED_WHEN)
    quoted = pc.binary_join_element_wise('"', pc.replace_substring(text, '"', '""'), '"', "")
    return pc.if_else(special, quoted, text)


def csv_lines(batch: pa.RecordBatch | pa.Table) -> str:
    """The batch's rows as CSV lines (each ending in \\n), as exports.write_csv writes them."""
    if batch.num_rows == 0:
        return ""
    return joined(csv_line_array(batch), "\n") + "\n"


def csv_line_array(batch: pa.RecordBatch | pa.Table) -> pa.Array:
    """The batch's rows as CSV lines (without their line ends), made a slice per core."""
    return in_parallel(batch, _csv_lines)


def _csv_lines(rows: pa.Table) -> pa.Array:
    columns = [csv_values(rows.column(i)) for i in range(rows.num_columns)]
    if len(columns) > 1:
        return pc.binary_join_element_wise(*columns, ",")
    # csv.writer writes a row of one empty field as ""
    return pc.if_else(pc.equal(columns[0], ""), pa.scalar('""'), columns[0])
