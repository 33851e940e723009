"""The `credsight` command: one module per command or group (see docs/architecture.md); this one wires
them into one app and turns every error a user can fix into one line and exit code 2.

Nothing heavy is imported until a command runs, so `credsight --help` answers at once.
"""

from __future__ import annotations

import sys
from typing import Any

import typer

from credsight.cli.arguments import command_group
from credsight.cli.changes import changes
from credsight.cli.collect import collect
from credsight.cli.compact import compact
from credsight.cli.demo import demo
from credsight.cli.deploy import athena_ddl, deploy
from credsight.cli.findings import findings, rules
from credsight.cli.ingest import ingest
from credsight.cli.migration import migration
from credsight.cli.notify import notify
from credsight.cli.query import export, query
from credsight.cli.report import report
from credsight.cli.serve import serve
from credsight.cli.trends import trends
from credsight.cli.user import user
from credsight.config import ENV_PREFIX, config_path, default_map
from credsight.errors import UserFixable

app = command_group("One view of every IAM user's credentials across an AWS Organization, over time.")
for command in (
    ingest,
    collect,
    findings,
    changes,
    trends,
    rules,
    query,
    export,
    serve,
    report,
    compact,
    demo,
    migration,
    user,
    notify,
):
    app.command()(command)
app.add_typer(deploy, name="deploy")
app.command("athena-ddl")(athena_ddl)

# Settings of credsight.toml that are not options of a command, by section: read by the code that uses them.
SECTIONS: dict[str, tuple[str, ...]] = {
    "people": ("rules", "template", "mapping", "ready_days"),  # rules/matching.py: who each IAM user is
    "notify": ("route",),  # notify/routes.py: [[notify.route]], each destination and what it hears about
}


def setting_names(group: Any) -> dict[str, list[str]]:
    """Each command's settings: its options' names (the toml keys and CREDSIGHT_ variables)."""
    return {
        name: [p.name for p in command.params if p.name and getattr(p, "opts", [""])[0].startswith("--")]
        for name, command in group.commands.items()
    }


def main() -> None:
    """Entry point: one-line errors and exit code 2 for anything the user can fix."""
    try:
        command = typer.main.get_command(app)
        settings = default_map(config_path(), setting_names(command), SECTIONS)
        # a command's typer.Exit comes back as its code
        code = command.main(
            prog_name="credsight", standalone_mode=False, default_map=settings, auto_envvar_prefix=ENV_PREFIX
        )
    except typer.Exit as e:
        sys.exit(e.exit_code)
    except (typer.Abort, KeyboardInterrupt):
        print("interrupted", file=sys.stderr)
        sys.exit(130)
    except UserFixable as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(2)
    except BrokenPipeError:
        sys.exit(0)
    except Exception as e:
        # Typer vendors click, so its usage errors (unknown flag, bad value) are recognised by shape.
        if not (hasattr(e, "format_message") and hasattr(e, "exit_code")):
            raise
        if type(e).__name__ == "NoArgsIsHelpError":
            print(e.format_message())
            sys.exit(2)
        context = getattr(e, "ctx", None)
        path = context.command_path if context is not None else "credsight"
        message = e.format_message().replace("Value error, ", "")  # typer's choice check words it so
        print(f"error: {message} (see '{path} --help')", file=sys.stderr)
        sys.exit(2)
    sys.exit(code if isinstance(code, int) else 0)


if __name__ == "__main__":
    main()
