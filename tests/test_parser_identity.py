"""Who a report names: each user once, by a name IAM can make; refused otherwise, by ingest and collect alike."""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import boto3
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from credsight.demo import DemoOrganization
from credsight.errors import ReportError
from credsight.query import Database
from credsight.report.model import CURRENT_HEADER, ROOT_USER, ReportInput
from credsight.report.parser import parse_reports
from credsight.sources.aws import Aws
from credsight.sources.collect import Settings, collect
from credsight.sources.credential_report import Timing
from credsight.sources.organizations import Account
from credsight.store import Store
from tests.aws_org import MANAGEMENT, member_clients
from tests.conftest import ACCOUNT, DAY, ROOT_ROW, report, user_row

IAM_NAME = re.compile(r"[A-Za-z0-9+=,.@_-]{1,64}")
FAST = Timing(deadline=8.0, poll_first=0.01, poll_max=0.05, backoff_base=0.01, backoff_max=0.05)


def refusal(content: bytes, source: str = "in/r.csv") -> ReportError:
    with pytest.raises(ReportError) as caught:
        parse_reports([ReportInput(content, source, DAY, ACCOUNT)])
    message = str(caught.value)
    assert message.startswith(source) and "\n" not in message
    return caught.value


def csv_report(names: list[str]) -> bytes:
    """A report of the root row and one user per name, quoted as CSV where a name needs it."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CURRENT_HEADER)
    writer.writerow([ROOT_ROW[c] for c in CURRENT_HEADER])
    for name in names:
        row = user_row(name)
        writer.writerow([row[c] for c in CURRENT_HEADER])
    return out.getvalue().encode()


@pytest.mark.parametrize(
    ("rows", "line", "first", "column"),
    [
        ([user_row("alice"), user_row("bob"), user_row("alice")], 5, 3, "user"),
        # the same name under two paths is two ARNs but still one user
        ([user_row("alice"), user_row("alice", arn=f"arn:aws:iam::{ACCOUNT}:user/ops/alice")], 4, 3, "user"),
        # two names, one ARN
        ([user_row("alice"), user_row("bob", arn=f"arn:aws:iam::{ACCOUNT}:user/alice")], 4, 3, "arn"),
        ([ROOT_ROW, ROOT_ROW], 3, 2, "user"),  # the root row tripled: three roots without MFA otherwise
    ],
    ids=["same-user", "same-name-two-paths", "same-arn", "root-tripled"],
)
def test_a_user_listed_twice_is_refused_naming_both_lines(
    rows: list[dict[str, str]], line: int, first: int, column: str
) -> None:
    error = refusal(report(*rows))
    assert (error.line, error.column) == (line, column)
    assert f"listed again (first on line {first})" in str(error)


def test_the_same_users_in_different_reports_are_fine() -> None:
    """A user is listed once per report: the next day's report, or another account's, lists them again."""
    other = "109876543210"
    parsed = parse_reports(
        [
            ReportInput(report(user_row("alice"), user_row("bob")), "a.csv", DAY, ACCOUNT),
            ReportInput(report(user_row("alice"), user_row("bob")), "b.csv", DAY + dt.timedelta(1), ACCOUNT),
            ReportInput(report(user_row("alice", account=other), account=other), "c.csv", DAY, other),
        ]
    )
    assert parsed.rows.column("user").to_pylist().count("alice") == 3
    assert parsed.rows.column("user").to_pylist().count(ROOT_USER) == 3


def test_a_repeat_is_blamed_on_its_own_report_in_a_batch() -> None:
    with pytest.raises(ReportError, match=r"^b\.csv: line 4, column user: 'bob' is listed again"):
        parse_reports(
            [
                ReportInput(report(user_row("alice"), user_row("bob")), "a.csv", DAY, ACCOUNT),
                ReportInput(report(user_row("bob"), user_row("bob")), "b.csv", DAY, ACCOUNT),
            ]
        )


@pytest.mark.parametrize(
    "name",
    [
        "x" * 65,
        "bad name",
        "élise",
        "o'neil",
        "tab\there",
        "a<b>",
        "<ROOT_ACCOUNT>",
        "<root_account>x",
        "semi;colon",
    ],
)
def test_a_name_iam_cannot_make_is_refused(name: str) -> None:
    error = refusal(csv_report(["alice", name]))
    assert (error.line, error.column) == (4, "user")
    assert "is not a name IAM can make" in str(error)


def test_a_very_long_name_is_refused_and_cut_short_in_the_message() -> None:
    name = "a" * 200_000
    error = refusal(csv_report([name]))
    assert (error.line, error.column) == (3, "user")
    assert name not in str(error) and len(str(error)) < 400


def test_the_longest_name_iam_makes_is_fine() -> None:
    names = ["a" * 64, "+=,.@_-", "Z9"]
    parsed = parse_reports([ReportInput(csv_report(names), "r.csv", DAY, ACCOUNT)])
    assert parsed.rows.column("user").to_pylist() == [ROOT_USER, *names]


@pytest.mark.parametrize(
    "row",
    [
        user_row(ROOT_USER),  # named root, with a user's ARN
        user_row("alice", arn=f"arn:aws:iam::{ACCOUNT}:root"),  # a user with the root's ARN
    ],
    ids=["root-name-user-arn", "user-name-root-arn"],
)
def test_only_the_root_row_is_root(row: dict[str, str]) -> None:
    error = refusal(report(user_row("bob"), row))
    assert (error.line, error.column) == (4, "user")
    assert "only it, is named <root_account>" in str(error)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.text(alphabet="abcXYZ09+=,.@_-<> 'é\"", min_size=1, max_size=70),
        unique=True,
        min_size=1,
        max_size=6,
    )
)
def test_a_report_is_taken_exactly_when_every_name_is_one_iam_makes(names: list[str]) -> None:
    """The fast test of the names' bytes agrees with the exact rule, name by name."""
    content = csv_report(names)
    possible = all(IAM_NAME.fullmatch(n) for n in names)
    try:
        parse_reports([ReportInput(content, "r.csv", DAY, ACCOUNT)])
    except ReportError as error:
        assert not possible, (names, str(error))
        assert error.column == "user"
    else:
        assert possible, names


def test_the_demo_organization_names_only_users_iam_can_make() -> None:
    organization = DemoOrganization(accounts=4, days=3, seed=3)
    inputs = [
        ReportInput(r.content, "demo", r.snapshot_date, r.account_id) for day in organization.reports() for r in day
    ]
    parsed = parse_reports(inputs)
    assert parsed.rows.num_rows > 4 * 3


def test_ingest_refuses_a_repeated_user_and_writes_nothing(tmp_path: Path) -> None:
    folder = tmp_path / "bucket" / DAY.isoformat() / ACCOUNT
    folder.mkdir(parents=True)
    (folder / "good.csv").write_bytes(report(user_row("alice")))
    bad = folder / "repeated.csv"
    bad.write_bytes(report(user_row("alice"), user_row("bob"), user_row("alice")))
    store = tmp_path / "store"
    done = subprocess.run(
        [sys.executable, "-m", "credsight.cli", "ingest", "--store", str(store), str(tmp_path / "bucket")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 2, done.stderr
    assert done.stderr.startswith(f"error: {bad}: line 5, column user: 'alice' is listed again (first on line 3)")
    assert done.stderr.count("\n") == 1
    assert not store.exists() or not [p for p in store.rglob("*") if p.is_file()]  # not even the good report


def test_collect_fails_an_account_whose_report_repeats_or_misnames_a_user(moto_endpoint: str, tmp_path: Path) -> None:
    """moto makes any name IAM would refuse; a repeated row is put into moto's answer by a botocore hook."""
    good, repeating, misnaming = "666600000001", "666600000002", "666600000003"
    for account, names in ((good, ["alice"]), (repeating, ["alice", "bob"]), (misnaming, ["carol", "bad name"])):
        iam = member_clients(moto_endpoint, account)
        for name in names:
            iam.create_user(UserName=name)
    session = boto3.Session(region_name="us-east-1")

    def repeat_a_row(parsed: dict[str, Any], **_: Any) -> None:
        content = parsed.get("Content", b"")
        if f":{repeating}:".encode() in content:
            parsed["Content"] = content.rstrip(b"\n") + b"\n" + content.rstrip(b"\n").split(b"\n")[-1] + b"\n"

    session.events.register("after-call.iam.GetCredentialReport", repeat_a_row)
    store = Store(str(tmp_path / "store"))
    aws = Aws(session, endpoint_url=moto_endpoint, max_connections=4)
    accounts = [Account(good), Account(repeating), Account(misnaming)]
    summary = collect(
        store,
        aws,
        "aws",
        accounts,
        Settings(timing=FAST, concurrency=3),
        caller_account=MANAGEMENT,
        with_metadata=False,
    )
    assert {o.account.id: o.error_class for o in summary.failed} == {
        repeating: "report_failed",
        misnaming: "report_failed",
    }
    with Database(store) as database:
        stored = {(r["account_id"], r["user"]) for r in database.sql('SELECT account_id, "user" FROM reports').rows}
        runs = {r["account_id"]: r for r in database.sql("SELECT * FROM runs").rows}
    assert stored == {(good, "alice")}  # nothing of the refused reports
    assert "is listed again" in runs[repeating]["error_message"] and "column user" in runs[repeating]["error_message"]
    assert "'bad name' is not a name IAM can make" in runs[misnaming]["error_message"]
