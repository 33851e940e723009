"""`credsight notify`: digests received by real servers on loopback (an HTTP receiver for apprise's json://
and Teams' workflows://, aiosmtpd for mail), watermarks in the store, routing by OU and tag, and a hostile
organization's names made inert in every format."""

from __future__ import annotations

import datetime as dt
import json
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from credsight.notify.digest import JOINER, inert
from credsight.notify.routes import Route, destination_key
from credsight.notify.sending import Options, prepare
from credsight.query import Database
from credsight.rules.severity import SEVERITIES
from credsight.store import Store
from tests.event_stores import Account, csv_report, iam_user, root, write_store
from tests.notify_receivers import Receiver, closed_port, http_receiver, mail_parts, smtp_server

PAYMENTS, PLATFORM, HOSTILE = "111122223333", "444455556666", "777788889999"
D1, D2, D3, D4 = (dt.date(2026, 11, day) for day in range(1, 5))
HOSTILE_NAME = "<b>x</b> <at>General</at> <!here> @channel [click](https://evil.example/x) `tick` *bold* :smile:"
ACCOUNTS = {
    PAYMENTS: Account("payments-prod", "Root/Workloads/Payments", {"security-contact": "payments"}),
    PLATFORM: Account("platform-tools", "Root/Platform", {"security-contact": "platform"}),
    HOSTILE: Account(HOSTILE_NAME, "Root/Sandbox"),
}
NO_MFA = {"mfa_active": "false"}
NEVER = {"password_last_used": "no_information"}
ROTATED = "2026-11-02T06:00:00+00:00"
DASHBOARD = "http://127.0.0.1:8050"


def reports(day: dt.date) -> dict[str, bytes]:
    """D2: alice loses MFA (high), bob's key is rotated (low). D3: root signs in to payments (critical),
    carol is created (medium), @channel loses MFA (high), www.evil.example's key shows a new region (low).
    D4: bob loses MFA (high)."""
    payments_root = root(PAYMENTS, password_last_used="2026-11-03T06:00:00+00:00" if day >= D3 else "no_information")
    bob = {"access_key_1_last_rotated": ROTATED} if day >= D2 else {}
    platform = [root(PLATFORM, **NEVER), iam_user("bob", PLATFORM, **bob, **(NO_MFA if day >= D4 else {}))]
    if day >= D3:
        platform.append(iam_user("carol", PLATFORM, user_creation_time="2026-11-02T12:00:00+00:00"))
    hostile = [root(HOSTILE, **NEVER), iam_user("@channel", HOSTILE, **(NO_MFA if day >= D3 else {}))]
    hostile.append(
        iam_user("www.evil.example", HOSTILE, access_key_1_last_used_region="ap-south-1" if day >= D3 else "us-east-1")
    )
    return {
        PAYMENTS: csv_report(payments_root, iam_user("alice", PAYMENTS, **(NO_MFA if day >= D2 else {}))),
        PLATFORM: csv_report(*platform),
        HOSTILE: csv_report(*hostile),
    }


def story(folder: Path, days: tuple[dt.date, ...] = (D1, D2, D3)) -> Store:
    return write_store(folder, {day: reports(day) for day in days}, ACCOUNTS)


def add_day(store: Store, day: dt.date) -> None:
    write_store(Path(store.root), {day: reports(day)}, store=store)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with http_receiver() as found:
        yield found


def credsight(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """The command as main() runs it (one-line errors, exit codes), in this process: out, err."""
    from credsight.cli.app import main

    monkeypatch.setattr(sys, "argv", ["credsight", *args])
    with pytest.raises(SystemExit) as exited:
        main()
    out, err = capsys.readouterr()
    return int(exited.value.code or 0), out, err


def watermark_files(store: Store, url: str) -> list[Path]:
    return sorted((Path(store.root) / "notifications" / f"destination={destination_key(url)}").glob("watermark-*"))


@pytest.fixture(autouse=True)
def no_settings_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # no credsight.toml unless a test writes one
    monkeypatch.delenv("CREDSIGHT_CONFIG", raising=False)


# -- delivery and watermarks -------------------------------------------------------------------


def test_a_first_digest_then_nothing_then_only_what_is_new(
    tmp_path: Path, receiver: Receiver, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    store = story(tmp_path / "store")
    url = receiver.json_url("alerts")
    code, out, err = credsight(monkeypatch, capsys, "notify", "--store", store.url, "--to", url)
    assert code == 0, err
    [first] = receiver.messages()
    message = first["message"]
    # never notified: the latest day's events at or above high, and every finding open on it
    assert "Events: 1 critical, 1 high (and 4 below high, not listed)" in message
    assert "`root_signed_in`" in message and "`mfa_removed`" in message and "`user_created`" not in message
    assert "`console-user-mfa`" in message and "`root-used`" in message
    assert "user `alice`" in message  # alice's missing MFA is open, though it opened on D2
    assert first["title"].startswith("credsight: 1 critical, 1 high events; ") and first["type"] == "failure"
    assert "sent 2 events and" in out
    [mark] = watermark_files(store, url)
    recorded = json.loads(mark.read_text())
    assert recorded["sent"] is True and recorded["through"] == {a: "2026-11-03" for a in ACCOUNTS}

    code, out, err = credsight(monkeypatch, capsys, "notify", "--store", store.url, "--to", url)
    assert code == 0 and "nothing new at or above high" in out and "nothing sent" in out, (out, err)
    assert len(receiver.messages()) == 1  # a rerun sends nothing

    add_day(store, D4)
    code, out, err = credsight(monkeypatch, capsys, "notify", "--store", store.url, "--to", url)
    assert code == 0, err
    second = receiver.messages()[-1]["message"]
    assert "on 2026-11-04" in second and "Events: 1 high" in second and "user `bob`" in second
    assert "`root_signed_in`" not in second and "user `alice`" not in second  # told before
    assert "New findings: 1 high" in second  # bob's missing MFA: newly opened
    assert len(watermark_files(store, url)) == 3  # one per round, append-only


def test_a_refused_or_unreachable_destination_is_retried_and_never_lost(
    tmp_path: Path, receiver: Receiver, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    store = story(tmp_path / "store", (D1, D2))
    port = closed_port()
    good, down = receiver.json_url("good"), f"json://127.0.0.1:{port}/later"
    arguments = ["notify", "--store", store.url, "--to", good, "--to", down]
    receiver.status = 500  # refuses this round
    code, _out, err = credsight(monkeypatch, capsys, *arguments)
    assert code == 3
    assert len(err.splitlines()) == 2 and "error=500" in err and "onnection" in err
    assert "--to #1 (json://127.0.0.1" in err and "sent again on the next run" in err
    assert watermark_files(store, good) == [] and watermark_files(store, down) == []

    receiver.status = 200
    code, out, err = credsight(monkeypatch, capsys, *arguments)
    assert code == 3 and "--to #2" in err and "--to #1" not in err  # only the one still down
    refused, delivered = receiver.messages("good")
    assert delivered == refused  # the same digest, delivered now
    assert "`mfa_removed`" in delivered["message"] and "user `alice`" in delivered["message"]
    assert len(watermark_files(store, good)) == 1 and watermark_files(store, down) == []

    add_day(store, D3)
    code, out, err = credsight(monkeypatch, capsys, *arguments[:-2])
    assert code == 0, err
    third = receiver.messages("good")[-1]["message"]
    assert "`root_signed_in`" in third and "user `alice`" not in third  # D3's, and nothing told before

    with http_receiver(port=port) as back:  # the destination that was down comes up: it is told
        code, out, err = credsight(monkeypatch, capsys, *arguments)
        assert code == 0, err
        [first] = back.messages("later")
    assert "`root_signed_in`" in first["message"] and "user `alice`" in first["message"]  # its first digest
    assert len(receiver.messages("good")) == 3 and "nothing new" in out


def test_dry_run_prints_each_digest_and_sends_and_writes_nothing(
    tmp_path: Path, receiver: Receiver, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    store = story(tmp_path / "store")
    url = receiver.json_url("x")
    code, out, err = credsight(
        monkeypatch, capsys, "notify", "--store", store.url, "--to", url, "--dry-run", "--dashboard-url", DASHBOARD
    )
    assert code == 0, err
    assert "would send 2 events" in out and "`root_signed_in`" in out
    assert f"({DASHBOARD}/changes?from=2026-11-03&to=2026-11-03)" in out
    assert (
        f"[open]({DASHBOARD}/changes?accounts={PAYMENTS}&from=2026-11-03&to=2026-11-03&user=%3Croot_account%3E)" in out
    )
    assert receiver.messages() == [] and not (Path(store.root) / "notifications").exists()


def test_since_starts_a_new_destination_elsewhere(
    tmp_path: Path, receiver: Receiver, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    store = story(tmp_path / "store")
    url = receiver.json_url("x")
    code, _out, err = credsight(
        monkeypatch,
        capsys,
        "notify",
        "--store",
        store.url,
        "--to",
        url,
        "--since",
        "2026-11-02",
        "--min-severity",
        "low",
    )
    assert code == 0, err
    message = receiver.messages()[0]["message"]
    assert "from 2026-11-02 to 2026-11-03" in message and "`access_key_rotated`" in message  # D2's, low
    assert "`user_created`" in message


def test_mail_through_a_real_smtp_server(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    store = story(tmp_path / "store")
    with smtp_server() as mailbox:
        url = f"mailto://127.0.0.1:{mailbox.port}?from=credsight@example.com&to=security@example.com"
        code, _out, err = credsight(monkeypatch, capsys, "notify", "--store", store.url, "--to", url)
        assert code == 0, err
        [mail] = mailbox.messages
    assert mail["To"] == "security@example.com" and mail["Subject"].startswith("credsight: 1 critical, 1 high")
    parts = mail_parts(mail)
    assert "<strong>critical</strong>" in parts["text/html"] and "<code>root_signed_in</code>" in parts["text/html"]
    assert_inert_html(parts["text/html"])
    assert "root_signed_in" in parts["text/plain"]
    assert password_free(store, url)


def password_free(store: Store, url: str) -> bool:
    """The store holds no destination URL in clear (they hold tokens and passwords)."""
    texts = [p.read_bytes() for p in Path(store.root).rglob("*") if p.is_file()]
    return not any(url.encode() in text or b"127.0.0.1" in text for text in texts)


def test_destinations_are_kept_only_as_digests(
    tmp_path: Path, receiver: Receiver, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    store = story(tmp_path / "store")
    url = receiver.json_url("hooks/T0SECRET/B0SECRET/XXXXSECRET")
    assert credsight(monkeypatch, capsys, "notify", "--store", store.url, "--to", url)[0] == 0
    assert password_free(store, url) and watermark_files(store, url)


# -- routing -----------------------------------------------------------------------------------------


def test_routes_by_ou_and_by_tag_each_with_its_minimum(
    tmp_path: Path, receiver: Receiver, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    store = story(tmp_path / "store")
    monkeypatch.setenv("PLATFORM_HOOK", receiver.json_url("platform"))
    (tmp_path / "credsight.toml").write_text(
        f'store = "{store.url}"\n'
        "[notify]\n"
        'min-severity = "high"\n'
        "[[notify.route]]\n"
        f'destination = "{receiver.json_url("payments")}"\n'
        'ou = "Workloads/Payments"\n'
        "[[notify.route]]\n"
        'destination = "env:PLATFORM_HOOK"\n'
        'tag = "security-contact=platform"\n'
        'min-severity = "medium"\n'
        "[[notify.route]]\n"
        f'destination = "{receiver.json_url("nobody")}"\n'
        'ou = ["Root/Workloads"]\n'
        'tag = ["security-contact=platform"]\n'  # both: an account in Workloads tagged platform (none)
    )
    code, out, err = credsight(monkeypatch, capsys, "notify")
    assert code == 0, err
    [payments] = receiver.messages("payments")
    assert "`payments-prod`" in payments["message"] and "`root_signed_in`" in payments["message"]
    assert "platform-tools" not in payments["message"] and "mfa_removed" not in payments["message"]
    assert "1 account" in payments["message"]
    [platform] = receiver.messages("platform")
    assert "`user_created`" in platform["message"] and "user `carol`" in platform["message"]  # medium: its minimum
    assert "payments-prod" not in platform["message"]
    assert receiver.messages("nobody") == [] and "route #3" in out and "nothing new" in out
    assert "route #2 (json://127.0.0.1" in out  # named by its number and apprise's masked URL


@pytest.mark.parametrize(
    ("settings", "says"),
    [
        ('[[notify.route]]\ndestination = "json://127.0.0.1:9/x"\ncolour = "red"\n', "no setting 'colour'"),
        ('[[notify.route]]\nou = "Root"\n', "destination is required"),
        ('[[notify.route]]\ndestination = "env:NOT_SET_ANYWHERE"\n', "NOT_SET_ANYWHERE"),
        ('[[notify.route]]\ndestination = "json://127.0.0.1:9/x"\nmin-severity = "urgent"\n', "'urgent'"),
        (
            '[[notify.route]]\ndestination = "json://127.0.0.1:9/x"\n[[notify.route]]\ndestination = "json://127.0.0.1:9/x"\n',
            "same destination",
        ),
        ('[[notify.route]]\ndestination = "nosuchscheme://x"\n', "apprise does not know"),
        ("", "no destination"),
        ('[notify]\nroute = "json://127.0.0.1:9/x"\n', "[[notify.route]]"),
        ('[[notify.route]]\ndestination = "json://127.0.0.1:9/x"\ntag = "=x"\n', "names no key"),
    ],
)
def test_a_bad_route_is_a_one_line_error_before_anything_is_sent(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], settings: str, says: str
) -> None:
    store = story(tmp_path / "store", (D1,))
    (tmp_path / "credsight.toml").write_text(settings)
    code, _out, err = credsight(monkeypatch, capsys, "notify", "--store", store.url)
    assert code == 2 and says in err and len(err.splitlines()) == 1, err
    assert not (Path(store.root) / "notifications").exists()


def test_the_exit_codes_as_a_scheduler_sees_them(tmp_path: Path, receiver: Receiver) -> None:
    store = story(tmp_path / "store", (D1, D2))

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-m", "credsight.cli", "notify", "--store", store.url, *args]
        return subprocess.run(command, capture_output=True, text=True, check=False, cwd=tmp_path)

    receiver.status = 500
    refused = run("--to", receiver.json_url("a"))
    assert refused.returncode == 3 and "not delivered" in refused.stderr
    assert run("--to", receiver.json_url("a"), "--min-severity", "severe").returncode == 2
    assert run("--to", receiver.json_url("a"), "--dashboard-url", "javascript:alert(1)").returncode == 2
    receiver.status = 200
    assert run("--to", receiver.json_url("a")).returncode == 0


# -- a hostile organization ------------------------------------------------------------------------


@given(st.text())
def test_inert_text_carries_no_markup_mention_or_link(value: str) -> None:
    shown = inert(value, limit=10_000)
    assert not set(shown) & set("<>`\n\r\t\x00")
    plain = shown.replace(JOINER, "")
    for i, char in enumerate(shown):
        if char == "@" and i + 1 < len(shown) and shown[i + 1].isalnum():
            pytest.fail(f"a mention survived: {shown!r}")
        after = shown[i + 1] if i + 1 < len(shown) else " "
        if char in ".:" and not after.isspace() and after != JOINER and not (char == ":" and after.isdigit()):
            pytest.fail(f"a link part survived: {shown!r}")
    assert len(plain) <= len(value) + 1 or "\ufffd" in plain or "\u2026" in plain


def hostile_digest(tmp_path: Path) -> Any:
    store = story(tmp_path / "store")
    with Database(store) as database:
        [pending] = prepare(database, [Route("json://x", "low")], Options(dashboard_url=DASHBOARD))
    return pending.digest


DANGEROUS = (
    "<b>",
    "<at>",
    "<!here>",
    "@channel",
    "@here",
    "https://evil",
    "evil.example",
    ":smile:",
    "`tick`",
)
OUR_LINKS = re.compile(r"\[(open|changes [^\]]*)\]\(" + re.escape(DASHBOARD) + r"/changes\?[^)\s]*\)")


OUR_URLS = re.compile(re.escape(DASHBOARD) + r"/changes\?[^)\s|\"]*")


def assert_no_dangerous(text: str) -> None:
    """None of the hostile fragments, outside the query strings of our own dashboard links (which encode)."""
    rest = OUR_URLS.sub("", text)
    for dangerous in DANGEROUS:
        assert dangerous not in rest, (dangerous, rest)


def assert_inert_markdown(text: str) -> None:
    """Outside its code spans and our own dashboard links, a digest holds no Markdown link, tag or mention."""
    assert_no_dangerous(text)
    rest = OUR_LINKS.sub("", re.sub(r"`[^`]*`", "", text))
    assert not re.search(r"[\[\]<>@]|\]\(|https?:", rest), rest


def assert_inert_html(html: str) -> None:
    assert_no_dangerous(html)
    assert re.findall(r"<a [^>]*>", html) == [f'<a href="{u}">' for u in re.findall(r'<a href="([^"]*)">', html)]
    assert all(link.startswith(DASHBOARD) for link in re.findall(r'<a href="([^"]*)"', html))
    assert not re.search(r"<(?!/?(p|a|code|strong|ul|li|br)\b)", html), html


def test_the_hostile_names_are_there_as_text(tmp_path: Path) -> None:
    digest = hostile_digest(tmp_path)
    assert_inert_markdown(digest.markdown)
    for text in (digest.markdown, digest.text):
        assert_no_dangerous(text)
        assert "\u2039b\u203ax\u2039/b\u203a" in text  # ‹b›x‹/b›: the name, shown, inert
        assert f"@{JOINER}channel" in text and f"www.{JOINER}evil.{JOINER}example" in text
    assert "\n- **high** `mfa_removed`" in digest.markdown and "\n- HIGH mfa_removed" in digest.text


def test_markdown_and_html_destinations_get_it_as_text(
    tmp_path: Path, receiver: Receiver, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    store = story(tmp_path / "store")
    markdown, html = receiver.json_url("md"), receiver.json_url("html", format="html")
    args = ["notify", "--store", store.url, "--to", markdown, "--to", html, "--min-severity", "low"]
    code, _out, err = credsight(monkeypatch, capsys, *args, "--dashboard-url", DASHBOARD)
    assert code == 0, err
    [as_markdown] = receiver.messages("md")
    [as_html] = receiver.messages("html")
    assert_inert_markdown(as_markdown["message"])
    assert_inert_html(as_html["message"])
    assert "<code>\u2039b\u203ax\u2039/b\u203a" in as_html["message"]


def test_slack_gets_it_as_text(tmp_path: Path) -> None:
    import apprise

    digest = hostile_digest(tmp_path)
    slack = apprise.Apprise.instantiate("slack://T1JJ3T3L2/A1BRTD4JD/TIiajkdnlazkcOXrIdevi7FQ")
    rendered = slack.dialect_convert(digest.markdown, apprise.NotifyFormat.MARKDOWN)  # apprise's own Slack rendering
    assert_no_dangerous(rendered)
    assert "<!" not in rendered and "<@" not in rendered
    links = [part.split("|")[0] for part in rendered.split("<")[1:]]
    assert links and all(link.startswith(DASHBOARD) for link in links)  # the only Slack links are ours


def test_teams_gets_it_as_text(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import trustme

    authority = trustme.CA()
    certificate = authority.issue_cert("127.0.0.1")
    chain, key, bundle = tmp_path / "chain.pem", tmp_path / "key.pem", tmp_path / "ca.pem"
    certificate.private_key_pem.write_to_path(str(key))
    with chain.open("wb") as handle:
        for blob in certificate.cert_chain_pems:
            handle.write(blob.bytes())
    authority.cert_pem.write_to_path(str(bundle))
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(bundle))
    store = story(tmp_path / "store")
    with http_receiver(certificate=(chain, key)) as teams:
        url = f"workflows://127.0.0.1:{teams.port}/workflow-id/signature-token"
        code, _out, err = credsight(
            monkeypatch, capsys, "notify", "--store", store.url, "--to", url, "--min-severity", "low"
        )
        assert code == 0, err
        [card] = teams.messages()
    assert "entities" not in json.dumps(card)  # no mention made of <at>General</at>
    [body] = [block["text"] for block in card["attachments"][0]["content"]["body"] if block.get("id") == "body"]
    assert_inert_markdown(body)
    assert "`\u2039b\u203ax\u2039/b\u203a" in body


def test_every_severity_can_be_the_minimum(tmp_path: Path) -> None:
    store = story(tmp_path / "store")
    told = []
    with Database(store) as database:
        for severity in SEVERITIES:
            [pending] = prepare(database, [Route("json://x", severity)], Options())
            told.append(pending.digest.events)
    assert told == sorted(told, reverse=True) and told[0] > told[-1] >= 1


def test_an_empty_store_has_nothing_to_tell(
    tmp_path: Path, receiver: Receiver, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "empty").mkdir()
    code, out, err = credsight(
        monkeypatch, capsys, "notify", "--store", str(tmp_path / "empty"), "--to", receiver.json_url("x")
    )
    assert code == 0 and "nothing new" in out and receiver.messages() == [], err


def test_the_digest_links_open_the_dashboard_view_they_name() -> None:
    from urllib.parse import urlparse

    from credsight.notify.digest import Dashboard
    from credsight.present.dashboard.filters import Filters, parse

    link = Dashboard.of(DASHBOARD + "/").changes(D2, D3, accounts=[PAYMENTS, PLATFORM], user="a+b=c,d@x.y")  # type: ignore[union-attr]
    assert link.startswith(f"{DASHBOARD}/changes?")
    assert parse(urlparse(link).query) == Filters(accounts=(PAYMENTS, PLATFORM), start=D2, end=D3, user="a+b=c,d@x.y")
    by_ou = Dashboard(DASHBOARD).changes(D3, D3, ou="Root/Workloads/Payments")
    assert parse(urlparse(by_ou).query) == Filters(ou="Root/Workloads/Payments", start=D3, end=D3)
