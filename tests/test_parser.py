"""The report parser: every marker, every layout, and every bad input it must refuse."""

from __future__ import annotations

import datetime as dt

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from credsight.errors import ReportError
from credsight.report.model import CURRENT_HEADER, OLD_HEADER, ReportInput, render_report
from credsight.report.parser import parse_reports
from tests.conftest import ACCOUNT, DAY, report, user_row


def parse(content: bytes, account: str | None = ACCOUNT, source: str = "r.csv") -> pa.Table:
    return parse_reports([ReportInput(content, source, DAY, account)]).rows


def round_trip(content: bytes) -> bytes:
    parsed = parse_reports([ReportInput(content, "r.csv", DAY, ACCOUNT)])
    return render_report(parsed.rows, parsed.layouts[0])


def test_typed_values_and_root_row() -> None:
    rows = parse(report(user_row("alice"))).to_pylist()
    root, alice = rows
    assert root["user"] == "<root_account>" and root["account_id"] == ACCOUNT
    assert root["password_enabled"] is None and root["password_enabled_marker"] == "not_supported"
    assert alice["password_enabled"] is True and alice["mfa_active"] is True
    assert alice["password_last_used"] == dt.datetime(2026, 10, 31, 9, 0, tzinfo=dt.UTC)
    assert alice["access_key_1_last_used_region"] == "us-east-1"
    assert alice["snapshot_date"] == DAY and alice["line_number"] == 3


@pytest.mark.parametrize(
    ("column", "marker"),
    [
        ("password_last_used", "N/A"),
        ("password_last_used", "no_information"),
        ("password_last_used", "not_supported"),
        ("access_key_1_last_used_region", "N/A"),
        ("access_key_1_last_used_region", "not_supported"),  # moto writes this
        ("access_key_1_last_used_service", "not_supported"),
        ("password_enabled", "not_supported"),
        ("mfa_active", "N/A"),
        ("cert_1_last_rotated", "no_information"),
        ("user_creation_time", "N/A"),
    ],
)
def test_each_marker_is_null_with_the_marker_kept(column: str, marker: str) -> None:
    alice = parse(report(user_row("alice", **{column: marker}))).to_pylist()[1]
    assert alice[column] is None
    assert alice[f"{column}_marker"] == marker


def test_markers_are_different_facts() -> None:
    content = report(user_row("a", password_last_used="N/A"), user_row("b", password_last_used="no_information"))
    markers = parse(content).column("password_last_used_marker").to_pylist()
    assert markers == [None, "N/A", "no_information"]


def test_old_sixteen_column_report() -> None:
    table = parse(report(user_row("alice"), old=True))
    assert table.num_rows == 2
    alice = table.to_pylist()[1]
    assert alice["access_key_1_last_rotated"] == dt.datetime(2025, 6, 1, tzinfo=dt.UTC)
    # The columns the old report lacks are absent (NULL), not a marker.
    assert alice["access_key_1_last_used_date"] is None and alice["access_key_1_last_used_date_marker"] is None
    assert round_trip(report(user_row("alice"), old=True)) == report(user_row("alice"), old=True)


def test_unknown_extra_columns_are_kept() -> None:
    header = ",".join([*CURRENT_HEADER, "additional_credentials_info", "future"])
    line = ",".join(user_row("alice")[c] for c in CURRENT_HEADER) + ",x=1,"
    content = f"{header}\n{line}".encode()
    table = parse(content)
    assert table.column("extra_values").to_pylist() == [["x=1", ""]]
    assert round_trip(content) == content


@pytest.mark.parametrize(
    "content",
    [
        report(user_row("alice")),
        report(user_row("alice"), final=True),
        report(user_row("alice"), eol="\r\n"),
        report(user_row("alice"), eol="\r\n", final=True),
        b"\xef\xbb\xbf" + report(user_row("alice")),
        report(user_row("alice", password_last_used="2026-10-31T11:00:00+02:00")),
        report(user_row("alice", password_last_used="2026-10-31T09:00:00Z")),
        report(user_row("o,neil", arn=f"arn:aws:iam::{ACCOUNT}:user/o")).replace(b"o,neil", b'"o,neil"'),
        report(user_row("alice"), user_row("bob")).replace(b"\nbob", b"\r\nbob"),  # mixed line endings
        report(user_row("ops-user", arn=f"arn:aws:iam::{ACCOUNT}:user/division/ops-user")),
        report(user_row("elise", access_key_1_last_used_region="région")),  # UTF-8 where IAM allows it
        ",".join(CURRENT_HEADER).encode(),  # no users at all (moto's reports have no root row)
    ],
    ids=[
        "plain",
        "final-newline",
        "crlf",
        "crlf-final",
        "bom",
        "offset",
        "zulu",
        "quoted",
        "mixed-eol",
        "path",
        "utf8",
        "empty",
    ],
)
def test_render_gives_back_the_exact_bytes(content: bytes) -> None:
    assert round_trip(content) == content


def test_offsets_are_converted_to_utc() -> None:
    alice = parse(report(user_row("alice", password_last_used="2026-10-31T11:00:00+02:00"))).to_pylist()[1]
    assert alice["password_last_used"] == dt.datetime(2026, 10, 31, 9, 0, tzinfo=dt.UTC)


def test_account_from_arns_when_the_path_does_not_say() -> None:
    parsed = parse_reports([ReportInput(report(user_row("alice")), "r.csv", DAY, None)])
    assert parsed.accounts == [ACCOUNT]
    assert set(parsed.rows.column("account_id").to_pylist()) == {ACCOUNT}


def test_many_reports_in_one_batch_keep_their_own_accounts_and_lines() -> None:
    other = "109876543210"
    parsed = parse_reports(
        [
            ReportInput(report(user_row("alice")), "a.csv", DAY, ACCOUNT),
            ReportInput(report(user_row("bob", account=other), old=True, account=other), "b.csv", DAY, other),
            ReportInput(report(user_row("carol"), user_row("dan")), "c.csv", DAY + dt.timedelta(1), None),
        ]
    )
    rows = parsed.rows.to_pylist()
    by_user = {(r["account_id"], r["user"]): r for r in rows}
    assert by_user[(other, "bob")]["line_number"] == 3
    assert by_user[(ACCOUNT, "dan")]["snapshot_date"] == DAY + dt.timedelta(1)
    assert parsed.input_index.to_pylist().count(2) == 3


def bad(column: str, value: str) -> bytes:
    return report(user_row("alice"), user_row("bob", **{column: value}))


@pytest.mark.parametrize(
    ("content", "account", "line", "column", "says"),
    [
        (b"", ACCOUNT, None, None, "empty"),
        (b"  \n", ACCOUNT, None, None, "empty"),
        (report(user_row("a")).replace(b"arn,", b"ARN,", 1), ACCOUNT, 1, "2", "'ARN' where 'arn' belongs"),
        (report(user_row("a")).replace(b"mfa_active,", b"", 1), ACCOUNT, 1, "8", "where 'mfa_active' belongs"),
        (b"name,email\nx,y", ACCOUNT, 1, "1", "credential report"),
        (report(user_row("a")) + b"\nbob,arn", ACCOUNT, 4, None, "2 fields"),
        (report(user_row("a")).replace(b",N/A\n", b",N/A,extra\n", 1), ACCOUNT, 2, None, "23 fields"),
        (report(user_row("a")).replace(b"\na,", b"\n\na,"), ACCOUNT, 3, None, "row is empty"),
        (bad("mfa_active", "yes"), ACCOUNT, 4, "mfa_active", "true or false"),
        (bad("password_enabled", "TRUE"), ACCOUNT, 4, "password_enabled", "true or false"),
        (bad("password_last_used", "2026-13-01T00:00:00+00:00"), ACCOUNT, 4, "password_last_used", "timestamp"),
        (bad("user_creation_time", "yesterday"), ACCOUNT, 4, "user_creation_time", "timestamp"),
        (bad("access_key_1_last_rotated", ""), ACCOUNT, 4, "access_key_1_last_rotated", "timestamp"),
        (bad("arn", "arn:aws:iam::109876543210:user/bob"), ACCOUNT, 4, "arn", "differs"),
        (bad("arn", "not-an-arn"), ACCOUNT, 4, "arn", "expected arn:aws:iam"),
        (report(user_row("a")), "12345", None, None, "not 12 digits"),
        (report(user_row("a")), "../../etc", None, None, "not 12 digits"),
        (report(user_row("a")) + b"\xff", ACCOUNT, 3, None, "not UTF-8"),
        (b"\xff\xfe" + report(user_row("a")), ACCOUNT, 1, None, "not UTF-8"),
        (",".join(CURRENT_HEADER).encode(), None, None, None, "no rows and no account"),
    ],
    ids=lambda v: v if isinstance(v, str) and len(v) < 30 else None,
)
def test_bad_input_is_refused_with_where_and_what(
    content: bytes, account: str | None, line: int | None, column: str | None, says: str
) -> None:
    with pytest.raises(ReportError) as caught:
        parse(content, account=account, source="in/r.csv")
    error = caught.value
    message = str(error)
    assert "\n" not in message
    assert message.startswith("in/r.csv")
    assert says in message
    assert error.line == line
    assert error.column == column


def test_one_bad_report_fails_the_whole_batch() -> None:
    with pytest.raises(ReportError, match=r"b\.csv: line 3, column mfa_active"):
        parse_reports(
            [
                ReportInput(report(user_row("alice")), "a.csv", DAY, ACCOUNT),
                ReportInput(report(user_row("bob", mfa_active="maybe")), "b.csv", DAY, ACCOUNT),
            ]
        )


def test_a_bad_row_is_blamed_on_its_own_report_after_a_header_only_one() -> None:
    """Found by the collector's test: an account with no users came before a report with a bad row."""
    whole = report(user_row("bob"), user_row("carol")).rstrip(b"\r\n")
    short = whole[: whole.rfind(b",")]  # carol's row loses its last field
    header_only = report().split(b"\n")[0] + b"\n"  # as moto writes an account with no users
    with pytest.raises(ReportError, match=r"b\.csv: line 4: row has 21 fields"):
        parse_reports([ReportInput(header_only, "a.csv", DAY, ACCOUNT), ReportInput(short, "b.csv", DAY, ACCOUNT)])


def test_old_header_is_recognised_exactly() -> None:
    assert len(OLD_HEADER) == 16 and len(CURRENT_HEADER) == 22
    assert all("last_used_" not in c for c in OLD_HEADER)


def test_values_quoted_in_errors_are_cut_short() -> None:
    secret = "x" * 200
    with pytest.raises(ReportError) as caught:
        parse(report(user_row("bob", mfa_active=secret)))
    assert secret not in str(caught.value) and "'" + "x" * 40 + "...'" in str(caught.value)


# pyarrow's invalid-row callback cannot decode a row that is not UTF-8 and reports that as an
# unraisable exception; the parser then finds and reports the bad byte itself.
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
@settings(max_examples=300, deadline=None)
@given(
    cuts=st.lists(st.tuples(st.integers(0, 2000), st.binary(max_size=6)), max_size=4),
    extra=st.sampled_from([b"", b'"', b",", b"\r", b"\n", b"\xff", b"\x00", b'",x,"']),
)
def test_a_damaged_report_is_parsed_or_refused_never_a_crash(cuts: list[tuple[int, bytes]], extra: bytes) -> None:
    content = bytearray(report(user_row("alice"), user_row("bob", access_key_2_active="true")))
    for at, junk in cuts:
        at = min(at, len(content))
        content[at:at] = junk + extra
    try:
        parsed = parse_reports([ReportInput(bytes(content), "r.csv", DAY, ACCOUNT)])
    except ReportError as error:
        assert str(error).startswith("r.csv") and "\n" not in str(error)
    else:
        assert render_report(parsed.rows, parsed.layouts[0]) == bytes(content)
