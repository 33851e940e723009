"""The event catalogue: how much each kind of change matters, and why, as data plus logic.

Every kind of change (rules/changes.py) has a severity on the one scale of rules/severity.py and a
one-line reason. Some kinds matter more for some users: an access key created for the root user is
critical, for a user with a console password high (a person holding a long-lived key beside their
password), for anyone else medium. Those are *escalations*: a fact of the change's row (FACTS) and the
severity it raises the kind to. The logic is `severity_sql`, one SQL expression over a change row that
the change query evaluates for every row; the catalogue is checked when loaded (`check_events`), as the
rule catalogue is.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from credsight.rules.severity import SEVERITIES, rank

KIND_NAME = re.compile(r"[a-z][a-z0-9_]*")


@dataclass(frozen=True)
class EventSettings:
    """What the kinds that need a setting look for; the defaults are the commands' defaults."""

    revived_days: int | None = 90  # credential_revived: days unused before a use counts; None: not looked for
    allowed_regions: tuple[str, ...] = ()  # key_outside_allowed_regions; empty: not looked for


DEFAULT_SETTINGS = EventSettings()
NO_SETTINGS = EventSettings(revived_days=None, allowed_regions=())


@dataclass(frozen=True)
class Fact:
    """What an escalation may look at: a boolean column of each change row (rules/changes.py makes them)."""

    column: str
    words: str  # "critical for <words>"


FACTS: dict[str, Fact] = {
    "root": Fact("is_root", "the root user"),  # the change is about the account's root user
    "console": Fact("console", "a user with a console password"),  # a password enabled after the change
}


@dataclass(frozen=True)
class Escalation:
    """A kind of change that matters more when a fact of its row holds."""

    fact: str  # a key of FACTS
    severity: str
    reason: str


@dataclass(frozen=True)
class EventKind:
    """One kind of change: its severity, why, and the rows for which it is worse."""

    kind: str
    severity: str
    reason: str
    escalations: tuple[Escalation, ...] = field(default_factory=tuple)
    setting: str | None = None  # the setting a kind needs to be seen at all (--revived-days, --allowed-regions)


EVENTS: tuple[EventKind, ...] = (
    EventKind(
        "root_signed_in",
        "critical",
        "Someone signed in as root: every permission boundary is bypassed; find out who and why.",
    ),
    EventKind(
        "root_key_used",
        "critical",
        "A root access key was used: it can do anything in the account and should not exist.",
    ),
    EventKind(
        "access_key_created",
        "medium",
        "A new long-lived secret exists; check who made it and where it will live.",
        (
            Escalation("root", "critical", "An access key was created for root: delete it (CIS 1.4)."),
            Escalation("console", "high", "A person with a console password now also holds an access key."),
        ),
    ),
    EventKind(
        "access_key_activated",
        "medium",
        "A deactivated access key was enabled again: a key someone had decided to retire works again.",
        (
            Escalation("root", "critical", "A root access key was enabled again: delete it (CIS 1.4)."),
            Escalation("console", "high", "A person with a console password has an access key enabled again."),
        ),
    ),
    EventKind(
        "mfa_removed",
        "high",
        "MFA was removed: the password alone opens the account now.",
        (Escalation("root", "critical", "MFA was removed from root: the root password alone opens the account."),),
    ),
    EventKind(
        "credential_revived",
        "high",
        "A password or key unused for a long time was used again: the classic sign of a leaked old credential.",
        setting="--revived-days",
    ),
    EventKind(
        "key_outside_allowed_regions",
        "high",
        "An access key was used in a region outside the allowed ones: check who is using it, and from where.",
        setting="--allowed-regions",
    ),
    EventKind("user_created", "medium", "A new IAM user: should this person or workload use SSO or a role instead?"),
    EventKind("password_enabled", "medium", "A console password was set: one more way in to protect with MFA."),
    EventKind("user_deleted", "low", "An IAM user was deleted: one credential fewer (check it was meant)."),
    EventKind("password_disabled", "low", "A console password was removed: one way in fewer."),
    EventKind("access_key_deactivated", "low", "An access key was deactivated or deleted: one secret fewer."),
    EventKind("access_key_rotated", "low", "An access key was replaced by a new one: routine rotation."),
    EventKind("mfa_enabled", "informational", "MFA was turned on: good news."),
    EventKind("key_new_region", "low", "An access key showed a region it had never been used in."),
    EventKind("key_new_service", "informational", "An access key showed a service it had never called."),
    EventKind(
        "collection_gap",
        "low",
        "An account was not collected for a day or more: changes in between are seen only at the next snapshot.",
    ),
)


class EventCatalogueError(ValueError):
    """The event catalogue is malformed (a bug, not a user's mistake)."""


def check_events(events: Sequence[EventKind], kinds: Sequence[str] | None = None) -> None:
    """Refuse a malformed catalogue; with `kinds`, also one that misses a kind of change or names another."""
    seen: set[str] = set()
    for event in events:
        if not KIND_NAME.fullmatch(event.kind) or event.kind in seen:
            raise EventCatalogueError(f"event kind {event.kind!r} is malformed or repeated")
        seen.add(event.kind)
        if event.severity not in SEVERITIES:
            raise EventCatalogueError(f"{event.kind}: severity {event.severity!r} is not one of {SEVERITIES}")
        reasons = [event.reason, *(e.reason for e in event.escalations)]
        if any(not reason.strip() or "\n" in reason for reason in reasons):
            raise EventCatalogueError(f"{event.kind}: every reason is one line, and none is empty")
        facts = [escalation.fact for escalation in event.escalations]
        if len(set(facts)) != len(facts):
            raise EventCatalogueError(f"{event.kind}: a fact escalates it twice")
        for escalation in event.escalations:
            if escalation.fact not in FACTS:
                raise EventCatalogueError(f"{event.kind}: no fact {escalation.fact!r}; the facts are {list(FACTS)}")
            if escalation.severity not in SEVERITIES or rank(escalation.severity) <= rank(event.severity):
                raise EventCatalogueError(f"{event.kind}: an escalation must raise the severity above {event.severity}")
    if kinds is not None and seen != set(kinds):
        missing, extra = sorted(set(kinds) - seen), sorted(seen - set(kinds))
        raise EventCatalogueError(f"the event catalogue misses {missing} and names unknown kinds {extra}")


def severity_sql(events: Sequence[EventKind] = EVENTS) -> str:
    """SQL for the severity of a change row with the columns kind, is_root and console.

    Built from the catalogue's constants only (kinds, facts and severities checked by check_events);
    an escalation listed first wins over one listed after it.
    """
    cases = []
    for event in events:
        if event.escalations:
            raised = " ".join(
                f"WHEN coalesce({FACTS[e.fact].column}, false) THEN '{e.severity}'" for e in event.escalations
            )
            cases.append(f"WHEN '{event.kind}' THEN CASE {raised} ELSE '{event.severity}' END")
        else:
            cases.append(f"WHEN '{event.kind}' THEN '{event.severity}'")
    return f"CASE kind {' '.join(cases)} END"


def by_kind(events: Sequence[EventKind] = EVENTS) -> dict[str, EventKind]:
    """Each kind's entry, for a page that shows a kind's reason beside it."""
    return {event.kind: event for event in events}


def at_or_above(severity: str) -> list[str]:
    """The severities from `severity` up (for --min-severity)."""
    return list(SEVERITIES[rank(severity) :])


check_events(EVENTS)
