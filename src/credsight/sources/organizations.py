"""The organization's accounts: who they are, their state, and where they sit in the OU tree."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import botocore.exceptions

from credsight.errors import NotInOrganization, OrganizationError, SourceError
from credsight.sources.ou_paths import path_under

# Accounts in these states have no usable IAM; they are recorded as skipped, never collected.
SKIPPED_STATES = frozenset({"SUSPENDED", "PENDING_CLOSURE", "CLOSED"})
PAGE_SIZE = 20  # the largest MaxResults ListAccounts and ListChildren accept


@dataclass(frozen=True)
class Account:
    """One member account as Organizations describes it."""

    id: str
    name: str | None = None
    email: str | None = None
    state: str = "ACTIVE"
    joined: dt.datetime | None = None
    ou_path: str = ""  # OU names from the root, e.g. "Root/Workloads/Prod"
    ou_ids: tuple[str, ...] = field(default=())  # the same path as ids, root first

    @property
    def skipped(self) -> bool:
        return self.state in SKIPPED_STATES


def account_state(described: dict[str, Any]) -> str:
    """`State` (2025 on), falling back to the retired `Status` when `State` is absent."""
    return str(described.get("State") or described.get("Status") or "ACTIVE")


def _pages(client: Any, operation: str, key: str, **arguments: Any) -> Iterable[dict[str, Any]]:
    """Every item of a paginated call; pages may be empty while NextToken is still set."""
    paginator = client.get_paginator(operation)
    for page in paginator.paginate(**arguments, PaginationConfig={"PageSize": PAGE_SIZE}):
        yield from page.get(key, [])


def discover(client: Any) -> list[Account]:
    """Every account of the organization with its OU path, sorted by id."""
    try:
        listed = list(_pages(client, "list_accounts", "Accounts"))
        places = ou_paths(client)
    except botocore.exceptions.ClientError as e:
        code = e.response.get("Error", {}).get("Code", "")
        message = e.response.get("Error", {}).get("Message", str(e))
        if code == "AWSOrganizationsNotInUseException":
            raise NotInOrganization(message) from None
        if code in ("AccessDeniedException", "AccessDenied"):
            raise OrganizationError(
                f"cannot list the organization's accounts ({code}: {message}); run from the management account "
                "or a delegated administrator, or pass --accounts"
            ) from None
        raise OrganizationError(f"cannot list the organization's accounts ({code}: {message})") from None
    accounts = []
    for described in listed:
        names, ids = places.get(described["Id"], ("", ()))
        accounts.append(
            Account(
                id=described["Id"],
                name=described.get("Name"),
                email=described.get("Email"),
                state=account_state(described),
                joined=described.get("JoinedTimestamp"),
                ou_path=names,
                ou_ids=ids,
            )
        )
    return sorted(accounts, key=lambda a: a.id)


def ou_paths(client: Any) -> dict[str, tuple[str, tuple[str, ...]]]:
    """Each account's OU path (names and ids, root first), walking the tree once.

    A walk costs two calls per OU, where ListParents would cost one per account and OU.
    """
    places: dict[str, tuple[str, tuple[str, ...]]] = {}
    pending: list[tuple[str, str, tuple[str, ...]]] = [
        (root["Id"], root.get("Name", "Root"), (root["Id"],)) for root in _pages(client, "list_roots", "Roots")
    ]
    while pending:
        parent, path, ids = pending.pop()
        for child in _pages(client, "list_children", "Children", ParentId=parent, ChildType="ACCOUNT"):
            places[child["Id"]] = (path, ids)
        for ou in _pages(client, "list_organizational_units_for_parent", "OrganizationalUnits", ParentId=parent):
            pending.append((ou["Id"], f"{path}/{ou['Name']}", (*ids, ou["Id"])))
    return places


def choose_accounts(
    organizations: Callable[[], Any],
    caller_account: str,
    *,
    only: Sequence[str] = (),
    exclude: Sequence[str] = (),
    ou: str | None = None,
) -> tuple[list[Account], bool]:
    """The accounts to collect, and whether Organizations described them (so their metadata is kept).

    `organizations` makes the Organizations client; it is not called when `only` names the
    accounts and no OU asks for the tree. An account outside any organization collects itself.
    """
    if only and not ou:
        return select([Account(a) for a in only], exclude=exclude), False
    try:
        everyone = discover(organizations())
    except NotInOrganization:
        if ou:
            raise SourceError(f"--ou {ou}: the account {caller_account} is not in an organization") from None
        return select([Account(caller_account)], exclude=exclude), False
    chosen = select(everyone, only=only, exclude=exclude, ou=ou)
    if ou and not chosen:
        raise SourceError(f"no accounts under --ou {ou!r}; give an OU id (ou-...) or a path such as Root/Prod")
    return chosen, True


def select(
    accounts: Sequence[Account],
    *,
    only: Sequence[str] = (),
    exclude: Sequence[str] = (),
    ou: str | None = None,
) -> list[Account]:
    """Narrow the accounts: only these ids, not those, and only under an OU (its id or name path)."""
    chosen = list(accounts)
    if only:
        wanted = set(only)
        chosen = [a for a in chosen if a.id in wanted]
    if exclude:
        unwanted = set(exclude)
        chosen = [a for a in chosen if a.id not in unwanted]
    if ou is not None:
        chosen = [a for a in chosen if under(a, ou)]
    return chosen


def under(account: Account, ou: str) -> bool:
    """Whether the account sits in `ou` or anything below it; `ou` is an id or a path of names."""
    return ou in account.ou_ids or path_under(account.ou_path, ou)
