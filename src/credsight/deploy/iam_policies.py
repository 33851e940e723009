"""The IAM policies of the deployment templates, built from the permissions the code declares.

`credsight.sources.aws.PERMISSIONS`, `credsight.sources.identity_center.PERMISSIONS` and
`credsight.store.files.PERMISSIONS` say what the collector calls; this module only says where each
action may act (its Resource and Condition). An action the code declares but this module does not
place fails the template build (KeyError), so a new call cannot ship without a decision about its scope.

Which actions accept no resource ARN comes from the AWS Service Authorization Reference
(https://docs.aws.amazon.com/service-authorization/latest/reference/): an action with an empty
"Resource types" column can only be granted on "*".
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from credsight.deploy import lambda_handler
from credsight.sources import aws, identity_center
from credsight.store import files as store_files

# Actions the Service Authorization Reference lists with no resource type, and why we call them.
UNSCOPED_ACTIONS = {
    "organizations:ListAccounts": "lists the organization's accounts; no resource type",
    "organizations:ListRoots": "finds the root to walk the OU tree from; no resource type",
    "iam:GenerateCredentialReport": "the account's credential report; no resource type",
    "iam:GetCredentialReport": "the account's credential report; no resource type",
    "sso:ListInstances": "finds the organization's IAM Identity Center instance; no resource type",
    # Step Functions' vended logs: AWS documents these for a state machine's logging role and
    # none of them accepts a log group ARN (the delivery is set up by the service).
    "logs:CreateLogDelivery": "Step Functions logging; no resource type",
    "logs:GetLogDelivery": "Step Functions logging; no resource type",
    "logs:UpdateLogDelivery": "Step Functions logging; no resource type",
    "logs:DeleteLogDelivery": "Step Functions logging; no resource type",
    "logs:ListLogDeliveries": "Step Functions logging; no resource type",
    "logs:PutResourcePolicy": "Step Functions logging; no resource type",
    "logs:DescribeResourcePolicies": "Step Functions logging; no resource type",
    "logs:DescribeLogGroups": "Step Functions logging; no resource type",
    "xray:PutTraceSegments": "Step Functions tracing; no resource type",
    "xray:PutTelemetryRecords": "Step Functions tracing; no resource type",
    "xray:GetSamplingRules": "Step Functions tracing; no resource type",
    "xray:GetSamplingTargets": "Step Functions tracing; no resource type",
}
STATE_MACHINE_LOGGING = tuple(a for a in UNSCOPED_ACTIONS if a.startswith("logs:"))
STATE_MACHINE_TRACING = tuple(a for a in UNSCOPED_ACTIONS if a.startswith("xray:"))
MEMBER_ACTIONS = tuple(a for a in aws.PERMISSIONS if a.startswith("iam:"))  # all a member account needs


@dataclass(frozen=True)
class Scope:
    """Where an action may act: the statement's Resource and, when needed, its Condition."""

    resource: Any
    condition: Mapping[str, Any] = field(default_factory=dict)


EVERYTHING = Scope("*")
# ListChildren and ListOrganizationalUnitsForParent act on a root or an OU; the management
# account's id and the organization's id are not known to the template (a delegated
# administrator runs in another account), so they stay wildcards.
ORGANIZATION_PARENTS = Scope(
    [
        {"Fn::Sub": "arn:${AWS::Partition}:organizations::*:root/o-*/r-*"},
        {"Fn::Sub": "arn:${AWS::Partition}:organizations::*:ou/o-*/ou-*"},
    ]
)
MEMBER_ROLES = Scope({"Fn::Sub": "arn:${AWS::Partition}:iam::*:role/${MemberRoleName}"})
STORE_LISTING = Scope(
    {"Fn::GetAtt": ["StoreBucket", "Arn"]},
    {"StringLike": {"s3:prefix": ["${StorePrefix}", "${StorePrefix}/*"]}},
)
STORE_OBJECTS = Scope({"Fn::Sub": "${StoreBucket.Arn}/${StorePrefix}/*"})
# Identity Center's instance and identity store are not known to the template (they are created with the
# organization's Identity Center, in the management account or read by a delegated administrator); their
# users, groups and memberships have ARNs without an account. Read-only listings only.
IDENTITY_CENTER_INSTANCES = Scope({"Fn::Sub": "arn:${AWS::Partition}:sso:::instance/*"})
IDENTITY_STORE = Scope(
    [
        {"Fn::Sub": "arn:${AWS::Partition}:identitystore::*:identitystore/*"},
        {"Fn::Sub": "arn:${AWS::Partition}:identitystore:::user/*"},
        {"Fn::Sub": "arn:${AWS::Partition}:identitystore:::group/*"},
        {"Fn::Sub": "arn:${AWS::Partition}:identitystore:::membership/*"},
    ]
)
NOTIFICATION_TOPIC = Scope({"Ref": "NotificationTopic"})
# Secrets Manager appends six random characters to a secret's name in its ARN.
NOTIFICATION_SECRET = Scope(
    {
        "Fn::Sub": "arn:${AWS::Partition}:secretsmanager:${AWS::Region}:${AWS::AccountId}:secret:${NotifySecretName}-"
        "??????"
    }
)

COLLECTOR_SCOPES = {
    "organizations:ListAccounts": EVERYTHING,
    "organizations:ListRoots": EVERYTHING,
    "organizations:ListOrganizationalUnitsForParent": ORGANIZATION_PARENTS,
    "organizations:ListChildren": ORGANIZATION_PARENTS,
    "sts:AssumeRole": MEMBER_ROLES,
    # The collector reads the account it runs in with its own credentials (no role to assume).
    "iam:GenerateCredentialReport": EVERYTHING,
    "iam:GetCredentialReport": EVERYTHING,
    "sso:ListInstances": EVERYTHING,
    "sso:ListAccountAssignmentsForPrincipal": IDENTITY_CENTER_INSTANCES,
    "identitystore:ListUsers": IDENTITY_STORE,
    "identitystore:ListGroups": IDENTITY_STORE,
    "identitystore:ListGroupMemberships": IDENTITY_STORE,
    "s3:ListBucket": STORE_LISTING,
    "s3:GetObject": STORE_OBJECTS,
    "s3:PutObject": STORE_OBJECTS,
    "s3:DeleteObject": STORE_OBJECTS,
    # The Finish step's digests (deploy/lambda_handler.py publish_digests).
    "sns:Publish": NOTIFICATION_TOPIC,
    "secretsmanager:GetSecretValue": NOTIFICATION_SECRET,
}


def statements(actions: Iterable[str], scopes: Mapping[str, Scope]) -> list[dict[str, Any]]:
    """One Allow statement per distinct scope, actions in the order the code declares them."""
    grouped: dict[str, tuple[Scope, list[str]]] = {}
    for action in actions:
        scope = scopes[action]  # a declared permission that no scope places: decide before shipping
        if scope.resource == "*" and action not in UNSCOPED_ACTIONS:
            raise ValueError(f"{action} takes a resource ARN: grant it on one, not on *")
        key = json.dumps([scope.resource, scope.condition], sort_keys=True)
        grouped.setdefault(key, (scope, []))[1].append(action)
    result = []
    for scope, grouped_actions in grouped.values():
        statement: dict[str, Any] = {"Effect": "Allow", "Action": grouped_actions, "Resource": scope.resource}
        if scope.condition:
            statement["Condition"] = {
                operator: {key: _sub(value) for key, value in pairs.items()}
                for operator, pairs in scope.condition.items()
            }
        result.append(statement)
    return result


def _sub(value: Any) -> Any:
    """Condition values that name template parameters, as Fn::Sub."""
    if isinstance(value, list):
        return [_sub(v) for v in value]
    return {"Fn::Sub": value} if isinstance(value, str) and "${" in value else value


def document(*statement_list: Any) -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": list(statement_list)}


def collector_policy() -> dict[str, Any]:
    """What the collector function does: the code's permissions and its own logs."""
    code = statements(
        [*aws.PERMISSIONS, *identity_center.PERMISSIONS, *store_files.PERMISSIONS, *lambda_handler.PUBLISH_PERMISSIONS],
        COLLECTOR_SCOPES,
    )
    logs = {
        "Effect": "Allow",
        "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
        "Resource": {"Fn::GetAtt": ["FunctionLogGroup", "Arn"]},
    }
    return document(*code, logs)


def collector_key_policy() -> dict[str, Any]:
    """Write and read the store's objects encrypted with the customer's key (when one is given)."""
    return document(
        {"Effect": "Allow", "Action": ["kms:GenerateDataKey", "kms:Decrypt"], "Resource": {"Ref": "KmsKeyArn"}}
    )


def collector_secret_policy() -> dict[str, Any]:
    """Read the secret of apprise URLs the Finish step also notifies (present only when the stack names one)."""
    return document(*statements(lambda_handler.SECRET_PERMISSIONS, COLLECTOR_SCOPES))


def state_machine_policy() -> dict[str, Any]:
    """Invoke the collector function (any version), deliver logs, write traces."""
    invoke = {
        "Effect": "Allow",
        "Action": ["lambda:InvokeFunction"],
        "Resource": [
            {"Fn::GetAtt": ["CollectorFunction", "Arn"]},
            {"Fn::Sub": "${CollectorFunction.Arn}:*"},
        ],
    }
    logging = {"Effect": "Allow", "Action": list(STATE_MACHINE_LOGGING), "Resource": "*"}
    tracing = {"Effect": "Allow", "Action": list(STATE_MACHINE_TRACING), "Resource": "*"}
    return document(invoke, logging, tracing)


def scheduler_policy() -> dict[str, Any]:
    """Start the state machine, nothing else."""
    return document({"Effect": "Allow", "Action": ["states:StartExecution"], "Resource": {"Ref": "StateMachine"}})


def member_policy() -> dict[str, Any]:
    """Read the member account's credential report: exactly what the collector calls there."""
    return document({"Effect": "Allow", "Action": list(MEMBER_ACTIONS), "Resource": "*"})


def trust(service: str, same_account: bool = True) -> dict[str, Any]:
    """A role only this AWS service can assume; for this account's resources only where the
    service sends aws:SourceAccount (Step Functions and Scheduler do; Lambda's execution role
    trust documents no such key)."""
    statement: dict[str, Any] = {"Effect": "Allow", "Principal": {"Service": service}, "Action": "sts:AssumeRole"}
    if same_account:
        statement["Condition"] = {"StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}}
    return document(statement)
