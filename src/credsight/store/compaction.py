"""Compaction: a month's parts merged into one file per table, nothing dropped, views unchanged.

The merged files share one name and name the parts they replace in their footers; the daily one is
written last, so a compaction cut short leaves the old parts in force (see Store.scan).
"""

from __future__ import annotations

import json
import secrets

from credsight.store.files import PART_NAME, REPLACES_KEY, Part, Store
from credsight.store.schemas import schema_of


def compact(store: Store, min_parts: int = 2) -> int:
    """Merge each month's parts into one file per table; return how many parts were merged.

    The merged files share one name, and the daily one is written last, so a compaction
    cut short leaves the old parts in force. Nothing is dropped: every run's rows stay.
    Runs may write meanwhile (their new parts are not touched); of two compactions that
    merged the same parts at once, one backs out (see _scan).
    """
    scan = store.scan()
    store.sweep(scan)
    by_month: dict[str, dict[str, list[Part]]] = {}
    for table_name, parts in store.live_of(scan).items():
        for part in parts:
            by_month.setdefault(part.path.rsplit("/", 2)[-2], {}).setdefault(table_name, []).append(part)
    newest_month = max(by_month, default="")
    done: list[tuple[str, list[str], dict[str, list[Part]]]] = []
    for month_dir, tables in sorted(by_month.items()):
        daily_parts = tables.get("daily", [])
        if len(daily_parts) < min_parts:
            continue
        newest = max(PART_NAME.fullmatch(p.name).group("run_id") for p in daily_parts)  # type: ignore[union-attr]
        name = f"part-{newest}-c{secrets.token_hex(4)}.parquet"
        written = []
        for table_name in ("reports", "key_use", "accounts", "daily"):
            parts = tables.get(table_name, [])
            if not parts:
                continue
            rows = store.read_files([p.path for p in parts], schema_of(table_name))
            replaces = {REPLACES_KEY: json.dumps([p.name for p in parts]).encode()}
            directory = store.join(table_name, month_dir)
            tail = month_dir == newest_month
            written.append(store.write_table(directory, name, rows, replaces, table_name, tail=tail, compacting=True))
        done.append((f"{month_dir}/{name}", written, tables))
    merged = 0
    losers = store.scan()[3] if done else set()
    for compacted, written, tables in done:
        if compacted in losers:
            # Another compaction merged some of the same parts first: back out, keep theirs.
            for path in reversed(written):
                store.delete(path)
            continue
        for parts in tables.values():
            for part in parts:
                store.delete(part.path)
            merged += len(parts)
    return merged
