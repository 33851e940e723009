"""One account's credential report as an explicit state machine, one AWS call per step.

    ASSUME ──► GENERATE ──COMPLETE──► GET ──► done
                 │  ▲                  │
      STARTED /  └──┘ poll with        │ ReportNotPresent / ReportExpired / ReportInProgress
      INPROGRESS      backoff          └──► GENERATE

Throttling, LimitExceeded, ServiceFailure and dropped connections back off with full jitter
and retry the same step. Every wait counts against the account's deadline; past it the
account fails as `timeout` (or as what kept failing: `throttled`, `network`).

A step never sleeps: it says how long to wait, so one worker thread can serve many accounts
while their reports are being generated (see collect.py).
"""

from __future__ import annotations

import datetime as dt
import enum
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import botocore.exceptions

from credsight.sources.aws import Aws, Credentials, RoleSettings, assume_role, role_arn

ERROR_CLASSES = (
    "access_denied",
    "role_missing",
    "throttled",
    "timeout",
    "region_disabled",
    "report_failed",
    "network",
    "other",
)
# AWS keeps a report for 4 hours and hands the same one back when asked again within them.
AWS_REPORT_REUSE = dt.timedelta(hours=4)
THROTTLED = frozenset(
    {"Throttling", "ThrottlingException", "TooManyRequestsException", "RequestLimitExceeded", "SlowDown"}
)
RETRYABLE = THROTTLED | {"LimitExceeded", "LimitExceededException", "ServiceFailure", "ServiceUnavailable"}
NOT_READY = frozenset({"ReportNotPresent", "ReportExpired", "ReportInProgress"})
NETWORK_ERRORS = (
    botocore.exceptions.ConnectionError,
    botocore.exceptions.HTTPClientError,
    botocore.exceptions.ReadTimeoutError,
)


class State(enum.Enum):
    CHECK = "check"  # read the existing report first (only when --max-age is above AWS's own 4 hours)
    ASSUME = "assume"
    GENERATE = "generate"
    GET = "get"
    DONE = "done"
    FAILED = "failed"


@dataclass(frozen=True)
class Timing:
    """Backoff and deadline settings, in seconds."""

    deadline: float = 600.0  # total time one account may take
    poll_first: float = 0.5  # a small account's report is usually ready within a second or two
    poll_max: float = 8.0
    backoff_base: float = 0.5
    backoff_max: float = 20.0
    max_age: dt.timedelta = AWS_REPORT_REUSE


@dataclass
class ReportJob:
    """One account's way to its report. `step()` makes one call and returns the seconds to wait."""

    account_id: str
    aws: Aws
    role: RoleSettings
    partition: str
    use_caller_credentials: bool
    timing: Timing
    started: float
    clock: Callable[[], float]
    now: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC)
    rng: random.Random = field(default_factory=random.Random)
    state: State = State.ASSUME
    iam: Any = None
    polls: int = 0
    retries: int = 0
    calls: int = 0
    last_error: tuple[str, str] | None = None  # (class, message) of the last retried failure
    content: bytes | None = None
    generated_time: dt.datetime | None = None
    error_class: str | None = None
    error_message: str | None = None

    @property
    def finished(self) -> bool:
        return self.state in (State.DONE, State.FAILED)

    def step(self) -> float:
        """Advance by one AWS call; returns how long to wait before the next step (0: go on)."""
        if self.clock() - self.started > self.timing.deadline:
            return self._give_up()
        self.calls += 1
        try:
            wait = self._advance()
        except botocore.exceptions.ClientError as e:
            wait = self._client_error(e)
        except NETWORK_ERRORS as e:
            wait = self._retry("network", str(e))
        except botocore.exceptions.BotoCoreError as e:
            wait = self._fail("other", str(e))
        if not self.finished and self.clock() + wait - self.started > self.timing.deadline:
            return self._give_up()
        return wait

    def _advance(self) -> float:
        if self.state is State.ASSUME:
            self.iam = self._member_client()
            self.state = State.CHECK if self.timing.max_age > AWS_REPORT_REUSE else State.GENERATE
            return 0.0
        if self.state is State.CHECK:
            return self._get(reuse_only=True)
        if self.state is State.GENERATE:
            answer = self.iam.generate_credential_report()
            if answer.get("State") == "COMPLETE":
                self.state = State.GET
                return 0.0
            return self._poll()
        if self.state is State.GET:
            return self._get(reuse_only=False)
        raise AssertionError(f"step() called in state {self.state}")

    def _member_client(self) -> Any:
        if self.use_caller_credentials:
            return self.aws.client("iam")
        sts = self.aws.client("sts")
        credentials: Credentials = assume_role(
            sts, role_arn(self.partition, self.account_id, self.role.role_name), self.role
        )
        return self.aws.client("iam", credentials)

    def _get(self, reuse_only: bool) -> float:
        try:
            answer = self.iam.get_credential_report()
        except botocore.exceptions.ClientError as e:
            if _code(e) not in NOT_READY:
                raise
            self.state = State.GENERATE
            return 0.0 if reuse_only else self._poll()
        generated = answer.get("GeneratedTime")
        if reuse_only and (generated is None or self.now() - generated > self.timing.max_age):
            self.state = State.GENERATE
            return 0.0
        self.content = answer["Content"]
        self.generated_time = generated
        self.state = State.DONE
        return 0.0

    def _poll(self) -> float:
        """Wait for a report being generated: 0.5 s, 1 s, 2 s, ... up to poll_max."""
        self.polls += 1
        self.last_error = ("timeout", "the credential report was still being generated")
        return float(min(self.timing.poll_max, self.timing.poll_first * 2 ** (self.polls - 1)))

    def _client_error(self, error: botocore.exceptions.ClientError) -> float:
        code = _code(error)
        message = f"{code}: {error.response.get('Error', {}).get('Message', '')}".rstrip(": ")
        assuming = self.state is State.ASSUME and not self.use_caller_credentials
        if code in RETRYABLE:
            return self._retry("throttled" if code in THROTTLED else "report_failed", message)
        if code in ("AccessDenied", "AccessDeniedException", "UnauthorizedOperation"):
            # AWS answers a missing role and a role that does not trust us with the same AccessDenied.
            return self._fail("role_missing" if assuming else "access_denied", message)
        if code in ("RegionDisabledException", "InvalidClientTokenId") and assuming:
            return self._fail("region_disabled" if code == "RegionDisabledException" else "access_denied", message)
        if code in ("ExpiredToken", "ExpiredTokenException") and not assuming:
            self.state = State.ASSUME  # the role's session ran out while we waited: assume again
            return self._retry("access_denied", message)
        return self._fail("other", message)

    def _retry(self, error_class: str, message: str) -> float:
        """Back off with full jitter: a random wait up to base * 2^retries, capped."""
        self.retries += 1
        self.last_error = (error_class, message)
        ceiling = min(self.timing.backoff_max, self.timing.backoff_base * 2**self.retries)
        return self.rng.uniform(0, ceiling)

    def _give_up(self) -> float:
        error_class, message = self.last_error or ("timeout", "no answer")
        seconds = self.timing.deadline
        return self._fail(error_class, f"gave up after {seconds:g} s; last: {message}")

    def _fail(self, error_class: str, message: str) -> float:
        self.state = State.FAILED
        self.error_class = error_class
        self.error_message = message
        self.iam = None
        return 0.0


def _code(error: botocore.exceptions.ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))
