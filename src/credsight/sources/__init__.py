"""Where reports come from: AWS (organizations, sessions, the report, the collector) and files."""

from credsight.errors import UserFixable


class SourceError(UserFixable, RuntimeError):
    """A source cannot be used as configured; the message says why and what to do."""
