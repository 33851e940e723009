"""Parsing credential reports: many at once, in one vectorised pass, with exact errors.

The CSV reader splits every data line of a batch into fields in one call; each column is then
typed with Arrow compute (see model.py for what the columns and markers mean). The slow,
exact searches (which line has the wrong number of fields, which byte is not UTF-8) run only
when the fast pass has found that something is wrong.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pcsv

from credsight.errors import ReportError
from credsight.report.model import (
    COLUMNS,
    IDENTITY_COLUMNS,
    MARKERS,
    REPORT_SCHEMA,
    ROOT_USER,
    UTC_SECONDS,
    Kind,
    ReportInput,
    ReportLayout,
    check_account_id,
    quoted,
    read_header,
)

ARN_ACCOUNT = r"^arn:aws(?:-us-gov|-cn)?:iam::(?P<account>\d{12}):(?:root|user/.+)$"
# What IAM accepts as a user name (IAM API reference, CreateUser: UserName, pattern [\w+=,.@-]+, 1 to 64
# characters); the credential report's root row is named ROOT_USER instead.
IAM_USER_NAME = r"^(?:[A-Za-z0-9+=,.@_-]{1,64}|<root_account>)$"
NAME_CHARACTERS = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+=,.@_-"


@dataclass(frozen=True)
class _Report:
    """One input, decoded and split at its header: what the batch parser needs of it."""

    index: int
    layout: ReportLayout
    known: tuple[str, ...]
    extra: tuple[str, ...]
    body: memoryview  # the data lines, without the final line ending (a view, not a copy)
    rows: int
    exact: bool  # False when some lines may not be written back canonically (quotes, mixed endings)

    def lines(self) -> list[str]:
        return bytes(self.body).decode("utf-8").split("\n") if self.rows else []


def _split(index: int, content: bytes, source: str) -> _Report:
    """Check the encoding and the header of one report and cut it into header and body."""
    if not content or content.isspace():
        raise ReportError(
            source,
            "the file is empty; expected a credential report with its header line",
        )
    cut = content.find(b"\n")
    newline = cut >= 0
    header = _decode(content[:cut] if newline else content, source, 0)  # the body: checked in bulk later
    eol = "\r\n" if header.endswith("\r") else "\n"
    known, extra = read_header(header, source)
    # The body is a view into the content: no copy of a report's bytes is made here.
    body = memoryview(content)[cut + 1 :] if newline else memoryview(b"")
    final_eol = newline and (not body or body[-1] == 0x0A)
    if final_eol and body:
        body = body[:-1]
    rows = content.count(b"\n", cut + 1, cut + 1 + len(body)) + 1 if body else 0
    crs = content.count(b"\r", cut + 1, cut + 1 + len(body)) if b"\r" in content else 0
    exact = content.find(b'"', cut + 1) < 0 and crs == (rows if eol == "\r\n" else 0)
    if eol == "\r\n" and body and body[-1] == 0x0D:
        exact = False  # a CRLF file whose last row ends in a lone CR cannot be told from a final newline
    return _Report(index, ReportLayout(header.rstrip("\r"), eol, final_eol), known, extra, body, rows, exact)


def _decode(data: bytes, source: str, offset: int) -> str:
    """Text from UTF-8 bytes, or a ReportError naming the line of the first bad byte."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        line = data[: e.start].count(b"\n") + 1 + offset
        raise ReportError(source, f"byte {e.start} is not UTF-8; save the report as UTF-8", line=line) from None


def _first_bad(bad: pa.Array) -> int | None:
    found = np.flatnonzero(bad.to_numpy(zero_copy_only=False))
    return int(found[0]) if found.size else None


@dataclass
class _Where:
    """Maps a row of a batch back to its file and line, for error messages."""

    files: np.ndarray
    line_numbers: np.ndarray
    sources: Sequence[str]

    def fail(self, row: int, message: str, column: str | None = None) -> None:
        raise ReportError(
            self.sources[self.files[row]],
            message,
            line=int(self.line_numbers[row]),
            column=column,
        )

    def fail_at(self, row: int | None, column: str, raw: pa.Array, what: str) -> None:
        if row is not None:
            value = quoted(raw[row].as_py())
            self.fail(
                row,
                f"{value} does not parse: {what}; correct the value or export the report again",
                column,
            )


def _typed(name: str, raw: pa.Array, where: _Where) -> tuple[pa.Array, pa.Array, pa.Array | None]:
    """Convert one column of raw strings into (value, marker, written-canonically-or-None)."""
    kind = COLUMNS[name]
    if kind is Kind.BOOL:
        true = pc.equal(raw, "true")
        if pc.all(pc.or_(true, pc.equal(raw, "false"))).as_py():  # the usual case: no marker at all
            return true, pa.nulls(len(raw), pa.string()), None
    is_marker = pc.is_in(raw, value_set=pa.array(MARKERS))
    marker = pc.if_else(is_marker, raw, pa.scalar(None, pa.string()))
    value: pa.Array
    canonical = None
    if kind is Kind.TEXT:
        value = pc.if_else(is_marker, pa.scalar(None, pa.string()), raw)
    elif kind is Kind.BOOL:
        ok = pc.or_(is_marker, pc.is_in(raw, value_set=pa.array(["true", "false"])))
        where.fail_at(_first_bad(pc.invert(ok)), name, raw, "expected true or false")
        value = pc.if_else(is_marker, pa.scalar(None, pa.bool_()), pc.equal(raw, "true"))
    else:
        text = pc.if_else(is_marker, pa.scalar(None, pa.string()), raw)
        try:
            value = pc.cast(text, UTC_SECONDS)
        except pa.ArrowInvalid:
            parsed = pc.strptime(text, format="%Y-%m-%dT%H:%M:%S%z", unit="s", error_is_null=True)
            bad = pc.and_(pc.invert(is_marker), pc.is_null(parsed))
            where.fail_at(
                _first_bad(bad),
                name,
                raw,
                "expected a timestamp like 2014-10-16T16:03:09+00:00",
            )
            value = parsed
        # What AWS writes: 25 characters, a T at 10, offset +00:00 (the value parsed, so the rest is digits).
        canonical = pc.or_(
            is_marker,
            pc.and_(
                pc.and_(pc.equal(pc.utf8_length(raw), 25), pc.ends_with(raw, "+00:00")),
                pc.equal(pc.find_substring(raw, "T"), 10),
            ),
        )
    return value, marker, canonical


@dataclass(frozen=True)
class ParsedReports:
    """Rows of REPORT_SCHEMA, each row's input (a position in the inputs), each input's account."""

    rows: pa.Table
    input_index: pa.Array
    accounts: list[str]
    layouts: list[ReportLayout]


def parse_reports(inputs: Sequence[ReportInput]) -> ParsedReports:
    """Parse many reports at once (one vectorised pass) into rows of REPORT_SCHEMA.

    Raises ReportError naming the file, line and column of the first problem; nothing is
    returned for any file when one is bad, so callers write all or nothing.
    """
    groups: dict[tuple[tuple[str, ...], int], list[_Report]] = {}
    accounts: list[str | None] = []
    layouts: list[ReportLayout] = []
    for index, item in enumerate(inputs):
        if item.account_id is not None:
            check_account_id(item.account_id, item.source)
        accounts.append(item.account_id)
        report = _split(index, item.content, item.source)
        layouts.append(report.layout)
        groups.setdefault((report.known, len(report.extra)), []).append(report)
    sources = [item.source for item in inputs]
    tables, indexes = [], [np.zeros(0, dtype=np.int64)]
    for (known, n_extra), members in groups.items():
        table, files = _parse_group(known, n_extra, members, inputs, accounts, sources)
        tables.append(table)
        indexes.append(files)
    rows = tables[0] if len(tables) == 1 else pa.concat_tables([REPORT_SCHEMA.empty_table(), *tables]).combine_chunks()
    return ParsedReports(rows, pa.array(np.concatenate(indexes)), [a or "" for a in accounts], layouts)


def _read_fields(members: list[_Report], width: int, where: _Where) -> pa.Table:
    """All data lines of the group as a table of `width` string columns, one row per line."""
    bodies = [m.body for m in members if m.rows]
    if not bodies:
        return pa.table({f"f{i}": pa.array([], pa.string()) for i in range(width)})
    invalid: list[str] = []

    def on_invalid(row: pcsv.InvalidRow) -> str:
        invalid.append(row.text or "")
        return "skip"

    names = [f"f{i}" for i in range(width)]
    try:
        fields = _read_csv(bodies, names, on_invalid)
    except pa.ArrowInvalid:
        for member in members:
            _decode(bytes(member.body), where.sources[member.index], 1)
        raise
    if invalid or fields.num_rows != len(where.files):
        _find_bad_row(members, width, where)
    return fields


def _read_csv(bodies: list[memoryview], names: list[str], on_invalid: Callable[[pcsv.InvalidRow], str]) -> pa.Table:
    return pcsv.read_csv(
        io.BytesIO(b"\n".join(bodies)),
        read_options=pcsv.ReadOptions(column_names=names, use_threads=True),
        parse_options=pcsv.ParseOptions(invalid_row_handler=on_invalid, ignore_empty_lines=False),
        convert_options=pcsv.ConvertOptions(
            column_types=dict.fromkeys(names, pa.string()),
            strings_can_be_null=False,
            quoted_strings_can_be_null=False,
        ),
    )


def _find_bad_row(members: list[_Report], width: int, where: _Where) -> None:
    """The slow, exact search for the first line that cannot be split into `width` fields."""
    for member in members:
        if not member.rows:  # a report of its header alone has no line to blame
            continue
        source = where.sources[member.index]
        text = _decode(bytes(member.body), source, 1)
        for number, line in enumerate(text.split("\n"), start=2):
            try:
                count = len(next(csv.reader([line.removesuffix("\r")]))) if line.strip() else 0
            except csv.Error:
                count = -1
            if "\r" in line.removesuffix("\r") or count < 0:
                raise ReportError(source, "row holds a stray line break or quote; export the report again", line=number)
            if count != width:
                raise ReportError(
                    source,
                    f"row has {count} fields, the header has {width}; the file is cut or edited, export it again",
                    line=number,
                )
    raise ReportError(
        where.sources[members[0].index], "the rows could not be split into fields; export the report again"
    )


def _parse_group(
    known: tuple[str, ...],
    n_extra: int,
    members: list[_Report],
    inputs: Sequence[ReportInput],
    accounts: list[str | None],
    sources: Sequence[str],
) -> tuple[pa.Table, np.ndarray]:
    files = np.concatenate([np.full(m.rows, m.index, dtype=np.int64) for m in members])
    line_numbers = np.concatenate([np.arange(2, m.rows + 2, dtype=np.int32) for m in members])
    where = _Where(files, line_numbers, sources)
    width = len(known) + n_extra
    fields = _read_fields(members, width, where)
    n = fields.num_rows
    blank = _first_bad(pc.equal(fields.column(0), ""))
    if blank is not None:
        where.fail(
            blank,
            "the row is empty or has no user name; remove blank lines or export the report again",
        )
    member_of = np.searchsorted(np.array([m.index for m in members]), files)
    exact = pa.array(np.array([m.exact for m in members], dtype=bool)[member_of])
    snapshot_dates = np.array([inputs[m.index].snapshot_date for m in members], dtype="datetime64[D]")[member_of]
    columns: dict[str, pa.Array] = {}
    for position, name in enumerate(known):
        raw = fields.column(position).combine_chunks()
        if name in IDENTITY_COLUMNS:
            columns[name] = raw
        else:
            columns[name], columns[f"{name}_marker"], canonical = _typed(name, raw, where)
            if canonical is not None:
                exact = pc.and_(exact, canonical)
    account_of_row = _accounts_from_arns(columns["arn"], members, accounts, where)
    _check_identities(columns["user"], columns["arn"], where)

    if n_extra:
        extra_columns = [fields.column(len(known) + i).combine_chunks() for i in range(n_extra)]
        offsets = pa.array(np.arange(0, n + 1, dtype=np.int32) * n_extra)
        extras = pa.ListArray.from_arrays(offsets, _interleave(extra_columns))
    else:
        extras = pa.ListArray.from_arrays(pa.array(np.zeros(n + 1, dtype=np.int32)), pa.array([], pa.string()))
    table = {
        "account_id": account_of_row,
        "snapshot_date": pa.array(snapshot_dates, pa.date32()),
        **columns,
        "extra_values": extras,
        "line_number": pa.array(line_numbers, pa.int32()),
        "raw_line": _raw_lines(exact, members, member_of, line_numbers),
    }
    for name in REPORT_SCHEMA.names:
        if name not in table:
            table[name] = pa.nulls(n, REPORT_SCHEMA.field(name).type)
    return pa.table(table).select(REPORT_SCHEMA.names).cast(REPORT_SCHEMA), files


def _interleave(columns: list[pa.Array]) -> pa.Array:
    """Row-major values of several equal-length string columns: a0, b0, a1, b1, ..."""
    stacked = pa.concat_arrays(columns)
    n = len(columns[0])
    order = (np.arange(len(columns))[None, :] * n + np.arange(n)[:, None]).ravel()
    return stacked.take(pa.array(order))


def _raw_lines(
    exact: pa.Array,
    members: list[_Report],
    member_of: np.ndarray,
    line_numbers: np.ndarray,
) -> pa.Array:
    """The original text of the rows that canonical rendering would not give back; NULL elsewhere."""
    inexact = np.flatnonzero(~exact.to_numpy(zero_copy_only=False))
    if not inexact.size:
        return pa.nulls(len(exact), pa.string())
    values: list[str | None] = [None] * len(exact)
    cache: dict[int, list[str]] = {}
    for row in inexact.tolist():
        member = members[member_of[row]]
        if member.index not in cache:
            cache[member.index] = member.lines()
        values[row] = cache[member.index][line_numbers[row] - 2]
    return pa.array(values, pa.string())


def _accounts_from_arns(arns: pa.Array, members: list[_Report], accounts: list[str | None], where: _Where) -> pa.Array:
    """Each row's account: the file's, which every ARN must agree with; or the ARNs' own."""
    found = pc.struct_field(pc.extract_regex(arns, ARN_ACCOUNT), "account")
    bad_arn = _first_bad(pc.is_null(found))
    if bad_arn is not None:
        where.fail_at(
            bad_arn,
            "arn",
            arns,
            "expected arn:aws:iam::<12-digit account>:user/<name> or :root",
        )
    start = 0
    for member in members:
        if accounts[member.index] is None:
            if member.rows == 0:
                raise ReportError(
                    where.sources[member.index],
                    "the report has no rows and no account in its path; pass --account",
                )
            accounts[member.index] = found[start].as_py()
        start += member.rows
    member_ids = np.searchsorted(np.array([m.index for m in members]), where.files)
    expected = pa.array([accounts[m.index] for m in members], pa.string()).take(pa.array(member_ids))
    mismatch = _first_bad(pc.not_equal(found, expected))
    if mismatch is not None:
        where.fail(
            mismatch,
            f"ARN account {found[mismatch].as_py()} differs from the report's account {expected[mismatch].as_py()}; "
            "the file is in the wrong folder or holds another account's rows",
            column="arn",
        )
    return expected


def _check_identities(users: pa.Array, arns: pa.Array, where: _Where) -> None:
    """Every user is one IAM can make, and is listed once in its report (by name and by ARN).

    A report that repeats a user would count that user twice in every view (a root row tripled
    is three roots without MFA). The fast pass looks at the names' bytes and sorts integers;
    the exact searches run only when it finds something wrong.
    """
    is_root = pc.equal(users, ROOT_USER)
    if not _names_are_possible(users, pc.sum(is_root).as_py() or 0):
        bad = _first_bad(pc.invert(pc.match_substring_regex(users, IAM_USER_NAME)))
        if bad is not None:
            where.fail(
                bad,
                f"{quoted(users[bad].as_py())} is not a name IAM can make (1 to 64 of A-Z a-z 0-9 + = , . @ _ -, "
                f"the root row is {ROOT_USER}); the file was edited or is not a credential report: export it again",
                column="user",
            )
    mismatch = _first_bad(pc.not_equal(pc.ends_with(arns, ":root"), is_root))
    if mismatch is not None:
        where.fail(
            mismatch,
            f"{quoted(users[mismatch].as_py())} with the ARN {quoted(arns[mismatch].as_py())}: the root row, and "
            f"only it, is named {ROOT_USER} and has an ARN ending in :root; correct the row or export the report again",
            column="user",
        )
    for name, values in (("user", users), ("arn", arns)):
        _check_listed_once(name, values, where)


def _names_are_possible(users: pa.Array, roots: int) -> bool:
    """True when every name is made of IAM's characters, 1 to 64 of them (the root rows aside).

    One pass over the column's bytes: with IAM's characters deleted, what is left must be the
    angle brackets of the `roots` rows named <root_account>, in their order.
    """
    if not len(users):
        return True
    offsets = np.frombuffer(users.buffers()[1], dtype=np.int32)[users.offset : users.offset + len(users) + 1]
    lengths = np.diff(offsets)
    if lengths.size and (lengths.min() < 1 or lengths.max() > 64):
        return False
    data = memoryview(users.buffers()[2])[offsets[0] : offsets[-1]]
    return bytes(data).translate(None, NAME_CHARACTERS) == b"<>" * roots


def _check_listed_once(name: str, values: pa.Array, where: _Where) -> None:
    """Refuse a report that lists the same value of `name` twice, naming the second line and the first."""
    encoded = pc.dictionary_encode(values)
    ids = encoded.indices.to_numpy(zero_copy_only=False).astype(np.int64)
    key = where.files * max(len(encoded.dictionary), 1) + ids  # the same value in the same report: the same key
    ordered = np.sort(key)
    if not (ordered[1:] == ordered[:-1]).any():
        return
    order = np.argsort(key, kind="stable")  # rows of one key stay in line order
    repeated = order[1:][key[order[1:]] == key[order[:-1]]]
    row = int(repeated.min())
    first = int(np.flatnonzero(key == key[row])[0])
    where.fail(
        row,
        f"{quoted(values[row].as_py())} is listed again (first on line {where.line_numbers[first]}); a credential "
        "report lists each user once, so the file was edited or joined from two: export it again",
        column=name,
    )
