"""The demo organisation's population: every account and IAM user of the period, and how they stand.

A user's credentials are a state vector of 19 numbers, the report's columns after user, arn
and user_creation_time: a flag or a region or service is an index into its vocabulary, a
timestamp is seconds since the epoch or minus the index of its marker. ``Population``
draws who exists on which day and each user's state the day before the first report, with
the habits (chance of a sign-in, of a key's use, rotation cadence) the daily run follows.

Every random trait is a named draw (``credsight.demo.draws``): its own stream, keyed by what
it decides, so a new trait changes no other.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from datetime import timedelta

import numpy as np
import numpy.typing as npt

from credsight.demo import catalogue
from credsight.demo.draws import Draws

__all__ = ["DemoAccount", "Population"]

I64 = npt.NDArray[np.int64]
_F64 = npt.NDArray[np.float64]

DAY = 86_400
HOUR = 3_600
NEVER = 1 << 40  # a day index that no period reaches

# A timestamp field holds seconds since the epoch, or minus the index of its marker.
NA, NO_INFO, NOT_SUPPORTED = -1, -2, -3
MARKERS = ("", "N/A", "no_information", "not_supported")
FLAGS = ("false", "true", "not_supported")
# The 19 columns after user, arn and user_creation_time, in report order.
(PW_ENABLED, PW_USED, PW_CHANGED, PW_NEXT, MFA) = range(5)
(K1_ACTIVE, K1_ROTATED, K1_USED, K1_REGION, K1_SERVICE) = range(5, 10)
(K2_ACTIVE, K2_ROTATED, K2_USED, K2_REGION, K2_SERVICE) = range(10, 15)
(C1_ACTIVE, C1_ROTATED, C2_ACTIVE, C2_ROTATED) = range(15, 19)
KEYS = (
    (K1_ACTIVE, K1_ROTATED, K1_USED, K1_REGION, K1_SERVICE),
    (K2_ACTIVE, K2_ROTATED, K2_USED, K2_REGION, K2_SERVICE),
)
VOCABULARY: tuple[tuple[str, ...] | None, ...] = (  # None: a timestamp or a marker
    *(FLAGS, None, None, None, FLAGS),
    *(FLAGS, None, None, catalogue.REGIONS, catalogue.SERVICES) * 2,
    *(FLAGS, None, FLAGS, None),
)
TIME_FIELDS = tuple(f for f, words in enumerate(VOCABULARY) if words is None)

ROOT, HUMAN, SERVICE, BREAK_GLASS, DORMANT = range(5)


@dataclass(frozen=True)
class DemoAccount:
    """One member account of the demo organisation."""

    account_id: str
    name: str
    email: str
    state: str
    ou_path: str
    joined: datetime.date


def epoch(day: datetime.date) -> int:
    """Seconds since the Unix epoch at midnight UTC of day."""
    return (day - datetime.date(1970, 1, 1)).days * DAY


class Population:
    """Every account and every IAM user that exists on some day of the period, with its history."""

    def __init__(self, accounts: int, days: int, seed: int, end: datetime.date, users: int | None) -> None:
        draw = Draws(seed, "organisation")
        self.days = days
        self.start = end - timedelta(days - 1)
        self.base = epoch(self.start) - DAY  # midnight of the day the first report's activity happened on
        plan = catalogue.plan(accounts)
        ids: list[int] = []
        account_id = draw("account_id")
        while len(ids) < accounts:  # 12 digits; leading zeros happen, and log-archive always has one
            candidate = int(account_id.integers(10**9, 10**11) if len(ids) == 2 else account_id.integers(0, 10**12))
            ids += [] if candidate in ids else [candidate]
        age = draw("account_age")
        before = [int(age.integers(*catalogue.OUS[ou][3:])) for _, ou in plan]  # days joined before the period
        moves = draw("account_moves_to_sso").random(accounts) < 0.75
        sso = np.where(moves, (days * draw("account_sso_day").uniform(0.2, 0.9, accounts)).astype(np.int64), NEVER)
        order = sorted(range(accounts), key=ids.__getitem__)
        self.accounts = [
            DemoAccount(
                f"{ids[k]:012d}", name, f"aws+{name}@example.com", "ACTIVE", ou, self.start - timedelta(before[k])
            )
            for k in order
            for name, ou in [plan[k]]
        ]
        ou, position = np.array([ou for _, ou in plan]), np.arange(accounts)
        no_mfa_draw, glass_draw = draw("root_without_mfa").random(accounts), draw("break_glass_user").random(accounts)
        no_mfa = (position == accounts - 1) & (accounts > 1)  # the newest account's root has no MFA, and a few more
        no_mfa |= ((ou == "Root/Sandbox") & (no_mfa_draw < 0.5)) | ((ou == "Root/Workloads/Dev") & (no_mfa_draw < 0.15))
        glass = np.isin(ou, ["Root", "Root/Security"]) | ((ou == "Root/Workloads/Prod") & (glass_draw < 0.3))
        self.sso_day, self.root_mfa, self.break_glass = sso[order], ~no_mfa[order], glass[order]
        self.management = order.index(0)
        self.root_key_account = order.index(min(4, accounts - 1))  # shared-services in a full organisation
        self.root_signin_account = order.index(min(5, accounts - 1))  # the first prod account
        self._build_users(seed, users)
        self._build_history(draw)

    def _build_users(self, seed: int, fixed: int | None) -> None:
        """Names, kinds and the days each user appears and disappears, sorted as the reports list them."""
        everyone: list[tuple[str, int, int, int, int, int, str, int]] = []
        for a, account in enumerate(self.accounts):
            draw = Draws(seed, "account", a)
            low, high, mix, _, _ = catalogue.OUS[account.ou_path]
            slots = (fixed or int(draw("users").integers(low, high + 1))) - 1
            sso_account, days = int(self.sso_day[a]), self.days
            kind = draw("user_kind").choice(np.array([HUMAN, SERVICE, DORMANT]), size=slots, p=mix)
            if slots and self.break_glass[a]:
                kind[0] = BREAK_GLASS
            story = [catalogue.LEGACY] * (a == self.root_key_account) + [catalogue.DR] * (a == self.root_signin_account)
            kind[1 : 1 + len(story)] = SERVICE  # the legacy key, the disaster-recovery copy in Sydney
            moves = (kind == HUMAN) & (draw("moves_to_sso").random(slots) < 0.85)  # soon after the account does
            sso = np.where(moves, sso_account + draw("sso_delay").integers(0, 22, slots), NEVER)
            leaves = draw("leaves_after_sso").random(slots) < 0.45
            vanish = np.where(leaves, sso + draw("leaves_days_after_sso").integers(10, 61, slots), NEVER)
            deleted = (kind == DORMANT) & (draw("dormant_deleted").random(slots) < 0.3)
            vanish = np.where(deleted, draw("dormant_deleted_day").integers(1, days + 1, slots), vanish)
            vanish[vanish >= days] = NEVER
            successor = draw("successor").random(slots) < 0.6
            followed = (vanish < NEVER) & (successor | (fixed is not None))  # a successor that day
            hires = 0 if fixed is not None or days < 2 else int(draw("hires").binomial(slots, 0.05))
            arrive = np.concatenate([vanish[followed], draw("hire_day").integers(1, max(days, 2), hires)])
            person = (arrive < sso_account) & (draw("newcomer_is_person").random(arrive.size) < 0.5)
            kinds = [*kind.tolist(), *np.where(person, HUMAN, SERVICE).tolist()]
            appear = [0] * slots + arrive.tolist()
            vanish_all = [*vanish.tolist(), *[NEVER] * arrive.size]
            later = np.where(person, sso_account + draw("newcomer_sso_delay").integers(0, 22, arrive.size), NEVER)
            sso_all = [*sso.tolist(), *later.tolist()]
            people = draw("person_name").integers(0, len(catalogue.FIRST) * len(catalogue.LAST), len(kinds)).tolist()
            pool = draw("service_user_order").permutation(catalogue.DR).tolist()  # every ordinary template
            users, taken, served = [], set(), 0
            shift = int(draw("qualifier_shift").integers(len(catalogue.QUALIFIERS)))
            for k, who, *days_of in zip(kinds, people, appear, vanish_all, sso_all, strict=True):
                template, path = -1, "/"
                if k == SERVICE:
                    cycle, index = divmod(max(served - len(story), 0), len(pool))
                    template = story[served] if served < len(story) else pool[index]
                    name, path = catalogue.SERVICE_USERS[template][:2]
                    name += (
                        f"-{catalogue.QUALIFIERS[(cycle + template + shift) % len(catalogue.QUALIFIERS)]}"
                        if cycle
                        else ""
                    )
                    served += 1
                elif k == BREAK_GLASS:
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
            everyone += [("<root_account>", ROOT, 0, NEVER, NEVER, -1, "", a), *sorted(users)]
        names, kinds_all, appears, vanishes, ssos, templates, paths, accts = zip(*everyone, strict=True)
        self.names, self.paths = list(names), list(paths)
        self.kind, self.appear, self.vanish, self.sso, self.tmpl, self.acct = (
            np.array(c, dtype=np.int64) for c in (kinds_all, appears, vanishes, ssos, templates, accts)
        )

    def _build_history(self, draw: Draws) -> None:
        """Each user's credentials as they stood the day before the first report, and their habits."""
        n, b0, kind, acct = self.kind.size, self.base, self.kind, self.acct

        def chance(name: str) -> _F64:
            """One number in [0, 1) per user: the trait holds for those below its probability."""
            return draw(name).random(n)

        def some_days(name: str) -> I64:
            """One random number of days (1 to 999) per user, cut down with % where it is used."""
            return draw(name).integers(1, 1000, n)

        def clock(name: str, low: int, high: int) -> I64:
            """One time of day per user, in seconds, between the hours low and high."""
            return draw(name).integers(low * HOUR, high * HOUR, n)

        human, service, glass, dormant, root = (kind == k for k in (HUMAN, SERVICE, BREAK_GLASS, DORMANT, ROOT))
        new = self.appear > 0
        legacy = service & (self.tmpl == catalogue.LEGACY) & (acct == self.root_key_account)
        joined = np.array([epoch(a.joined) for a in self.accounts], dtype=np.int64)[acct]
        policy = np.array([a.ou_path in catalogue.PASSWORD_POLICY_OUS for a in self.accounts])[acct]
        share = chance("created_share")  # how far into its account's life a user was created
        share = np.where(legacy, 0.01, np.where(root, 0.0, np.where(service, share**2, share)))
        span_days = np.maximum((b0 - 2 * DAY - joined) // DAY, 1)
        created = joined + (share * span_days).astype(np.int64) * DAY + clock("created_time", 8, 18)
        created = np.where(new, b0 + self.appear * DAY + clock("hired_time", 8, 17), created)
        self.created = created
        s = np.zeros((19, n), dtype=np.int64)
        s[list(TIME_FIELDS)] = NA

        # Console passwords: people and break-glass users.
        pw = human | glass
        since = (chance("password_changed_when") * np.maximum(b0 - DAY - created, 0)).astype(np.int64)
        changed = created + 120 + since * (chance("password_changed") < 0.4)  # changed it since
        expiry = b0 - (some_days("password_age") % 88 + 1) * DAY + clock("password_changed_time", 8, 18)
        changed = np.where(policy, np.maximum(created + 120, expiry), changed)
        signs_in = chance("signin_habit")
        habit = np.select([signs_in < 0.6, signs_in < 0.85], [0.75, 0.3], 0.05)  # chance of a sign-in on a workday
        self.pact = np.select([human, glass, root & (acct == self.management)], [habit, 0.002, 0.015], 0.0)
        ago = 1 + draw("last_signin_days_ago").exponential(1.0 / np.maximum(self.pact, 1e-3)).astype(np.int64)
        used = np.maximum(b0 - ago * DAY + clock("last_signin_time", 7, 20), changed + 60)
        never_signed_in = chance("never_signed_in")
        never = new | (human & (never_signed_in < 0.05)) | (glass & (never_signed_in < 0.5))
        glass_ago = 60 + some_days("break_glass_last_used") % 640
        glass_used = np.maximum(b0 - glass_ago * DAY + clock("break_glass_signin_time", 7, 20), changed + 60)
        used = np.where(never, NO_INFO, np.where(glass, glass_used, used))
        s[PW_ENABLED] = np.where(root, 2, pw)
        s[PW_USED] = np.where(pw, used, NA)
        s[PW_CHANGED] = np.where(pw, changed, NA)
        s[PW_NEXT] = np.where(pw & policy, changed + 90 * DAY, NA)
        s[MFA] = glass | (human & ~new & (chance("has_mfa") < 0.75))
        enables_mfa, mfa_delay = chance("enables_mfa"), some_days("mfa_delay")
        self.mfa_day = np.where(human & new & (enables_mfa < 0.8), self.appear + 1 + mfa_delay % 7, NEVER)
        late = human & ~new & (s[MFA] == 0) & (enables_mfa < 0.35)
        self.mfa_day = np.where(late, mfa_delay % self.days, self.mfa_day)

        # Roots: no password columns but a last sign-in; one root with a key, one signing in lately.
        root_days = some_days("root_last_signin")
        root_used = np.minimum(created + (1 + root_days % 30) * DAY, b0 - DAY)
        root_used = np.where(chance("root_never_signed_in") < 0.7, NO_INFO, root_used)
        billing = b0 - (10 + root_days % 110) * DAY + clock("billing_signin_time", 9, 17)  # the payer's root
        root_used = np.where(acct == self.management, np.maximum(billing, created + 60), root_used)
        s[PW_USED] = np.where(root, root_used, s[PW_USED])
        s[PW_CHANGED] = np.where(root, NOT_SUPPORTED, s[PW_CHANGED])
        s[PW_NEXT] = np.where(root, NOT_SUPPORTED, s[PW_NEXT])
        s[MFA] = np.where(root, np.array(self.root_mfa)[acct], s[MFA])
        root_key = root & (acct == self.root_key_account)
        self.signin_root = int(np.flatnonzero(root & (acct == self.root_signin_account))[0])

        # Access keys. kuse: chance the key is used on a day; cadence: days between rotations (0: never).
        own_key = chance("personal_key")
        personal = human & (own_key < 0.15)
        setup_key = human & (own_key >= 0.15) & (own_key < 0.23)
        use = chance("service_key_use")
        service_use = np.select([use < 0.5, use < 0.7, use < 0.8, use < 0.92], [0.95, 0.35, 0.05, 0.0], -1.0)
        stale = service & (service_use == 0.0)
        rotates = chance("rotation_cadence")
        cadence = np.select([rotates < 0.2, rotates < 0.55, rotates < 0.75], [30, 90, 365], 0)
        self.cadence = np.where(service & ~legacy & (service_use > 0), cadence, 0)
        kuse1 = np.select([legacy, service, personal, root_key], [0.3, np.maximum(service_use, 0.0), 0.08, 0.1], 0.0)
        self.kuse = [kuse1, np.zeros(n)]
        has_key = service | personal | setup_key | root_key | (dormant & (chance("dormant_key") < 0.5))
        rotated_ago = 1 + some_days("rotated_days_ago") % np.maximum(self.cadence, 1)
        rotated = b0 - rotated_ago * DAY + clock("rotation_time", 9, 11)
        rotated = np.where(self.cadence > 0, np.maximum(rotated, created + 300), created + 300)
        rotated = np.where(root_key, created + 5 * DAY, rotated)
        active_ago = 1 + draw("key_last_used_days_ago").exponential(1.0 / np.maximum(kuse1, 1e-3)).astype(np.int64)
        idle = some_days("key_idle_days")
        key_used = b0 - np.where(stale, 50 + idle % 450, active_ago) * DAY + clock("key_used_time", 0, 23)
        key_used = np.where(dormant, np.minimum(rotated + (1 + idle % 200) * DAY, b0 - DAY), key_used)
        key_used = np.where(new | setup_key | (service & (service_use < 0)), NA, np.maximum(key_used, rotated + 60))
        key_used = np.where(dormant & (chance("dormant_key_never_used") < 0.3), NA, key_used)
        calls = [services.split() for _, _, services in catalogue.SERVICE_USERS] + [catalogue.PERSONAL_SERVICES.split()]
        self.services = np.array([[catalogue.SERVICES.index(w) for w in row] for row in calls])[
            self.tmpl
        ]  # -1: personal
        self.home = np.where(
            self.tmpl == catalogue.DR,
            catalogue.AP_SOUTHEAST_2,
            np.where(chance("home_region") < 0.55, catalogue.US_EAST_1, catalogue.EU_WEST_1),
        )
        self.home = np.where(root_key, catalogue.US_EAST_1, self.home)
        other = np.where(self.home == catalogue.US_EAST_1, catalogue.EU_WEST_1, catalogue.US_EAST_1)
        elsewhere = np.where(chance("second_region") < 0.5, catalogue.US_WEST_2, catalogue.EU_CENTRAL_1)
        self.second = np.where(chance("second_region_elsewhere") < 0.3, elsewhere, other)
        outliers = np.array([catalogue.AP_SOUTHEAST_2, catalogue.SA_EAST_1, catalogue.AP_NORTHEAST_1])
        self.outlier = outliers[draw("outlier_region").integers(0, outliers.size, n)]
        first_service = self.services[:, 0]
        s[K1_ACTIVE] = has_key & ~dormant
        s[K1_ROTATED] = np.where(has_key, rotated, NA)
        s[K1_USED] = np.where(has_key, key_used, NA)
        s[K1_SERVICE] = np.where(s[K1_USED] >= 0, first_service, 0)
        s[K1_REGION] = np.where((s[K1_USED] >= 0) & (first_service < catalogue.FIRST_GLOBAL_SERVICE), self.home, 0)

        # A second key: still active on one service user in ten, left inactive after a rotation on some more.
        second_key = chance("second_key")
        two = service & ~new & (service_use > 0) & (second_key < 0.1)
        old_key = service & ~new & ~two & (second_key > 0.93)
        k2_rotated = np.maximum(created + 600, rotated - (30 + some_days("second_key_age") % 400) * DAY)
        k2_ago = 1 + some_days("second_key_last_used") % 40
        k2_used = np.maximum(b0 - k2_ago * DAY + clock("second_key_used_time", 0, 23), k2_rotated + 60)
        retired = np.where(rotated > k2_rotated + 120, k2_rotated + (rotated - k2_rotated) * 9 // 10, NA)
        k2_used = np.where(two, k2_used, retired)  # an old key, last used shortly before its successor came
        s[K2_ACTIVE] = two
        s[K2_ROTATED] = np.where(two | old_key, k2_rotated, NA)
        s[K2_USED] = np.where(two | old_key, k2_used, NA)
        s[K2_SERVICE] = np.where(s[K2_USED] >= 0, first_service, 0)
        s[K2_REGION] = np.where((s[K2_USED] >= 0) & (first_service < catalogue.FIRST_GLOBAL_SERVICE), self.home, 0)
        self.kuse[1] = np.where(two, 0.3 * kuse1, 0.0)

        # X.509 signing certificates survive on a few old service users.
        cert = service & ~new & (chance("signing_certificate") < 0.04)
        s[C1_ACTIVE] = cert & (chance("certificate_active") < 0.6)
        s[C1_ROTATED] = np.where(cert, created + 900, NA)
        self.state = s
        busy = np.flatnonzero(service & ~new & (kuse1 > 0.9) & (self.vanish == NEVER))
        self.outlier_user = int(busy[int(draw("outlier_key_user").integers(busy.size))]) if busy.size else -1
