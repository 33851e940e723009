"""`credsight compact`: merge each month's parts into one file, then keep the summaries readers use; merge the
runs' outcome files into one."""

from __future__ import annotations

import typer

from credsight.cli.arguments import DEFAULT_STORE, EndpointOption, StoreOption, open_store


def compact(store: StoreOption = DEFAULT_STORE, endpoint_url: EndpointOption = None) -> None:
    """Merge each month's parts into one file (nothing is dropped; views are unchanged)."""
    from credsight.query.maintenance import compact_and_summarise
    from credsight.rules.kept import keep_answers
    from credsight.rules.summaries import SUMMARY_KINDS

    target = open_store(store, endpoint_url)
    done = compact_and_summarise(target, SUMMARY_KINDS)
    for trouble in keep_answers(target):
        typer.echo(f"warning: {trouble}", err=True)
    typer.echo(
        (f"merged {done.parts} parts" if done.parts else "nothing to compact")
        + (f"; wrote {done.summaries} summaries (first-seen dates, changes)" if done.summaries else "")
        + (f"; merged {done.outcomes} outcome files of runs" if done.outcomes else "")
    )
