"""`credsight migration`: each person's IAM user and where its move to IAM Identity Center stands."""

from __future__ import annotations

import datetime as dt
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import IO, TYPE_CHECKING, Annotated

import typer

from credsight.cli.arguments import (
    DEFAULT_STORE,
    AccountsOption,
    EndpointOption,
    OuOption,
    StoreOption,
    TableFormat,
    TableFormatOption,
    maybe_date,
    open_store,
    parse_ids,
)
from credsight.cli.output import print_table, write_rows

if TYPE_CHECKING:
    import pyarrow as pa

    from credsight.store import Store


class MigrationState(StrEnum):
    no_sso_user = "no_sso_user"
    sso_user_no_access = "sso_user_no_access"
    ambiguous = "ambiguous"
    dual_use = "dual_use"
    ready_to_remove = "ready_to_remove"
    migrated = "migrated"


COLUMNS = (
    "account_id",
    "account_name",
    "ou_path",
    "user",
    "arn",
    "user_class",
    "state",
    "person",
    "person_id",
    "matched_by",
    "candidates",
    "note",
    "assigned_since",
    "last_iam_use",
    "days_unused",
    "snapshot_date",
)
SHOWN = ("account_id", "account_name", "user", "state", "person", "matched_by", "assigned_since", "last_iam_use")


def migration(
    store: StoreOption = DEFAULT_STORE,
    date: Annotated[
        str | None, typer.Option(help="Each account's snapshot as of this day (default: the latest).")
    ] = None,
    account: AccountsOption = None,
    ou: OuOption = None,
    state: Annotated[list[MigrationState] | None, typer.Option(help="Only IAM users in this state (repeat).")] = None,
    format: TableFormatOption = TableFormat.table,
    endpoint_url: EndpointOption = None,
) -> None:
    """Each person's IAM user: its SSO migration state, the Identity Center user matched, the rule, the
    assignment's first day and the last IAM use. Matching rules and ready-days are set in [people]."""
    request = MigrationRequest(
        date=maybe_date(date, "--date"),
        accounts=parse_ids(account, "--account"),
        ou=ou,
        states=tuple(s.value for s in state or ()),
        format=format,
    )
    run_migration(open_store(store, endpoint_url), request)


@dataclass(frozen=True)
class MigrationRequest:
    date: dt.date | None = None
    accounts: Sequence[str] = ()
    ou: str | None = None
    states: Sequence[str] = ()
    format: TableFormat = TableFormat.table


def run_migration(
    store: Store, request: MigrationRequest, out: IO[str] = sys.stdout, err: IO[str] = sys.stderr
) -> None:
    import pyarrow as pa
    import pyarrow.compute as pc

    from credsight.config import section
    from credsight.query import Database
    from credsight.rules.matching import people_settings
    from credsight.rules.people import mapping_lines, open_people

    settings = people_settings(section("people"))
    lines, source = mapping_lines(store, settings)
    with Database(store) as database:
        accounts = database.scope(request.accounts, request.ou)
        people = open_people(database, settings, lines, source)
        every = states = people.states(request.date, accounts)
        if request.states:
            states = states.filter(pc.is_in(states.column("state"), pa.array(list(request.states), pa.string())))
        summary = people.summary(states) if request.format is TableFormat.table else None
        machines = people.machines(request.date, accounts, every) if request.format is TableFormat.table else 0
    for absent in people.absent:
        print(f"warning: {absent}; the IAM users it maps have no person", file=err)
    rows = states.select(list(COLUMNS))
    if request.format is not TableFormat.table or summary is None:
        write_rows(rows, request.format, out)
        return
    print_summary(summary, machines, out)
    write_rows(rows, request.format, out, shown=SHOWN, headers="words")


def print_summary(summary: pa.Table, machines: int, out: IO[str]) -> None:
    """IAM users per OU and state, then the machine users, which are not people."""
    print_table(summary, out, headers="words")
    print(f"machine users (access keys only, not people): {machines}", file=out)
