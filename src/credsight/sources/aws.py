"""AWS sessions: who the caller is, clients that reuse loaded service models, assumed roles.

One boto3 Session serves the whole run: its first client loads the service models (about
100 ms of CPU), later clients reuse them (a few ms). Clients are thread-safe; creating them
from one Session is not, so creation is serialised.
"""

from __future__ import annotations

import datetime as dt
import threading
from dataclasses import dataclass
from typing import Any

import boto3
import botocore.config
import botocore.exceptions

from credsight.errors import AwsSetupError

# Member-account clients make one attempt per call: the report state machine decides what to
# retry, how long to back off, and when an account has waited long enough.
SINGLE_ATTEMPT: Any = {"total_max_attempts": 1, "mode": "standard"}
# Organizations calls are few and throttled hard (TooManyRequestsException): botocore retries.
ORGANIZATIONS_RETRIES: Any = {"total_max_attempts": 10, "mode": "standard"}
DEFAULT_REGION = "us-east-1"
PERMISSIONS = (
    "organizations:ListAccounts",
    "organizations:ListRoots",
    "organizations:ListOrganizationalUnitsForParent",
    "organizations:ListChildren",
    "sts:AssumeRole",
    "iam:GenerateCredentialReport",
    "iam:GetCredentialReport",
)


@dataclass(frozen=True)
class Caller:
    """The identity credsight runs as."""

    account_id: str
    arn: str

    @property
    def partition(self) -> str:
        return self.arn.split(":")[1]


@dataclass(frozen=True)
class RoleSettings:
    """How to assume the collection role in each member account."""

    role_name: str = "credsight-reader"
    external_id: str | None = None
    session_name: str = "credsight"
    duration_seconds: int = 3600


@dataclass(frozen=True)
class Credentials:
    access_key_id: str
    secret_access_key: str
    session_token: str | None
    expires: dt.datetime | None = None


class Aws:
    """The caller's AWS session; hands out clients for the caller and for assumed roles."""

    def __init__(
        self,
        session: boto3.Session | None = None,
        *,
        profile: str | None = None,
        region: str | None = None,
        endpoint_url: str | None = None,
        max_connections: int = 10,
    ) -> None:
        try:
            self.session = session or boto3.Session(profile_name=profile, region_name=region)
        except botocore.exceptions.ProfileNotFound:
            raise AwsSetupError(f"no AWS profile named {profile!r}; 'aws configure list-profiles' lists them") from None
        self.region = region or self.session.region_name or DEFAULT_REGION
        self.endpoint_url = endpoint_url
        self.max_connections = max_connections
        self._lock = threading.Lock()
        self._callers: dict[tuple[str, str], Any] = {}

    def client(self, service: str, credentials: Credentials | None = None, retries: Any = None) -> Any:
        config = botocore.config.Config(
            retries=retries or SINGLE_ATTEMPT,
            max_pool_connections=self.max_connections,
            connect_timeout=10,
            read_timeout=60,
        )
        keys: dict[str, Any] = {}
        if credentials is not None:
            keys = {
                "aws_access_key_id": credentials.access_key_id,
                "aws_secret_access_key": credentials.secret_access_key,
                "aws_session_token": credentials.session_token,
            }
        make: Any = self.session.client  # typed per service in the stubs; the service is a variable here
        with self._lock:
            if credentials is None:  # the caller's clients are made once: clients are thread-safe
                key = (service, repr(retries))
                if key not in self._callers:
                    self._callers[key] = make(
                        service, region_name=self.region, endpoint_url=self.endpoint_url, config=config
                    )
                return self._callers[key]
            return make(service, region_name=self.region, endpoint_url=self.endpoint_url, config=config, **keys)

    def caller(self) -> Caller:
        """Who we are; fails with a one-line AwsSetupError when there are no usable credentials."""
        try:
            identity = self.client("sts", retries=ORGANIZATIONS_RETRIES).get_caller_identity()
        except botocore.exceptions.NoCredentialsError:
            raise AwsSetupError(
                "no AWS credentials found; set AWS_PROFILE or pass --profile, or run 'aws configure'"
            ) from None
        except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:
            raise AwsSetupError(
                f"cannot use the AWS credentials: {e}; check them with 'aws sts get-caller-identity'"
            ) from None
        return Caller(identity["Account"], identity["Arn"])


def role_arn(partition: str, account_id: str, role_name: str) -> str:
    return f"arn:{partition}:iam::{account_id}:role/{role_name}"


def assume_role(sts: Any, arn: str, settings: RoleSettings) -> Credentials:
    """One AssumeRole call; errors propagate to the caller's classification."""
    arguments: dict[str, Any] = {
        "RoleArn": arn,
        "RoleSessionName": settings.session_name,
        "DurationSeconds": settings.duration_seconds,
    }
    if settings.external_id:
        arguments["ExternalId"] = settings.external_id
    given = sts.assume_role(**arguments)["Credentials"]
    return Credentials(given["AccessKeyId"], given["SecretAccessKey"], given["SessionToken"], given.get("Expiration"))
