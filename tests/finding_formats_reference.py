"""The findings formats as credsight wrote them a record at a time (json.dump over dicts): the definition
that formats/findings.py reproduces a column at a time. Kept here, unchanged, as the tests' reference."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Iterable, Mapping
from typing import Any

from credsight.formats.findings import product_version
from credsight.report.model import ROOT_USER
from credsight.rules.catalogue import Rule

OCSF_VERSION = "1.1.0"
OCSF_SEVERITY = {"informational": 1, "low": 2, "medium": 3, "high": 4, "critical": 5}
OCSF_AWS_ACCOUNT = 10  # Account.type_id
ASFF_SCHEMA_VERSION = "2018-10-08"
ASFF_TYPE = "Software and Configuration Checks/Industry and Regulatory Standards/CIS AWS Foundations Benchmark"


def _midnight(day: dt.date) -> dt.datetime:
    return dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC)


def _millis(day: dt.date | None) -> int | None:
    return int(_midnight(day).timestamp() * 1000) if day else None


def _iso(day: dt.date) -> str:
    return _midnight(day).strftime("%Y-%m-%dT%H:%M:%SZ")


def finding_id(finding: Mapping[str, Any]) -> str:
    """Stable across runs: the same rule, account and user give the same id."""
    key = f"{finding['rule']}/{finding['account_id']}/{finding['user']}"
    return hashlib.sha256(key.encode()).hexdigest()[:32]


def records(findings: Iterable[Mapping[str, Any]], rules: Mapping[str, Rule]) -> list[dict[str, Any]]:
    """Plain records: the finding, its rule's metadata, the evidence as an object, the exception."""
    out = []
    for f in findings:
        rule = rules[f["rule"]]
        exception = None
        if f.get("exception_reason"):
            exception = {
                "reason": f["exception_reason"],
                "owner": f["exception_owner"],
                "expires": f["exception_expires"].isoformat(),
            }
        out.append(
            {
                "rule": f["rule"],
                "title": rule.title,
                "severity": f["severity"],
                "status": f.get("status", "open"),
                "account_id": f["account_id"],
                "account_name": f["account_name"],
                "user": f["user"],
                "arn": f["arn"],
                "snapshot_date": f["snapshot_date"].isoformat(),
                "first_seen": f["first_seen"].isoformat() if f["first_seen"] else None,
                "evidence": json.loads(f["evidence"]) if f["evidence"] else None,
                "cis_v1": rule.cis_v1,
                "cis_v5": rule.cis_v5,
                "security_hub": rule.security_hub,
                "remediation": rule.remediation,
                "exception": exception,
            }
        )
    return out


def ocsf(record: Mapping[str, Any], rule: Rule) -> dict[str, Any]:
    """One finding as an OCSF Detection Finding (class_uid 2004, activity Create)."""
    excepted = record["status"] == "excepted"
    partition = (record["arn"] or "arn:aws").split(":")[1]
    day = dt.date.fromisoformat(record["snapshot_date"])
    first = dt.date.fromisoformat(record["first_seen"]) if record["first_seen"] else None
    is_root = record["user"] == ROOT_USER
    return {
        "activity_id": 1,
        "activity_name": "Create",
        "category_uid": 2,
        "category_name": "Findings",
        "class_uid": 2004,
        "class_name": "Detection Finding",
        "type_uid": 200401,
        "type_name": "Detection Finding: Create",
        "severity_id": OCSF_SEVERITY[record["severity"]],
        "severity": record["severity"].capitalize(),
        "status_id": 3 if excepted else 1,
        "status": "Suppressed" if excepted else "New",
        "time": _millis(day),
        "message": f"{rule.title}: not so for {record['user']} in account {record['account_id']}",
        "metadata": {
            "version": OCSF_VERSION,
            "product": {"name": "credsight", "vendor_name": "credsight", "version": product_version()},
        },
        "finding_info": {
            "uid": finding_id(record),
            "title": rule.title,
            "desc": rule.rationale,
            "first_seen_time": _millis(first),
            "last_seen_time": _millis(day),
            "types": ["IAM credential report"],
        },
        "resources": [
            {
                "uid": record["arn"],
                "name": record["user"],
                "type": "AWS::::Account" if is_root else "AWS::IAM::User",
                "cloud_partition": partition,
                "region": "global",
            }
        ],
        "cloud": {
            "provider": "AWS",
            "account": {
                "uid": record["account_id"],
                "name": record["account_name"] or record["account_id"],
                "type_id": OCSF_AWS_ACCOUNT,
                "type": "AWS Account",
            },
        },
        "remediation": {"desc": rule.remediation},
        "unmapped": {
            "rule": rule.id,
            "evidence": record["evidence"],
            "cis_v1": rule.cis_v1,
            "cis_v5": rule.cis_v5,
            "security_hub": rule.security_hub,
            "exception": record["exception"],
        },
    }


def asff(record: Mapping[str, Any], rule: Rule, region: str) -> dict[str, Any]:
    """One finding as an AWS Security Finding, as Security Hub's BatchImportFindings takes it."""
    account = record["account_id"]
    partition = (record["arn"] or "arn:aws").split(":")[1]
    day = dt.date.fromisoformat(record["snapshot_date"])
    first = dt.date.fromisoformat(record["first_seen"]) if record["first_seen"] else day
    requirements = []
    if rule.cis_v1:
        requirements.append(f"CIS AWS Foundations Benchmark v1.4.0/{rule.cis_v1}")
    if rule.cis_v5:
        requirements.append(f"CIS AWS Foundations Benchmark v5.0.0/{rule.cis_v5}")
    finding: dict[str, Any] = {
        "SchemaVersion": ASFF_SCHEMA_VERSION,
        "Id": f"credsight/{finding_id(record)}",
        "ProductArn": f"arn:{partition}:securityhub:{region}:{account}:product/{account}/default",
        "GeneratorId": f"credsight/{rule.id}",
        "AwsAccountId": account,
        "Types": [ASFF_TYPE],
        "FirstObservedAt": _iso(first),
        "LastObservedAt": _iso(day),
        "CreatedAt": _iso(first),
        "UpdatedAt": _iso(day),
        "Severity": {"Label": record["severity"].upper(), "Original": record["severity"]},
        "Title": rule.title[:256],
        "Description": f"{rule.rationale} User: {record['user']}."[:1024],
        "Remediation": {"Recommendation": {"Text": rule.remediation[:512]}},
        "ProductFields": {
            "credsight/rule": rule.id,
            "credsight/evidence": json.dumps(record["evidence"])[:4096],
        },
        "Resources": [
            {
                "Type": "AwsAccount" if record["user"] == ROOT_USER else "AwsIamUser",
                "Id": record["arn"],
                "Partition": partition,
                "Region": region,
            }
        ],
        "Compliance": {"Status": "FAILED"},
        "Workflow": {"Status": "SUPPRESSED" if record["status"] == "excepted" else "NEW"},
        "RecordState": "ACTIVE",
    }
    if requirements:
        finding["Compliance"]["RelatedRequirements"] = requirements
    if rule.security_hub:
        finding["ProductFields"]["credsight/security_hub_control"] = rule.security_hub
    if record["exception"]:
        exception = record["exception"]
        finding["Note"] = {
            "Text": f"accepted risk until {exception['expires']}: {exception['reason']}"[:512],
            "UpdatedBy": exception["owner"][:512],
            "UpdatedAt": _iso(day),
        }
    return finding
