"""Delivery through apprise: one URL per destination (slack://, workflows:// for Teams, mailto://, json://,
sns://, and about a hundred more), so credsight writes no client of its own.

A digest is handed over as Markdown; apprise renders it for the destination (Slack's mrkdwn, Teams'
Adaptive Cards, HTML and plain-text mail). `Apprise.notify()` returns False when the destination did not
accept it; why is in its logs, which `deliver` passes on (apprise keeps secrets out of its messages).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from credsight.errors import NotifyError
from credsight.notify.digest import Digest
from credsight.notify.routes import Route
from credsight.rules.severity import rank


@dataclass(frozen=True)
class Delivery:
    """Whether the destination accepted the digest, and if not, why."""

    accepted: bool
    reason: str = ""


Deliver = Callable[[Route, Digest], Delivery]


def _plugin(url: str) -> object | None:
    import apprise

    logging.getLogger("apprise").addHandler(logging.NullHandler())  # its warnings come back in Delivery.reason
    return apprise.Apprise.instantiate(url)


def check(route: Route) -> None:
    """Refuse, before anything is sent, a destination apprise cannot send to."""
    if _plugin(route.destination) is None:
        raise NotifyError(
            f"{route.name}: apprise does not know this URL ({label(route.destination)}); see the apprise URLs "
            "at https://appriseit.com/services/ (e.g. slack://..., mailto://..., json://host:port/path)"
        )


def check_all(routes: Sequence[Route]) -> None:
    """check() each route, in order: the first unknown URL is the error."""
    for route in routes:
        check(route)


def label(url: str) -> str:
    """A destination as messages may show it: apprise's privacy form (secrets masked), without options."""
    plugin = _plugin(url)
    shown = plugin.url(privacy=True) if plugin is not None else url.split("://", 1)[0] + "://..."  # type: ignore[attr-defined]
    return str(shown).split("?", 1)[0]


def deliver(route: Route, digest: Digest) -> Delivery:
    """Send the digest to the route's destination through apprise."""
    import apprise

    logging.getLogger("apprise").addHandler(logging.NullHandler())
    sender = apprise.Apprise()
    if not sender.add(route.destination):
        return Delivery(False, "apprise does not know this URL")
    worst = rank(digest.worst or "informational")
    kind = apprise.NotifyType.INFO
    if worst >= rank("high"):
        kind = apprise.NotifyType.FAILURE if worst >= rank("critical") else apprise.NotifyType.WARNING
    result = sender.notify(
        body=digest.markdown, title=digest.title, body_format=apprise.NotifyFormat.MARKDOWN, notify_type=kind
    )
    if result:
        return Delivery(True)
    said = [entry.message for entry in result.logs() if entry.level in ("WARNING", "ERROR", "CRITICAL")]
    return Delivery(False, "; ".join(dict.fromkeys(said)) or "the destination did not accept it")
