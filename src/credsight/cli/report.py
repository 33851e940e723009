"""`credsight report`: one self-contained HTML file for people without AWS access."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from credsight.cli.arguments import (
    DEFAULT_STORE,
    AccountsOption,
    EndpointOption,
    ExceptionsOption,
    OuOption,
    StoreOption,
    maybe_date,
    open_store,
    parse_ids,
)
from credsight.errors import UserError


def report(
    out: Annotated[Path, typer.Option(help="The HTML file to write.")],
    store: StoreOption = DEFAULT_STORE,
    date: Annotated[str | None, typer.Option(help="Each account's snapshot as of this day (default: latest).")] = None,
    account: AccountsOption = None,
    ou: OuOption = None,
    redact: Annotated[bool, typer.Option("--redact", help="Replace user names and ARNs by stable pseudonyms.")] = False,
    exceptions: ExceptionsOption = None,
    endpoint_url: EndpointOption = None,
) -> None:
    """Write one self-contained HTML report (no network needed to open it) for people without AWS access."""
    from credsight.config import section
    from credsight.present.report import scope_label, write_report
    from credsight.query import Database
    from credsight.rules.exceptions import accepted_risks
    from credsight.rules.matching import people_settings

    ids = parse_ids(account, "--account")
    with Database(open_store(store, endpoint_url)) as database:
        if database.newest_snapshot() is None:
            raise UserError(f"the store {store} holds no snapshots; collect or ingest some first")
        chosen = database.scope(ids, ou)
        risks = accepted_risks(exceptions)
        people = people_settings(section("people"))
        text = write_report(database, maybe_date(date, "--date"), chosen, redact, scope_label(ids, ou), risks, people)
    try:
        out.write_text(text, encoding="utf-8")
    except OSError as e:
        raise UserError(f"cannot write {out}: {e.strerror}; check the folder exists and is writable") from None
    typer.echo(f"wrote {out} ({len(text.encode()) / 1e6:.1f} MB)")
