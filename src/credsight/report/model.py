"""The IAM credential report: its columns, its markers, its typed rows, and rendering it back.

Parsing (parser.py) normalises once, at the boundary: booleans become booleans, timestamps become UTC
timestamps, and the three markers AWS writes instead of a value (``N/A``, ``no_information``,
``not_supported``) become NULL with the marker kept beside the value in ``<column>_marker``.
Everything needed to write the report back byte for byte is kept too: the header line, the
line ending, the final newline, each row's line number and, for the rare row whose canonical
rendering differs from what was read, the original line.

Reference: AWS IAM User Guide, "Getting credential reports for your AWS account".
This module imports nothing else of credsight; parser.py imports only this.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum

import pyarrow as pa
import pyarrow.compute as pc

from credsight.errors import ReportError

ROOT_USER = "<root_account>"
MARKERS = ("N/A", "no_information", "not_supported")
TIME_FORMAT = "%Y-%m-%dT%H:%M:%S+00:00"
ACCOUNT_ID = re.compile(r"\d{12}")


class Kind(Enum):
    TEXT = "text"
    BOOL = "bool"
    TIME = "time"


# The 22 columns of today's report, in order, and what each holds.
COLUMNS: dict[str, Kind] = {
    "user": Kind.TEXT,
    "arn": Kind.TEXT,
    "user_creation_time": Kind.TIME,
    "password_enabled": Kind.BOOL,
    "password_last_used": Kind.TIME,
    "password_last_changed": Kind.TIME,
    "password_next_rotation": Kind.TIME,
    "mfa_active": Kind.BOOL,
    "access_key_1_active": Kind.BOOL,
    "access_key_1_last_rotated": Kind.TIME,
    "access_key_1_last_used_date": Kind.TIME,
    "access_key_1_last_used_region": Kind.TEXT,
    "access_key_1_last_used_service": Kind.TEXT,
    "access_key_2_active": Kind.BOOL,
    "access_key_2_last_rotated": Kind.TIME,
    "access_key_2_last_used_date": Kind.TIME,
    "access_key_2_last_used_region": Kind.TEXT,
    "access_key_2_last_used_service": Kind.TEXT,
    "cert_1_active": Kind.BOOL,
    "cert_1_last_rotated": Kind.TIME,
    "cert_2_active": Kind.BOOL,
    "cert_2_last_rotated": Kind.TIME,
}
CURRENT_HEADER = tuple(COLUMNS)
# Reports from before 2015 lack the access keys' last-used columns.
OLD_HEADER = tuple(c for c in CURRENT_HEADER if "_last_used_" not in c)
IDENTITY_COLUMNS = ("user", "arn")
VALUE_COLUMNS = tuple(c for c in CURRENT_HEADER if c not in IDENTITY_COLUMNS)

UTC_SECONDS = pa.timestamp("s", tz="UTC")
_ARROW_TYPES = {Kind.TEXT: pa.string(), Kind.BOOL: pa.bool_(), Kind.TIME: UTC_SECONDS}

# The Arrow schema of parsed rows: what the store keeps and the `reports` view shows.
REPORT_FIELDS: list[pa.Field] = [
    pa.field("account_id", pa.string(), nullable=False),
    pa.field("snapshot_date", pa.date32(), nullable=False),
    pa.field("user", pa.string(), nullable=False),
    pa.field("arn", pa.string(), nullable=False),
]
for _name in VALUE_COLUMNS:
    REPORT_FIELDS.append(pa.field(_name, _ARROW_TYPES[COLUMNS[_name]]))
    REPORT_FIELDS.append(pa.field(f"{_name}_marker", pa.string()))
REPORT_FIELDS += [
    pa.field("extra_values", pa.list_(pa.string())),
    pa.field("line_number", pa.int32(), nullable=False),
    pa.field("raw_line", pa.string()),
]
REPORT_SCHEMA = pa.schema(REPORT_FIELDS)


@dataclass(frozen=True)
class ReportInput:
    """One report's bytes and what is known of it from outside the file."""

    content: bytes
    source: str
    snapshot_date: dt.date
    account_id: str | None = None


def quoted(value: str, limit: int = 40) -> str:
    """A value from a file, quoted for an error message and cut short: errors end up in logs."""
    return repr(value if len(value) <= limit else value[:limit] + "...")


def check_account_id(value: str, source: str) -> str:
    """Return the account id if it is 12 digits, else raise; ids become paths in the store."""
    if not ACCOUNT_ID.fullmatch(value):
        raise ReportError(
            source,
            f"account id {quoted(value)} is not 12 digits; give the AWS account id, e.g. 012345678901",
        )
    return value


@dataclass(frozen=True)
class ReportLayout:
    """What the bytes of a report hold beyond its rows: header line, line ending, final newline."""

    header: str  # the header line as written, BOM included, without its line ending
    eol: str  # "\n" or "\r\n"
    final_eol: bool


def read_header(first_line: str, source: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    names = tuple(first_line.lstrip("\ufeff").rstrip("\r").split(","))
    for known in (CURRENT_HEADER, OLD_HEADER):
        if names[: len(known)] == known:
            return known, names[len(known) :]
    expected = CURRENT_HEADER if len(names) > len(OLD_HEADER) + 2 else OLD_HEADER
    for i, want in enumerate(expected):
        got = names[i] if i < len(names) else None
        if got != want:
            found = "nothing" if got is None else quoted(got)
            raise ReportError(
                source,
                f"header has {found} where {want!r} belongs; "
                "is this an unedited IAM credential report (aws iam get-credential-report)?",
                line=1,
                column=str(i + 1),
            )
    raise AssertionError("unreachable")  # pragma: no cover


def render_lines(table: pa.Table, known: Sequence[str]) -> pa.Array:
    """The canonical CSV line of each row (no line ending): what AWS writes for these values."""
    parts: list[pa.Array] = []
    for name in known:
        column = table.column(name)
        if COLUMNS[name] is Kind.TIME:
            text = pc.strftime(pc.cast(column, UTC_SECONDS), format=TIME_FORMAT)
        elif COLUMNS[name] is Kind.BOOL:
            text = pc.if_else(column, "true", "false")
        else:
            text = column
        if name not in IDENTITY_COLUMNS:
            text = pc.coalesce(table.column(f"{name}_marker"), text)
        parts.append(pc.coalesce(text, ""))
    extras = table.column("extra_values")
    if pc.any(pc.greater(pc.list_value_length(extras), 0)).as_py():
        parts.append(pc.binary_join(extras, ","))
    return pc.binary_join_element_wise(*parts, ",")


def render_report(rows: pa.Table, layout: ReportLayout) -> bytes:
    """Write one report's rows (in any order) and its layout back to the exact bytes they were read from."""
    known, _extra = read_header(layout.header, "stored report")
    cr = "\r" if layout.eol == "\r\n" else ""
    lines = [layout.header + cr]
    if rows.num_rows:
        rows = rows.sort_by("line_number")
        canonical = pc.binary_join_element_wise(render_lines(rows, known), cr, "")
        lines += pc.coalesce(rows.column("raw_line"), canonical).to_pylist()
    elif not layout.final_eol:
        lines[0] = layout.header
    return ("\n".join(lines) + ("\n" if layout.final_eol else "")).encode("utf-8")
