"""How bad a finding or a change is: one scale for rules and events, lowest first (imports nothing)."""

from __future__ import annotations

from enum import StrEnum

SEVERITIES = ("informational", "low", "medium", "high", "critical")


class Severity(StrEnum):
    """A severity as the command line takes it (--fail-on, --min-severity)."""

    informational = "informational"
    low = "low"
    medium = "medium"
    high = "high"
    critical = "critical"

    @property
    def rank(self) -> int:
        return SEVERITIES.index(self.value)


def rank(severity: str) -> int:
    """The position of a severity on the scale: informational 0 ... critical 4."""
    return SEVERITIES.index(severity)
