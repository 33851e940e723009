"""Who hears about what: each destination with the accounts and the severities it is told about.

    # credsight.toml
    [notify]
    min-severity = "high"                         # the command's option, for --to and routes alike

    [[notify.route]]
    destination = "slack://T000/B000/XXXX"        # an apprise URL, or env:NAME (the URL in that variable)
    ou = ["Root/Workloads/Payments"]               # accounts under any of these OU paths
    tag = "security-contact=payments"              # and accounts with this tag (key=value; a key alone: any value)
    min-severity = "medium"                        # this route's own minimum

A route with both `ou` and `tag` takes the accounts that match both; one with neither takes every
account; `--to URL` is a route with neither. A destination is named once: the same URL in two routes is
an error (merge them), so that each destination has one watermark and one digest.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from credsight.errors import NotifyError
from credsight.rules.severity import SEVERITIES
from credsight.sources.ou_paths import path_under

ROUTE_KEYS = ("destination", "ou", "tag", "min_severity")


def destination_key(destination: str) -> str:
    """What the store keeps of a destination: a digest of its URL, which holds secrets (tokens, passwords)."""
    return hashlib.sha256(destination.strip().encode()).hexdigest()[:32]


@dataclass(frozen=True)
class Route:
    """A destination and what it is told about."""

    destination: str  # the apprise URL (a secret: never stored, never printed whole)
    min_severity: str
    ous: tuple[str, ...] = ()  # OU paths: an account under any of them
    tags: tuple[tuple[str, str | None], ...] = ()  # (key, value): an account with any of them; None: any value
    name: str = field(default="", compare=False)  # how messages name it (see delivery.label)

    @property
    def key(self) -> str:
        return destination_key(self.destination)

    @property
    def every_account(self) -> bool:
        return not self.ous and not self.tags

    def covers(self, ou_path: str | None, tags: Mapping[str, str] | None) -> bool:
        """Whether an account (its OU path and tags) is one this destination hears about."""
        if self.ous and not (ou_path and any(path_under(ou_path, ou) for ou in self.ous)):
            return False
        if self.tags:
            have = dict(tags or {})
            return any(key in have and (value is None or have[key] == value) for key, value in self.tags)
        return True


def routes_of(
    to: Sequence[str], section: Mapping[str, Any], min_severity: str, environ: Mapping[str, str] = os.environ
) -> list[Route]:
    """The routes of a notification round: each --to URL (every account), then credsight.toml's routes.

    `section` is credsight.toml's [notify] table (config.section("notify")).
    """
    routes = [Route(url.strip(), min_severity, name=f"--to #{n}") for n, url in enumerate(to, 1) if url.strip()]
    configured = section.get("route", [])
    if not isinstance(configured, list) or not all(isinstance(entry, dict) for entry in configured):
        raise NotifyError("credsight.toml: routes are written [[notify.route]], one table per destination")
    for number, entry in enumerate(configured, 1):
        routes.append(_route(number, entry, min_severity, environ))
    seen: dict[str, str] = {}
    for route in routes:
        if route.key in seen:
            raise NotifyError(
                f"{route.name} names the same destination as {seen[route.key]}: merge them into one route"
            )
        seen[route.key] = route.name
    return routes


def _route(number: int, entry: Mapping[str, Any], min_severity: str, environ: Mapping[str, str]) -> Route:
    where = f"credsight.toml [[notify.route]] #{number}"
    keys = {key.replace("-", "_"): value for key, value in entry.items()}
    unknown = sorted(set(keys) - set(ROUTE_KEYS))
    if unknown:
        known = ", ".join(k.replace("_", "-") for k in ROUTE_KEYS)
        raise NotifyError(f"{where}: no setting {unknown[0]!r}; a route has {known}")
    destination = keys.get("destination")
    if not isinstance(destination, str) or not destination.strip():
        raise NotifyError(f"{where}: destination is required: an apprise URL, or env:NAME")
    if destination.startswith("env:"):
        variable = destination[len("env:") :]
        destination = environ.get(variable, "")
        if not destination.strip():
            raise NotifyError(f"{where}: the variable {variable} named by its destination is not set")
    severity = keys.get("min_severity", min_severity)
    if severity not in SEVERITIES:
        raise NotifyError(f"{where}: min-severity {severity!r} is not one of {', '.join(SEVERITIES)}")
    ous = _strings(keys.get("ou", []), f"{where}: ou")
    tags = tuple(_tag(text, where) for text in _strings(keys.get("tag", []), f"{where}: tag"))
    return Route(destination.strip(), severity, ous, tags, name=f"route #{number}")


def _strings(value: Any, what: str) -> tuple[str, ...]:
    values = [value] if isinstance(value, str) else value
    if not isinstance(values, list) or not all(isinstance(v, str) and v.strip() for v in values):
        raise NotifyError(f'{what} must be a text or a list of texts, e.g. ["Root/Workloads/Prod"]')
    return tuple(v.strip() for v in values)


def _tag(text: str, where: str) -> tuple[str, str | None]:
    key, has_value, value = text.partition("=")
    if not key.strip():
        raise NotifyError(f"{where}: tag {text!r} names no key; write key=value, or a key alone")
    return key.strip(), value.strip() if has_value else None
