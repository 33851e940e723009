"""Text of every row made of pieces, joined once, and written out a slice of rows at a time on every core.

Each join copies every byte it writes (and a fresh buffer of hundreds of MB costs its page faults too),
so an object inside an object is kept as pieces (`Text`) and joined with its parent, what is the same
in every row stays one literal, and the rows' texts are written straight from the buffer they were
joined into: no array of every row's text put together, and no joined copy of it.
"""

from __future__ import annotations

import codecs
import os
from collections.abc import Callable, Iterator
from typing import Any, TypeAlias

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

Piece: TypeAlias = "str | pa.Array | pa.ChunkedArray | Text"


class Text:
    """Each row's text as literal strings and columns of text in order, not yet joined.

    A column must have no nulls (join them into a literal first: a null column would make the row null).
    """

    __slots__ = ("parts",)

    def __init__(self, *pieces: Piece) -> None:
        parts: list[str | pa.Array] = []
        for piece in pieces:
            for part in piece.parts if isinstance(piece, Text) else (piece,):
                if isinstance(part, pa.ChunkedArray):
                    part = part.combine_chunks()
                if isinstance(part, str) and parts and isinstance(parts[-1], str):
                    parts[-1] += part
                elif not isinstance(part, str) or part:
                    parts.append(part)
        self.parts: tuple[str | pa.Array, ...] = tuple(parts)

    def __add__(self, other: Piece) -> Text:
        return Text(self, other)

    def __radd__(self, other: Piece) -> Text:
        return Text(other, self)

    def array(self, length: int) -> pa.Array:
        """The text of each of `length` rows, joined."""
        if not any(isinstance(part, pa.Array) for part in self.parts):
            return pa.array(["".join(str(part) for part in self.parts)] * length, pa.string())
        if len(self.parts) == 1:
            return self.parts[0]
        return pc.binary_join_element_wise(*self.parts, "")


PARALLEL_ROWS = 16_384  # rows a thread turns into text at a time (Arrow compute lets go of the GIL)


def slice_texts(rows: pa.RecordBatch | pa.Table, text: Callable[[pa.Table], pa.Array]) -> Iterator[pa.Array]:
    """text() of each slice of the rows, computed on every core, in order."""
    from concurrent.futures import ThreadPoolExecutor

    table = pa.Table.from_batches([rows]) if isinstance(rows, pa.RecordBatch) else rows
    if table.num_rows <= PARALLEL_ROWS:
        yield _array(text(table))
        return
    slices = [table.slice(start, PARALLEL_ROWS) for start in range(0, table.num_rows, PARALLEL_ROWS)]
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
        for part in pool.map(text, slices):
            yield _array(part)


def in_parallel(rows: pa.RecordBatch | pa.Table, text: Callable[[pa.Table], pa.Array]) -> pa.Array:
    """text(rows), computed a slice at a time on every core, in order."""
    return pa.concat_arrays(list(slice_texts(rows, text)))


def write_rows(
    out: Any, rows: pa.RecordBatch | pa.Table, text: Callable[[pa.Table], Text], separator: str, lead: str
) -> None:
    """Write `lead`, then text() of each row with `separator` between rows, to the text stream `out`: made a
    slice at a time on every core, and written as each slice is done from the buffer it was joined into."""
    skip = len(separator.encode())  # the first row's separator is `lead` instead
    for texts in slice_texts(rows, lambda part: Text(separator, text(part)).array(part.num_rows)):
        out.write(lead)
        write_bytes(out, values_bytes(texts)[skip:])
        lead, skip = "", 0


def _array(texts: pa.Array | pa.ChunkedArray) -> pa.Array:
    return texts.combine_chunks() if isinstance(texts, pa.ChunkedArray) else texts


def string_buffers(array: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """A string array's offsets (one a value, and one more) and the bytes of all its values, as its buffers
    hold them (no copy; nulls are empty): numpy's passes over them are many times cheaper than a regular
    expression's or a substring search's."""
    if not len(array):
        return np.zeros(1, np.int32), np.zeros(0, np.uint8)
    array = array.cast(pa.string())
    offsets = np.frombuffer(array.buffers()[1], np.int32)[array.offset : array.offset + len(array) + 1]
    return offsets, np.frombuffer(array.buffers()[2] or b"", np.uint8)[offsets[0] : offsets[-1]]


def values_bytes(texts: pa.Array) -> memoryview:
    """Every value of a string array one after another, as its buffer holds them (no copy; nulls are empty)."""
    return string_buffers(texts)[1].data


def write_bytes(out: Any, data: memoryview) -> None:
    """Write UTF-8 bytes to the text stream `out`: straight to its binary buffer when it has one and
    writes UTF-8 (no Python string of hundreds of MB to decode and encode again)."""
    buffer = getattr(out, "buffer", None)
    if buffer is not None and codecs.lookup(getattr(out, "encoding", None) or "ascii").name == "utf-8":
        out.flush()
        buffer.write(data)
    else:
        out.write(str(data, "utf-8"))


def joined(lines: pa.Array, separator: str) -> str:
    """Every string of the array joined by `separator`, in one Arrow call (no Python string per row)."""
    if not len(lines):
        return ""
    return str(_joined(lines, separator).as_py())


def write_joined(out: Any, lines: pa.Array, separator: str, before: str = "", after: str = "") -> None:
    """Write `before`, joined(lines, separator), then `after` to the text stream `out`."""
    out.write(before)
    if len(lines):
        write_bytes(out, memoryview(_joined(lines, separator).as_buffer()))
    out.write(after)


def _joined(lines: pa.Array, separator: str) -> pa.LargeStringScalar:
    if isinstance(lines, pa.ChunkedArray):
        lines = lines.combine_chunks()
    whole = pa.LargeListArray.from_arrays(pa.array([0, len(lines)], pa.int64()), lines.cast(pa.large_string()))
    found: pa.LargeStringScalar = pc.binary_join(whole, pa.scalar(separator, pa.large_string()))[0]
    return found
