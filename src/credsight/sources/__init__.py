"""Where reports come from: AWS (organizations, sessions, the report, the collector) and files."""


class SourceError(RuntimeError):
    """A source cannot be used as configured; the message says why and what to do."""
