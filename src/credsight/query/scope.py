"""Which accounts a filter selects: ids, and OUs by their path of names (see sources/ou_paths.py)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from credsight.errors import ScopeError
from credsight.sources.ou_paths import path_under


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
