"""A deterministic synthetic AWS Organization and its daily IAM credential reports.

The demo needs no AWS account: ``DemoOrganization`` invents accounts, IAM users and their
credentials, lets them evolve day by day (sign-ins, key use and rotation, a move to SSO,
new hires, deletions) and renders each account's report byte for byte as
``iam:GetCredentialReport`` returns it (AWS IAM User Guide, "Getting credential reports":
22 columns, markers ``N/A`` / ``no_information`` / ``not_supported``, root row first).

Everything follows from the constructor arguments: no clock, no ``hash()``, only numpy
PCG64 streams. User state is a vector over every user of the organisation; each day's CSV
comes from a fixed-width byte buffer (one row per user, fields NUL-padded) in which only
the fields that changed are rewritten, then the NULs are squeezed out. Memory is
O(accounts x users), never O(days).
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
from credsight.model import CURRENT_HEADER

__all__ = ["DemoAccount", "DemoOrganization", "DemoReport"]

_I64 = npt.NDArray[np.int64]
_U8 = npt.NDArray[np.uint8]
_Rng = np.random.Generator

_HEADER = ",".join(CURRENT_HEADER)
_DEFAULT_END = datetime.date(2026, 11, 23)
_EARLIEST_START = datetime.date(1980, 1, 1)
_DAY = 86_400
_HOUR = 3_600
_NEVER = 1 << 40  # a day index that no period reaches

# A timestamp field holds seconds since the epoch, or minus the index of its marker.
_NA, _NO_INFO, _NOT_SUPPORTED = -1, -2, -3
_MARKERS = ("", "N/A", "no_information", "not_supported")
_FLAGS = ("false", "true", "not_supported")
# The 19 columns after user, arn and user_creation_time, in report order.
(_PW_ENABLED, _PW_USED, _PW_CHANGED, _PW_NEXT, _MFA) = range(5)
(_K1_ACTIVE, _K1_ROTATED, _K1_USED, _K1_REGION, _K1_SERVICE) = range(5, 10)
(_K2_ACTIVE, _K2_ROTATED, _K2_USED, _K2_REGION, _K2_SERVICE) = range(10, 15)
(_C1_ACTIVE, _C1_ROTATED, _C2_ACTIVE, _C2_ROTATED) = range(15, 19)
_KEYS = (
    (_K1_ACTIVE, _K1_ROTATED, _K1_USED, _K1_REGION, _K1_SERVICE),
    (_K2_ACTIVE, _K2_ROTATED, _K2_USED, _K2_REGION, _K2_SERVICE),
)
_VOCABULARY: tuple[tuple[str, ...] | None, ...] = (  # None: a timestamp or a marker
    *(_FLAGS, None, None, None, _FLAGS),
    *(_FLAGS, None, None, catalogue.REGIONS, catalogue.SERVICES) * 2,
    *(_FLAGS, None, _FLAGS, None),
)
_TIME_FIELDS = tuple(f for f, words in enumerate(_VOCABULARY) if words is None)

_ROOT, _HUMAN, _SERVICE, _BREAK_GLASS, _DORMANT = range(5)


@dataclass(frozen=True)
class DemoAccount:
    """One member account of the demo organisation."""

    account_id: str
    name: str
    email: str
    state: str
    ou_path: str
    joined: datetime.date


@dataclass(frozen=True)
class DemoReport:
    """One account's credential report on one day, as GetCredentialReport returns it."""

    account_id: str
    snapshot_date: datetime.date
    generated_time: datetime.datetime
    content: bytes


def _rng(seed: int, *stream: int) -> _Rng:
    """An independent, reproducible random stream for (seed, stream...)."""
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence([seed, *stream])))


def _epoch(day: datetime.date) -> int:
    """Seconds since the Unix epoch at midnight UTC of day."""
    return (day - datetime.date(1970, 1, 1)).days * _DAY


def _padded(words: list[bytes], width: int) -> _U8:
    """Words as rows of a (len(words), width) byte matrix, NUL-padded on the right."""
    matrix = np.zeros((len(words), width), dtype=np.uint8)
    for row, word in enumerate(words):
        matrix[row, : len(word)] = np.frombuffer(word, dtype=np.uint8)
    return matrix


class _Population:
    """Every account and every IAM user that exists on some day of the period, with its history."""

    def __init__(self, accounts: int, days: int, seed: int, end: datetime.date, users: int | None) -> None:
        rng = _rng(seed, 0)
        self.days = days
        self.start = end - timedelta(days - 1)
        self.base = _epoch(self.start) - _DAY  # midnight of the day the first report's activity happened on
        plan = catalogue.plan(accounts)
        ids: list[int] = []
        while len(ids) < accounts:  # 12 digits; leading zeros happen, and log-archive always has one
            candidate = int(rng.integers(10**9, 10**11) if len(ids) == 2 else rng.integers(0, 10**12))
            ids += [] if candidate in ids else [candidate]
        before = [int(rng.integers(*catalogue.OUS[ou][3:])) for _, ou in plan]  # days joined before the period
        sso = np.where(rng.random(accounts) < 0.75, (days * rng.uniform(0.2, 0.9, accounts)).astype(np.int64), _NEVER)
        order = sorted(range(accounts), key=ids.__getitem__)
        self.accounts = [
            DemoAccount(
                f"{ids[k]:012d}", name, f"aws+{name}@example.com", "ACTIVE", ou, self.start - timedelta(before[k])
            )
            for k in order
            for name, ou in [plan[k]]
        ]
        ou, draw, position = np.array([ou for _, ou in plan]), rng.random(accounts), np.arange(accounts)
        no_mfa = (position == accounts - 1) & (accounts > 1)  # the newest account's root has no MFA, and a few more
        no_mfa |= ((ou == "Root/Sandbox") & (draw < 0.5)) | ((ou == "Root/Workloads/Dev") & (draw < 0.15))
        glass = np.isin(ou, ["Root", "Root/Security"]) | ((ou == "Root/Workloads/Prod") & (draw > 0.7))
        self.sso_day, self.root_mfa, self.break_glass = sso[order], ~no_mfa[order], glass[order]
        self.management = order.index(0)
        self.root_key_account = order.index(min(4, accounts - 1))  # shared-services in a full organisation
        self.root_signin_account = order.index(min(5, accounts - 1))  # the first prod account
        self._build_users(rng, users)
        self._build_history(rng)

    def _build_users(self, rng: _Rng, fixed: int | None) -> None:
        """Names, kinds and the days each user appears and disappears, sorted as the reports list them."""
        everyone: list[tuple[str, int, int, int, int, int, str, int]] = []
        for a, account in enumerate(self.accounts):
            low, high, mix, _, _ = catalogue.OUS[account.ou_path]
            slots, sso_account, days = (fixed or int(rng.integers(low, high + 1))) - 1, int(self.sso_day[a]), self.days
            kind = rng.choice(np.array([_HUMAN, _SERVICE, _DORMANT]), size=slots, p=mix)
            if slots and self.break_glass[a]:
                kind[0] = _BREAK_GLASS
            story = [catalogue.LEGACY] * (a == self.root_key_account) + [catalogue.DR] * (a == self.root_signin_account)
            kind[1 : 1 + len(story)] = _SERVICE  # the legacy key, the disaster-recovery copy in Sydney
            moves = (kind == _HUMAN) & (rng.random(slots) < 0.85)  # to SSO, soon after the account does
            sso = np.where(moves, sso_account + rng.integers(0, 22, slots), _NEVER)
            vanish = np.where(rng.random(slots) < 0.45, sso + rng.integers(10, 61, slots), _NEVER)
            vanish = np.where((kind == _DORMANT) & (rng.random(slots) < 0.3), rng.integers(1, days + 1, slots), vanish)
            vanish[vanish >= days] = _NEVER
            followed = (vanish < _NEVER) & ((rng.random(slots) < 0.6) | (fixed is not None))  # a successor that day
            hires = 0 if fixed is not None or days < 2 else int(rng.binomial(slots, 0.05))
            arrive = np.concatenate([vanish[followed], rng.integers(1, max(days, 2), hires)])
            person = (arrive < sso_account) & (rng.random(arrive.size) < 0.5)
            kinds = [*kind.tolist(), *np.where(person, _HUMAN, _SERVICE).tolist()]
            appear = [0] * slots + arrive.tolist()
            vanish_all = [*vanish.tolist(), *[_NEVER] * arrive.size]
            later = np.where(person, sso_account + rng.integers(0, 22, arrive.size), _NEVER)
            sso_all = [*sso.tolist(), *later.tolist()]
            people = rng.integers(0, len(catalogue.FIRST) * len(catalogue.LAST), len(kinds)).tolist()
            pool = rng.permutation(catalogue.DR).tolist()  # every ordinary template, each account in its own order
            users, taken, served, shift = [], set(), 0, int(rng.integers(len(catalogue.QUALIFIERS)))
            for k, who, *days_of in zip(kinds, people, appear, vanish_all, sso_all, strict=True):
                template, path = -1, "/"
                if k == _SERVICE:
                    cycle, index = divmod(max(served - len(story), 0), len(pool))
                    template = story[served] if served < len(story) else pool[index]
                    name, path = catalogue.SERVICE_USERS[template][:2]
                    name += (
                        f"-{catalogue.QUALIFIERS[(cycle + template + shift) % len(catalogue.QUALIFIERS)]}"
                        if cycle
                        else ""
                    )
                    served += 1
                elif k == _BREAK_GLASS:
                    name = "break-glass"
                else:
                    name = (
                        f"{catalogue.FIRST[who % len(catalogue.FIRST)]}.{catalogue.LAST[who // len(catalogue.FIRST)]}"
                    )
                number, base = 1, name
                while name in taken:  # namesakes get a number
                    number += 1
                    name = f"{base}{number}"
                taken.add(name)
                users.append((name, k, *days_of, template, path, a))
            everyone += [("<root_account>", _ROOT, 0, _NEVER, _NEVER, -1, "", a), *sorted(users)]
        names, kinds_all, appears, vanishes, ssos, templates, paths, accts = zip(*everyone, strict=True)
        self.names, self.paths = list(names), list(paths)
        self.kind, self.appear, self.vanish, self.sso, self.tmpl, self.acct = (
            np.array(c, dtype=np.int64) for c in (kinds_all, appears, vanishes, ssos, templates, accts)
        )

    def _build_history(self, rng: _Rng) -> None:
        """Each user's credentials as they stood the day before the first report, and their habits."""
        n, b0, kind, acct = self.kind.size, self.base, self.kind, self.acct
        u = [rng.random(n) for _ in range(18)]  # one independent draw per trait
        ages = [rng.integers(1, 1000, n) for _ in range(9)]  # random numbers of days

        def clock(low: int, high: int) -> _I64:
            return rng.integers(low * _HOUR, high * _HOUR, n)

        human, service, glass, dormant, root = (kind == k for k in (_HUMAN, _SERVICE, _BREAK_GLASS, _DORMANT, _ROOT))
        new = self.appear > 0
        legacy = service & (self.tmpl == catalogue.LEGACY) & (acct == self.root_key_account)
        joined = np.array([_epoch(a.joined) for a in self.accounts], dtype=np.int64)[acct]
        policy = np.array([a.ou_path in catalogue.PASSWORD_POLICY_OUS for a in self.accounts])[acct]
        share = np.where(service, u[0] ** 2, u[0])
        share = np.where(legacy, 0.01, np.where(root, 0.0, share))
        span_days = np.maximum((b0 - 2 * _DAY - joined) // _DAY, 1)
        created = joined + (share * span_days).astype(np.int64) * _DAY + clock(8, 18)
        created = np.where(new, b0 + self.appear * _DAY + clock(8, 17), created)
        self.created = created
        s = np.zeros((19, n), dtype=np.int64)
        s[list(_TIME_FIELDS)] = _NA

        # Console passwords: people and break-glass users.
        pw = human | glass
        later = (u[2] * np.maximum(b0 - _DAY - created, 0)).astype(np.int64) * (u[1] < 0.4)  # changed it since
        changed = created + 120 + later
        changed = np.where(policy, np.maximum(created + 120, b0 - (ages[0] % 88 + 1) * _DAY + clock(8, 18)), changed)
        habit = np.select([u[3] < 0.6, u[3] < 0.85], [0.75, 0.3], 0.05)  # chance of a sign-in on a workday
        self.pact = np.select([human, glass, root & (acct == self.management)], [habit, 0.002, 0.015], 0.0)
        ago = 1 + rng.exponential(1.0 / np.maximum(self.pact, 1e-3)).astype(np.int64)
        used = np.maximum(b0 - ago * _DAY + clock(7, 20), changed + 60)
        never = new | (human & (u[4] < 0.05)) | (glass & (u[4] < 0.5))
        glass_used = np.maximum(b0 - (60 + ages[1] % 640) * _DAY + clock(7, 20), changed + 60)
        used = np.where(never, _NO_INFO, np.where(glass, glass_used, used))
        s[_PW_ENABLED] = np.where(root, 2, pw)
        s[_PW_USED] = np.where(pw, used, _NA)
        s[_PW_CHANGED] = np.where(pw, changed, _NA)
        s[_PW_NEXT] = np.where(pw & policy, changed + 90 * _DAY, _NA)
        s[_MFA] = glass | (human & ~new & (u[5] < 0.75))
        self.mfa_day = np.where(human & new & (u[6] < 0.8), self.appear + 1 + ages[2] % 7, _NEVER)
        late = human & ~new & (s[_MFA] == 0) & (u[6] < 0.35)
        self.mfa_day = np.where(late, ages[2] % self.days, self.mfa_day)

        # Roots: no password columns but a last sign-in; one root with a key, one signing in lately.
        root_used = np.where(u[7] < 0.7, _NO_INFO, np.minimum(created + (1 + ages[3] % 30) * _DAY, b0 - _DAY))
        billing = np.maximum(b0 - (10 + ages[3] % 110) * _DAY + clock(9, 17), created + 60)  # the payer's root
        root_used = np.where(acct == self.management, billing, root_used)
        s[_PW_USED] = np.where(root, root_used, s[_PW_USED])
        s[_PW_CHANGED] = np.where(root, _NOT_SUPPORTED, s[_PW_CHANGED])
        s[_PW_NEXT] = np.where(root, _NOT_SUPPORTED, s[_PW_NEXT])
        s[_MFA] = np.where(root, np.array(self.root_mfa)[acct], s[_MFA])
        root_key = root & (acct == self.root_key_account)
        self.signin_root = int(np.flatnonzero(root & (acct == self.root_signin_account))[0])

        # Access keys. kuse: chance the key is used on a day; cadence: days between rotations (0: never).
        personal = human & (u[8] < 0.15)
        setup_key = human & (u[8] >= 0.15) & (u[8] < 0.23)
        service_use = np.select([u[9] < 0.5, u[9] < 0.7, u[9] < 0.8, u[9] < 0.92], [0.95, 0.35, 0.05, 0.0], -1.0)
        stale = service & (service_use == 0.0)
        cadence = np.select([u[10] < 0.2, u[10] < 0.55, u[10] < 0.75], [30, 90, 365], 0)
        self.cadence = np.where(service & ~legacy & (service_use > 0), cadence, 0)
        kuse1 = np.select([legacy, service, personal, root_key], [0.3, np.maximum(service_use, 0.0), 0.08, 0.1], 0.0)
        self.kuse = [kuse1, np.zeros(n)]
        has_key = service | personal | setup_key | root_key | (dormant & (u[11] < 0.5))
        rotated = b0 - (1 + ages[4] % np.maximum(self.cadence, 1)) * _DAY + clock(9, 11)
        rotated = np.where(self.cadence > 0, np.maximum(rotated, created + 300), created + 300)
        rotated = np.where(root_key, created + 5 * _DAY, rotated)
        active_ago = 1 + rng.exponential(1.0 / np.maximum(kuse1, 1e-3)).astype(np.int64)
        key_used = b0 - np.where(stale, 50 + ages[5] % 450, active_ago) * _DAY + clock(0, 23)
        key_used = np.where(dormant, np.minimum(rotated + (1 + ages[5] % 200) * _DAY, b0 - _DAY), key_used)
        key_used = np.where(new | setup_key | (service & (service_use < 0)), _NA, np.maximum(key_used, rotated + 60))
        key_used = np.where(dormant & (u[17] < 0.3), _NA, key_used)
        calls = [services.split() for _, _, services in catalogue.SERVICE_USERS] + [catalogue.PERSONAL_SERVICES.split()]
        self.services = np.array([[catalogue.SERVICES.index(w) for w in row] for row in calls])[
            self.tmpl
        ]  # -1: personal
        self.home = np.where(
            self.tmpl == catalogue.DR,
            catalogue.AP_SOUTHEAST_2,
            np.where(u[12] < 0.55, catalogue.US_EAST_1, catalogue.EU_WEST_1),
        )
        self.home = np.where(root_key, catalogue.US_EAST_1, self.home)
        other = np.where(self.home == catalogue.US_EAST_1, catalogue.EU_WEST_1, catalogue.US_EAST_1)
        self.second = np.where(u[13] < 0.3, np.where(u[14] < 0.5, catalogue.US_WEST_2, catalogue.EU_CENTRAL_1), other)
        self.outlier = np.array([catalogue.AP_SOUTHEAST_2, catalogue.SA_EAST_1, catalogue.AP_NORTHEAST_1])[ages[8] % 3]
        first_service = self.services[:, 0]
        s[_K1_ACTIVE] = has_key & ~dormant
        s[_K1_ROTATED] = np.where(has_key, rotated, _NA)
        s[_K1_USED] = np.where(has_key, key_used, _NA)
        s[_K1_SERVICE] = np.where(s[_K1_USED] >= 0, first_service, 0)
        s[_K1_REGION] = np.where((s[_K1_USED] >= 0) & (first_service < catalogue.FIRST_GLOBAL_SERVICE), self.home, 0)

        # A second key: still active on one service user in ten, left inactive after a rotation on some more.
        two = service & ~new & (service_use > 0) & (u[11] < 0.1)
        old_key = service & ~new & ~two & (u[11] > 0.93)
        k2_rotated = np.maximum(created + 600, rotated - (30 + ages[6] % 400) * _DAY)
        k2_used = np.maximum(b0 - (1 + ages[7] % 40) * _DAY + clock(0, 23), k2_rotated + 60)
        retired = np.where(rotated > k2_rotated + 120, k2_rotated + (rotated - k2_rotated) * 9 // 10, _NA)
        k2_used = np.where(two, k2_used, retired)  # an old key, last used shortly before its successor came
        s[_K2_ACTIVE] = two
        s[_K2_ROTATED] = np.where(two | old_key, k2_rotated, _NA)
        s[_K2_USED] = np.where(two | old_key, k2_used, _NA)
        s[_K2_SERVICE] = np.where(s[_K2_USED] >= 0, first_service, 0)
        s[_K2_REGION] = np.where((s[_K2_USED] >= 0) & (first_service < catalogue.FIRST_GLOBAL_SERVICE), self.home, 0)
        self.kuse[1] = np.where(two, 0.3 * kuse1, 0.0)

        # X.509 signing certificates survive on a few old service users.
        cert = service & ~new & (u[15] < 0.04)
        s[_C1_ACTIVE] = cert & (u[16] < 0.6)
        s[_C1_ROTATED] = np.where(cert, created + 900, _NA)
        self.state = s
        busy = np.flatnonzero(service & ~new & (kuse1 > 0.9) & (self.vanish == _NEVER))
        self.outlier_user = int(busy[int(rng.integers(busy.size))]) if busy.size else -1


class _Layout:
    """Where each field sits in a fixed-width row, and the byte tables that fill it."""

    def __init__(self, pop: _Population, end: datetime.date) -> None:
        statics = []
        for e in range(pop.kind.size):
            account_id = pop.accounts[int(pop.acct[e])].account_id
            name = pop.names[e]
            arn = f"arn:aws:iam::{account_id}:" + ("root" if pop.kind[e] == _ROOT else f"user{pop.paths[e]}{name}")
            created = time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime(int(pop.created[e])))
            statics.append(f"{name},{arn},{created},".encode())
        self.static_width = max(len(s) for s in statics)
        self.static = _padded(statics, self.static_width)
        self.tables = [
            _padded([w.encode() for w in words], max(map(len, words))) if words else None for words in _VOCABULARY
        ]
        widths = [25 if table is None else table.shape[1] for table in self.tables]
        self.columns = np.cumsum([self.static_width] + [w + 1 for w in widths]).tolist()
        self.width = max(self.columns[-1], len(_HEADER) + 1)
        self.header = _padded([_HEADER.encode() + b"\n"], self.width)[0]
        self.separators = np.full(len(widths), ord(","), dtype=np.uint8)
        self.separators[-1] = ord("\n")
        self.markers = _padded([m.encode() for m in _MARKERS], 25)
        self.first_day = (min(a.joined for a in pop.accounts) - datetime.date(1970, 1, 1)).days - 1
        dates = np.arange(self.first_day, self.first_day + (end - min(a.joined for a in pop.accounts)).days + 400)
        self.dates = np.full((dates.size, 11), ord("T"), dtype=np.uint8)
        self.dates[:, :10] = dates.astype("datetime64[D]").astype("S10").view(np.uint8).reshape(-1, 10)
        second = np.arange(_DAY)
        self.times = np.tile(np.frombuffer(b"00:00:00+00:00", dtype=np.uint8), (_DAY, 1))
        for column, value in enumerate((second // 3600, second // 60 % 60, second % 60)):
            self.times[:, 3 * column] += (value // 10).astype(np.uint8)
            self.times[:, 3 * column + 1] += (value % 10).astype(np.uint8)

    def timestamps(self, values: _I64) -> _U8:
        """values (seconds or minus a marker index) as 25-byte NUL-padded rows."""
        out = np.empty((values.size, 25), dtype=np.uint8)
        stamped = values >= 0
        seconds = np.where(stamped, values, self.first_day * _DAY)
        out[:, :11] = self.dates[seconds // _DAY - self.first_day]
        out[:, 11:] = self.times[seconds % _DAY]
        if not stamped.all():
            out[~stamped] = self.markers[-values[~stamped]]
        return out


class _Run:
    """One walk through the period: user state evolving day by day, and the CSV buffer it renders to."""

    def __init__(self, pop: _Population, layout: _Layout, seed: int) -> None:
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
        rng, n = _rng(self.seed, 1, i), pop.kind.size
        t0 = pop.base + i * _DAY
        workday = (pop.start + timedelta(i - 1)).weekday() < 5
        live = (pop.appear <= i) & (i < pop.vanish)
        moved = live & (pop.sso == i) & (s[_PW_ENABLED] == 1)  # console access moves to IAM Identity Center
        for field in (_PW_ENABLED, _MFA):
            s[field, moved] = 0
        for field in (_PW_USED, _PW_CHANGED, _PW_NEXT):
            s[field, moved] = _NA
        s[_K1_ACTIVE, moved] = 0
        s[_MFA, live & (pop.mfa_day == i) & (s[_PW_ENABLED] == 1)] = 1
        due = live & (pop.cadence > 0) & (s[_K1_ACTIVE] == 1) & (t0 >= s[_K1_ROTATED] + pop.cadence * _DAY)
        s[_K1_ROTATED, due] = t0 + rng.integers(9 * _HOUR, 11 * _HOUR, n)[due]
        for field, value in ((_K1_USED, _NA), (_K1_REGION, 0), (_K1_SERVICE, 0)):
            s[field, due] = value
        signin = live & (s[_PW_ENABLED] > 0) & (rng.random(n) < pop.pact * (1.0 if workday else 0.04))
        at = np.maximum(t0 + rng.integers(7 * _HOUR, 20 * _HOUR, n), np.maximum(s[_PW_CHANGED], pop.created) + 60)
        s[_PW_USED, signin] = at[signin]
        expired = signin & (s[_PW_NEXT] >= 0) & (s[_PW_NEXT] <= at)
        s[_PW_CHANGED, expired] = at[expired] + 45
        s[_PW_NEXT, expired] = at[expired] + 45 + 90 * _DAY
        if i == max(pop.days - 4, 0):  # someone signs in as root in a workload account
            s[_PW_USED, pop.signin_root] = t0 + 14 * _HOUR + int(rng.integers(_HOUR))
        for (active, rotated, used, region, service), chance in zip(_KEYS, pop.kuse, strict=True):
            calls = live & (s[active] == 1) & (rng.random(n) < chance)
            at = np.maximum(t0 + rng.integers(0, _DAY - 120, n), s[rotated] + 60)
            called = pop.services[np.arange(n), rng.integers(0, 4, n)]
            draw = rng.random(n)
            where = np.where(draw < 0.9, pop.home, np.where(draw < 0.999, pop.second, pop.outlier))
            s[used, calls] = at[calls]
            s[service, calls] = called[calls]
            s[region, calls] = np.where(called < catalogue.FIRST_GLOBAL_SERVICE, where, 0)[calls]
        e = pop.outlier_user
        if i == max(pop.days - 10, 0) and e >= 0 and live[e] and s[_K1_ACTIVE, e] == 1:  # a key shows up in Sao Paulo
            s[_K1_USED, e] = max(int(s[_K1_USED, e]), int(s[_K1_ROTATED, e]), t0 + 3 * _HOUR) + 60
            s[_K1_REGION, e], s[_K1_SERVICE, e] = catalogue.SA_EAST_1, catalogue.SERVICES.index("sts")
        self.generated = _epoch(pop.start) + i * _DAY + 2 * _HOUR + rng.integers(0, 2 * _HOUR, len(pop.accounts))

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
        self._population = _Population(accounts, days, seed, self._end, users_per_account)
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
