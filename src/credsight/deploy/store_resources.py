"""The collector template's data resources: the store's bucket and its access-log bucket, and the
Glue tables and Athena workgroup that read the store where it lies.

The Glue tables are built from athena.py's STORE_TABLES, so they match the Parquet files the
code writes, column for column; their months are projected (no crawler, no MSCK REPAIR).
"""

from __future__ import annotations

import re
from typing import Any

from credsight.deploy import iam_policies
from credsight.deploy.athena import STORE_TABLES, StoreTable, glue_columns, projection_properties

NONCURRENT_DAYS = 30  # how long an overwritten or deleted object's old version is kept
ABORT_UPLOAD_DAYS = 7  # incomplete multipart uploads are removed after this many days
ATHENA_RESULTS_DAYS = 30  # query results are scratch data
NO_VALUE = {"Ref": "AWS::NoValue"}
PARAMETER_NAME = re.compile(r"\$\{(?!StoreBucket\}|StorePrefix\}|AWS::)")  # a ${...} that is not ours


def skip(*reasons: tuple[str, str]) -> dict[str, Any]:
    """A resource's checkov suppressions, each with the reason a reviewer can judge."""
    return {"checkov": {"skip": [{"id": check, "comment": why} for check, why in reasons]}}


def if_key(with_key: object, without_key: object) -> dict[str, Any]:
    return {"Fn::If": ["HasKmsKey", with_key, without_key]}


def tls_only(bucket: str) -> dict[str, Any]:
    """Deny every request to the bucket that does not use TLS."""
    return {
        "Sid": "TlsOnly",
        "Effect": "Deny",
        "Principal": "*",
        "Action": "s3:*",
        "Resource": [{"Fn::GetAtt": [bucket, "Arn"]}, {"Fn::Sub": f"${{{bucket}.Arn}}/*"}],
        "Condition": {"Bool": {"aws:SecureTransport": "false"}},
    }


def private_bucket(encryption: object, rules: list[object], **more: object) -> dict[str, Any]:
    """Versioned, owner-enforced, blocked from the public; kept when the stack is deleted."""
    return {
        "Type": "AWS::S3::Bucket",
        "DeletionPolicy": "Retain",
        "UpdateReplacePolicy": "Retain",
        "Properties": {
            "BucketEncryption": {"ServerSideEncryptionConfiguration": [encryption]},
            "PublicAccessBlockConfiguration": {
                "BlockPublicAcls": True,
                "BlockPublicPolicy": True,
                "IgnorePublicAcls": True,
                "RestrictPublicBuckets": True,
            },
            "OwnershipControls": {"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]},
            "VersioningConfiguration": {"Status": "Enabled"},
            "LifecycleConfiguration": {
                "Rules": [
                    *rules,
                    {
                        "Id": "old-versions-and-uploads",
                        "Status": "Enabled",
                        "NoncurrentVersionExpiration": {"NoncurrentDays": NONCURRENT_DAYS},
                        "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": ABORT_UPLOAD_DAYS},
                    },
                ]
            },
            **more,
        },
    }


def buckets() -> dict[str, Any]:
    """The store's bucket, and the bucket its server access logs go to (who read the reports)."""
    store_encryption = if_key(
        {
            "ServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": {"Ref": "KmsKeyArn"}},
            "BucketKeyEnabled": True,
        },
        {"ServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}, "BucketKeyEnabled": True},
    )
    expire_store = {
        "Fn::If": [
            "ExpiresSnapshots",
            {
                "Id": "expire-store",
                "Status": "Enabled",
                "Prefix": {"Fn::Sub": "${StorePrefix}/"},
                "ExpirationInDays": {"Ref": "ExpireAfterDays"},
            },
            NO_VALUE,
        ]
    }
    expire_results = {
        "Id": "expire-athena-results",
        "Status": "Enabled",
        "Prefix": "athena-results/",
        "ExpirationInDays": ATHENA_RESULTS_DAYS,
    }
    expire_logs = {"Id": "expire-access-logs", "Status": "Enabled", "ExpirationInDays": {"Ref": "LogRetentionDays"}}
    log_delivery = {
        "Sid": "ServerAccessLogs",
        "Effect": "Allow",
        "Principal": {"Service": "logging.s3.amazonaws.com"},
        "Action": "s3:PutObject",
        "Resource": {"Fn::Sub": "${AccessLogBucket.Arn}/*"},
        "Condition": {
            "ArnLike": {"aws:SourceArn": {"Fn::GetAtt": ["StoreBucket", "Arn"]}},
            "StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}},
        },
    }
    access_logs = private_bucket({"ServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}, [expire_logs])
    access_logs["Metadata"] = skip(
        ("CKV_AWS_18", "This is the access-log bucket: logging it would write into itself or need a third bucket."),
    )
    return {
        "StoreBucket": private_bucket(
            store_encryption,
            [expire_store, expire_results],
            LoggingConfiguration={"DestinationBucketName": {"Ref": "AccessLogBucket"}, "LogFilePrefix": "store/"},
        ),
        "StoreBucketPolicy": {
            "Type": "AWS::S3::BucketPolicy",
            "Properties": {
                "Bucket": {"Ref": "StoreBucket"},
                "PolicyDocument": iam_policies.document(tls_only("StoreBucket")),
            },
        },
        # Server access logs can only be delivered to an SSE-S3 bucket, hence no KMS here.
        "AccessLogBucket": access_logs,
        "AccessLogBucketPolicy": {
            "Type": "AWS::S3::BucketPolicy",
            "Properties": {
                "Bucket": {"Ref": "AccessLogBucket"},
                "PolicyDocument": iam_policies.document(tls_only("AccessLogBucket"), log_delivery),
            },
        },
    }


def substituted(value: str) -> object:
    """A text naming the bucket or prefix as Fn::Sub; any other ${...} (Athena's) escaped as ${!...}."""
    if "${" not in value:
        return value
    return {"Fn::Sub": PARAMETER_NAME.sub("${!", value)}


def glue_table(table: StoreTable) -> dict[str, Any]:
    """A store table as Athena reads it: the Parquet files' columns, months projected (no crawler)."""
    location = "s3://${StoreBucket}/${StorePrefix}"
    parameters: dict[str, object] = {"classification": "parquet", "EXTERNAL": "TRUE", "parquet.compression": "ZSTD"}
    if table.monthly:
        parameters |= {k: substituted(v) for k, v in projection_properties(table, location).items()}
    return {
        "Type": "AWS::Glue::Table",
        "Properties": {
            "CatalogId": {"Ref": "AWS::AccountId"},
            "DatabaseName": {"Ref": "GlueDatabase"},
            "TableInput": {
                "Name": table.table,
                "TableType": "EXTERNAL_TABLE",
                "Parameters": parameters,
                "PartitionKeys": [{"Name": "snapshot_month", "Type": "string"}] if table.monthly else [],
                "StorageDescriptor": {
                    "Columns": [{"Name": name, "Type": kind} for name, kind in glue_columns(table)],
                    "Location": {"Fn::Sub": f"{location}/{table.name}/"},
                    "InputFormat": "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat",
                    "OutputFormat": "org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat",
                    "SerdeInfo": {
                        "SerializationLibrary": "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe"
                    },
                },
            },
        },
    }


def table_resource(table: StoreTable) -> str:
    return "".join(part.title() for part in table.name.split("_")) + "Table"


def catalogue() -> dict[str, Any]:
    """The Glue database and tables, and an Athena workgroup whose results stay encrypted in the bucket."""
    result_encryption = if_key(
        {"EncryptionOption": "SSE_KMS", "KmsKey": {"Ref": "KmsKeyArn"}}, {"EncryptionOption": "SSE_S3"}
    )
    resources: dict[str, Any] = {
        "GlueDatabase": {
            "Type": "AWS::Glue::Database",
            "Properties": {
                "CatalogId": {"Ref": "AWS::AccountId"},
                "DatabaseInput": {
                    "Name": {"Ref": "GlueDatabaseName"},
                    "Description": "credsight: the store's tables (`credsight athena-ddl` adds the views).",
                },
            },
        },
        "AthenaWorkGroup": {
            "Type": "AWS::Athena::WorkGroup",
            "Properties": {
                "Name": {"Ref": "AWS::StackName"},
                "Description": "credsight: queries over the store.",
                "RecursiveDeleteOption": True,
                "WorkGroupConfiguration": {
                    "EnforceWorkGroupConfiguration": True,
                    "PublishCloudWatchMetricsEnabled": True,
                    "ResultConfiguration": {
                        "OutputLocation": {"Fn::Sub": "s3://${StoreBucket}/athena-results/"},
                        "EncryptionConfiguration": result_encryption,
                    },
                },
            },
        },
    }
    resources |= {table_resource(table): glue_table(table) for table in STORE_TABLES}
    return resources
