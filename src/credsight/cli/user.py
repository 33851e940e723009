"""`credsight user`: one IAM user in every account where it exists, or its snapshots over time."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import IO, TYPE_CHECKING, Annotated

import typer

from credsight.cli.arguments import (
    DEFAULT_STORE,
    AccountsOption,
    EndpointOption,
    ExceptionsOption,
    OuOption,
    StoreOption,
    TableFormat,
    TableFormatOption,
    open_store,
    parse_ids,
)
from credsight.cli.output import write_rows
from credsight.errors import ScopeError

if TYPE_CHECKING:
    from pathlib import Path

    from credsight.store import Store

SHOWN = (
    "account_id",
    "account_name",
    "ou_path",
    "user",
    "class",
    "password_last_used",
    "last_key_use",
    "open_findings",
)
HISTORY_SHOWN = (
    "snapshot_date",
    "account_id",
    "account_name",
    "class",
    "password_enabled",
    "password_last_used",
    "mfa_active",
    "access_key_1_active",
    "access_key_1_last_used_date",
    "access_key_1_last_used_region",
    "access_key_2_active",
    "access_key_2_last_used_date",
    "access_key_2_last_used_region",
)
SUGGESTIONS = 5


def user(
    name_or_arn: Annotated[str, typer.Argument(help="The IAM user's name (any case) or its ARN.")],
    store: StoreOption = DEFAULT_STORE,
    account: AccountsOption = None,
    ou: OuOption = None,
    history: Annotated[
        bool, typer.Option("--history", help="Every stored snapshot of the user, by account and day.")
    ] = False,
    exceptions: ExceptionsOption = None,
    format: TableFormatOption = TableFormat.table,
    endpoint_url: EndpointOption = None,
) -> None:
    """One IAM user in every account where it exists: class, last uses, open findings; or its history."""
    run_user(
        open_store(store, endpoint_url), name_or_arn, parse_ids(account, "--account"), ou, history, exceptions, format
    )


def run_user(
    store: Store,
    name_or_arn: str,
    accounts: Sequence[str],
    ou: str | None,
    history: bool,
    exceptions: Path | None,
    format: TableFormat,
    out: IO[str] = sys.stdout,
) -> None:
    from credsight.query import Database
    from credsight.rules.exceptions import accepted_risks
    from credsight.rules.users import find_users, user_accounts, user_history

    if not name_or_arn.strip():
        raise ScopeError("give the user's name or ARN, e.g. credsight user alice")
    risks = accepted_risks(exceptions)
    with Database(store) as database:
        chosen = database.scope(accounts, ou)
        if history:
            found = user_history(database, name_or_arn, accounts=chosen)
        else:
            found = user_accounts(database, name_or_arn, accounts=chosen, risks=risks)
        if found.num_rows == 0:
            near = find_users(database, name_or_arn, SUGGESTIONS, accounts=chosen).column("user").to_pylist()
            hint = f"; users whose name holds it: {', '.join(dict.fromkeys(near))}" if near else ""
            where = "in any snapshot" if history else "in the latest snapshot of any account"
            raise ScopeError(f"no user {name_or_arn!r} {where} chosen{hint}")
    write_rows(found, format, out, shown=HISTORY_SHOWN if history else SHOWN, headers="words")
    if format is TableFormat.table:
        accounts_found = len(set(found.column("account_id").to_pylist()))
        what = f"{found.num_rows} snapshots in " if history else ""
        print(f"{what}{accounts_found} account{'s' if accounts_found != 1 else ''}", file=out)
