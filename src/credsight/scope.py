"""Which accounts a filter selects: ids, and OUs by their path of names (imports nothing of ours)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from credsight.errors import UserFixable


class ScopeError(UserFixable, ValueError):
    """The filter selects nothing that exists; the message says what to give instead."""


def path_under(ou_path: str, ou: str) -> bool:
    """Whether `ou_path` (e.g. Root/Workloads/Prod) is `ou` or below it; `ou` may leave out the root's name."""
    wanted = ou.strip("/").split("/")
    have = ou_path.split("/")
    if wanted[0] != have[0]:
        wanted = [have[0], *wanted]
    return have[: len(wanted)] == wanted


def select_accounts(
    places: Iterable[tuple[str, str | None]], accounts: Sequence[str] = (), ou: str | None = None
) -> list[str] | None:
    """The account ids to look at, from (account id, OU path) pairs; None means every account."""
    if ou is None:
        return list(accounts) or None
    chosen = [account for account, path in places if path is not None and path_under(path, ou)]
    if accounts:
        chosen = [a for a in chosen if a in set(accounts)]
    if not chosen:
        raise ScopeError(
            f"no account under --ou {ou!r}; give a path such as Root/Workloads (the accounts view lists them)"
        )
    return chosen
