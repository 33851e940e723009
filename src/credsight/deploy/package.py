"""`credsight deploy package`: the collector's Lambda deployment package (a .zip).

Lambda unpacks a package into at most 250 MB (code given from S3; 50 MB zipped for a direct
upload), so the package holds only what the function imports: credsight without its dashboard,
HTML report and demo; pyarrow and numpy (the collector), DuckDB (the Finish step's findings) and
apprise (the Finish step's notifications to the URLs of a secret) as manylinux wheels for the
Lambda runtime's Python and architecture. boto3 is left to the runtime, which includes it
(credsight uses no recent boto3 feature), and so is what boto3 needs (apprise's requests needs
urllib3 too). pyarrow is most of the
rest; the parts of it the function never loads (Flight, ORC, the GCS / Azure / HDFS
filesystems, C++ headers, Cython sources, tests) are left out. The collect step imports neither
DuckDB nor anything of the dashboard.
"""

from __future__ import annotations

import importlib.metadata
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

from credsight.errors import UserFixable

UNZIPPED_LIMIT = 250 * 1024 * 1024  # Lambda's limit for the unpacked code, layers included
# The collector template's runtime (templates.RUNTIME), the one Python the package is built for.
# Lambda's python3.12 runs on Amazon Linux 2023, whose glibc is 2.34: the wheels must need no newer one.
# (python3.11 runs on Amazon Linux 2, glibc 2.26, which the pinned pyarrow's manylinux_2_28 wheels
# cannot load: a package for this machine's Python 3.11 would pass its tests here and fail in AWS.)
DEFAULT_PYTHON = "3.12"
RUNTIME_GLIBC = (2, 34)
DEPENDENCIES = ("pyarrow", "numpy", "duckdb", "apprise")  # apprise: the Finish step tells the URLs of its secret
# In every Lambda Python runtime: the AWS SDK and what it needs (tests put the local copies beside the package).
RUNTIME_PROVIDED = ("boto3", "botocore", "s3transfer", "jmespath", "urllib3", "dateutil", "six")
ARCHITECTURES = {"x86_64": "x86_64", "arm64": "aarch64"}
# The dashboard, the HTML report, the demo and the command line: nothing the function imports.
LEFT_OUT_OF_CREDSIGHT = ("present", "demo", "cli", "__pycache__", "*.pyc")
# pyarrow files the collector never loads (globs relative to the pyarrow folder).
LEFT_OUT_OF_PYARROW = (
    "include",
    "tests",
    "src",
    "*.pxd",
    "*.pyx",
    "*.pxi",
    "*.h",
    "*.cc",
    "*flight*",
    "_substrait*",  # (libarrow_substrait stays: every pyarrow module links it)
    "*_orc*",
    "_gcsfs*",
    "_azurefs*",
    "_hdfs*",
    "_pyarrow_cpp_tests*",
    "libarrow_python.so",  # two copies of libarrow_python.so.<version>, which is the one loaded
    "libarrow_python.so.*.*.*",
)
FIXED_TIME = (2020, 1, 1, 0, 0, 0)  # the same inputs make the same zip


@dataclass(frozen=True)
class PackageSize:
    zipped: int
    unzipped: int


def platforms(machine: str) -> list[str]:
    """pip's --platform arguments: every manylinux tag the runtime's glibc can load (pip matches tags exactly)."""
    major, newest = RUNTIME_GLIBC
    tags = [f"manylinux2014_{machine}", *(f"manylinux_{major}_{minor}_{machine}" for minor in range(17, newest + 1))]
    return [argument for tag in tags for argument in ("--platform", tag)]


def install_dependencies(target: Path, python: str, architecture: str) -> None:
    """The dependencies' wheels for Lambda (manylinux, the runtime's Python), at the versions tested here."""
    machine = ARCHITECTURES[architecture]
    pinned = [f"{name}=={importlib.metadata.version(name)}" for name in DEPENDENCIES]
    command = [
        sys.executable,
        "-m",
        "pip",
        "install",
        "--quiet",
        "--disable-pip-version-check",
        "--target",
        str(target),
        "--implementation",
        "cp",
        "--python-version",
        python,
        "--only-binary=:all:",
        *platforms(machine),
        *pinned,
    ]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["pip failed"])[-1]
        raise UserFixable(f"cannot fetch the Lambda dependencies ({last}); check access to PyPI and --python")


def trim(site: Path) -> None:
    """Leave out what the collector never imports, and what the Lambda runtime provides (boto3 and what it
    needs: apprise's requests brings urllib3, which the runtime's botocore already has)."""
    for name in RUNTIME_PROVIDED:
        for path in [site / name, *site.glob(f"{name}-*.dist-info"), site / f"{name}.py"]:
            if path.is_dir():
                shutil.rmtree(path)
            elif path.exists():
                path.unlink()
    for pattern in LEFT_OUT_OF_PYARROW:
        for path in (site / "pyarrow").glob(pattern):
            shutil.rmtree(path) if path.is_dir() else path.unlink()
    for path in [*site.glob("*/tests"), *site.glob("*/*/tests"), *site.glob("**/__pycache__"), site / "bin"]:
        if path.is_dir():
            shutil.rmtree(path)


def copy_credsight(site: Path) -> None:
    source = Path(__file__).resolve().parent.parent
    shutil.copytree(source, site / "credsight", ignore=shutil.ignore_patterns(*LEFT_OUT_OF_CREDSIGHT))


def write_zip(site: Path, zip_path: Path) -> PackageSize:
    """A zip of the folder, in a fixed order with fixed times."""
    unzipped = 0
    with zipfile.ZipFile(zip_path, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        for path in sorted(p for p in site.rglob("*") if p.is_file()):
            info = zipfile.ZipInfo(path.relative_to(site).as_posix(), FIXED_TIME)
            info.external_attr = (0o755 if os.access(path, os.X_OK) else 0o644) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            data = path.read_bytes()
            unzipped += len(data)
            archive.writestr(info, data)
    return PackageSize(zip_path.stat().st_size, unzipped)


def build_package(out: Path, python: str = DEFAULT_PYTHON, architecture: str = "x86_64") -> PackageSize:
    """Build the package at `out`, whole or not at all; refuse one Lambda would not take."""
    if architecture not in ARCHITECTURES:
        raise UserFixable(f"--architecture {architecture!r}: Lambda runs x86_64 or arm64")
    if out.is_dir() or not out.parent.is_dir() or not os.access(out.parent, os.W_OK):
        raise UserFixable(f"cannot write {out}: give a file name in a folder that exists and is writable")
    with tempfile.TemporaryDirectory(prefix="credsight-package-") as folder:
        site = Path(folder) / "site"
        install_dependencies(site, python, architecture)
        trim(site)
        copy_credsight(site)
        size = write_zip(site, Path(folder) / "package.zip")
        if size.unzipped > UNZIPPED_LIMIT:
            raise UserFixable(
                f"the package would unpack to {size.unzipped / 2**20:.0f} MB, over Lambda's 250 MB; nothing was written"
            )
        temporary = out.with_name(f".{out.name}.tmp")
        try:
            shutil.copyfile(Path(folder) / "package.zip", temporary)
            os.replace(temporary, out)
        except OSError as e:
            temporary.unlink(missing_ok=True)
            raise UserFixable(f"cannot write {out}: {e.strerror}") from None
    return size
