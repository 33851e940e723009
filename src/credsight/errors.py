"""The base of every error a user can cause and fix: the CLI prints it as one line, exit code 2."""


class UserFixable(Exception):
    """A mistake in what was asked (a flag, a file, a store); the message says what to do."""
