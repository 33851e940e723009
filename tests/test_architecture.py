"""The layering of docs/architecture.md, held by walking every module's imports (ast), lazy ones included.

A module may import its own layer or a lower one; boto3 lives in sources/ and deploy/ only; the web
and template libraries in present/ only; nothing but the command line imports the command line.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "src" / "credsight"

# Lowest first. A top-level name of the package (module or folder) -> its layer.
LAYERS: dict[str, int] = {
    "__init__": 0,
    "errors": 0,
    "config": 0,
    "report": 1,
    "store": 2,
    "sources": 3,
    "demo": 3,
    "query": 4,
    "rules": 5,
    "formats": 6,
    "notify": 7,
    "present": 7,
    "deploy": 8,
    "cli": 9,
}
ONLY_IN = {  # a third-party library -> the parts of credsight that may import it
    "boto3": {"sources", "deploy"},
    "botocore": {"sources", "deploy"},
    "dash": {"present"},
    "dash_ag_grid": {"present"},
    "plotly": {"present"},
    "flask": {"present"},
    "flask_compress": {"present"},
    "gunicorn": {"present"},
    "jinja2": {"present"},
    "markupsafe": {"present"},
}


def modules() -> Iterator[tuple[str, Path]]:
    for path in sorted(PACKAGE.rglob("*.py")):
        yield ".".join(("credsight", *path.relative_to(PACKAGE).with_suffix("").parts)), path


def imported(path: Path, module: str) -> Iterator[tuple[str, int]]:
    """(module name, line) of every import in the file, relative ones resolved, at any depth."""
    package = module.rsplit(".", 1)[0] if path.name != "__init__.py" else module
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, node.lineno
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                source = f"{base}.{node.module}" if node.module else base
            else:
                source = node.module or ""
            yield source, node.lineno
            for alias in node.names:  # `from credsight import store` may import the module credsight.store
                yield f"{source}.{alias.name}", node.lineno


def part_of(module: str) -> str:
    """The top-level part of credsight a module belongs to: credsight.store.files -> store."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def test_every_part_of_the_package_has_a_layer() -> None:
    unplaced = sorted({part_of(module) for module, _ in modules()} - set(LAYERS))
    assert not unplaced, f"place these in LAYERS and in docs/architecture.md: {unplaced}"


def test_no_module_imports_a_layer_above_it() -> None:
    wrong = []
    for module, path in modules():
        mine = part_of(module)
        for name, line in imported(path, module):
            if not name.startswith("credsight.") or TYPE_CHECKING_ONLY(path, line):
                continue
            theirs = part_of(name)
            if LAYERS[theirs] > LAYERS[mine]:
                wrong.append(f"{path.relative_to(PACKAGE)}:{line} ({mine}) imports {name} ({theirs})")
    assert not wrong, "\n".join(wrong)


def test_libraries_stay_in_their_layer() -> None:
    wrong = []
    for module, path in modules():
        mine = part_of(module)
        for name, line in imported(path, module):
            allowed = ONLY_IN.get(name.split(".")[0])
            if allowed is not None and mine not in allowed and not TYPE_CHECKING_ONLY(path, line):
                wrong.append(f"{path.relative_to(PACKAGE)}:{line} imports {name} (only {sorted(allowed)} may)")
    assert not wrong, "\n".join(wrong)


def test_nothing_but_the_command_line_imports_the_command_line() -> None:
    wrong = [
        f"{path.relative_to(PACKAGE)}:{line} imports {name}"
        for module, path in modules()
        if part_of(module) != "cli"
        for name, line in imported(path, module)
        if name == "credsight.cli" or name.startswith("credsight.cli.")
    ]
    assert not wrong, "\n".join(wrong)


def TYPE_CHECKING_ONLY(path: Path, line: int) -> bool:
    """Whether the import on `line` sits under `if TYPE_CHECKING:` (types only: nothing is loaded)."""
    tree = _trees.setdefault(path, ast.parse(path.read_text(encoding="utf-8")))
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING":
            end = max(getattr(child, "end_lineno", child.lineno) for child in node.body)
            if node.lineno < line <= end:
                return True
    return False


_trees: dict[Path, ast.Module] = {}


@pytest.mark.parametrize(
    ("source", "found"),
    [
        ("from credsight.cli.app import main\n", "credsight.cli.app"),
        ("def f():\n    import boto3\n", "boto3"),
        ("from . import files\n", "credsight.store.files"),
        ("from credsight import query\n", "credsight.query"),
    ],
)
def test_the_walk_sees_every_form_of_import(tmp_path: Path, source: str, found: str) -> None:
    """The checks above would pass vacuously if the walk missed a form of import."""
    path = tmp_path / "module.py"
    path.write_text(source)
    assert found in {name for name, _ in imported(path, "credsight.store.module")}
