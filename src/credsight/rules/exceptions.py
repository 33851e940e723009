"""Accepted risks: findings a team has decided to live with, until a date.

    # credsight-exceptions.toml
    [[exception]]
    rule = "access-key-rotation"        # a rule id, or a glob such as "root-*"
    account = "111122223333"            # glob: "*", "1111*"
    user = "ci-*"                       # glob over the IAM user name
    reason = "legacy CI, replaced by OIDC in Q1"
    owner = "platform@example.com"
    expires = 2027-03-31

An excepted finding is still reported, marked `excepted` with the exception's reason. An
exception past its expiry date hides nothing, and is itself reported as expired.
"""

from __future__ import annotations

import datetime as dt
import fnmatch
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa

from credsight.errors import ExceptionsError

DEFAULT_FILE = "credsight-exceptions.toml"
FIELDS = ("rule", "account", "user", "reason", "owner", "expires")


@dataclass(frozen=True)
class AcceptedRisk:
    rule: str
    account: str
    user: str
    reason: str
    owner: str
    expires: dt.date
    entry: int  # 1-based position in the file, for messages

    def matches(self, rule: str, account: str, user: str) -> bool:
        return (
            fnmatch.fnmatchcase(rule, self.rule)
            and fnmatch.fnmatchcase(account, self.account)
            and fnmatch.fnmatchcase(user, self.user)
        )

    def expired(self, today: dt.date) -> bool:
        return self.expires < today


def accepted_risks(path: Path | None) -> list[AcceptedRisk]:
    """The accepted risks of `path`, or of ./credsight-exceptions.toml when no path is given and it exists."""
    from credsight.rules.catalogue import RULES

    chosen = path or (Path(DEFAULT_FILE) if Path(DEFAULT_FILE).is_file() else None)
    return load_exceptions(chosen, [rule.id for rule in RULES]) if chosen else []


def load_exceptions(path: Path, rule_ids: Sequence[str]) -> list[AcceptedRisk]:
    """Read and check the file; every problem is an ExceptionsError naming where it is."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ExceptionsError(f"no exceptions file {path}; create it or leave out --exceptions") from None
    except (OSError, UnicodeDecodeError) as e:
        raise ExceptionsError(f"cannot read {path}: {e}") from None
    except tomllib.TOMLDecodeError as e:
        raise ExceptionsError(f"{path} is not valid TOML ({e})") from None
    unknown = set(data) - {"exception"}
    if unknown:
        raise ExceptionsError(f"{path}: unknown key {sorted(unknown)[0]!r}; entries are [[exception]] tables")
    entries = data.get("exception", [])
    if not isinstance(entries, list):
        raise ExceptionsError(f"{path}: write each exception as an [[exception]] table")
    return [_entry(path, number, entry, rule_ids) for number, entry in enumerate(entries, start=1)]


def _entry(path: Path, number: int, entry: dict[str, Any], rule_ids: Sequence[str]) -> AcceptedRisk:
    where = f"{path}: exception {number}"
    extra = set(entry) - set(FIELDS)
    if extra:
        raise ExceptionsError(f"{where}: unknown field {sorted(extra)[0]!r}; the fields are {', '.join(FIELDS)}")
    missing = [name for name in FIELDS if name not in entry]
    if missing:
        raise ExceptionsError(f"{where}: {missing[0]!r} is missing; every exception needs {', '.join(FIELDS)}")
    for name in ("rule", "account", "user", "reason", "owner"):
        if not isinstance(entry[name], str) or not entry[name].strip():
            raise ExceptionsError(f"{where}: {name!r} must be a non-empty string")
    expires = entry["expires"]
    if isinstance(expires, dt.datetime) or not isinstance(expires, dt.date):
        raise ExceptionsError(f"{where}: 'expires' must be a date such as 2027-03-31 (no quotes)")
    if not fnmatch.filter(rule_ids, entry["rule"]):
        raise ExceptionsError(f"{where}: rule {entry['rule']!r} matches no rule; the rules are {', '.join(rule_ids)}")
    account = entry["account"]
    if not all(c.isdigit() or c in "*?[]" for c in account):
        raise ExceptionsError(f"{where}: account {account!r} must be a 12-digit id or a glob of digits and *")
    return AcceptedRisk(entry["rule"], account, entry["user"], entry["reason"], entry["owner"], expires, number)


def match(risks: Sequence[AcceptedRisk], rule: str, account: str, user: str, today: dt.date) -> AcceptedRisk | None:
    """The first unexpired exception that covers the finding, if any."""
    return next((r for r in risks if not r.expired(today) and r.matches(rule, account, user)), None)


def mark(findings: pa.Table, risks: Sequence[AcceptedRisk], today: dt.date) -> pa.Table:
    """Add `status` (open or excepted) and the covering exception's reason, owner and expiry."""
    covering = [
        match(risks, rule, account, user, today)
        for rule, account, user in zip(
            findings.column("rule").to_pylist(),
            findings.column("account_id").to_pylist(),
            findings.column("user").to_pylist(),
            strict=True,
        )
    ]
    marked = findings.append_column("status", pa.array(["excepted" if c else "open" for c in covering], pa.string()))
    marked = marked.append_column(
        "exception_reason", pa.array([c.reason if c else None for c in covering], pa.string())
    )
    marked = marked.append_column("exception_owner", pa.array([c.owner if c else None for c in covering], pa.string()))
    return marked.append_column(
        "exception_expires", pa.array([c.expires if c else None for c in covering], pa.date32())
    )
