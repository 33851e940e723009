"""The dashboard's filters, kept in the URL query string so that a copied link reproduces a view.

/compliance?accounts=111122223333,444455556666&ou=Root/Prod&date=2026-11-01&from=..&to=..&user=alice
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field, replace
from urllib.parse import parse_qs, urlencode

from credsight.rules.severity import SEVERITIES

ACCOUNT = re.compile(r"\d{12}")
WORD = re.compile(r"[a-z_]{1,40}")  # a severity or a kind of change


@dataclass(frozen=True)
class Filters:
    accounts: tuple[str, ...] = field(default=())
    ou: str | None = None
    date: dt.date | None = None  # the snapshot date looked at (default: the latest)
    start: dt.date | None = None  # a period's first day (the query string's `from`)
    end: dt.date | None = None  # a period's last day (`to`)
    user: str | None = None
    severity: tuple[str, ...] = field(default=())  # the event timeline's severities (empty: all but informational)
    kind: tuple[str, ...] = field(default=())  # the event timeline's kinds of change (empty: all)
    person: str | None = None  # the SSO migration's person (an Identity Center user name)

    def with_(self, **changes: object) -> Filters:
        return replace(self, **changes)  # type: ignore[arg-type]


def _date(values: dict[str, list[str]], key: str) -> dt.date | None:
    try:
        return dt.date.fromisoformat(values[key][0]) if values.get(key) else None
    except ValueError:
        return None  # a hand-edited link with a bad date falls back to the default, it does not fail


def _first(values: dict[str, list[str]], key: str) -> str | None:
    found = values.get(key)
    return found[0] if found and found[0] else None


def parse(search: str | None) -> Filters:
    """Filters from a query string; what does not parse is ignored, never an error page."""
    values = parse_qs((search or "").lstrip("?"))
    accounts = tuple(a for part in values.get("accounts", []) for a in part.split(",") if ACCOUNT.fullmatch(a))
    return Filters(
        accounts=accounts,
        ou=_first(values, "ou"),
        date=_date(values, "date"),
        start=_date(values, "from"),
        end=_date(values, "to"),
        user=_first(values, "user"),
        severity=tuple(s for s in SEVERITIES if s in _words(values, "severity")),  # one order, whatever the link's
        kind=tuple(sorted(set(_words(values, "kind")))),
        person=_first(values, "person"),
    )


def _words(values: dict[str, list[str]], key: str) -> tuple[str, ...]:
    return tuple(w for part in values.get(key, []) for w in part.split(",") if WORD.fullmatch(w))


def query_string(filters: Filters) -> str:
    """The query string of a Filters (empty values left out), with its leading '?'."""
    pairs = {
        "accounts": ",".join(filters.accounts),
        "ou": filters.ou or "",
        "date": filters.date.isoformat() if filters.date else "",
        "from": filters.start.isoformat() if filters.start else "",
        "to": filters.end.isoformat() if filters.end else "",
        "user": filters.user or "",
        "severity": ",".join(filters.severity),
        "kind": ",".join(filters.kind),
        "person": filters.person or "",
    }
    text = urlencode({k: v for k, v in pairs.items() if v}, safe=",/")
    return f"?{text}" if text else ""


CHOICES_SHOWN = 100  # choices a dropdown lists at once: the browser indexes every one it is given


def matching_choices(
    choices: list[dict[str, str]], chosen: list[str] | None, search: str | None
) -> list[dict[str, str]]:
    """A long dropdown's choices (the accounts, the people): those chosen, then up to CHOICES_SHOWN whose label
    holds every word typed (any case). The browser's dropdown builds a search index of each choice it is given
    (every substring of every label: 0.3 s for 1,000 accounts, seconds for 10,000), so it is given the choices
    that match what is typed, found here, rather than all of them."""
    picked = set(chosen or ())
    words = (search or "").lower().split()
    kept = [c for c in choices if c["value"] in picked]
    for choice in choices:
        if len(kept) >= len(picked) + CHOICES_SHOWN:
            break
        label = choice["label"].lower()
        if choice["value"] not in picked and all(word in label for word in words):
            kept.append(choice)
    return kept
