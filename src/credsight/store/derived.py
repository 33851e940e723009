"""Files derived from the store's report parts (under <store>/derived/<kind>/): summaries that spare
a reader the rows of a month. A summary is named after its part, the part's last snapshot date and
the version of what computed it, <part>--YYYY-MM-DD--<version>.parquet. It stands for the part only
while that part is live and its version is the code's: a summary computed by other SQL (a rule
added or changed, another default threshold) stands for nothing, and the next `compact` replaces it.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from credsight.store.files import Part, Store


@dataclass(frozen=True)
class SummaryKind:
    """A kind of summary: its folder under derived/, and the SQL that computes it from one part's rows.

    `sql` reads the part as `{source}`, with `parameters` bound; its version is a digest of both, so
    a summary computed by other SQL or other thresholds is not mistaken for this one.
    """

    name: str
    sql: str
    parameters: Mapping[str, object] = field(default_factory=dict, compare=False)
    # Whether its rows are a day's each (snapshot_date), so a question up to a day before the part's last one
    # reads the summary's rows up to that day; otherwise (first uses, last passes: over the whole part) the
    # summary stands only for questions up to its part's last day.
    by_day: bool = False

    @property
    def version(self) -> str:
        return version_of(self.sql, sorted(self.parameters.items()))

    def over(self, source: str) -> str:
        """The SQL, reading the part from the table `source`."""
        return self.sql.replace("{source}", source)


def version_of(*definitions: object) -> str:
    """A short digest of the definitions (SQL, rule ids, thresholds) a summary is computed from."""
    return hashlib.sha256(repr(definitions).encode()).hexdigest()[:12]


def summary_name(part_name: str, last: dt.date, kind: SummaryKind) -> str:
    return f"{part_name.removesuffix('.parquet')}--{last}--{kind.version}.parquet"


def place(path: str) -> tuple[str, str]:
    """(month folder, file name) of a part: names repeat across months, the pair does not."""
    month_dir, name = path.rsplit("/", 2)[-2:]
    return month_dir, name


def summaries_of(store: Store, parts: Sequence[Part], kind: SummaryKind) -> dict[tuple[str, str], tuple[str, dt.date]]:
    """(month folder, part name) -> (path of its summary, the part's last snapshot date), for `parts`
    only, and only summaries of the kind's current version."""
    live = {place(part.path) for part in parts}
    found = {}
    for (month_dir, name), path in store.derived_files(kind.name).items():
        part, last, version = ([*name.removesuffix(".parquet").split("--"), "", ""])[:3]
        if version == kind.version and (month_dir, f"{part}.parquet") in live:
            found[month_dir, f"{part}.parquet"] = (path, dt.date.fromisoformat(last))
    return found
