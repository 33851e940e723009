"""Files derived from the store's report parts (under <store>/derived/<kind>/): summaries that spare
a reader the rows of a month. A summary is named after its part and the part's last snapshot date,
<part>--YYYY-MM-DD.parquet, and stands for the part only while that part is live.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from credsight.store import Part, Store


def place(path: str) -> tuple[str, str]:
    """(month folder, file name) of a part: names repeat across months, the pair does not."""
    month_dir, name = path.rsplit("/", 2)[-2:]
    return month_dir, name


def summaries_of(store: Store, parts: Sequence[Part], kind: str) -> dict[tuple[str, str], tuple[str, dt.date]]:
    """(month folder, part name) -> (path of its summary, the part's last snapshot date), for `parts` only."""
    live = {place(part.path) for part in parts}
    found = {}
    for (month_dir, name), path in store.derived_files(kind).items():
        part, _, last = name.removesuffix(".parquet").rpartition("--")
        if (month_dir, f"{part}.parquet") in live:
            found[month_dir, f"{part}.parquet"] = (path, dt.date.fromisoformat(last))
    return found
