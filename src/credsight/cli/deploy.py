"""`credsight deploy template|package` and `credsight athena-ddl`: running credsight inside AWS."""

from __future__ import annotations

import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from credsight.cli.arguments import command_group
from credsight.deploy.package import DEFAULT_PYTHON

deploy = command_group("Deploy the collector into AWS: CloudFormation templates and the Lambda package.")


@deploy.command()
def template(
    name: Annotated[
        str,
        typer.Argument(help="collector (management or delegated admin account), member-role, or quicksight."),
    ],
) -> None:
    """Print a CloudFormation template (JSON): the collector stack, the member role's StackSet, or the
    QuickSight dashboard over the collector's Athena views."""
    from credsight.deploy.templates import TEMPLATES, render
    from credsight.errors import UserError

    if name not in TEMPLATES:
        raise UserError(f"no template {name!r}; choose one of: {', '.join(TEMPLATES)}")
    sys.stdout.write(render(name))


@deploy.command()
def package(
    out: Annotated[Path, typer.Option(help="The .zip to write (upload it to S3 for the collector template).")],
    python: Annotated[str, typer.Option(help="The Lambda runtime's Python version.")] = DEFAULT_PYTHON,
    architecture: Annotated[str, typer.Option(help="The Lambda function's architecture: x86_64 or arm64.")] = "x86_64",
) -> None:
    """Build the collector's Lambda deployment package (fetches manylinux wheels from PyPI)."""
    from credsight.deploy.package import build_package

    size = build_package(out, python, architecture)
    typer.echo(f"wrote {out} ({size.zipped / 2**20:.1f} MB, {size.unzipped / 2**20:.0f} MB unpacked)")


class SqlDialect(StrEnum):
    """Whose SQL `athena-ddl` prints: Athena's (Hive DDL, Trino views), or Spark's (EMR, Glue, pyspark)."""

    athena = "athena"
    spark = "spark"


def athena_ddl(
    location: Annotated[
        str, typer.Option(help="The store: s3://bucket/prefix (for Spark also s3a://bucket/prefix or file:///folder).")
    ],
    database: Annotated[str, typer.Option(help="The Glue / Athena database to create the tables in.")] = "credsight",
    dialect: Annotated[
        SqlDialect, typer.Option(help="athena: partition projection, Trino views; spark: Spark tables and views.")
    ] = SqlDialect.athena,
) -> None:
    """Print the Athena DDL: the store's tables (partition projection, no crawler) and the views; or,
    with --dialect spark, the same tables and views for Spark."""
    from credsight.deploy.athena import athena_ddl as ddl

    sys.stdout.write(ddl(location, database, dialect.value))
