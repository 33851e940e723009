"""`credsight deploy template`: the CloudFormation templates, built as data and printed as JSON.

`collector` runs credsight in the Organizations management account (or a delegated
administrator): an EventBridge schedule starts a Step Functions state machine, which asks the
Lambda function for the run's batches, collects them in parallel and compacts the store. The
store is an S3 bucket holding the same Parquet layout as a local store; Glue tables and an
Athena workgroup read it in place. `member-role` is the role each member account needs,
deployed as a service-managed StackSet. JSON, not YAML, so that printing a template needs
nothing beyond the standard library; CloudFormation takes either.

Permissions come from the code's declarations (see iam_policies.py); the tests read the
rendered templates back and check them against those declarations, cfn-lint and checkov.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from credsight.deploy import iam_policies
from credsight.deploy.athena import DATABASE_NAME
from credsight.deploy.package import ARCHITECTURES, DEFAULT_PYTHON
from credsight.deploy.quicksight import quicksight
from credsight.deploy.state_machine import run_definition
from credsight.deploy.store_resources import NO_VALUE, buckets, catalogue, skip
from credsight.rules.severity import SEVERITIES

HANDLER = "credsight.deploy.lambda_handler.handler"  # the package's entry point (deploy/package.py)
RUNTIME = f"python{DEFAULT_PYTHON}"  # the one Python `credsight deploy package` builds for (deploy/package.py)
# The function's memory and /tmp, sized for its Finish step (the batches need less) from `python -m bench.compact
# --accounts 10000 --users 100 --days 31` (BENCHMARKS.md, "Compaction": a month of 31 M report rows): peak
# resident memory 1,214 MB compacting, 1,178 MB summarising, 1,864 MB evaluating the findings (DuckDB), so
# 4,096 MB is 2.2 times the largest, and Lambda gives it about 2.3 vCPU (the compaction reads one slice while
# it writes another: 175 s of CPU, 68 s more for the summaries, 9 s for the findings). Its /tmp holds the
# compaction's spill, 1,449 MB at its largest, and the merged month before its upload (about 400 MB).
FUNCTION_MEMORY_MB = 4096
FUNCTION_TMP_MB = 4096
# The values CloudWatch Logs accepts for a log group's retention.
LOG_RETENTION_CHOICES = [
    1,
    3,
    5,
    7,
    14,
    30,
    60,
    90,
    120,
    150,
    180,
    365,
    400,
    545,
    731,
    1096,
    1827,
    2192,
    2557,
    2922,
    3288,
    3653,
]


def parameter(kind: str, default: object, description: str, **checks: object) -> dict[str, Any]:
    return {"Type": kind, "Default": default, "Description": description, **checks}


COLLECTOR_PARAMETERS = {
    "CodeBucket": {
        "Type": "String",
        "AllowedPattern": r"^[a-z0-9][a-z0-9.\-]{1,61}[a-z0-9]$",
        "Description": "S3 bucket holding the Lambda package built by `credsight deploy package`, in this Region.",
    },
    "CodeKey": parameter("String", "credsight-lambda.zip", "Key of the Lambda package in CodeBucket.", MinLength=1),
    "StorePrefix": parameter(
        "String",
        "credsight",
        "Prefix of the store in the bucket (no leading or trailing /); the store is s3://<bucket>/<prefix>.",
        AllowedPattern=r"^[A-Za-z0-9_.\-]+(/[A-Za-z0-9_.\-]+)*$",  # no * or ?: it ends up in IAM ARNs
    ),
    "MemberRoleName": parameter(
        "String",
        "credsight-reader",
        "Role the collector assumes in each member account (the member-role StackSet's RoleName).",
        AllowedPattern=r"^[\w+=,.@\-]{1,64}$",
    ),
    "ExternalId": parameter(
        "String",
        "",
        "External ID the member roles require (the member-role StackSet's ExternalId); empty: none.",
        AllowedPattern=r"^$|^[\w+=,.@:/\-]{2,1224}$",
    ),
    "Schedule": parameter("String", "cron(0 5 * * ? *)", "EventBridge Scheduler expression of the daily run."),
    "ScheduleTimezone": parameter("String", "UTC", "Time zone of the schedule (IANA name, e.g. Europe/Paris)."),
    "KmsKeyArn": parameter(
        "String",
        "",
        "KMS key to encrypt the store and Athena results with; empty: S3-managed keys (SSE-S3). "
        "The key policy must let this account's principals use it.",
        AllowedPattern=r"^$|^arn:aws[a-z\-]*:kms:[a-z0-9\-]+:\d{12}:key/[A-Za-z0-9\-]+$",
    ),
    "ExpireAfterDays": parameter(
        "Number", 0, "Delete store objects this many days after they were written; 0: keep forever.", MinValue=0
    ),
    "BatchSize": parameter("Number", 400, "Accounts per Lambda invocation (one batch).", MinValue=1, MaxValue=5000),
    "MapConcurrency": parameter(
        "Number",
        5,
        "Batches collected in parallel; also the function's reserved concurrency, which Lambda grants only while "
        "100 of the account's concurrency stays unreserved.",
        MinValue=1,
        MaxValue=100,
    ),
    "Concurrency": parameter(
        "Number", 16, "Accounts collected in parallel in one invocation.", MinValue=1, MaxValue=64
    ),
    "Architecture": parameter(
        "String",
        "x86_64",
        "Lambda architecture; must match `deploy package --architecture`.",
        AllowedValues=list(ARCHITECTURES),
    ),
    "LogRetentionDays": parameter(
        "Number",
        90,
        "Days to keep the function's and state machine's logs and the bucket's access logs.",
        AllowedValues=LOG_RETENTION_CHOICES,
    ),
    "GlueDatabaseName": parameter(
        "String",
        "credsight",
        "Glue / Athena database of the store's tables (`athena-ddl --database`).",
        AllowedPattern=f"^{DATABASE_NAME.pattern}$",
    ),
    # The Finish step's digests (`credsight notify`): to the stack's SNS topic, and to apprise URLs in a secret.
    "NotifyEmail": parameter(
        "String",
        "",
        "An e-mail address subscribed to the notification topic (AWS asks it to confirm); empty: none.",
        AllowedPattern=r"^$|^[^@\s]+@[^@\s]+\.[^@\s]+$",
    ),
    "NotifySecretName": parameter(
        "String",
        "",
        "Secrets Manager secret whose value lists apprise URLs (a JSON list, or one per line) the Finish step "
        "also notifies; empty: none.",
        AllowedPattern=r"^$|^[\w/+=.@\-]{1,512}$",
    ),
    "NotifyMinSeverity": parameter(
        "String", "high", "Events and new findings at or above this are notified.", AllowedValues=list(SEVERITIES)
    ),
    "DashboardUrl": parameter(
        "String",
        "",
        "The dashboard's address, for links in the digests (e.g. https://credsight.example.com); empty: none.",
        AllowedPattern=r"^$|^https?://[^\s?#]+$",
    ),
}


def log_group(name: str) -> dict[str, Any]:
    return {
        "Type": "AWS::Logs::LogGroup",
        # Deleted with the stack: a kept group's fixed name would block creating the stack again.
        "DeletionPolicy": "Delete",
        "UpdateReplacePolicy": "Delete",
        "Properties": {"LogGroupName": {"Fn::Sub": name}, "RetentionInDays": {"Ref": "LogRetentionDays"}},
        "Metadata": skip(
            (
                "CKV_AWS_158",
                "Run logs hold account ids, counts and error classes, no credential data; CloudWatch Logs "
                "encrypts them at rest, and a customer key would need a key policy for the logs service.",
            ),
        ),
    }


def role(description: str, trust: dict[str, Any], name: str, policy: dict[str, Any]) -> dict[str, Any]:
    return {
        "Type": "AWS::IAM::Role",
        "Properties": {
            "Description": description,
            "AssumeRolePolicyDocument": trust,
            "Policies": [{"PolicyName": name, "PolicyDocument": policy}],
        },
    }


def function() -> dict[str, Any]:
    """The collector function and its role and log group."""
    return {
        "FunctionLogGroup": log_group("/aws/lambda/${AWS::StackName}-collector"),
        "CollectorRole": role(
            "credsight collector: lists the organization, assumes the member roles, writes the store.",
            iam_policies.trust("lambda.amazonaws.com", same_account=False),
            "collect-credential-reports",
            iam_policies.collector_policy(),
        ),
        # A separate policy, present only with a key, keeps the role's own policy free of Fn::If
        # (which checkov cannot evaluate: it would skip the role's IAM checks).
        "CollectorKeyPolicy": {
            "Type": "AWS::IAM::Policy",
            "Condition": "HasKmsKey",
            "Properties": {
                "PolicyName": "use-store-key",
                "Roles": [{"Ref": "CollectorRole"}],
                "PolicyDocument": iam_policies.collector_key_policy(),
            },
        },
        # Likewise, reading the notification secret only when the stack names one.
        "CollectorSecretPolicy": {
            "Type": "AWS::IAM::Policy",
            "Condition": "HasNotifySecret",
            "Properties": {
                "PolicyName": "read-notification-secret",
                "Roles": [{"Ref": "CollectorRole"}],
                "PolicyDocument": iam_policies.collector_secret_policy(),
            },
        },
        "CollectorFunction": {
            "Type": "AWS::Lambda::Function",
            "Properties": {
                "FunctionName": {"Fn::Sub": "${AWS::StackName}-collector"},
                "Description": "credsight: collects the IAM credential report of every account into the store.",
                "Runtime": RUNTIME,
                "Handler": HANDLER,
                "Code": {"S3Bucket": {"Ref": "CodeBucket"}, "S3Key": {"Ref": "CodeKey"}},
                "Architectures": [{"Ref": "Architecture"}],
                "Timeout": 900,
                "MemorySize": FUNCTION_MEMORY_MB,
                "EphemeralStorage": {"Size": FUNCTION_TMP_MB},
                "ReservedConcurrentExecutions": {"Ref": "MapConcurrency"},
                "Role": {"Fn::GetAtt": ["CollectorRole", "Arn"]},
                "LoggingConfig": {"LogGroup": {"Ref": "FunctionLogGroup"}},
                "Environment": {
                    "Variables": {
                        "CREDSIGHT_STORE": {"Fn::Sub": "s3://${StoreBucket}/${StorePrefix}"},
                        "CREDSIGHT_ROLE_NAME": {"Ref": "MemberRoleName"},
                        "CREDSIGHT_EXTERNAL_ID": {"Ref": "ExternalId"},
                        "CREDSIGHT_CONCURRENCY": {"Ref": "Concurrency"},
                        "CREDSIGHT_BATCH_SIZE": {"Ref": "BatchSize"},
                        "CREDSIGHT_NOTIFY_TOPIC": {"Ref": "NotificationTopic"},
                        "CREDSIGHT_NOTIFY_SECRET": {"Ref": "NotifySecretName"},
                        "CREDSIGHT_NOTIFY_MIN_SEVERITY": {"Ref": "NotifyMinSeverity"},
                        "CREDSIGHT_DASHBOARD_URL": {"Ref": "DashboardUrl"},
                    }
                },
            },
            "Metadata": skip(
                (
                    "CKV_AWS_116",
                    "Invoked synchronously by Step Functions, which retries and keeps each failure; "
                    "a dead-letter queue only applies to asynchronous invocations.",
                ),
                (
                    "CKV_AWS_117",
                    "The function calls only AWS APIs (Organizations, STS, IAM, S3) and reaches no "
                    "private network; a VPC would add a NAT gateway and no control.",
                ),
                (
                    "CKV_AWS_173",
                    "The environment holds no secret: the store URL, role name, numbers, and the "
                    "external ID, which AWS documents as not secret; Lambda encrypts it at rest.",
                ),
            ),
        },
    }


def notifications() -> dict[str, Any]:
    """The topic the Finish step publishes its digest to, encrypted (the store's key, or SNS's own), and the
    optional e-mail subscription."""
    return {
        "NotificationTopic": {
            "Type": "AWS::SNS::Topic",
            "Properties": {
                "DisplayName": "credsight",
                "KmsMasterKeyId": {"Fn::If": ["HasKmsKey", {"Ref": "KmsKeyArn"}, "alias/aws/sns"]},
            },
        },
        "NotificationEmail": {
            "Type": "AWS::SNS::Subscription",
            "Condition": "HasNotifyEmail",
            "Properties": {
                "TopicArn": {"Ref": "NotificationTopic"},
                "Protocol": "email",
                "Endpoint": {"Ref": "NotifyEmail"},
            },
        },
    }


def orchestration() -> dict[str, Any]:
    """The state machine, its logs, and the schedule that starts it."""
    return {
        "StateMachineLogGroup": log_group("/aws/vendedlogs/states/${AWS::StackName}-run"),
        "StateMachineRole": role(
            "credsight state machine: invokes the collector function, delivers its logs and traces.",
            iam_policies.trust("states.amazonaws.com"),
            "run-collector",
            iam_policies.state_machine_policy(),
        ),
        "StateMachine": {
            "Type": "AWS::StepFunctions::StateMachine",
            "Properties": {
                "StateMachineType": "STANDARD",
                "RoleArn": {"Fn::GetAtt": ["StateMachineRole", "Arn"]},
                "Definition": run_definition(),
                "DefinitionSubstitutions": {
                    "LambdaInvoke": {"Fn::Sub": "arn:${AWS::Partition}:states:::lambda:invoke"},
                    "CollectorFunctionArn": {"Fn::GetAtt": ["CollectorFunction", "Arn"]},
                    "MaxConcurrency": {"Fn::Sub": "{% ${MapConcurrency} %}"},
                },
                "LoggingConfiguration": {
                    "Level": "ALL",
                    "IncludeExecutionData": True,
                    "Destinations": [
                        {"CloudWatchLogsLogGroup": {"LogGroupArn": {"Fn::GetAtt": ["StateMachineLogGroup", "Arn"]}}}
                    ],
                },
                "TracingConfiguration": {"Enabled": True},
            },
        },
        "SchedulerRole": role(
            "credsight schedule: starts the collection state machine.",
            iam_policies.trust("scheduler.amazonaws.com"),
            "start-run",
            iam_policies.scheduler_policy(),
        ),
        "RunSchedule": {
            "Type": "AWS::Scheduler::Schedule",
            "Properties": {
                "Description": "credsight: the daily collection run.",
                "ScheduleExpression": {"Ref": "Schedule"},
                "ScheduleExpressionTimezone": {"Ref": "ScheduleTimezone"},
                "FlexibleTimeWindow": {"Mode": "OFF"},
                "State": "ENABLED",
                "Target": {
                    "Arn": {"Ref": "StateMachine"},
                    "RoleArn": {"Fn::GetAtt": ["SchedulerRole", "Arn"]},
                    "Input": "{}",
                    "RetryPolicy": {"MaximumRetryAttempts": 3, "MaximumEventAgeInSeconds": 3600},
                },
            },
        },
    }


def collector() -> dict[str, Any]:
    return {
        "AWSTemplateFormatVersion": "2010-09-09",
        "Description": "credsight collector: every account's IAM credential report, daily, into a Parquet "
        "store on S3 that Athena reads. Deploy in the Organizations management account or a delegated "
        "administrator; deploy the member-role template to the member accounts.",
        "Parameters": COLLECTOR_PARAMETERS,
        "Conditions": {
            "HasKmsKey": {"Fn::Not": [{"Fn::Equals": [{"Ref": "KmsKeyArn"}, ""]}]},
            "ExpiresSnapshots": {"Fn::Not": [{"Fn::Equals": [{"Ref": "ExpireAfterDays"}, "0"]}]},
            "HasNotifyEmail": {"Fn::Not": [{"Fn::Equals": [{"Ref": "NotifyEmail"}, ""]}]},
            "HasNotifySecret": {"Fn::Not": [{"Fn::Equals": [{"Ref": "NotifySecretName"}, ""]}]},
        },
        "Resources": {**buckets(), **function(), **notifications(), **orchestration(), **catalogue()},
        "Outputs": {
            "CollectorRoleArn": {
                "Description": "The member-role StackSet's CollectorRoleArn.",
                "Value": {"Fn::GetAtt": ["CollectorRole", "Arn"]},
            },
            "StoreUrl": {
                "Description": "The store, for --store / CREDSIGHT_STORE.",
                "Value": {"Fn::Sub": "s3://${StoreBucket}/${StorePrefix}"},
            },
            "StateMachineArn": {"Description": "Start it to collect now.", "Value": {"Ref": "StateMachine"}},
            "BucketName": {"Value": {"Ref": "StoreBucket"}},
            "GlueDatabase": {"Value": {"Ref": "GlueDatabase"}},
            "AthenaWorkGroup": {"Value": {"Ref": "AthenaWorkGroup"}},
            "NotificationTopicArn": {
                "Description": "The digests of each run; subscribe more endpoints to it.",
                "Value": {"Ref": "NotificationTopic"},
            },
        },
    }


def member_role() -> dict[str, Any]:
    trust_statement = {
        "Effect": "Allow",
        "Principal": {"AWS": {"Ref": "CollectorRoleArn"}},
        "Action": "sts:AssumeRole",
        "Condition": {
            "Fn::If": ["HasExternalId", {"StringEquals": {"sts:ExternalId": {"Ref": "ExternalId"}}}, NO_VALUE]
        },
    }
    return {
        "AWSTemplateFormatVersion": "2010-09-09",
        "Description": "credsight member role: lets the credsight collector read this account's IAM "
        "credential report, nothing else. Deploy as a service-managed StackSet targeting the organization "
        "root (or OUs) with automatic deployment, so new accounts get it too. Service-managed StackSets "
        "never deploy to the management account: also create it there as a plain stack if the collector "
        "must read that account through the role.",
        "Parameters": {
            "CollectorRoleArn": {
                "Type": "String",
                "AllowedPattern": r"^arn:aws[a-z\-]*:iam::\d{12}:role/[\w+=,.@/\-]+$",
                "ConstraintDescription": "an IAM role ARN: the collector stack's CollectorRoleArn output",
                "Description": "The collector stack's CollectorRoleArn output: the only principal trusted.",
            },
            "RoleName": parameter(
                "String",
                "credsight-reader",
                "Name of the role (the collector's MemberRoleName).",
                AllowedPattern=r"^[\w+=,.@\-]{1,64}$",
            ),
            "ExternalId": parameter(
                "String",
                "",
                "External ID the collector must present (its ExternalId); empty: none.",
                AllowedPattern=r"^$|^[\w+=,.@:/\-]{2,1224}$",
            ),
        },
        "Conditions": {"HasExternalId": {"Fn::Not": [{"Fn::Equals": [{"Ref": "ExternalId"}, ""]}]}},
        "Resources": {
            "MemberRole": {
                "Type": "AWS::IAM::Role",
                "Properties": {
                    "RoleName": {"Ref": "RoleName"},
                    "Description": "credsight: the collector reads this account's IAM credential report.",
                    "MaxSessionDuration": 3600,
                    "AssumeRolePolicyDocument": iam_policies.document(trust_statement),
                    "Policies": [
                        {"PolicyName": "read-credential-report", "PolicyDocument": iam_policies.member_policy()}
                    ],
                },
            }
        },
        "Outputs": {"RoleArn": {"Description": "The member role.", "Value": {"Fn::GetAtt": ["MemberRole", "Arn"]}}},
    }


TEMPLATES: dict[str, Callable[[], dict[str, Any]]] = {
    "collector": collector,
    "member-role": member_role,
    "quicksight": quicksight,  # deploy/quicksight.py: the dashboard over the collector's Athena views
}


def render(name: str) -> str:
    """The template as CloudFormation JSON text (KeyError for an unknown name: the CLI checks first)."""
    return json.dumps(TEMPLATES[name](), indent=2) + "\n"
