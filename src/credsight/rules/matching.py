"""Who each human IAM user is: the matching rules that tie an IAM user to an IAM Identity Center user
(a person), tried in order, and over which Identity Center snapshots each match holds.

The rules, in the default order (`[people] rules` in credsight.toml changes which are on and their order):

- `mapping`: an explicit file, CSV `account_id,user,identity_center_user`, globs allowed in the first two
  columns, for what no rule can guess;
- `user_name`: the IAM user name equals an Identity Center user name (case-insensitive);
- `email`: the IAM user name equals one of the person's emails (case-insensitive);
- `email_local_part`: the IAM user name equals the part before @ of one of the person's emails;
- `template`: a pattern such as `{user}@example.com` turns the IAM user name into an Identity Center
  user name (only when `[people] template` is set).

The first rule that finds anyone decides: one person is a match, made by that rule; two or more are
`ambiguous` (listed, never guessed). A mapping line decides even when the Identity Center user it names
does not exist: the IAM user then has no person, with a note saying so, and no later rule guesses.

Time is counted in Identity Center snapshots, numbered from 1 (`first`, `last` below): a person created
on the 40th snapshot matches from then on, and a match is re-decided wherever anyone appears or leaves.
Everything here is plain Python over small inputs (one row per Identity Center user and per mapping line).
"""

from __future__ import annotations

import csv
import io
import itertools
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from typing import Any

from credsight.errors import ConfigError, MappingError

RULES = ("mapping", "user_name", "email", "email_local_part", "template")
DEFAULT_READY_DAYS = 30
SETTINGS = ("rules", "template", "mapping", "ready_days")  # the keys of [people]
MAPPING_HEADER = ("account_id", "user", "identity_center_user")
GLOB = re.compile(r"[*?\[]")
ACCOUNT_PATTERN = re.compile(r"[0-9*?\[\]!\-]+")


@dataclass(frozen=True)
class PeopleSettings:
    """How IAM users are matched to people, and when a migrated IAM user is ready to remove."""

    rules: tuple[str, ...] = tuple(r for r in RULES if r != "template")
    template: str | None = None
    mapping: str | None = None  # a CSV file; None: the store's people-mapping.csv when there is one
    ready_days: int = DEFAULT_READY_DAYS

    def rank(self, rule: str) -> int | None:
        return self.rules.index(rule) if rule in self.rules else None


def people_settings(section: Mapping[str, Any], where: str = "credsight.toml") -> PeopleSettings:
    """The `[people]` table of the settings file, checked: an unknown rule or key is an error naming it."""
    unknown = sorted(set(section) - set(SETTINGS))
    if unknown:
        raise ConfigError(f"{where}: [people] has no setting {unknown[0]!r}; its settings are {', '.join(SETTINGS)}")
    template = section.get("template")
    if template is not None and (not isinstance(template, str) or template.count("{user}") != 1):
        raise ConfigError(
            f'{where}: [people] template must contain {{user}} once, e.g. "{{user}}@example.com"; got {template!r}'
        )
    rules = section.get("rules")
    if rules is None:
        chosen = tuple(r for r in RULES if r != "template" or template)
    else:
        if not isinstance(rules, list) or not all(isinstance(r, str) for r in rules):
            raise ConfigError(f'{where}: [people] rules is a list of rule names, e.g. ["mapping", "user_name"]')
        for rule in rules:
            if rule not in RULES:
                raise ConfigError(f"{where}: [people] rules: unknown rule {rule!r}; the rules are {', '.join(RULES)}")
        if len(set(rules)) != len(rules):
            raise ConfigError(f"{where}: [people] rules names a rule twice: {rules}")
        if "template" in rules and not template:
            raise ConfigError(
                f'{where}: [people] rules has template but no template is set: add template = "{{user}}@…"'
            )
        chosen = tuple(rules)
    ready = section.get("ready_days", DEFAULT_READY_DAYS)
    if not isinstance(ready, int) or isinstance(ready, bool) or ready < 0:
        raise ConfigError(f"{where}: [people] ready-days must be a whole number of days, 0 or more; got {ready!r}")
    mapping = section.get("mapping")
    if mapping is not None and not isinstance(mapping, str):
        raise ConfigError(f"{where}: [people] mapping is the path of a CSV file; got {mapping!r}")
    return PeopleSettings(chosen, template, mapping, ready)


# -- the mapping file ---------------------------------------------------------------------------


@dataclass(frozen=True)
class MappingLine:
    """One line of the mapping file: IAM users (globs) that are this Identity Center user."""

    account: str  # 12 digits, or a glob of digits such as 1111* or *
    user: str  # an IAM user name or a glob, compared case-insensitively
    identity_center_user: str
    line: int

    def accounts(self, known: Iterable[str]) -> list[str]:
        return [a for a in known if fnmatchcase(a, self.account)] if GLOB.search(self.account) else [self.account]

    def users(self, known: Callable[[], Iterable[str]]) -> list[str]:
        pattern = self.user.lower()
        return [n for n in known() if fnmatchcase(n, pattern)] if GLOB.search(pattern) else [pattern]


def read_mapping(text: str, source: str) -> list[MappingLine]:
    """The lines of a mapping file; a malformed one is a MappingError naming the file and line."""
    rows = csv.reader(io.StringIO(text), strict=True)
    lines: list[MappingLine] = []
    first = True
    try:
        for row in rows:
            number = rows.line_num
            if not row or all(not cell.strip() for cell in row):
                continue
            cells = tuple(cell.strip() for cell in row)
            if first and cells == MAPPING_HEADER:  # the header, optional
                first = False
                continue
            first = False
            if len(cells) != 3:
                raise MappingError(
                    f"{source}: line {number}: {len(cells)} columns; a line is account_id,user,identity_center_user"
                )
            account, user, person = cells
            if not ACCOUNT_PATTERN.fullmatch(account) or (not GLOB.search(account) and len(account) != 12):
                raise MappingError(
                    f"{source}: line {number}: account {account!r} is not 12 digits nor a glob of digits (e.g. 1111*)"
                )
            if not user:
                raise MappingError(f"{source}: line {number}: the IAM user is empty; give a name or a glob (e.g. j*)")
            if not person:
                raise MappingError(f"{source}: line {number}: the Identity Center user is empty; give its user name")
            lines.append(MappingLine(account, user, person, number))
    except csv.Error as e:
        raise MappingError(f"{source}: line {rows.line_num}: not valid CSV ({e})") from None
    return lines


# -- Identity Center users and the candidates each rule finds ------------------------------------


@dataclass(frozen=True)
class Version:
    """An Identity Center user as it stood over a run of snapshots `first`..`last`."""

    user_id: str
    user_name: str
    emails: tuple[str, ...]
    first: int
    last: int


@dataclass(frozen=True)
class Candidate:
    """A person one rule finds for a name over `first`..`last`; user_id None: a mapping names someone absent."""

    rank: int
    rule: str
    user_id: str | None
    user_name: str
    first: int
    last: int


@dataclass(frozen=True)
class Match:
    """What a name resolves to over `first`..`last`.

    status: matched (one person), ambiguous (candidates lists who), missing (a mapping names an
    Identity Center user that does not exist then).
    """

    first: int
    last: int
    status: str
    rule: str
    user_id: str | None = None
    user_name: str | None = None
    candidates: tuple[str, ...] = field(default=())

    def same_as(self, other: Match) -> bool:
        return (self.status, self.rule, self.user_id, self.user_name, self.candidates) == (
            other.status,
            other.rule,
            other.user_id,
            other.user_name,
            other.candidates,
        )


def template_reader(template: str) -> re.Pattern[str]:
    """The inverse of a template: which IAM user name (group 1) turns into a given Identity Center user name."""
    before, after = template.lower().split("{user}")
    return re.compile(f"{re.escape(before)}(.+){re.escape(after)}")


def name_candidates(versions: Iterable[Version], settings: PeopleSettings) -> dict[str, list[Candidate]]:
    """Every lower-cased IAM user name some rule other than mapping would match, with its candidates."""
    found: dict[str, list[Candidate]] = {}
    reader = template_reader(settings.template) if settings.template else None

    def add(rule: str, name: str, version: Version) -> None:
        rank = settings.rank(rule)
        if rank is not None and name:
            candidate = Candidate(rank, rule, version.user_id, version.user_name, version.first, version.last)
            found.setdefault(name, []).append(candidate)

    for version in versions:
        user_name = version.user_name.lower()
        add("user_name", user_name, version)
        emails = {email.lower() for email in version.emails}
        for email in emails:
            add("email", email, version)
        for local in {email.split("@", 1)[0] for email in emails if "@" in email}:
            add("email_local_part", local, version)
        if reader is not None and (read := reader.fullmatch(user_name)):
            add("template", read.group(1), version)
    return found


def mapping_candidates(
    targets: Iterable[str], by_user_name: Mapping[str, list[Version]], rank: int, horizon: int
) -> list[Candidate]:
    """What mapping lines naming `targets` (Identity Center user names) find over snapshots 1..horizon:
    the user while it exists, and a candidate with no user where it does not."""
    found: list[Candidate] = []
    for target in sorted({t.lower() for t in targets}):
        versions = sorted(by_user_name.get(target, []), key=lambda v: v.first)
        start = 1
        for v in versions:
            if v.first > start:
                found.append(Candidate(rank, "mapping", None, target, start, v.first - 1))
            found.append(Candidate(rank, "mapping", v.user_id, v.user_name, v.first, v.last))
            start = max(start, v.last + 1)
        if start <= horizon:
            found.append(Candidate(rank, "mapping", None, target, start, horizon))
    return found


def resolve(candidates: Sequence[Candidate]) -> list[Match]:
    """The matches over time: wherever candidates come or go, the lowest-ranked present rule decides."""
    if not candidates:
        return []
    spans = {(c.first, c.last) for c in candidates}
    if len(spans) == 1:  # the usual case: one person (or several) over the same snapshots
        first, last = next(iter(spans))
        return [_decide(candidates, first, last)]
    bounds = sorted({c.first for c in candidates} | {c.last + 1 for c in candidates})
    matches: list[Match] = []
    for low, high in itertools.pairwise(bounds):
        present = [c for c in candidates if c.first <= low and c.last >= high - 1]
        if not present:
            continue
        match = _decide(present, low, high - 1)
        if matches and matches[-1].last == low - 1 and matches[-1].same_as(match):
            previous = matches.pop()
            match = Match(previous.first, match.last, match.status, match.rule, match.user_id, match.user_name,
                          match.candidates)  # fmt: skip
        matches.append(match)
    return matches


def _decide(present: Sequence[Candidate], first: int, last: int) -> Match:
    best = min(c.rank for c in present)
    top = [c for c in present if c.rank == best]
    people = {(c.user_id or f"absent:{c.user_name}", c.user_name) for c in top}
    rule = top[0].rule
    if len(people) > 1:
        return Match(first, last, "ambiguous", rule, candidates=tuple(sorted(name for _, name in people)))
    chosen = top[0]
    if chosen.user_id is None:
        return Match(first, last, "missing", rule, None, chosen.user_name)
    return Match(first, last, "matched", rule, chosen.user_id, chosen.user_name)
