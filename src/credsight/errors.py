"""Every error a user can cause and fix, under one root: the CLI prints it as one line, exit code 2.

Each says what was wrong and what to do. Errors that are the program's own fault (a malformed
rule catalogue, a broken invariant) are not here: they are bugs and keep their tracebacks.
"""

from __future__ import annotations


class UserFixable(Exception):
    """A mistake in what was asked (a flag, a file, a store); the message says what to do."""


class UserError(UserFixable):
    """A command-line argument that cannot be used as given."""


class ConfigError(UserFixable, ValueError):
    """credsight.toml cannot be used; the message says where and what to do."""


class ReportError(UserFixable, ValueError):
    """A credential report that cannot be read; the message says where and what to do."""

    def __init__(
        self,
        source: str,
        message: str,
        line: int | None = None,
        column: str | None = None,
    ) -> None:
        where = source
        if line is not None:
            where += f": line {line}"
        if column is not None:
            where += f", column {column}"
        super().__init__(f"{where}: {message}")
        self.source, self.line, self.column = source, line, column


class StoreError(UserFixable, RuntimeError):
    """The store cannot be used as asked; the message says why and what to do."""


class SourceError(UserFixable, RuntimeError):
    """A source (AWS, files) cannot be used as configured; the message says why and what to do."""


class AwsSetupError(SourceError):
    """AWS cannot be used as configured (no credentials, unknown profile)."""


class OrganizationError(SourceError):
    """The organization cannot be read."""


class NotInOrganization(OrganizationError):
    """The caller's account is not part of an organization."""


class ScopeError(UserFixable, ValueError):
    """An account or OU filter selects nothing that exists; the message says what to give instead."""


class FindingsError(UserFixable, ValueError):
    """The evaluation was asked for something that does not exist (a rule, a threshold)."""


class ExceptionsError(UserFixable, ValueError):
    """The accepted-risks file is malformed; the message names the file, entry and field."""


class ServeError(UserFixable, RuntimeError):
    """The dashboard cannot be served as asked (an address, a secret, a certificate)."""


class MappingError(UserFixable, ValueError):
    """The people mapping file (account_id,user,identity_center_user) is malformed; the message names file and line."""


class PeopleError(UserFixable, RuntimeError):
    """The SSO migration cannot be told as asked (no Identity Center snapshot yet); the message says what to do."""


class NotifyError(UserFixable, ValueError):
    """A notification destination or route cannot be used as given; the message says which and what to do."""
