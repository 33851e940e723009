"""`credsight ingest`: credential report CSV files (and the QuickSight pattern's bucket) into the store."""

from __future__ import annotations

from typing import Annotated

import typer

from credsight.cli.arguments import DEFAULT_STORE, EndpointOption, StoreOption, maybe_date, open_store


def ingest(
    paths: Annotated[
        list[str], typer.Argument(help="CSV files, folders, or s3://bucket/prefix of the QuickSight pattern.")
    ],
    store: StoreOption = DEFAULT_STORE,
    date: Annotated[
        str | None, typer.Option(help="Snapshot date for files whose path has no YYYY-MM-DD folder.")
    ] = None,
    account: Annotated[str | None, typer.Option(help="Account id for files whose path and rows do not say.")] = None,
    endpoint_url: EndpointOption = None,
) -> None:
    """Import credential report CSV files (and the QuickSight pattern's bucket) into the store."""
    from credsight.report.model import check_account_id
    from credsight.sources.files import ingest as run_ingest

    if account is not None:
        check_account_id(account, "--account")
    summary = run_ingest(
        open_store(store, endpoint_url, must_exist=False),
        paths,
        date=maybe_date(date, "--date"),
        account=account,
        endpoint_url=endpoint_url,
    )
    from credsight.rules.kept import keep_answers

    for trouble in keep_answers(open_store(store, endpoint_url)):
        typer.echo(f"warning: {trouble}", err=True)
    typer.echo(
        f"ingested {summary.reports} reports ({summary.rows} rows) as run {summary.run_id}"
        + (f"; skipped {summary.skipped} already stored" if summary.skipped else "")
    )
