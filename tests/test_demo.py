"""The demo organisation: exact credential report format, determinism, the story, bounded memory."""

from __future__ import annotations

import datetime
import hashlib
import os
import re
import subprocess
import sys
import tracemalloc
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from credsight.demo import DemoAccount, DemoOrganization, DemoReport

HEADER = (
    "user,arn,user_creation_time,password_enabled,password_last_used,password_last_changed,password_next_rotation,"
    "mfa_active,access_key_1_active,access_key_1_last_rotated,access_key_1_last_used_date,"
    "access_key_1_last_used_region,access_key_1_last_used_service,access_key_2_active,access_key_2_last_rotated,"
    "access_key_2_last_used_date,access_key_2_last_used_region,access_key_2_last_used_service,cert_1_active,"
    "cert_1_last_rotated,cert_2_active,cert_2_last_rotated"
)
COLUMNS = HEADER.split(",")
TIMESTAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00")
USER_NAME = re.compile(r"[A-Za-z0-9+=.@_-]{1,64}")  # IAM allows commas too; the demo never uses them
HOME_REGIONS = {"us-east-1", "eu-west-1", "us-west-2", "eu-central-1"}
OUTLIER_REGIONS = {"ap-southeast-2", "sa-east-1", "ap-northeast-1"}
BOOLEANS = {"true", "false"}
REGIONS = HOME_REGIONS | OUTLIER_REGIONS | {"N/A"}
SERVICE = re.compile(r"[a-z0-9-]+")
KEY_COLUMNS = {
    n: [
        f"access_key_{n}_{c}"
        for c in ("active", "last_rotated", "last_used_date", "last_used_region", "last_used_service")
    ]
    for n in (1, 2)
}
OUS = {"Root", "Root/Security", "Root/Infrastructure", "Root/Workloads/Prod", "Root/Workloads/Dev", "Root/Sandbox"}

Row = dict[str, str]


def when(value: str) -> datetime.datetime:
    """A report timestamp as an aware datetime."""
    assert TIMESTAMP.fullmatch(value), value
    return datetime.datetime.fromisoformat(value)


def stamp(value: str) -> str:
    """value, checked to be a report timestamp; such strings sort in time order (one format, all UTC)."""
    assert TIMESTAMP.fullmatch(value), value
    return value


def parse(report: DemoReport) -> list[Row]:
    """The report's rows, checking only the framing: UTF-8, exact header, 22 fields, no trailing newline."""
    text = report.content.decode("utf-8")
    assert not text.endswith("\n")
    lines = text.split("\n")
    assert lines[0] == HEADER
    rows = []
    for line in lines[1:]:
        values = line.split(",")
        assert len(values) == 22, line
        rows.append(dict(zip(COLUMNS, values, strict=True)))
    return rows


def check_key(row: Row, n: int, created: str, generated: str) -> None:
    """An access key's five columns agree with each other and with time."""
    active, rotated, used, region, service = (row[c] for c in KEY_COLUMNS[n])
    assert active in BOOLEANS
    if rotated == "N/A":  # no key at all
        assert (active, used, region, service) == ("false", "N/A", "N/A", "N/A"), row
        return
    assert created <= stamp(rotated) <= generated, row
    if used == "N/A":  # never used
        assert (region, service) == ("N/A", "N/A"), row
        return
    assert rotated <= stamp(used) <= generated, row
    assert region in REGIONS, row
    assert SERVICE.fullmatch(service), row


def check_report(report: DemoReport, account_id: str) -> list[Row]:
    """Every rule the format and the story promise for one report; returns its rows."""
    rows = parse(report)
    assert report.generated_time.tzinfo is not None and report.generated_time.utcoffset() == datetime.timedelta(0)
    assert report.generated_time.date() == report.snapshot_date and 2 <= report.generated_time.hour < 4
    generated = report.generated_time.strftime("%Y-%m-%dT%H:%M:%S+00:00")
    assert report.account_id == account_id
    root, users = rows[0], rows[1:]
    assert root["user"] == "<root_account>" and root["arn"] == f"arn:aws:iam::{account_id}:root"
    names = [u["user"] for u in users]
    assert names == sorted(names) and len(set(names)) == len(names)
    arn = re.compile(rf"arn:aws:iam::{account_id}:user(/[a-z]+)*/([^/]+)")
    for row in rows:
        created = stamp(row["user_creation_time"])
        assert created <= generated
        password = (
            row["password_enabled"],
            row["password_last_used"],
            row["password_last_changed"],
            row["password_next_rotation"],
        )
        if row is root:
            assert password[0] == password[2] == password[3] == "not_supported"
            assert password[1] in ("no_information", "N/A") or created <= stamp(password[1]) <= generated, row
        else:
            assert USER_NAME.fullmatch(row["user"]), row
            match = arn.fullmatch(row["arn"])
            assert match and match[2] == row["user"], row
            if password[0] == "false":
                assert password[1:] == ("N/A", "N/A", "N/A"), row
            else:
                assert password[0] == "true" and created <= stamp(password[2]) <= generated, row
                assert password[1] == "no_information" or created <= stamp(password[1]) <= generated, row
                assert password[3] == "N/A" or stamp(password[3]) > password[2], row  # expiry: may lie ahead
        assert row["mfa_active"] in BOOLEANS
        check_key(row, 1, created, generated)
        check_key(row, 2, created, generated)
        for active, rotated in (("cert_1_active", "cert_1_last_rotated"), ("cert_2_active", "cert_2_last_rotated")):
            assert row[active] in BOOLEANS
            assert (row[rotated] == "N/A" and row[active] == "false") or created <= stamp(row[rotated]) <= generated, (
                row
            )
        values = list(row.values())
        assert "" not in values and values.count("no_information") <= (password[1] == "no_information"), row
        assert values.count("not_supported") == (3 if row is root else 0), row
    return rows


def human(row: Row) -> bool:
    """A person with a console password."""
    return row["user"] != "<root_account>" and row["password_enabled"] == "true"


@dataclass
class Story:
    """What one pass over the default 25 x 180 organisation showed."""

    accounts: list[DemoAccount]
    first: dict[str, list[Row]] = field(default_factory=dict)
    last: dict[str, list[Row]] = field(default_factory=dict)
    humans: list[int] = field(default_factory=list)
    regions: set[str] = field(default_factory=set)
    end: datetime.datetime | None = None
    days: int = 0


@pytest.fixture(scope="module")
def story() -> Story:
    """Generate the default organisation once, checking every report on the way."""
    org = DemoOrganization()
    result = Story(org.accounts())
    ids = [a.account_id for a in result.accounts]
    for reports in org.reports():
        assert [r.account_id for r in reports] == ids
        assert len({r.snapshot_date for r in reports}) == 1
        parsed = {r.account_id: check_report(r, r.account_id) for r in reports}
        result.first = result.first or parsed
        result.last = parsed
        result.humans.append(sum(human(row) for rows in parsed.values() for row in rows))
        for rows in parsed.values():
            result.regions |= {row[f"access_key_{n}_last_used_region"] for row in rows for n in (1, 2)}
        result.end = max(r.generated_time for r in reports)
        result.days += 1
    return result


def digest(reports: Iterable[list[DemoReport]]) -> str:
    """One hash over every byte and timestamp of a run."""
    h = hashlib.sha256()
    for day in reports:
        for r in day:
            h.update(f"{r.account_id} {r.snapshot_date} {r.generated_time.isoformat()}\n".encode())
            h.update(r.content)
    return h.hexdigest()


def test_every_report_of_the_default_organisation_is_well_formed(story: Story) -> None:
    assert story.days == 180 and len(story.first) == 25
    for rows in story.last.values():
        assert 10 <= len(rows) <= 140  # about 20 to 120 users, moving as people come and go


@pytest.mark.parametrize(
    "corrupt",
    [
        lambda text: text + "\n",  # a trailing newline
        lambda text: text.replace("user,arn,", "user,ARN,", 1),  # a changed header
        lambda text: text.replace(",true,", ",True,", 1),  # a boolean AWS never writes
        lambda text: text.replace(",N/A,", ",,", 1),  # an empty field
        lambda text: text.replace(",N/A,", ",no_information,", 1),  # a marker where it does not belong
        lambda text: "\n".join([*text.split("\n")[:1], *reversed(text.split("\n")[1:])]),  # root row not first
        lambda text: re.sub(r"2026-\d\d-\d\dT", "2027-01-01T", text, count=1),  # after the report was generated
        lambda text: text.replace("+00:00", "Z", 1),  # another timestamp format
        lambda text: text.rsplit(",", 1)[0],  # 21 fields in the last row
    ],
)
def test_the_checker_rejects_broken_reports(corrupt: Callable[[str], str]) -> None:
    report = DemoOrganization(accounts=6, days=3).reports_for_day(datetime.date(2026, 11, 23))[0]
    check_report(report, report.account_id)
    broken = DemoReport(
        report.account_id, report.snapshot_date, report.generated_time, corrupt(report.content.decode()).encode()
    )
    assert broken.content != report.content
    with pytest.raises(AssertionError):
        check_report(broken, report.account_id)


def test_accounts_form_an_organisation() -> None:
    org = DemoOrganization()
    accounts = org.accounts()
    ids = [a.account_id for a in accounts]
    assert ids == sorted(ids) and len(set(ids)) == 25
    assert all(re.fullmatch(r"\d{12}", i) for i in ids) and any(i.startswith("0") for i in ids)
    assert len({a.name for a in accounts}) == 25 and {a.ou_path for a in accounts} == OUS
    management = next(a for a in accounts if a.name == "management")
    assert management.ou_path == "Root" and all(a.joined >= management.joined for a in accounts)
    assert all(a.email == f"aws+{a.name}@example.com" and a.state == "ACTIVE" for a in accounts)
    days = org.days()
    assert len(days) == 180 and days[-1] == datetime.date(2026, 11, 23) and days[0] == datetime.date(2026, 5, 28)
    assert all(a.joined < days[0] for a in accounts)


def test_large_organisations_keep_names_unique() -> None:
    accounts = DemoOrganization(accounts=400, days=1, users_per_account=2).accounts()
    assert len({a.name for a in accounts}) == 400 and len({a.account_id for a in accounts}) == 400


def test_same_arguments_give_the_same_bytes_and_another_seed_does_not() -> None:
    first = digest(DemoOrganization(accounts=6, days=20, seed=3).reports())
    assert digest(DemoOrganization(accounts=6, days=20, seed=3).reports()) == first
    assert digest(DemoOrganization(accounts=6, days=20, seed=4).reports()) != first


def test_output_is_identical_in_another_process() -> None:
    src = Path(__file__).resolve().parents[1] / "src"
    script = (
        "import hashlib, sys\n"
        "from credsight.demo import DemoOrganization\n"
        "h = hashlib.sha256()\n"
        "for day in DemoOrganization(accounts=6, days=20, seed=3).reports():\n"
        "    for r in day:\n"
        "        h.update(f'{r.account_id} {r.snapshot_date} {r.generated_time.isoformat()}\\n'.encode())\n"
        "        h.update(r.content)\n"
        "print(h.hexdigest())\n"
    )
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(src), os.environ.get("PYTHONPATH", "")]),
        "PYTHONHASHSEED": "123",
    }
    out = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == digest(DemoOrganization(accounts=6, days=20, seed=3).reports())


def test_reports_for_day_matches_the_stream() -> None:
    org = DemoOrganization(accounts=5, days=15, seed=9)
    streamed = list(org.reports())
    for index in (0, 7, 14):
        assert org.reports_for_day(org.days()[index]) == streamed[index]
    with pytest.raises(ValueError, match="outside the demo period"):
        org.reports_for_day(org.days()[-1] + datetime.timedelta(days=1))


def test_fixed_users_per_account_gives_exactly_that_many_rows() -> None:
    org = DemoOrganization(accounts=8, days=90, users_per_account=40)
    for reports in org.reports():
        assert all(r.content.count(b"\n") == 40 for r in reports)  # header + 40 rows: 40 line breaks
    assert all(
        r.content.count(b"\n") == 1
        for r in DemoOrganization(accounts=2, days=2, users_per_account=1).reports_for_day(datetime.date(2026, 11, 23))
    )


@pytest.mark.parametrize(
    ("accounts", "days", "users", "end", "message"),
    [
        (0, 10, None, None, "at least 1 account"),
        (5, 0, None, None, "at least 1 account and 1 day"),
        (5, 10, 0, None, "at least 1"),
        (5, 10, None, datetime.date(1979, 6, 1), "must start in 1980 or later"),
    ],
)
def test_impossible_arguments_are_refused(
    accounts: int, days: int, users: int | None, end: datetime.date | None, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        DemoOrganization(accounts=accounts, days=days, end=end, users_per_account=users)


@settings(max_examples=15, deadline=None)
@given(
    accounts=st.integers(1, 8),
    days=st.integers(1, 12),
    seed=st.integers(0, 2**32),
    users=st.one_of(st.none(), st.integers(1, 30)),
    end=st.dates(datetime.date(2016, 1, 1), datetime.date(2035, 12, 31)),
)
def test_any_small_organisation_is_well_formed(
    accounts: int, days: int, seed: int, users: int | None, end: datetime.date
) -> None:
    org = DemoOrganization(accounts=accounts, days=days, seed=seed, end=end, users_per_account=users)
    for day, reports in zip(org.days(), org.reports(), strict=True):
        for report, account in zip(reports, org.accounts(), strict=True):
            assert report.snapshot_date == day
            rows = check_report(report, account.account_id)
            assert users is None or len(rows) == users


def test_story_roots(story: Story) -> None:
    roots = [rows[0] for rows in story.last.values()]
    assert any(r["access_key_1_active"] == "true" for r in roots), "a root with an active access key"
    assert any(r["mfa_active"] == "false" for r in roots), "roots without MFA"
    assert story.end is not None
    recent = [
        r
        for r in roots
        if r["password_last_used"].startswith("20")
        and story.end - when(r["password_last_used"]) < datetime.timedelta(days=7)
    ]
    assert recent, "a root signed in during the last week"


def test_story_people(story: Story) -> None:
    last = [row for rows in story.last.values() for row in rows]
    assert any(human(r) and r["mfa_active"] == "false" for r in last), "people without MFA"
    assert story.humans[-1] < 0.8 * story.humans[0], "console users decrease as people move to SSO"
    assert any(r["user"] == "break-glass" and r["mfa_active"] == "true" for r in last)
    assert any(
        human(r) and r["access_key_1_active"] == "true" and r["access_key_1_last_used_date"] == "N/A" for r in last
    ), "a key made at setup, never used"


def test_story_users_come_and_go(story: Story) -> None:
    def names(day: dict[str, list[Row]]) -> set[tuple[str, str]]:
        return {(account, row["user"]) for account, rows in day.items() for row in rows}

    gone, new = names(story.first) - names(story.last), names(story.last) - names(story.first)
    assert len(gone) >= 5 and len(new) >= 5
    assert any(user.startswith(("svc-", "terraform", "backup", "jenkins")) for _, user in new), "a new service user"


def test_story_access_keys(story: Story) -> None:
    assert story.end is not None
    last = [row for rows in story.last.values() for row in rows]
    rotated = [
        when(r["access_key_1_last_rotated"])
        for r in last
        if r["access_key_1_active"] == "true" and r["user"].startswith("svc-")
    ]
    assert any(story.end - t > datetime.timedelta(days=365) for t in rotated), "a service key never rotated in a year"
    assert any(story.end - t < datetime.timedelta(days=30) for t in rotated), "recently rotated keys"
    assert any(r["access_key_1_active"] == r["access_key_2_active"] == "true" for r in last), "two active keys"
    assert any(r["access_key_1_active"] == "false" and r["access_key_1_last_used_date"] != "N/A" for r in last), (
        "an inactive key keeps its history"
    )
    assert story.regions & OUTLIER_REGIONS, "a key used far from home"
    assert "N/A" in {r["access_key_1_last_used_region"] for r in last if r["access_key_1_last_used_date"] != "N/A"}, (
        "a global service"
    )
    assert any(
        r["user"] != "<root_account>" and r["password_enabled"] == "false" and r["access_key_1_active"] == "false"
        for r in last
    ), "dormant users"


def test_memory_stays_bounded() -> None:
    org = DemoOrganization(accounts=200, days=60, users_per_account=100)
    tracemalloc.start()
    try:
        rows, peaks = 0, []
        for reports in org.reports():
            rows += sum(r.content.count(b"\n") for r in reports)
            del reports
            peaks.append(tracemalloc.get_traced_memory()[1])
    finally:
        tracemalloc.stop()
    assert rows == 200 * 100 * 60
    assert peaks[-1] < 200 * 2**20, f"peak {peaks[-1] / 2**20:.0f} MiB"
    assert peaks[-1] < 1.2 * peaks[5], "memory grows with the number of days"
