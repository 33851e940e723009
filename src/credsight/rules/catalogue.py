"""The rule catalogue: each rule is metadata (what, why, how to fix, which benchmark controls) plus
logic, a SQL condition over one row of the typed `reports` view.

The logic is plain SQL evaluated by DuckDB over every row of a snapshot at once. It may use the
macros of query/views.py (age_days, any_key_active, is_root_user) and the thresholds as `$name`
parameters (bound, never pasted). A rule's `evidence` is a SQL struct of the values that decided
it. The catalogue is checked when loaded (`check_catalogue`): ids unique and well formed,
severities known, thresholds declared with defaults, every column named exists.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from credsight.report.model import COLUMNS
from credsight.rules.severity import SEVERITIES

RULE_ID = re.compile(r"[a-z][a-z0-9-]*")


@dataclass(frozen=True)
class Rule:
    """One check: metadata, and its logic as SQL over a `reports` row named `r`."""

    id: str
    title: str
    severity: str
    rationale: str
    remediation: str  # what to do, with the AWS CLI command
    cis_v1: str | None  # CIS AWS Foundations 1.4 to 4.0
    cis_v5: str | None  # CIS AWS Foundations 5.0
    security_hub: str | None  # Security Hub control id
    scope: str  # "root" (the root row only) or "users" (every IAM user, root excluded)
    condition: str | None  # SQL: true when the row fails; None: not decidable from the report
    evidence: str = "NULL"  # SQL struct of the values that decided it
    thresholds: Mapping[str, int] = field(default_factory=dict)  # name -> default (days)
    undecidable_because: str | None = None

    @property
    def decidable(self) -> bool:
        return self.condition is not None

    @property
    def applies_to(self) -> str:
        """SQL: true for the rows the rule looks at (the root row, or every other row)."""
        return 'is_root_user(r."user")' if self.scope == "root" else 'NOT is_root_user(r."user")'


def _key_evidence(n: int) -> str:
    return (
        f"{{'access_key': {n}, 'active': r.access_key_{n}_active, 'last_rotated': r.access_key_{n}_last_rotated, "
        f"'last_used': r.access_key_{n}_last_used_date, "
        f"'age_days': age_days(r.access_key_{n}_last_rotated, r.snapshot_date)}}"
    )


RULES: tuple[Rule, ...] = (
    Rule(
        id="root-access-key",
        title="The root user has no active access key",
        severity="critical",
        rationale="A root access key can do anything in the account, cannot be limited by policy, "
        "and a leaked one is a total compromise.",
        remediation="Sign in as root, open Security credentials, delete the access keys "
        "(root keys cannot be managed with the AWS CLI; check with: aws iam get-account-summary "
        "--query SummaryMap.AccountAccessKeysPresent).",
        cis_v1="1.4",
        cis_v5="1.3",
        security_hub="IAM.4",
        scope="root",
        condition="any_key_active(r)",
        evidence="{'access_key_1_active': r.access_key_1_active, 'access_key_2_active': r.access_key_2_active}",
    ),
    Rule(
        id="root-mfa",
        title="The root user has MFA",
        severity="critical",
        rationale="Without MFA, the root password alone opens the whole account.",
        remediation="Sign in as root and assign an MFA device under Security credentials "
        "(check with: aws iam get-account-summary --query SummaryMap.AccountMFAEnabled).",
        cis_v1="1.5",
        cis_v5="1.4",
        security_hub="IAM.9",
        scope="root",
        condition="NOT coalesce(r.mfa_active, false)",
        evidence="{'mfa_active': r.mfa_active}",
    ),
    Rule(
        id="root-hardware-mfa",
        title="The root user has a hardware MFA device",
        severity="critical",
        rationale="A virtual MFA device lives on a phone or computer that can itself be compromised.",
        remediation="Assign a hardware MFA device to the root user; list virtual ones with: "
        "aws iam list-virtual-mfa-devices --assignment-status Assigned",
        cis_v1="1.6",
        cis_v5="1.5",
        security_hub="IAM.6",
        scope="root",
        condition=None,
        undecidable_because="the credential report says whether MFA is active, not which kind of device",
    ),
    Rule(
        id="root-used",
        title="The root user was not used recently",
        severity="high",
        rationale="Everyday work as root bypasses every permission boundary; its use should be rare and explained.",
        remediation="Find out who signed in as root and why (CloudTrail: eventName ConsoleLogin, userIdentity.type "
        "Root); do the work with an IAM Identity Center role instead.",
        cis_v1="1.7",
        cis_v5="1.6",
        security_hub=None,
        scope="root",
        condition="age_days(r.password_last_used, r.snapshot_date) <= $root_used_days"
        " OR age_days(r.access_key_1_last_used_date, r.snapshot_date) <= $root_used_days"
        " OR age_days(r.access_key_2_last_used_date, r.snapshot_date) <= $root_used_days",
        evidence="{'password_last_used': r.password_last_used, 'access_key_1_last_used': "
        "r.access_key_1_last_used_date, 'access_key_2_last_used': r.access_key_2_last_used_date}",
        thresholds={"root_used_days": 90},
    ),
    Rule(
        id="console-user-mfa",
        title="Every IAM user with a console password has MFA",
        severity="high",
        rationale="A password alone is phished, guessed or reused; MFA stops most account takeovers.",
        remediation="Assign an MFA device (aws iam enable-mfa-device --user-name USER ...), "
        "or better, move the person to IAM Identity Center and delete the login profile "
        "(aws iam delete-login-profile --user-name USER).",
        cis_v1="1.10",
        cis_v5="1.9",
        security_hub="IAM.5",
        scope="users",
        condition="coalesce(r.password_enabled, false) AND NOT coalesce(r.mfa_active, false)",
        evidence="{'password_enabled': r.password_enabled, 'mfa_active': r.mfa_active, "
        "'password_last_used': r.password_last_used}",
    ),
    Rule(
        id="access-key-at-setup",
        title="No access key was made at user setup and left unused",
        severity="medium",
        rationale="A console user given a key 'just in case' holds a long-lived secret nobody uses or watches.",
        remediation="Delete the unused key: aws iam delete-access-key --user-name USER --access-key-id KEY",
        cis_v1="1.11",
        cis_v5="1.10",
        security_hub=None,
        scope="users",
        condition="coalesce(r.password_enabled, false) AND ("
        "(coalesce(r.access_key_1_active, false) AND r.access_key_1_last_used_date IS NULL) OR "
        "(coalesce(r.access_key_2_active, false) AND r.access_key_2_last_used_date IS NULL))",
        evidence="{'password_enabled': r.password_enabled, "
        "'access_key_1_never_used': coalesce(r.access_key_1_active, false) AND r.access_key_1_last_used_date IS NULL, "
        "'access_key_2_never_used': coalesce(r.access_key_2_active, false) AND r.access_key_2_last_used_date IS NULL}",
    ),
    Rule(
        id="unused-credentials",
        title="Credentials unused for 45 days are disabled",
        severity="medium",
        rationale="A password or key nobody uses is only a way in for someone else.",
        remediation="Delete the login profile (aws iam delete-login-profile --user-name USER) or deactivate the key "
        "(aws iam update-access-key --user-name USER --access-key-id KEY --status Inactive).",
        cis_v1="1.12",
        cis_v5="1.11",
        security_hub="IAM.22",
        scope="users",
        # A password never used (no_information) counts from when it was set; a key never used from its creation.
        condition="(coalesce(r.password_enabled, false) AND age_days(coalesce(r.password_last_used, "
        "r.password_last_changed), r.snapshot_date) > $unused_days) OR "
        "(coalesce(r.access_key_1_active, false) AND age_days(coalesce(r.access_key_1_last_used_date, "
        "r.access_key_1_last_rotated), r.snapshot_date) > $unused_days) OR "
        "(coalesce(r.access_key_2_active, false) AND age_days(coalesce(r.access_key_2_last_used_date, "
        "r.access_key_2_last_rotated), r.snapshot_date) > $unused_days)",
        evidence="{'password_unused_days': CASE WHEN r.password_enabled THEN age_days(coalesce("
        "r.password_last_used, r.password_last_changed), r.snapshot_date) END, "
        "'access_key_1_unused_days': CASE WHEN r.access_key_1_active THEN age_days(coalesce("
        "r.access_key_1_last_used_date, r.access_key_1_last_rotated), r.snapshot_date) END, "
        "'access_key_2_unused_days': CASE WHEN r.access_key_2_active THEN age_days(coalesce("
        "r.access_key_2_last_used_date, r.access_key_2_last_rotated), r.snapshot_date) END}",
        thresholds={"unused_days": 45},
    ),
    Rule(
        id="multiple-active-keys",
        title="Each IAM user has at most one active access key",
        severity="low",
        rationale="Two active keys double what can leak; the second should live only during a rotation.",
        remediation="Deactivate the older key once nothing uses it: "
        "aws iam update-access-key --user-name USER --access-key-id KEY --status Inactive",
        cis_v1="1.13",
        cis_v5="1.12",
        security_hub=None,
        scope="users",
        condition="coalesce(r.access_key_1_active, false) AND coalesce(r.access_key_2_active, false)",
        evidence=f"{{'access_key_1': {_key_evidence(1)}, 'access_key_2': {_key_evidence(2)}}}",
    ),
    Rule(
        id="access-key-rotation",
        title="Active access keys are rotated within 90 days",
        severity="medium",
        rationale="The longer a key lives, the more places it has been copied to and the longer a leak goes unseen.",
        remediation="Create a new key (aws iam create-access-key --user-name USER), move its users to it, "
        "then deactivate and delete the old one; better, replace the key with a role.",
        cis_v1="1.14",
        cis_v5="1.13",
        security_hub="IAM.3",
        scope="users",
        condition="(coalesce(r.access_key_1_active, false) AND "
        "age_days(r.access_key_1_last_rotated, r.snapshot_date) > $rotation_days) OR "
        "(coalesce(r.access_key_2_active, false) AND "
        "age_days(r.access_key_2_last_rotated, r.snapshot_date) > $rotation_days)",
        evidence=f"{{'access_key_1': {_key_evidence(1)}, 'access_key_2': {_key_evidence(2)}}}",
        thresholds={"rotation_days": 90},
    ),
    Rule(
        id="password-rotation",
        title="Console passwords are changed within 90 days",
        severity="low",
        rationale="An old password has had time to be reused elsewhere and leaked.",
        remediation="Have the user change it, or set a password policy with a maximum age: "
        "aws iam update-account-password-policy --max-password-age 90",
        cis_v1=None,
        cis_v5=None,
        security_hub=None,
        scope="users",
        condition="coalesce(r.password_enabled, false) AND "
        "age_days(r.password_last_changed, r.snapshot_date) > $password_days",
        evidence="{'password_last_changed': r.password_last_changed, "
        "'age_days': age_days(r.password_last_changed, r.snapshot_date)}",
        thresholds={"password_days": 90},
    ),
    Rule(
        id="inactive-user",
        title="IAM users that used no password or key in 90 days are removed",
        severity="low",
        rationale="A user nobody signs in as is a forgotten identity: remove it, or move the person to SSO.",
        remediation="Delete the user's credentials, then the user: aws iam delete-user --user-name USER "
        "(after delete-login-profile, delete-access-key, detach policies).",
        cis_v1=None,
        cis_v5=None,
        security_hub=None,
        scope="users",
        # Never used at all: counted from the user's creation.
        condition="age_days(coalesce(greatest(r.password_last_used, r.access_key_1_last_used_date, "
        "r.access_key_2_last_used_date), r.user_creation_time), r.snapshot_date) > $inactive_days",
        evidence="{'last_activity': greatest(r.password_last_used, r.access_key_1_last_used_date, "
        "r.access_key_2_last_used_date), 'user_creation_time': r.user_creation_time, 'inactive_days': "
        "age_days(coalesce(greatest(r.password_last_used, r.access_key_1_last_used_date, "
        "r.access_key_2_last_used_date), r.user_creation_time), r.snapshot_date)}",
        thresholds={"inactive_days": 90},
    ),
)


class CatalogueError(ValueError):
    """A rule's metadata or logic is malformed."""


def check_catalogue(rules: Sequence[Rule]) -> None:
    """Refuse a malformed catalogue (checked when this module loads, and by the tests)."""
    seen: set[str] = set()
    columns = set(COLUMNS) | {"snapshot_date", "account_id"}
    for rule in rules:
        if not RULE_ID.fullmatch(rule.id) or rule.id in seen:
            raise CatalogueError(f"rule id {rule.id!r} is malformed or repeated")
        seen.add(rule.id)
        if rule.severity not in SEVERITIES:
            raise CatalogueError(f"{rule.id}: severity {rule.severity!r} is not one of {', '.join(SEVERITIES)}")
        if rule.scope not in ("root", "users"):
            raise CatalogueError(f"{rule.id}: scope {rule.scope!r} is not root or users")
        if not (rule.title and rule.rationale and rule.remediation):
            raise CatalogueError(f"{rule.id}: title, rationale and remediation are required")
        if rule.condition is None:
            if not rule.undecidable_because:
                raise CatalogueError(f"{rule.id}: a rule without logic must say why it cannot be decided")
            continue
        text = f"{rule.condition} {rule.evidence}"
        for column in re.findall(r"\br\.([a-z0-9_]+)", text):
            if column not in columns:
                raise CatalogueError(f"{rule.id}: no column {column!r} in the credential report")
        for name in re.findall(r"\$([a-z_]+)", text):
            if name not in rule.thresholds:
                raise CatalogueError(f"{rule.id}: threshold ${name} has no default")


def thresholds(rules: Sequence[Rule]) -> dict[str, int]:
    """Every threshold of the catalogue with its default."""
    return {name: default for rule in rules for name, default in rule.thresholds.items()}


check_catalogue(RULES)
