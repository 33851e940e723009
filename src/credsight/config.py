"""Settings: every command option, from the flag, the environment, credsight.toml, or its default.

Precedence, highest first: the flag; `CREDSIGHT_<COMMAND>_<OPTION>` in the environment (or
the option's own variable, e.g. `CREDSIGHT_STORE`); `credsight.toml`; the built-in default.
The file is `./credsight.toml`, or the one `CREDSIGHT_CONFIG` names:

    store = "s3://security-data/credsight"   # top level: every command that has --store

    [collect]
    concurrency = 32
    role-name = "credsight-reader"
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from credsight.errors import ConfigError

ENV_PREFIX = "CREDSIGHT"
CONFIG_FILE = "credsight.toml"
CONFIG_VARIABLE = "CREDSIGHT_CONFIG"


def config_path(environ: Mapping[str, str] = os.environ) -> Path | None:
    """The settings file to read: $CREDSIGHT_CONFIG (which must exist), else ./credsight.toml if present."""
    named = environ.get(CONFIG_VARIABLE)
    if named:
        if not Path(named).is_file():
            raise ConfigError(f"{CONFIG_VARIABLE}={named}: no such file; fix the path or unset the variable")
        return Path(named)
    here = Path(CONFIG_FILE)
    return here if here.is_file() else None


def read_file(path: Path) -> dict[str, Any]:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"cannot read {path}: {e}") from None
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{path} is not valid TOML ({e}); see the README's settings section") from None


def default_map(
    path: Path | None, commands: Mapping[str, Sequence[str]], sections: Mapping[str, Sequence[str]] | None = None
) -> dict[str, dict[str, Any]]:
    """The file's settings per command, as the CLI's defaults (a flag or variable still wins).

    `commands` maps each command to its settings' names (option names without dashes,
    with underscores). Top-level keys apply to every command that has the setting.
    `sections` names the settings that are not options, which the code that uses them reads with
    `section()` (e.g. `[people]`, or `route` in `[notify]`): they are let through here, unknown ones are not.
    """
    if path is None:
        return {}
    data = read_file(path)
    structured = {name: {_name(key) for key in keys} for name, keys in (sections or {}).items()}
    everywhere = {k: v for k, v in data.items() if not isinstance(v, dict)}
    known_anywhere = {name for names in commands.values() for name in names}
    for key in everywhere:
        if _name(key) not in known_anywhere:
            raise ConfigError(f"{path}: unknown setting {key!r}; 'credsight COMMAND --help' lists the options")
    defaults: dict[str, dict[str, Any]] = {}
    for command, names in commands.items():
        chosen = {_name(k): v for k, v in everywhere.items() if _name(k) in names}
        section = data.get(command, {})
        for key, value in section.items():
            if _name(key) in structured.get(command, ()):
                continue
            if _name(key) not in names:
                raise ConfigError(
                    f"{path}: [{command}] has no setting {key!r}; 'credsight {command} --help' lists the options"
                )
            chosen[_name(key)] = value
        if chosen:
            defaults[command] = chosen
    for name in data:
        if isinstance(data[name], dict) and name not in commands and name not in structured:
            raise ConfigError(f"{path}: unknown section [{name}]; sections are named after commands")
        if name in structured and name not in commands:
            for key in data[name]:
                if _name(key) not in structured[name]:
                    known = ", ".join(sorted(k.replace("_", "-") for k in structured[name]))
                    raise ConfigError(f"{path}: [{name}] has no setting {key!r}; its settings are {known}")
    return defaults


def section(name: str, environ: Mapping[str, str] = os.environ) -> dict[str, Any]:
    """The settings file's `[name]` table as written (keys with - become _), or {} without a file or table.

    For settings that are not command options (`[people]`, `[[notify.route]]`); default_map has
    already refused keys nobody reads.
    """
    path = config_path(environ)
    if path is None:
        return {}
    found = read_file(path).get(name, {})
    if not isinstance(found, dict):
        raise ConfigError(f"{path}: {name} must be a table ([{name}])")
    return {_name(key): value for key, value in found.items()}


def _name(key: str) -> str:
    return key.strip().lstrip("-").replace("-", "_")
