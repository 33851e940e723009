"""One writer for every command that prints rows: a table for a person, CSV or JSON for programs.

CSV and JSON are streamed a batch at a time, built a column at a time (formats/exports.py). The table is
plain text aligned in columns, also built a column at a time, so that a large answer prints in a moment
(rich's table of 100,000 rows took minutes); control characters in values are shown escaped, never sent
to the terminal.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import IO, TYPE_CHECKING

from credsight.cli.arguments import TableFormat

if TYPE_CHECKING:
    import pyarrow as pa

GAP = "  "
CONTROL = r"[\x00-\x08\x0b-\x1f\x7f]"  # tab and newline are shown as \t and \n below


def write_rows(
    rows: pa.Table | Iterable[pa.RecordBatch],
    format: TableFormat,
    out: IO[str],
    *,
    shown: Sequence[str] | None = None,
    headers: str = "as is",
    schema: pa.Schema | None = None,
) -> None:
    """Write `rows` as `format`: CSV and JSON carry every column; the table `shown` ones (default: all).

    `rows` is a table or a stream of record batches (`schema` names the columns of an empty stream).
    `headers` is "as is" (column names) or "words" (underscores as spaces). CSV neutralises
    spreadsheet formulas (see formats/exports.py).
    """
    import pyarrow as pa

    from credsight.formats.exports import write_csv, write_json

    if format is TableFormat.csv:
        write_csv(rows, out, schema=schema)
    elif format is TableFormat.json:
        write_json(rows, out)
    else:
        table = rows if isinstance(rows, pa.Table) else _gathered(rows, schema)
        print_table(table.select(list(shown)) if shown else table, out, headers=headers)


def _gathered(batches: Iterable[pa.RecordBatch], schema: pa.Schema | None) -> pa.Table:
    import pyarrow as pa

    found = list(batches)
    if found:
        return pa.Table.from_batches(found)
    return (schema or pa.schema([])).empty_table()


def table_lines(rows: pa.Table, *, headers: str = "as is", widest: int | None = None) -> str:
    """The rows as aligned columns under a header and a rule, numbers to the right; `widest` cuts cells."""
    import pyarrow as pa
    import pyarrow.compute as pc

    from credsight.formats.joined import joined
    from credsight.formats.text import display_values

    names = [name.replace("_", " ") if headers == "words" else name for name in rows.column_names]
    columns, headings, rules = [], [], []
    for name, column in zip(names, rows.columns, strict=True):
        text, _is_text = display_values(column)
        text = _visible(text)
        if widest is not None:
            long = pc.greater(pc.utf8_length(text), widest)
            text = pc.if_else(
                long, pc.binary_join_element_wise(pc.utf8_slice_codeunits(text, 0, widest - 1), "…", ""), text
            )
        width = max(len(name), pc.max(pc.utf8_length(text)).as_py() or 0) if len(text) else len(name)
        numeric = pa.types.is_integer(column.type) or pa.types.is_floating(column.type)
        pad = pc.utf8_lpad if numeric else pc.utf8_rpad
        columns.append(pad(text, width=width, padding=" "))
        headings.append(name.rjust(width) if numeric else name.ljust(width))
        rules.append("-" * width)
    top = GAP.join(headings).rstrip() + "\n" + GAP.join(rules) + "\n"
    if not rows.num_rows:
        return top
    lines = pc.binary_join_element_wise(*columns, GAP) if len(columns) > 1 else columns[0]
    return top + joined(pc.utf8_rtrim_whitespace(lines), "\n") + "\n"


def _visible(text: pa.Array) -> pa.Array:
    """Values as a terminal may show them: line breaks and tabs as \\n and \\t, other control characters
    as \\x.. (a value is data; an escape sequence in a user name must not reach the terminal)."""
    import pyarrow.compute as pc

    from credsight.formats.text import by_python

    text = pc.replace_substring(
        pc.replace_substring(pc.replace_substring(text, "\\", "\\\\"), "\n", "\\n"), "\t", "\\t"
    )
    odd = pc.match_substring_regex(text, CONTROL)
    return by_python(text, odd, lambda v: "".join(c if c.isprintable() else f"\\x{ord(c):02x}" for c in v), text)


def print_table(rows: pa.Table, out: IO[str], *, headers: str = "as is", widest: int | None = None) -> None:
    out.write(table_lines(rows, headers=headers, widest=widest))
