"""A deterministic synthetic AWS Organization and its daily IAM credential reports.

The demo needs no AWS account: ``DemoOrganization`` invents accounts, IAM users and their
credentials, lets them evolve day by day (sign-ins, key use and rotation, a move to SSO,
new hires, deletions) and renders each account's report byte for byte as
``iam:GetCredentialReport`` returns it (AWS IAM User Guide, "Getting credential reports":
22 columns, markers ``N/A`` / ``no_information`` / ``not_supported``, root row first).

Everything follows from the constructor arguments: no clock, no ``hash()``, only numpy
PCG64 streams, one per named draw (``credsight.demo.draws``), so a new trait changes no
other. ``credsight.demo.population`` draws who exists when and how each user's credentials
stand before the period; here each day draws its sign-ins, key use and rotations. User
state is a vector over every user of the organisation; each day's CSV comes from a
fixed-width byte buffer (one row per user, fields NUL-padded) in which only the fields that
changed are rewritten, then the NULs are squeezed out. Memory is O(accounts x users), never
O(days).
"""

from __future__ import annotations

import datetime
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta

import numpy as np
import numpy.typing as npt

from credsight.demo import catalogue
from credsight.demo.draws import Draws
from credsight.demo.population import (
    DAY,
    HOUR,
    K1_ACTIVE,
    K1_REGION,
    K1_ROTATED,
    K1_SERVICE,
    K1_USED,
    KEYS,
    MARKERS,
    MFA,
    NA,
    PW_CHANGED,
    PW_ENABLED,
    PW_NEXT,
    PW_USED,
    ROOT,
    VOCABULARY,
    DemoAccount,
    Population,
    epoch,
)
from credsight.report.model import CURRENT_HEADER

__all__ = ["DemoAccount", "DemoOrganization", "DemoReport"]

_I64 = npt.NDArray[np.int64]
_U8 = npt.NDArray[np.uint8]

_HEADER = ",".join(CURRENT_HEADER)
_DEFAULT_END = datetime.date(2026, 11, 23)
_EARLIEST_START = datetime.date(1980, 1, 1)


@dataclass(frozen=True)
class DemoReport:
    """One account's credential report on one day, as GetCredentialReport returns it."""

    account_id: str
    snapshot_date: datetime.date
    generated_time: datetime.datetime
    content: bytes


def _padded(words: list[bytes], width: int) -> _U8:
    """Words as rows of a (len(words), width) byte matrix, NUL-padded on the right."""
    matrix = np.zeros((len(words), width), dtype=np.uint8)
    for row, word in enumerate(words):
        matrix[row, : len(word)] = np.frombuffer(word, dtype=np.uint8)
    return matrix


class _Layout:
    """Where each field sits in a fixed-width row, and the byte tables that fill it."""

    def __init__(self, pop: Population, end: datetime.date) -> None:
        statics = []
        for e in range(pop.kind.size):
            account_id = pop.accounts[int(pop.acct[e])].account_id
            name = pop.names[e]
            arn = f"arn:aws:iam::{account_id}:" + ("root" if pop.kind[e] == ROOT else f"user{pop.paths[e]}{name}")
            created = time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime(int(pop.created[e])))
            statics.append(f"{name},{arn},{created},".encode())
        self.static_width = max(len(s) for s in statics)
        self.static = _padded(statics, self.static_width)
        self.tables = [
            _padded([w.encode() for w in words], max(map(len, words))) if words else None for words in VOCABULARY
        ]
        widths = [25 if table is None else table.shape[1] for table in self.tables]
        self.columns = np.cumsum([self.static_width] + [w + 1 for w in widths]).tolist()
        self.width = max(self.columns[-1], len(_HEADER) + 1)
        self.header = _padded([_HEADER.encode() + b"\n"], self.width)[0]
        self.separators = np.full(len(widths), ord(","), dtype=np.uint8)
        self.separators[-1] = ord("\n")
        self.markers = _padded([m.encode() for m in MARKERS], 25)
        self.first_day = (min(a.joined for a in pop.accounts) - datetime.date(1970, 1, 1)).days - 1
        dates = np.arange(self.first_day, self.first_day + (end - min(a.joined for a in pop.accounts)).days + 400)
        self.dates = np.full((dates.size, 11), ord("T"), dtype=np.uint8)
        self.dates[:, :10] = dates.astype("datetime64[D]").astype("S10").view(np.uint8).reshape(-1, 10)
        second = np.arange(DAY)
        self.times = np.tile(np.frombuffer(b"00:00:00+00:00", dtype=np.uint8), (DAY, 1))
        for column, value in enumerate((second // 3600, second // 60 % 60, second % 60)):
            self.times[:, 3 * column] += (value // 10).astype(np.uint8)
            self.times[:, 3 * column + 1] += (value % 10).astype(np.uint8)

    def timestamps(self, values: _I64) -> _U8:
        """values (seconds or minus a marker index) as 25-byte NUL-padded rows."""
        out = np.empty((values.size, 25), dtype=np.uint8)
        stamped = values >= 0
        seconds = np.where(stamped, values, self.first_day * DAY)
        out[:, :11] = self.dates[seconds // DAY - self.first_day]
        out[:, 11:] = self.times[seconds % DAY]
        if not stamped.all():
            out[~stamped] = self.markers[-values[~stamped]]
        return out


class _Run:
    """One walk through the period: user state evolving day by day, and the CSV buffer it renders to."""

    def __init__(self, pop: Population, layout: _Layout, seed: int) -> None:
        self.pop, self.layout, self.seed, self.day = pop, layout, seed, -1
        self.state = pop.state.copy()
        self.rendered = np.full_like(self.state, -99)  # the values the buffer shows
        self.shown = np.zeros(pop.kind.size, dtype=bool)
        self.row = np.arange(pop.kind.size) + pop.acct + 1  # one header row before each account's users
        self.blocks = np.searchsorted(pop.acct, np.arange(len(pop.accounts) + 1)) + np.arange(len(pop.accounts) + 1)
        self.buffer = np.zeros((pop.kind.size + len(pop.accounts), layout.width), dtype=np.uint8)
        self.buffer[self.blocks[:-1]] = layout.header
        self.generated = np.zeros(len(pop.accounts), dtype=np.int64)

    def advance(self) -> None:
        """Move to the next day: yesterday's sign-ins, key use and rotations, and scheduled changes."""
        pop, s = self.pop, self.state
        self.day = i = self.day + 1
        draw, n = Draws(self.seed, "day", i), pop.kind.size
        t0 = pop.base + i * DAY
        workday = (pop.start + timedelta(i - 1)).weekday() < 5
        live = (pop.appear <= i) & (i < pop.vanish)
        moved = live & (pop.sso == i) & (s[PW_ENABLED] == 1)  # console access moves to IAM Identity Center
        for field in (PW_ENABLED, MFA):
            s[field, moved] = 0
        for field in (PW_USED, PW_CHANGED, PW_NEXT):
            s[field, moved] = NA
        s[K1_ACTIVE, moved] = 0
        s[MFA, live & (pop.mfa_day == i) & (s[PW_ENABLED] == 1)] = 1
        due = live & (pop.cadence > 0) & (s[K1_ACTIVE] == 1) & (t0 >= s[K1_ROTATED] + pop.cadence * DAY)
        s[K1_ROTATED, due] = t0 + draw("rotation_time").integers(9 * HOUR, 11 * HOUR, n)[due]
        for field, value in ((K1_USED, NA), (K1_REGION, 0), (K1_SERVICE, 0)):
            s[field, due] = value
        signs_in = draw("signs_in").random(n) < pop.pact * (1.0 if workday else 0.04)
        signin = live & (s[PW_ENABLED] > 0) & signs_in
        at = draw("signin_time").integers(7 * HOUR, 20 * HOUR, n)
        at = np.maximum(t0 + at, np.maximum(s[PW_CHANGED], pop.created) + 60)
        s[PW_USED, signin] = at[signin]
        expired = signin & (s[PW_NEXT] >= 0) & (s[PW_NEXT] <= at)
        s[PW_CHANGED, expired] = at[expired] + 45
        s[PW_NEXT, expired] = at[expired] + 45 + 90 * DAY
        if i == max(pop.days - 4, 0):  # someone signs in as root in a workload account
            s[PW_USED, pop.signin_root] = t0 + 14 * HOUR + int(draw("root_signin_time").integers(HOUR))
        for key, ((active, rotated, used, region, service), chance) in enumerate(zip(KEYS, pop.kuse, strict=True)):
            key_draw = Draws(self.seed, "access_key", i, key)
            calls = live & (s[active] == 1) & (key_draw("used").random(n) < chance)
            at = np.maximum(t0 + key_draw("used_time").integers(0, DAY - 120, n), s[rotated] + 60)
            called = pop.services[np.arange(n), key_draw("service").integers(0, 4, n)]
            far = key_draw("region").random(n)  # home mostly, the second region now and then, rarely an outlier
            where = np.where(far < 0.9, pop.home, np.where(far < 0.999, pop.second, pop.outlier))
            s[used, calls] = at[calls]
            s[service, calls] = called[calls]
            s[region, calls] = np.where(called < catalogue.FIRST_GLOBAL_SERVICE, where, 0)[calls]
        e = pop.outlier_user
        if i == max(pop.days - 10, 0) and e >= 0 and live[e] and s[K1_ACTIVE, e] == 1:  # a key shows up in Sao Paulo
            s[K1_USED, e] = max(int(s[K1_USED, e]), int(s[K1_ROTATED, e]), t0 + 3 * HOUR) + 60
            s[K1_REGION, e], s[K1_SERVICE, e] = catalogue.SA_EAST_1, catalogue.SERVICES.index("sts")
        self.generated = (
            epoch(pop.start)
            + i * DAY
            + 2 * HOUR
            + draw("report_generated_time").integers(0, 2 * HOUR, len(pop.accounts))
        )

    def render(self) -> list[DemoReport]:
        """Every account's report for the current day, rewriting only the fields that changed."""
        pop, layout, buffer = self.pop, self.layout, self.buffer
        live = (pop.appear <= self.day) & (self.day < pop.vanish)
        buffer[self.row[self.shown & ~live]] = 0
        entering = np.flatnonzero(live & ~self.shown)
        rows = self.row[entering]
        buffer[rows, : layout.static_width] = layout.static[entering]
        buffer[rows[:, None], np.array(layout.columns[1:]) - 1] = layout.separators
        self.rendered[:, entering] = -99
        self.shown = live
        changed = (self.state != self.rendered) & live
        for field, table in enumerate(layout.tables):
            users = np.flatnonzero(changed[field])
            if users.size:
                values = self.state[field, users]
                start = layout.columns[field]
                cells = layout.timestamps(values) if table is None else table[values]
                buffer[self.row[users], start : start + cells.shape[1]] = cells
        self.rendered[changed] = self.state[changed]
        snapshot = pop.start + timedelta(self.day)
        reports = []
        for a, account in enumerate(pop.accounts):
            block = buffer[self.blocks[a] : self.blocks[a + 1]]
            generated = datetime.datetime.fromtimestamp(int(self.generated[a]), tz=datetime.UTC)
            content = block[block != 0][:-1].tobytes()
            reports.append(DemoReport(account.account_id, snapshot, generated, content))
        return reports


class DemoOrganization:
    """A synthetic AWS Organization whose credential reports tell a recognisable story.

    Same arguments, same bytes, in any process. The period is the ``days`` days ending on
    ``end`` (default 2026-11-23). ``users_per_account`` fixes the number of rows in every
    report (the root included); otherwise each account has 20 to 120, changing over time.
    """

    def __init__(
        self,
        accounts: int = 25,
        days: int = 180,
        seed: int = 0,
        end: datetime.date | None = None,
        users_per_account: int | None = None,
    ) -> None:
        if accounts < 1 or days < 1:
            raise ValueError(f"a demo organisation needs at least 1 account and 1 day, got {accounts} and {days}")
        if users_per_account is not None and users_per_account < 1:
            raise ValueError(f"users_per_account counts the root row: it must be at least 1, got {users_per_account}")
        self._end = end or _DEFAULT_END
        if self._end - timedelta(days) < _EARLIEST_START:  # accounts join up to ~9 years earlier; keep times positive
            raise ValueError(
                f"the demo period must start in {_EARLIEST_START.year} or later: a later end or fewer days"
            )
        self._seed = seed
        self._population = Population(accounts, days, seed, self._end, users_per_account)
        self._layout = _Layout(self._population, self._end)

    def accounts(self) -> list[DemoAccount]:
        """Every account, sorted by account id."""
        return list(self._population.accounts)

    def days(self) -> list[datetime.date]:
        """Every snapshot date of the period, oldest first."""
        start = self._population.start
        return [start + timedelta(i) for i in range(self._population.days)]

    def reports_for_day(self, day: datetime.date) -> list[DemoReport]:
        """Every account's report on day, sorted by account id (replays the period up to day)."""
        index = (day - self._population.start).days
        if not 0 <= index < self._population.days:
            raise ValueError(f"{day} is outside the demo period {self._population.start} .. {self._end}")
        run = _Run(self._population, self._layout, self._seed)
        for _ in range(index + 1):
            run.advance()
        return run.render()

    def reports(self) -> Iterator[list[DemoReport]]:
        """One list of reports per day, oldest first, generated as it is consumed."""
        run = _Run(self._population, self._layout, self._seed)
        for _ in range(self._population.days):
            run.advance()
            yield run.render()
