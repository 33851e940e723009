"""Settings from credsight.toml and CREDSIGHT_ variables, below flags, as a user meets them."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from credsight.config import default_map, section
from credsight.errors import ConfigError
from tests.conftest import report, user_row

COMMANDS = {"collect": ["store", "concurrency", "role_name"], "compact": ["store"]}


def credsight(*args: str, cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("CREDSIGHT_")} | env
    return subprocess.run(
        [sys.executable, "-m", "credsight.cli", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=environ,
        check=False,
    )


def test_top_level_keys_apply_to_every_command_that_has_them(tmp_path: Path) -> None:
    path = tmp_path / "credsight.toml"
    path.write_text('store = "s3://b/p"\n[collect]\nconcurrency = 32\nrole-name = "reader"\n')
    assert default_map(path, COMMANDS) == {
        "collect": {"store": "s3://b/p", "concurrency": 32, "role_name": "reader"},
        "compact": {"store": "s3://b/p"},
    }
    assert default_map(None, COMMANDS) == {}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("stor = 1\n", "unknown setting 'stor'"),
        ("[collect]\nfoo = 1\n", "[collect] has no setting 'foo'"),
        ("[colect]\n", "unknown section [colect]"),
        ("[collect\n", "is not valid TOML"),
    ],
)
def test_mistakes_in_the_file_are_named(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "credsight.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message.replace("[", r"\[")):
        default_map(path, COMMANDS)


SECTIONS = {"people": ("rules", "template"), "collect": ("route",)}


def test_settings_that_are_not_options_are_read_by_their_code_and_checked(tmp_path: Path) -> None:
    path = tmp_path / "credsight.toml"
    path.write_text('[people]\nrules = ["email"]\ntemplate = "{user}@x"\n[collect]\nconcurrency = 4\nroute = []\n')
    assert default_map(path, COMMANDS, SECTIONS) == {"collect": {"concurrency": 4}}
    assert section("people", {"CREDSIGHT_CONFIG": str(path)}) == {"rules": ["email"], "template": "{user}@x"}
    assert section("nowhere", {"CREDSIGHT_CONFIG": str(path)}) == {}
    path.write_text("[people]\nrulez = 1\n")
    with pytest.raises(ConfigError, match=r"\[people\] has no setting 'rulez'; its settings are rules, template"):
        default_map(path, COMMANDS, SECTIONS)
    with pytest.raises(ConfigError, match=r"unknown section \[people\]"):
        default_map(path, COMMANDS)  # a section nobody reads is refused


def test_flag_beats_variable_beats_file_beats_default(tmp_path: Path) -> None:
    (tmp_path / "day" / "2026-11-01").mkdir(parents=True)
    csv = tmp_path / "day" / "2026-11-01" / "report.csv"
    csv.write_bytes(report(user_row("alice")))
    (tmp_path / "credsight.toml").write_text('store = "from-file"\n')
    assert credsight("ingest", str(csv), cwd=tmp_path).returncode == 0
    assert (tmp_path / "from-file" / "daily").is_dir()
    assert credsight("ingest", str(csv), cwd=tmp_path, CREDSIGHT_STORE="from-env").returncode == 0
    assert (tmp_path / "from-env" / "daily").is_dir()
    result = credsight("ingest", "--store", "from-flag", str(csv), cwd=tmp_path, CREDSIGHT_STORE="from-env")
    assert result.returncode == 0 and (tmp_path / "from-flag" / "daily").is_dir()
    # any option, by its command: CREDSIGHT_<COMMAND>_<OPTION>
    result = credsight("collect", cwd=tmp_path, CREDSIGHT_COLLECT_CONCURRENCY="0")
    assert result.returncode == 2 and "'--concurrency': 0 is not in the range 1<=x<=256" in result.stderr


def test_a_bad_file_is_one_line_and_exit_2(tmp_path: Path) -> None:
    (tmp_path / "credsight.toml").write_text("[compact]\nstore = 1\nzzz = 2\n")
    result = credsight("compact", cwd=tmp_path)
    assert result.returncode == 2
    assert (
        result.stderr
        == "error: credsight.toml: [compact] has no setting 'zzz'; 'credsight compact --help' lists the options\n"
    )
    result = credsight("compact", cwd=tmp_path, CREDSIGHT_CONFIG=str(tmp_path / "missing.toml"))
    assert result.returncode == 2 and "no such file" in result.stderr
    named = tmp_path / "elsewhere.toml"
    named.write_text('store = "named-store"\n')
    result = credsight("compact", cwd=tmp_path, CREDSIGHT_CONFIG=str(named))
    assert "no store at named-store" in result.stderr
