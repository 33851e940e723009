"""The demo organisation's story, as data: its people, service users, apps, OUs, regions and services."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

REGIONS = tuple(str.split("N/A us-east-1 eu-west-1 us-west-2 eu-central-1 ap-southeast-2 sa-east-1 ap-northeast-1"))
US_EAST_1, EU_WEST_1, US_WEST_2, EU_CENTRAL_1, AP_SOUTHEAST_2, SA_EAST_1, AP_NORTHEAST_1 = range(1, 8)
SERVICES = (
    *("N/A", "s3", "sts", "ec2", "lambda", "dynamodb", "cloudformation", "ecr", "logs", "kms", "sqs", "sns"),
    *("glue", "athena", "backup", "ses", "cloudwatch", "ssm", "secretsmanager", "iam", "route53", "organizations"),
)
FIRST_GLOBAL_SERVICE = SERVICES.index("iam")  # this one and later ones are global: region N/A

FIRST = tuple(
    str.split("alice bob carol dave erin frank grace heidi ivan judy mallory niaj olivia peggy rupert sybil trent")
    + str.split("victor walter wendy amir bea chen dara emeka fatima goran hana ines jonas kenji lena")
)
LAST = tuple(
    str.split("smith jones garcia chen patel muller rossi kim nguyen silva novak haddad okafor larsen costa ivanova")
    + str.split("tanaka dubois schmidt brown wilson martin lopez singh cohen khan berg moreau walsh")
)
APPS = tuple(
    str.split("payments checkout catalog search identity billing analytics orders inventory notifications mobile-api")
    + str.split("ml-platform reporting shipping pricing")
)
SERVICE_USERS = (  # name, IAM path, the four services its key calls; third-party tools among them
    ("svc-ci-deploy", "/ci/", "sts s3 lambda cloudformation"),
    ("terraform", "/ops/", "sts iam ec2 s3"),
    ("backup-agent", "/", "backup s3 dynamodb s3"),
    ("svc-github-actions", "/ci/", "sts ecr s3 ecr"),
    ("jenkins", "/ci/", "sts s3 ecr ec2"),
    ("svc-log-shipper", "/", "logs s3 logs s3"),
    ("svc-metrics", "/", "cloudwatch ec2 cloudwatch sts"),
    ("svc-etl", "/data/", "s3 glue athena s3"),
    ("svc-orders-worker", "/", "dynamodb sqs kms sns"),
    ("svc-mailer", "/", "ses sns ses ses"),
    ("svc-secrets-sync", "/ops/", "secretsmanager kms ssm secretsmanager"),
    ("svc-dns-updater", "/ops/", "route53 sts route53 route53"),
    ("svc-iam-audit", "/security/", "iam sts organizations iam"),
    ("datadog-integration", "/", "cloudwatch ec2 sts logs"),
    ("snowflake-loader", "/data/", "s3 s3 sts s3"),
    ("svc-airflow", "/data/", "s3 glue sts athena"),
    ("svc-artifactory", "/ci/", "s3 s3 ecr s3"),
    ("svc-vault", "/security/", "iam sts kms iam"),
    ("splunk-forwarder", "/", "s3 sqs logs s3"),
    ("svc-sftp-ingest", "/", "s3 kms s3 s3"),
    ("svc-lambda-deployer", "/ci/", "lambda s3 cloudformation sts"),
    ("svc-dr-replication", "/", "s3 dynamodb s3 s3"),
    ("svc-legacy-ftp", "/", "s3 s3 s3 s3"),
)
DR, LEGACY = len(SERVICE_USERS) - 2, len(SERVICE_USERS) - 1  # each lives in one account only
QUALIFIERS = ("api", "batch", "reports", "eu", "us", "web", "nightly", "sync", "old", "v2", "staging", "tmp")
PERSONAL_SERVICES = "s3 ec2 sts cloudformation"  # what people and roots use their keys for

# OU: users per account (low, high), share of people / service users / dormant users,
# joined this many days before the period (low, high).
OUS: Mapping[str, tuple[int, int, tuple[float, float, float], int, int]] = MappingProxyType(
    {
        "Root": (25, 40, (0.6, 0.3, 0.1), 3200, 3300),
        "Root/Security": (20, 35, (0.5, 0.42, 0.08), 2600, 3100),
        "Root/Infrastructure": (30, 60, (0.3, 0.62, 0.08), 2200, 3000),
        "Root/Workloads/Prod": (50, 120, (0.35, 0.58, 0.07), 500, 2400),
        "Root/Workloads/Dev": (40, 100, (0.55, 0.38, 0.07), 300, 2000),
        "Root/Sandbox": (20, 30, (0.7, 0.2, 0.1), 30, 700),
    }
)
HEAD: tuple[tuple[str, str], ...] = (("management", "Root"), ("security-audit", "Root/Security"))
HEAD += (
    ("log-archive", "Root/Security"),
    ("network", "Root/Infrastructure"),
    ("shared-services", "Root/Infrastructure"),
)
PASSWORD_POLICY_OUS = ("Root", "Root/Security", "Root/Workloads/Prod")  # 90-day password expiry


def plan(count: int) -> list[tuple[str, str]]:
    """Name and OU of each account, management first; the rest split over prod, dev and sandbox."""
    plan = list(HEAD[:count])
    rest = count - len(plan)
    prod = int(rest * 0.35 + 0.5)
    for ou, prefix, number, pool in (
        ("Root/Workloads/Prod", "prod", prod, APPS),
        ("Root/Workloads/Dev", "dev", prod, APPS),
        ("Root/Sandbox", "sandbox", rest - 2 * prod, FIRST),
    ):
        for k in range(number):
            suffix = f"-{k // len(pool) + 1}" if k >= len(pool) else ""
            plan.append((f"{prefix}-{pool[k % len(pool)]}{suffix}", ou))
    return plan
