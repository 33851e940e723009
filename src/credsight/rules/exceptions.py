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
import re
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

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


def glob_pattern(glob: str) -> str:
    """The glob as a regular expression of Arrow's engine (RE2) that matches exactly what fnmatchcase
    matches: * any text, ? one character, [seq] / [!seq] one of / none of seq. The brackets are read as
    Python's fnmatch.translate reads them (empty ranges such as [z-a] dropped), then written for RE2."""
    out, i, n = [], 0, len(glob)
    while i < n:
        c = glob[i]
        i += 1
        if c == "*":
            out.append(".*")
        elif c == "?":
            out.append(".")
        elif c != "[":
            out.append(re.escape(c))
        else:
            j = i + (i < n and glob[i] == "!")
            j += j < n and glob[j] == "]"
            while j < n and glob[j] != "]":
                j += 1
            if j >= n:
                out.append(re.escape("["))
                continue
            out.append(_bracket(glob, i, j))
            i = j + 1
    return "(?s)^" + "".join(out) + "$"


def _bracket(glob: str, i: int, j: int) -> str:
    """The class glob[i:j] (between [ and ]) as RE2 writes it."""
    negate = glob[i] == "!"
    start = i + negate
    chunks: list[str] = []  # the class split at its range hyphens, as fnmatch.translate splits it
    k = start + 1
    while (k := glob.find("-", k, j)) >= 0:
        chunks.append(glob[start:k])
        start, k = k + 1, k + 3
    chunks.append(glob[start:j])
    if not chunks[-1] and len(chunks) > 1:
        chunks.pop()
        chunks[-1] += "-"
    for k in range(len(chunks) - 1, 0, -1):  # an empty range (z-a) matches nothing: fnmatch drops it
        if chunks[k - 1] and chunks[k] and chunks[k - 1][-1] > chunks[k][0]:
            chunks[k - 1] = chunks[k - 1][:-1] + chunks[k][1:]
            del chunks[k]
    members = "-".join("".join("\\" + ch if ch in "\\^[]-" else ch for ch in chunk) for chunk in chunks)
    if not members:
        return "." if negate else r"\b\B"  # [!] any one character; [] nothing at all
    return f"[{'^' if negate else ''}{members}]"


def mark(findings: pa.Table, risks: Sequence[AcceptedRisk], today: dt.date) -> pa.Table:
    """Add `status` (open or excepted) and the covering exception's reason, owner and expiry.

    The first unexpired exception that covers a finding is its exception (as `match` says), decided a
    column at a time: each exception's globs are matched against every finding at once.
    """
    n = findings.num_rows
    active = [risk for risk in risks if not risk.expired(today)]
    if not active:  # every finding open
        return (
            findings.append_column("status", pa.repeat(pa.scalar("open", pa.string()), n))
            .append_column("exception_reason", pa.nulls(n, pa.string()))
            .append_column("exception_owner", pa.nulls(n, pa.string()))
            .append_column("exception_expires", pa.nulls(n, pa.date32()))
        )
    covered = pa.array(np.zeros(n, dtype=bool))
    which = np.full(n, -1, dtype=np.int64)
    columns = {name: findings.column(name).combine_chunks() for name in ("rule", "account_id", "user")}
    for number, risk in enumerate(active):
        hit = pc.and_(
            pc.and_(
                pc.match_substring_regex(columns["rule"], glob_pattern(risk.rule)),
                pc.match_substring_regex(columns["account_id"], glob_pattern(risk.account)),
            ),
            pc.match_substring_regex(columns["user"], glob_pattern(risk.user)),
        )
        new = pc.and_(pc.fill_null(hit, False), pc.invert(covered)).to_numpy(zero_copy_only=False)
        which[new] = number
        covered = pa.array(which >= 0)
    index = pa.array(np.where(which >= 0, which, 0))
    mask = pa.array(which < 0)

    def taken(values: list[object], kind: pa.DataType) -> pa.Array:
        picked = pa.array(values or [None], kind).take(index)
        return pc.if_else(mask, pa.scalar(None, kind), picked)

    marked = findings.append_column("status", pc.if_else(covered, pa.scalar("excepted"), pa.scalar("open")))
    marked = marked.append_column("exception_reason", taken([r.reason for r in active], pa.string()))
    marked = marked.append_column("exception_owner", taken([r.owner for r in active], pa.string()))
    return marked.append_column("exception_expires", taken([r.expires for r in active], pa.date32()))
