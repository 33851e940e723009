"""OU paths: an account's place in the organization as the names from the root, e.g. Root/Workloads/Prod.

Imports nothing: the collector chooses accounts by OU with it, and the readers filter by OU with it.
"""

from __future__ import annotations


def path_under(ou_path: str, ou: str) -> bool:
    """Whether `ou_path` (e.g. Root/Workloads/Prod) is `ou` or below it; `ou` may leave out the root's name."""
    wanted = ou.strip("/").split("/")
    have = ou_path.split("/")
    if wanted[0] != have[0]:
        wanted = [have[0], *wanted]
    return have[: len(wanted)] == wanted
