"""Signed sessions and the brake on guessing: what the dashboard keeps between requests of a browser.

A session is a random id and the time it was made, signed with HMAC-SHA256 (itsdangerous) under
the server's secret: the cookie proves a sign-in without holding the token, expires after a fixed
time, and ends at once on /logout (the id is remembered as revoked until it would have expired).
Failed sign-ins are counted per client address over a sliding minute.
"""

from __future__ import annotations

import hashlib
import math
import secrets
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable

import itsdangerous

SESSION_SECONDS = 12 * 3600
FAILURES_ALLOWED = 10  # failed sign-ins from one address ...
FAILURE_WINDOW = 60.0  # ... within this many seconds; then 429 until the oldest one is a minute old
ADDRESSES_KEPT = 10_000  # addresses with recent failures remembered at most (the oldest are forgotten)


class _Signer(itsdangerous.TimestampSigner):
    """itsdangerous' timestamped HMAC signer, reading the time from the given clock."""

    def __init__(self, secret: bytes, salt: str, clock: Callable[[], float]) -> None:
        super().__init__(secret, salt=salt, digest_method=hashlib.sha256)
        self.clock = clock

    def get_timestamp(self) -> int:
        return int(self.clock())


class Sessions:
    """Issues and checks session cookies; the proof that changes with `credential` ends old sessions."""

    def __init__(
        self,
        secret: bytes,
        credential: str,
        lifetime: int = SESSION_SECONDS,
        clock: Callable[[], float] = time.time,
    ) -> None:
        # The salt names what signing in proved: a new token ends the sessions of the old one,
        # even under the same CREDSIGHT_SERVE_SECRET.
        proof = hashlib.sha256(credential.encode()).hexdigest()
        self.signer = _Signer(secret, f"credsight-session:{proof}", clock)
        self.lifetime = lifetime
        self.clock = clock
        self.revoked: dict[str, float] = {}  # session id -> when it would have expired
        self.lock = threading.Lock()

    def issue(self) -> str:
        return self.signer.sign(secrets.token_urlsafe(18)).decode()

    def session_id(self, cookie: str | None) -> str | None:
        """The id of a valid, unexpired, not revoked session; None for anything else."""
        if not cookie:
            return None
        try:
            found = self.signer.unsign(cookie, max_age=self.lifetime).decode()
        except (itsdangerous.BadData, UnicodeDecodeError):
            return None
        with self.lock:
            return None if found in self.revoked else found

    def revoke(self, cookie: str | None) -> None:
        found = self.session_id(cookie)
        if found is None:
            return
        now = self.clock()
        with self.lock:
            self.revoked = {k: until for k, until in self.revoked.items() if until > now}
            self.revoked[found] = now + self.lifetime


class FailedSignIns:
    """Counts failed sign-ins per client address; past the limit, says how long to wait."""

    def __init__(
        self,
        limit: int = FAILURES_ALLOWED,
        window: float = FAILURE_WINDOW,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.limit, self.window, self.clock = limit, window, clock
        self.failures: OrderedDict[str, deque[float]] = OrderedDict()
        self.lock = threading.Lock()

    def wait_seconds(self, address: str) -> int:
        """0 when `address` may try again now, else the whole seconds until it may."""
        now = self.clock()
        with self.lock:
            times = self.failures.get(address)
            if times is None:
                return 0
            self._forget_old(times, now)
            if len(times) < self.limit:
                return 0
            return max(1, math.ceil(times[0] + self.window - now))

    def failed(self, address: str) -> None:
        now = self.clock()
        with self.lock:
            times = self.failures.setdefault(address, deque())
            self._forget_old(times, now)
            times.append(now)
            self.failures.move_to_end(address)
            while len(self.failures) > ADDRESSES_KEPT:
                self.failures.popitem(last=False)

    def _forget_old(self, times: deque[float], now: float) -> None:
        while times and times[0] <= now - self.window:
            times.popleft()
