"""The digest a destination receives: counts by severity, the top events and newly opened findings, and
links into the dashboard; as Markdown (apprise turns it into Slack's mrkdwn, Teams' cards, HTML mail) and
as plain text (an SNS e-mail subscription).

Report values are data. An account or user name can hold anything an ingested CSV or an account's owner
put there, so every value goes through `inert` before it is placed, and in Markdown inside a code span:

- control characters (line breaks, tabs, bidirectional overrides, zero-width characters) become U+FFFD,
  so a value cannot start a line of its own or hide what follows;
- `<` `>` and the backtick become look-alikes (‹ › ˋ): no HTML tag, no Slack `<!here>` or `<url|text>`,
  no way out of the code span;
- an invisible word joiner (U+2060) follows each `@` before a word (no @channel, @here, @everyone), each `.`
  before a character and each `:` before anything but a digit (no bare link such as evil.example or
  https://..., no :emoji: code; a time's 09:00 stays as it is).

Our own words (kinds, rule ids, severities, dates, counts) are constants and dates, placed as they are;
the only links are the dashboard's, built from --dashboard-url with every value percent-encoded.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode, urlparse

import pyarrow as pa

from credsight.errors import NotifyError
from credsight.report.model import ROOT_USER
from credsight.rules.severity import SEVERITIES, rank

TOP_EVENTS = 10
TOP_FINDINGS = 5
VALUE_LIMIT = 80  # characters of one value shown; the dashboard has the rest

CONTROLS = re.compile("[\x00-\x1f\x7f-\x9f\u00ad\u061c\u180e\u200b-\u200f\u2028-\u202e\u2060-\u206f\ufeff]")
LOOK_ALIKES = str.maketrans({"`": "\u02cb", "<": "\u2039", ">": "\u203a"})
JOINER = "\u2060"
MENTION = re.compile(r"@(?=\w)")
LINK_PART = re.compile(r"(\.(?=\S)|:(?=[^\s\d]))")  # a time's 09:00 is no link, evil.example and https:// are


def inert(value: object, limit: int = VALUE_LIMIT) -> str:
    """A report value as text that no destination reads as markup, a mention or a link (see the module)."""
    if value is None:
        return "-"
    text = value.isoformat() if isinstance(value, dt.date) else str(value)
    text = CONTROLS.sub("\ufffd", text).translate(LOOK_ALIKES)
    if len(text) > limit:
        text = text[: limit - 1] + "\u2026"
    return LINK_PART.sub(rf"\1{JOINER}", MENTION.sub(f"@{JOINER}", text))


@dataclass(frozen=True)
class Value:
    """A report value: made inert, and in Markdown a code span."""

    value: object


@dataclass(frozen=True)
class Strong:
    """Our own words, stressed."""

    words: str


@dataclass(frozen=True)
class Link:
    """A link into the dashboard (a URL we built), with our own words as its text."""

    words: str
    url: str


Part = str | Value | Strong | Link


def markdown(parts: Sequence[Part]) -> str:
    out = []
    for part in parts:
        if isinstance(part, Value):
            out.append(f"`{inert(part.value)}`")
        elif isinstance(part, Strong):
            out.append(f"**{part.words}**")
        elif isinstance(part, Link):
            out.append(f"[{part.words}]({part.url})")
        else:
            out.append(part)
    return "".join(out)


def text(parts: Sequence[Part]) -> str:
    out = []
    for part in parts:
        if isinstance(part, Value):
            out.append(inert(part.value))
        elif isinstance(part, Strong):
            out.append(part.words.upper())
        elif isinstance(part, Link):
            out.append(f"{part.words}: {part.url}")
        else:
            out.append(part)
    return "".join(out)


@dataclass(frozen=True)
class Digest:
    """One destination's message, and what it tells."""

    title: str
    markdown: str
    text: str
    events: int  # events told (at or above the destination's minimum severity)
    findings: int  # newly opened findings told
    start: dt.date
    end: dt.date
    worst: str | None = None  # the highest severity told

    @property
    def empty(self) -> bool:
        return not (self.events or self.findings)


@dataclass(frozen=True)
class Dashboard:
    """Links into the dashboard's /changes view (present/dashboard/filters.py reads the same query string)."""

    base: str

    @classmethod
    def of(cls, url: str | None) -> Dashboard | None:
        if not url:
            return None
        parsed = urlparse(url)
        if parsed.scheme not in ("http", "https") or not parsed.netloc or parsed.query or parsed.fragment:
            raise NotifyError(f"--dashboard-url {url!r} is not the dashboard's address; give e.g. https://host:8050")
        return cls(url.rstrip("/"))

    def changes(
        self,
        start: dt.date,
        end: dt.date,
        *,
        accounts: Sequence[str] = (),
        ou: str | None = None,
        user: str | None = None,
    ) -> str:
        pairs = {
            "accounts": ",".join(accounts),
            "ou": ou or "",
            "from": start.isoformat(),
            "to": end.isoformat(),
            "user": user or "",
        }
        return f"{self.base}/changes?" + urlencode({k: v for k, v in pairs.items() if v}, safe=",/")


@dataclass(frozen=True)
class Scope:
    """What the digest is about: the period and the accounts (for its words and its links)."""

    start: dt.date
    end: dt.date
    accounts: int
    min_severity: str
    link_accounts: tuple[str, ...] = ()  # for the dashboard link; empty: every account
    link_ou: str | None = None


def compose(
    events: pa.Table,
    findings: pa.Table,
    scope: Scope,
    *,
    events_below: int = 0,
    findings_below: int = 0,
    dashboard: Dashboard | None = None,
) -> Digest:
    """The digest of `events` (rules.changes.EVENT_SCHEMA) and newly opened `findings` (FINDING_SCHEMA), both
    already narrowed to the destination and its minimum severity; `*_below`: how many were left out for
    being below it (said, not listed)."""
    event_rows = sorted(events.to_pylist(), key=_event_order)
    finding_rows = sorted(findings.to_pylist(), key=_finding_order)
    lines: list[list[Part]] = [
        [
            Strong("credsight"),
            f": events and newly opened findings {_period(scope.start, scope.end)} (UTC), "
            f"{scope.accounts} account{'s' if scope.accounts != 1 else ''}",
        ],
        [f"Events: {_counts(event_rows, scope.min_severity)}", _below(events_below, scope.min_severity)],
        [f"New findings: {_counts(finding_rows, scope.min_severity)}", _below(findings_below, scope.min_severity)],
    ]
    if dashboard is not None:
        url = dashboard.changes(scope.start, scope.end, accounts=scope.link_accounts, ou=scope.link_ou)
        lines.append(["Dashboard: ", Link(f"changes {_period(scope.start, scope.end)}", url)])
    if event_rows:
        lines.append([])
        lines.append(["Top events, worst first:"])
        lines.extend(_event_line(row, dashboard) for row in event_rows[:TOP_EVENTS])
        if len(event_rows) > TOP_EVENTS:
            lines.append([f"- \u2026 and {len(event_rows) - TOP_EVENTS} more events"])
    if finding_rows:
        lines.append([])
        lines.append(["Newly opened findings, worst first:"])
        lines.extend(_finding_line(row) for row in finding_rows[:TOP_FINDINGS])
        if len(finding_rows) > TOP_FINDINGS:
            lines.append([f"- \u2026 and {len(finding_rows) - TOP_FINDINGS} more findings"])
    return Digest(
        title=_title(event_rows, finding_rows, scope.end),
        markdown="\n".join(markdown(line) for line in lines) + "\n",
        text="\n".join(text(line) for line in lines) + "\n",
        events=len(event_rows),
        findings=len(finding_rows),
        start=scope.start,
        end=scope.end,
        worst=max((row["severity"] for row in [*event_rows, *finding_rows]), key=rank, default=None),
    )


def _event_order(row: dict[str, Any]) -> tuple[Any, ...]:
    return (
        -rank(row["severity"]),
        -row["snapshot_date"].toordinal(),
        row["account_id"],
        row["user"] or "",
        row["kind"],
    )


def _finding_order(row: dict[str, Any]) -> tuple[Any, ...]:
    first = row["first_seen"] or row["snapshot_date"]
    return (-rank(row["severity"]), -first.toordinal(), row["account_id"], row["user"], row["rule"])


def _counts(rows: Sequence[dict[str, Any]], minimum: str) -> str:
    counted = {severity: sum(1 for row in rows if row["severity"] == severity) for severity in SEVERITIES}
    told = [f"{counted[s]} {s}" for s in reversed(SEVERITIES) if counted[s]]
    return ", ".join(told) if told else f"none at or above {minimum}"


def _below(count: int, minimum: str) -> str:
    return f" (and {count} below {minimum}, not listed)" if count else ""


def _title(events: Sequence[dict[str, Any]], findings: Sequence[dict[str, Any]], end: dt.date) -> str:
    told = []
    if events:
        told.append(f"{_counts(events, '')} event{'s' if len(events) != 1 else ''}")
    if findings:
        told.append(f"{len(findings)} new finding{'s' if len(findings) != 1 else ''}")
    return f"credsight: {'; '.join(told) or 'nothing new'} ({end})"


def _period(start: dt.date, end: dt.date) -> str:
    return f"on {end}" if start >= end else f"from {start} to {end}"


def _user(name: str) -> list[Part]:
    """The user, or the report's root row in our own words."""
    return [" \u00b7 the root user"] if name == ROOT_USER else [" \u00b7 user ", Value(name)]


def _account(row: dict[str, Any]) -> list[Part]:
    return [" \u00b7 account ", Value(row["account_name"]), " ", Value(row["account_id"])]


def _event_line(row: dict[str, Any], dashboard: Dashboard | None) -> list[Part]:
    line: list[Part] = ["- ", Strong(row["severity"]), " ", Value(row["kind"])]
    if row["access_key"] is not None:
        line.append(f" (key {row['access_key']})")
    line += _account(row)
    if row["user"] is not None:
        line += _user(row["user"])
    line += [f" \u00b7 seen {row['snapshot_date']} \u00b7 ", Value(row["before"]), " \u2192 ", Value(row["after"])]
    if dashboard is not None:
        day = row["snapshot_date"]
        url = dashboard.changes(day, day, accounts=[row["account_id"]], user=row["user"])
        line += [" \u00b7 ", Link("open", url)]
    return line


def _finding_line(row: dict[str, Any]) -> list[Part]:
    line: list[Part] = ["- ", Strong(row["severity"]), " ", Value(row["rule"]), *_account(row)]
    line += _user(row["user"])
    if row["first_seen"] is not None:  # (not computed for a destination's first digest: all open ones are new)
        line.append(f" \u00b7 since {row['first_seen']}")
    return line
