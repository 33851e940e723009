"""The README is the reference: every command and every option of it must be there."""

from __future__ import annotations

import re
from pathlib import Path

import typer

from credsight.cli.app import app

README = (Path(__file__).parent.parent / "README.md").read_text()


def commands() -> dict[str, list[str]]:
    """Every command (a group's as "group sub") with its options."""
    found: dict[str, list[str]] = {}
    pending = [("", typer.main.get_command(app))]
    while pending:
        prefix, group = pending.pop()
        for name, command in group.commands.items():  # type: ignore[attr-defined]
            if hasattr(command, "commands"):
                pending.append((f"{prefix}{name} ", command))
                continue
            options = [o for p in command.params for o in p.opts if o.startswith("--") and o != "--help"]
            found[prefix + name] = options
    return found


def test_every_command_is_in_the_readme() -> None:
    for name in commands():
        assert re.search(rf"`credsight {name}\b", README), f"credsight {name} is missing from README.md"


def test_every_option_is_in_the_readme() -> None:
    for name, options in commands().items():
        for option in options:
            assert option in README, f"credsight {name} {option} is missing from README.md"
