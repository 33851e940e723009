"""`credsight deploy template quicksight`: the seed's QuickSight dashboard as code, over the collector's
Athena views instead of a crawled bucket of CSV files.

The stack holds an Athena data source on the collector's workgroup, with a role of its own (it may read
the store's tables and write the workgroup's results, nothing else); one dataset per view the dashboard
reads, in SPICE refreshed daily after the collection or queried directly (the ImportMode parameter);
and the dashboard, its whole Definition here: an overview, then the seed's four sheets (SSO migration,
compliance report, user activity, region usage), each with Account, Date and User controls. Who may
use it is given as parameters: QuickSight principals (users or groups), an owner and, optionally,
viewers.

Each dataset declares every column its view has, typed as the view's own SQL makes it (athena.py's
view_schemas): the dashboard's fields (quicksight_dashboard.py) are checked against them, and they
against the views of a real store, by tests/test_quicksight.py. Deploy `athena-ddl`'s views first
(docs/deploy.md).
"""

from __future__ import annotations

from typing import Any

import pyarrow as pa

from credsight.deploy import iam_policies
from credsight.deploy.athena import DATABASE_NAME, view_schemas
from credsight.deploy.quicksight_dashboard import DATASETS, definition
from credsight.deploy.store_resources import NO_VALUE

PRINCIPAL = r"^arn:aws[a-z\-]*:quicksight:[a-z0-9\-]+:\d{12}:(user|group)/[\w+=,.@/\-]+$"
DATA_SOURCE_ACTIONS = [
    "quicksight:DescribeDataSource",
    "quicksight:DescribeDataSourcePermissions",
    "quicksight:PassDataSource",
    "quicksight:UpdateDataSource",
    "quicksight:DeleteDataSource",
    "quicksight:UpdateDataSourcePermissions",
]
DATASET_ACTIONS = [
    "quicksight:DescribeDataSet",
    "quicksight:DescribeDataSetPermissions",
    "quicksight:PassDataSet",
    "quicksight:DescribeIngestion",
    "quicksight:ListIngestions",
    "quicksight:UpdateDataSet",
    "quicksight:DeleteDataSet",
    "quicksight:CreateIngestion",
    "quicksight:CancelIngestion",
    "quicksight:UpdateDataSetPermissions",
]
DASHBOARD_VIEWER_ACTIONS = [
    "quicksight:DescribeDashboard",
    "quicksight:ListDashboardVersions",
    "quicksight:QueryDashboard",
]
DASHBOARD_OWNER_ACTIONS = [
    *DASHBOARD_VIEWER_ACTIONS,
    "quicksight:UpdateDashboardPermissions",
    "quicksight:UpdateDashboard",
    "quicksight:DeleteDashboard",
    "quicksight:DescribeDashboardPermissions",
    "quicksight:UpdateDashboardPublishedVersion",
]


def quicksight_type(arrow: pa.DataType) -> str | None:
    """The QuickSight column type that reads an Athena column of this Arrow type (None: lists, maps)."""
    if pa.types.is_string(arrow):
        return "STRING"
    if pa.types.is_boolean(arrow):
        return "BOOLEAN"
    if pa.types.is_integer(arrow):
        return "INTEGER"
    if pa.types.is_floating(arrow):
        return "DECIMAL"
    if pa.types.is_date(arrow) or pa.types.is_timestamp(arrow):
        return "DATETIME"
    return None


def input_columns(schema: pa.Schema) -> list[dict[str, str]]:
    return [{"Name": field.name, "Type": kind} for field in schema if (kind := quicksight_type(field.type)) is not None]


# -- the resources ------------------------------------------------------------------------------------

PARAMETERS: dict[str, Any] = {
    "AthenaWorkGroup": {
        "Type": "String",
        "MinLength": 1,
        "Description": "The collector stack's AthenaWorkGroup output: the data source queries through it.",
    },
    "GlueDatabase": {
        "Type": "String",
        "Default": "credsight",
        "AllowedPattern": f"^{DATABASE_NAME.pattern}$",
        "Description": "The collector stack's GlueDatabase output, holding the views of `credsight athena-ddl`.",
    },
    "StoreBucket": {
        "Type": "String",
        "AllowedPattern": r"^[a-z0-9][a-z0-9.\-]{1,61}[a-z0-9]$",
        "Description": "The collector stack's BucketName output: the store and the workgroup's query results.",
    },
    "StorePrefix": {
        "Type": "String",
        "Default": "credsight",
        "AllowedPattern": r"^[A-Za-z0-9_.\-]+(/[A-Za-z0-9_.\-]+)*$",
        "Description": "Prefix of the store in the bucket (the collector's StorePrefix).",
    },
    "KmsKeyArn": {
        "Type": "String",
        "Default": "",
        "AllowedPattern": r"^$|^arn:aws[a-z\-]*:kms:[a-z0-9\-]+:\d{12}:key/[A-Za-z0-9\-]+$",
        "Description": "The collector's KmsKeyArn, if the store is encrypted with a customer key; empty: none.",
    },
    "ImportMode": {
        "Type": "String",
        "Default": "SPICE",
        "AllowedValues": ["SPICE", "DIRECT_QUERY"],
        "Description": "SPICE: the datasets are copied into QuickSight and refreshed daily at RefreshTime; "
        "DIRECT_QUERY: every view of the dashboard queries Athena.",
    },
    "RefreshTime": {
        "Type": "String",
        "Default": "07:00",
        "AllowedPattern": r"^([01]\d|2[0-3]):[0-5]\d$",
        "Description": "When SPICE refreshes, daily (HH:MM): after the collection (the collector's Schedule, "
        "05:00 by default, takes about 20 minutes at 10,000 accounts).",
    },
    "RefreshTimezone": {"Type": "String", "Default": "UTC", "Description": "Time zone of RefreshTime (IANA name)."},
    "OwnerArn": {
        "Type": "String",
        "AllowedPattern": PRINCIPAL,
        "Description": "QuickSight user or group that owns the data source, datasets and dashboard "
        "(arn:aws:quicksight:<region>:<account>:user/default/<name> or .../group/default/<name>).",
    },
    "ViewerArn": {
        "Type": "String",
        "Default": "",
        "AllowedPattern": f"^$|{PRINCIPAL}",
        "Description": "QuickSight user or group that may view the dashboard; empty: the owner only.",
    },
}
CONDITIONS = {
    "Spice": {"Fn::Equals": [{"Ref": "ImportMode"}, "SPICE"]},
    "HasViewer": {"Fn::Not": [{"Fn::Equals": [{"Ref": "ViewerArn"}, ""]}]},
    "HasKmsKey": {"Fn::Not": [{"Fn::Equals": [{"Ref": "KmsKeyArn"}, ""]}]},
}
ACCOUNT = {"Ref": "AWS::AccountId"}


def dataset_resource(view: str) -> str:
    return "".join(part.title() for part in view.split("_")) + "DataSet"


def owner(actions: list[str]) -> list[dict[str, Any]]:
    return [{"Principal": {"Ref": "OwnerArn"}, "Actions": actions}]


def athena_role() -> dict[str, Any]:
    """What the data source may do: query through the workgroup, read the store's tables, write results."""
    arn = "arn:${AWS::Partition}"
    athena = {
        "Effect": "Allow",
        "Action": [
            "athena:StartQueryExecution",
            "athena:StopQueryExecution",
            "athena:GetQueryExecution",
            "athena:BatchGetQueryExecution",
            "athena:GetQueryResults",
            "athena:GetQueryResultsStream",
            "athena:GetWorkGroup",
        ],
        "Resource": {"Fn::Sub": f"{arn}:athena:${{AWS::Region}}:${{AWS::AccountId}}:workgroup/${{AthenaWorkGroup}}"},
    }
    glue = {
        "Effect": "Allow",
        "Action": ["glue:GetDatabase", "glue:GetTable", "glue:GetTables", "glue:GetPartition", "glue:GetPartitions"],
        "Resource": [
            {"Fn::Sub": f"{arn}:glue:${{AWS::Region}}:${{AWS::AccountId}}:catalog"},
            {"Fn::Sub": f"{arn}:glue:${{AWS::Region}}:${{AWS::AccountId}}:database/${{GlueDatabase}}"},
            {"Fn::Sub": f"{arn}:glue:${{AWS::Region}}:${{AWS::AccountId}}:table/${{GlueDatabase}}/*"},
        ],
    }
    bucket = {
        "Effect": "Allow",
        "Action": ["s3:GetBucketLocation", "s3:ListBucket", "s3:ListBucketMultipartUploads"],
        "Resource": {"Fn::Sub": f"{arn}:s3:::${{StoreBucket}}"},
    }
    store = {
        "Effect": "Allow",
        "Action": ["s3:GetObject"],
        "Resource": {"Fn::Sub": f"{arn}:s3:::${{StoreBucket}}/${{StorePrefix}}/*"},
    }
    results = {
        "Effect": "Allow",
        "Action": ["s3:GetObject", "s3:PutObject", "s3:AbortMultipartUpload", "s3:ListMultipartUploadParts"],
        "Resource": {"Fn::Sub": f"{arn}:s3:::${{StoreBucket}}/athena-results/*"},
    }
    return {
        "Type": "AWS::IAM::Role",
        "Properties": {
            "Description": "credsight QuickSight: queries the store's views through the collector's Athena workgroup.",
            "AssumeRolePolicyDocument": iam_policies.trust("quicksight.amazonaws.com"),
            "Policies": [
                {
                    "PolicyName": "query-store",
                    "PolicyDocument": iam_policies.document(athena, glue, bucket, store, results),
                }
            ],
        },
    }


def key_policy() -> dict[str, Any]:
    key = {"Effect": "Allow", "Action": ["kms:Decrypt", "kms:GenerateDataKey"], "Resource": {"Ref": "KmsKeyArn"}}
    return {
        "Type": "AWS::IAM::Policy",
        "Condition": "HasKmsKey",
        "Properties": {
            "PolicyName": "use-store-key",
            "Roles": [{"Ref": "DataSourceRole"}],
            "PolicyDocument": iam_policies.document(key),
        },
    }


def data_source() -> dict[str, Any]:
    return {
        "Type": "AWS::QuickSight::DataSource",
        "Properties": {
            "AwsAccountId": ACCOUNT,
            "DataSourceId": {"Fn::Sub": "${AWS::StackName}-athena"},
            "Name": {"Fn::Sub": "credsight (${AthenaWorkGroup})"},
            "Type": "ATHENA",
            "DataSourceParameters": {
                "AthenaParameters": {
                    "WorkGroup": {"Ref": "AthenaWorkGroup"},
                    "RoleArn": {"Fn::GetAtt": ["DataSourceRole", "Arn"]},
                }
            },
            "SslProperties": {"DisableSsl": False},
            "Permissions": owner(DATA_SOURCE_ACTIONS),
        },
    }


def dataset(view: str, schema: pa.Schema) -> dict[str, Any]:
    """A dataset of one view, every column of it that QuickSight can read."""
    table_id = view.replace("_", "-")  # QuickSight's table ids take letters, digits and -
    physical = {
        "RelationalTable": {
            "DataSourceArn": {"Fn::GetAtt": ["AthenaDataSource", "Arn"]},
            "Catalog": "AwsDataCatalog",
            "Schema": {"Ref": "GlueDatabase"},
            "Name": view,
            "InputColumns": input_columns(schema),
        }
    }
    return {
        "Type": "AWS::QuickSight::DataSet",
        "Properties": {
            "AwsAccountId": ACCOUNT,
            "DataSetId": {"Fn::Sub": f"${{AWS::StackName}}-{view}"},
            "Name": f"credsight {view}",
            "ImportMode": {"Ref": "ImportMode"},
            "PhysicalTableMap": {table_id: physical},
            "LogicalTableMap": {table_id: {"Alias": view, "Source": {"PhysicalTableId": table_id}}},
            "Permissions": owner(DATASET_ACTIONS),
        },
    }


def refresh(view: str) -> dict[str, Any]:
    """In SPICE mode, each dataset is refreshed every day at RefreshTime."""
    return {
        "Type": "AWS::QuickSight::RefreshSchedule",
        "Condition": "Spice",
        "Properties": {
            "AwsAccountId": ACCOUNT,
            "DataSetId": {"Fn::Sub": f"${{AWS::StackName}}-{view}"},
            "Schedule": {
                "ScheduleId": f"daily-{view}",
                "RefreshType": "FULL_REFRESH",
                "ScheduleFrequency": {
                    "Interval": "DAILY",
                    "TimeOfTheDay": {"Ref": "RefreshTime"},
                    "TimeZone": {"Ref": "RefreshTimezone"},
                },
            },
        },
        "DependsOn": dataset_resource(view),
    }


def dashboard() -> dict[str, Any]:
    viewer = {
        "Fn::If": ["HasViewer", {"Principal": {"Ref": "ViewerArn"}, "Actions": DASHBOARD_VIEWER_ACTIONS}, NO_VALUE]
    }
    return {
        "Type": "AWS::QuickSight::Dashboard",
        "Properties": {
            "AwsAccountId": ACCOUNT,
            "DashboardId": {"Fn::Sub": "${AWS::StackName}-dashboard"},
            "Name": "credsight: IAM users' credentials across the organization",
            "Definition": definition(lambda view: {"Fn::GetAtt": [dataset_resource(view), "Arn"]}),
            "Permissions": [*owner(DASHBOARD_OWNER_ACTIONS), viewer],
            "DashboardPublishOptions": {
                "AdHocFilteringOption": {"AvailabilityStatus": "DISABLED"},
                "ExportToCSVOption": {"AvailabilityStatus": "ENABLED"},
                "SheetControlsOption": {"VisibilityState": "EXPANDED"},
            },
            "ValidationStrategy": {"Mode": "STRICT"},
        },
    }


def quicksight() -> dict[str, Any]:
    """The template: data source, datasets, their refreshes, the dashboard."""
    schemas = view_schemas("credsight")
    resources: dict[str, Any] = {"DataSourceRole": athena_role(), "DataSourceKeyPolicy": key_policy()}
    resources["AthenaDataSource"] = data_source()
    for view in DATASETS:
        resources[dataset_resource(view)] = dataset(view, schemas[view])
        resources[f"{dataset_resource(view)}Refresh"] = refresh(view)
    resources["Dashboard"] = dashboard()
    return {
        "AWSTemplateFormatVersion": "2010-09-09",
        "Description": "credsight QuickSight: the dashboard of the collector's store (overview, SSO migration, "
        "compliance report, user activity, region usage) over the Athena views of `credsight athena-ddl`. "
        "Deploy in the collector's account and Region, after the views.",
        "Parameters": PARAMETERS,
        "Conditions": CONDITIONS,
        "Resources": resources,
        "Outputs": {
            "DashboardId": {"Value": {"Fn::Sub": "${AWS::StackName}-dashboard"}},
            "DataSourceRoleArn": {"Value": {"Fn::GetAtt": ["DataSourceRole", "Arn"]}},
        },
    }
