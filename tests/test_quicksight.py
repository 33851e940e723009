"""`credsight deploy template quicksight`: the dashboard as code, checked by the references AWS publishes
(CloudFormation's resource schemas through cfn-lint, in tests/test_deploy_templates.py; QuickSight's
API model through botocore's validator here) and against a real store: every field a visual uses is
a column of its dataset, and every dataset is a view `athena-ddl` declares, with the columns and
types DuckDB gives that view over the store.

No QuickSight exists offline: whether QuickSight draws the visuals is not checked here.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import botocore.session
import pytest
from botocore.validate import ParamValidator

from credsight.deploy.athena import athena_ddl
from credsight.deploy.quicksight import PRINCIPAL, quicksight_type
from credsight.deploy.quicksight_dashboard import DATASETS
from credsight.deploy.templates import COLLECTOR_PARAMETERS, render
from credsight.query import Database
from credsight.store import Store
from tests.test_deploy_athena import awkward_store

__all__ = ["awkward_store"]  # a real store: a day collected twice, a compaction's left-behind part
SHEETS = ["Overview", "SSO migration", "Compliance report", "User activity", "Region usage"]


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return dict(json.loads(render("quicksight")))


def of_type(template: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {name: r for name, r in template["Resources"].items() if r["Type"] == kind}


@pytest.fixture(scope="module")
def datasets(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Each dataset's relational table (the view it reads), by the identifier the dashboard gives it."""
    found = {}
    for resource in of_type(template, "AWS::QuickSight::DataSet").values():
        [table] = resource["Properties"]["PhysicalTableMap"].values()
        found[table["RelationalTable"]["Name"]] = table["RelationalTable"]
    return found


@pytest.fixture(scope="module")
def definition(template: dict[str, Any]) -> dict[str, Any]:
    [dashboard] = of_type(template, "AWS::QuickSight::Dashboard").values()
    return dict(dashboard["Properties"]["Definition"])


def walk(value: Any) -> Iterator[dict[str, Any]]:
    """Every object in a JSON value."""
    if isinstance(value, dict):
        yield value
        for item in value.values():
            yield from walk(item)
    elif isinstance(value, list):
        for item in value:
            yield from walk(item)


def test_the_command_prints_the_template(template: dict[str, Any]) -> None:
    credsight = shutil.which("credsight", path=str(Path(sys.executable).parent))
    assert credsight
    done = subprocess.run([credsight, "deploy", "template", "quicksight"], capture_output=True, text=True, check=True)
    assert json.loads(done.stdout) == template


def test_every_field_a_visual_uses_is_a_column_of_its_dataset(
    definition: dict[str, Any], datasets: dict[str, dict[str, Any]]
) -> None:
    declared = {d["Identifier"]: d["DataSetArn"] for d in definition["DataSetIdentifierDeclarations"]}
    assert set(declared) == set(DATASETS) == set(datasets)
    for identifier, arn in declared.items():  # each identifier is the dataset of that view
        resource = arn["Fn::GetAtt"][0]
        assert datasets[identifier] is not None and resource.lower().startswith(identifier.replace("_", ""))
    columns = {name: {c["Name"] for c in table["InputColumns"]} for name, table in datasets.items()}
    used = [(o["DataSetIdentifier"], o["ColumnName"]) for o in walk(definition) if "ColumnName" in o]
    assert len(used) > 40
    assert [(d, c) for d, c in used if c not in columns.get(d, set())] == []
    assert {d for d, _ in used} == set(DATASETS)  # every dataset is used by some visual or filter


def test_every_dataset_is_a_view_athena_ddl_declares_as_duckdb_makes_it_over_a_store(
    datasets: dict[str, dict[str, Any]], awkward_store: Store
) -> None:
    declared = set(re.findall(r'CREATE OR REPLACE VIEW "credsight"\."(\w+)"', athena_ddl("s3://bucket/store")))
    assert set(datasets) <= declared
    with Database(awkward_store) as database:
        for view, table in datasets.items():
            schema = database.sql(f"SELECT * FROM {view} LIMIT 0").table.schema  # noqa: S608 (names from the template)
            readable = [(f.name, quicksight_type(f.type)) for f in schema if quicksight_type(f.type) is not None]
            assert [(c["Name"], c["Type"]) for c in table["InputColumns"]] == readable, view
            assert database.sql(f"SELECT count(*) AS n FROM {view}").rows[0]["n"] > 0  # noqa: S608 (a real view)
            assert (table["Catalog"], table["Schema"]) == ("AwsDataCatalog", {"Ref": "GlueDatabase"})


def api_form(value: Any) -> Any:
    """The template's values as the QuickSight API would receive them once CloudFormation resolved them."""
    if isinstance(value, dict):
        if "Fn::If" in value:
            return api_form(value["Fn::If"][1])
        if len(value) == 1 and next(iter(value)).startswith(("Fn::", "Ref")):
            return "arn:aws:quicksight:us-east-1:123456789012:dataset/credsight-resolved"
        return {k: api_form(v) for k, v in value.items()}
    if isinstance(value, list):
        return [api_form(v) for v in value]
    return value


@pytest.mark.parametrize(
    ("resource_type", "operation"),
    [
        ("AWS::QuickSight::Dashboard", "CreateDashboard"),
        ("AWS::QuickSight::DataSet", "CreateDataSet"),
        ("AWS::QuickSight::DataSource", "CreateDataSource"),
    ],
)
def test_quicksights_api_model_accepts_each_resource(
    template: dict[str, Any], resource_type: str, operation: str
) -> None:
    """botocore's model of the QuickSight API (every member's name and type, the required ones, lengths and
    ranges) takes each resource's properties, which CloudFormation passes on as they are (cfn-lint checks
    the enumerations, from CloudFormation's schema)."""
    shape = botocore.session.get_session().get_service_model("quicksight").operation_model(operation).input_shape
    resources = of_type(template, resource_type)
    assert resources
    for name, resource in resources.items():
        report = ParamValidator().validate(api_form(resource["Properties"]), shape)
        assert not report.has_errors(), f"{name}: {report.generate_report()}"


def test_the_api_model_refuses_a_broken_visual(definition: dict[str, Any]) -> None:
    """The check above can fail: a field that names its column under a wrong key misses the required one."""
    shape = (
        botocore.session.get_session().get_service_model("quicksight").operation_model("CreateDashboard").input_shape
    )
    broken = json.loads(json.dumps(api_form(definition)).replace('"ColumnName": "humans"', '"Column_Name": "humans"'))
    report = ParamValidator().validate(
        {"AwsAccountId": "123456789012", "DashboardId": "d", "Name": "n", "Definition": broken}, shape
    )
    said = report.generate_report()
    assert report.has_errors() and "Column_Name" in said and "ColumnName" in said


def test_the_five_sheets_each_have_account_date_and_user_controls(definition: dict[str, Any]) -> None:
    sheets = definition["Sheets"]
    assert [s["Name"] for s in sheets] == SHEETS
    filters = {f[kind]["FilterId"] for g in definition["FilterGroups"] for f in g["Filters"] for kind in f}
    for sheet in sheets:
        controls = {next(iter(c.values()))["Title"]: next(iter(c.values())) for c in sheet["FilterControls"]}
        assert set(controls) == {"Account", "Date", "User"}, sheet["Name"]
        assert {c["SourceFilterId"] for c in controls.values()} <= filters
        laid_out = {
            e["ElementId"] for layout in sheet["Layouts"] for e in layout["Configuration"]["GridLayout"]["Elements"]
        }
        assert {next(iter(v.values()))["VisualId"] for v in sheet["Visuals"]} == laid_out
        panel = sheet["SheetControlLayouts"][0]["Configuration"]["GridLayout"]["Elements"]
        assert {e["ElementId"] for e in panel} == {c["FilterControlId"] for c in controls.values()}
    crossing = {g["FilterGroupId"]: g["CrossDataset"] for g in definition["FilterGroups"]}
    assert crossing["account"] == crossing["date"] == crossing["user"] == "ALL_DATASETS"


def test_spice_is_refreshed_daily_after_the_collection_and_direct_query_is_a_parameter(
    template: dict[str, Any],
) -> None:
    mode = template["Parameters"]["ImportMode"]
    assert mode["AllowedValues"] == ["SPICE", "DIRECT_QUERY"] and mode["Default"] == "SPICE"
    for resource in of_type(template, "AWS::QuickSight::DataSet").values():
        assert resource["Properties"]["ImportMode"] == {"Ref": "ImportMode"}
    refreshes = of_type(template, "AWS::QuickSight::RefreshSchedule")
    assert len(refreshes) == len(DATASETS)
    assert template["Conditions"]["Spice"] == {"Fn::Equals": [{"Ref": "ImportMode"}, "SPICE"]}
    for resource in refreshes.values():
        assert resource["Condition"] == "Spice"  # direct query: nothing to refresh
        frequency = resource["Properties"]["Schedule"]["ScheduleFrequency"]
        assert frequency["Interval"] == "DAILY" and frequency["TimeOfTheDay"] == {"Ref": "RefreshTime"}
    collection = re.fullmatch(r"cron\((\d+) (\d+) .*\)", COLLECTOR_PARAMETERS["Schedule"]["Default"])
    assert collection
    refresh_hour, refresh_minute = map(int, template["Parameters"]["RefreshTime"]["Default"].split(":"))
    # The collection starts at 05:00 and takes about 21 minutes at 10,000 accounts (docs/deploy.md).
    assert refresh_hour * 60 + refresh_minute >= int(collection.group(2)) * 60 + int(collection.group(1)) + 60


def test_the_principals_given_are_the_only_ones_granted(template: dict[str, Any]) -> None:
    kinds = ("AWS::QuickSight::DataSource", "AWS::QuickSight::DataSet", "AWS::QuickSight::Dashboard")
    for kind in kinds:
        for name, resource in of_type(template, kind).items():
            permissions = resource["Properties"]["Permissions"]
            assert permissions[0]["Principal"] == {"Ref": "OwnerArn"}, name
            assert all(a.startswith("quicksight:") for p in permissions if "Actions" in p for a in p["Actions"])
    [dashboard] = of_type(template, "AWS::QuickSight::Dashboard").values()
    condition, viewer, none = dashboard["Properties"]["Permissions"][1]["Fn::If"]
    assert (condition, viewer["Principal"], none) == ("HasViewer", {"Ref": "ViewerArn"}, {"Ref": "AWS::NoValue"})
    assert "quicksight:UpdateDashboard" not in viewer["Actions"] and "quicksight:QueryDashboard" in viewer["Actions"]
    for arn in (
        "arn:aws:quicksight:us-east-1:123456789012:user/default/alice",
        "arn:aws:quicksight:eu-west-1:123456789012:group/default/security",
    ):
        assert re.fullmatch(PRINCIPAL, arn)
    for arn in ("arn:aws:iam::123456789012:user/alice", "alice", "arn:aws:quicksight:us-east-1:1234:user/default/a"):
        assert not re.fullmatch(PRINCIPAL, arn)


def test_the_data_source_role_queries_the_workgroup_and_reads_the_store_only(template: dict[str, Any]) -> None:
    [source] = of_type(template, "AWS::QuickSight::DataSource").values()
    athena = source["Properties"]["DataSourceParameters"]["AthenaParameters"]
    assert athena == {"WorkGroup": {"Ref": "AthenaWorkGroup"}, "RoleArn": {"Fn::GetAtt": ["DataSourceRole", "Arn"]}}
    role = template["Resources"]["DataSourceRole"]["Properties"]
    [trust] = role["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Principal"] == {"Service": "quicksight.amazonaws.com"}
    statements = [s for p in role["Policies"] for s in p["PolicyDocument"]["Statement"]]
    by_action = {a: s["Resource"] for s in statements for a in s["Action"]}
    assert by_action["athena:StartQueryExecution"]["Fn::Sub"].endswith(":workgroup/${AthenaWorkGroup}")
    assert by_action["s3:PutObject"] == {"Fn::Sub": "arn:${AWS::Partition}:s3:::${StoreBucket}/athena-results/*"}
    assert by_action["s3:GetObject"] != "*" and "s3:DeleteObject" not in by_action  # it reads; it never deletes
    assert not [a for a, r in by_action.items() if r == "*" or "*" in a]
    key = template["Resources"]["DataSourceKeyPolicy"]
    assert key["Condition"] == "HasKmsKey" and key["Properties"]["Roles"] == [{"Ref": "DataSourceRole"}]
