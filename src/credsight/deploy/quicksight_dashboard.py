"""The QuickSight dashboard's Definition: an overview, then the seed's four sheets (SSO migration,
compliance report, user activity, region usage), each with Account, Date and User controls.

Every field names a dataset by its identifier, which is the view it reads (quicksight.DATASETS), and
a column of it; tests/test_quicksight.py checks each against the view as DuckDB makes it over a store.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

DATASETS = ("daily", "latest", "key_use", "accounts")  # the views the dashboard reads


# -- fields and visuals ---------------------------------------------------------------------------


def column(dataset: str, name: str) -> dict[str, str]:
    return {"DataSetIdentifier": dataset, "ColumnName": name}


def dimension(field_id: str, dataset: str, name: str) -> dict[str, Any]:
    return {"CategoricalDimensionField": {"FieldId": field_id, "Column": column(dataset, name)}}


def day(field_id: str, dataset: str, name: str = "snapshot_date") -> dict[str, Any]:
    return {"DateDimensionField": {"FieldId": field_id, "Column": column(dataset, name), "DateGranularity": "DAY"}}


def total(field_id: str, dataset: str, name: str, how: str = "SUM") -> dict[str, Any]:
    aggregation = {"SimpleNumericalAggregation": how}
    return {
        "NumericalMeasureField": {
            "FieldId": field_id,
            "Column": column(dataset, name),
            "AggregationFunction": aggregation,
        }
    }


def count(field_id: str, dataset: str, name: str) -> dict[str, Any]:
    return {
        "CategoricalMeasureField": {
            "FieldId": field_id,
            "Column": column(dataset, name),
            "AggregationFunction": "COUNT",
        }
    }


def title(text: str) -> dict[str, Any]:
    return {"Visibility": "VISIBLE", "FormatText": {"PlainText": text}}


def kpi(visual_id: str, text: str, value: dict[str, Any], trend: dict[str, Any]) -> dict[str, Any]:
    wells = {"Values": [value], "TrendGroups": [trend]}
    return {"KPIVisual": {"VisualId": visual_id, "Title": title(text), "ChartConfiguration": {"FieldWells": wells}}}


def line(visual_id: str, text: str, when: dict[str, Any], values: list[dict[str, Any]]) -> dict[str, Any]:
    wells = {"LineChartAggregatedFieldWells": {"Category": [when], "Values": values}}
    return {
        "LineChartVisual": {"VisualId": visual_id, "Title": title(text), "ChartConfiguration": {"FieldWells": wells}}
    }


def bar(visual_id: str, text: str, category: dict[str, Any], values: list[dict[str, Any]]) -> dict[str, Any]:
    wells = {"BarChartAggregatedFieldWells": {"Category": [category], "Values": values}}
    configuration = {"FieldWells": wells, "Orientation": "HORIZONTAL", "BarsArrangement": "CLUSTERED"}
    return {"BarChartVisual": {"VisualId": visual_id, "Title": title(text), "ChartConfiguration": configuration}}


def table(visual_id: str, text: str, dataset: str, names: list[str]) -> dict[str, Any]:
    """A table of rows as they are (no aggregation), the columns in order."""
    values = [{"FieldId": f"{visual_id}-{name}", "Column": column(dataset, name)} for name in names]
    wells = {"TableUnaggregatedFieldWells": {"Values": values}}
    return {"TableVisual": {"VisualId": visual_id, "Title": title(text), "ChartConfiguration": {"FieldWells": wells}}}


# -- the sheets ---------------------------------------------------------------------------------------

# The controls every sheet shows, each a filter of its own (see filter_groups).
ACCOUNT_FILTER, DATE_FILTER, USER_FILTER, HUMAN_FILTER = "account", "date", "user", "humans"
CONSOLE_USER_COLUMNS = ["account_name", "account_id", "user", "password_last_used", "mfa_active", "user_creation_time"]
KEY_COLUMNS = ["access_key_1_active", "access_key_1_last_rotated", "access_key_2_active", "access_key_2_last_rotated"]
ACTIVITY_COLUMNS = [
    "account_name",
    "user",
    "user_class",
    "password_last_used",
    "access_key_1_last_used_date",
    "access_key_1_last_used_region",
    "access_key_1_last_used_service",
    "access_key_2_last_used_date",
    "access_key_2_last_used_service",
]


def sheets() -> list[tuple[str, str, list[dict[str, Any]]]]:
    """(sheet id, name, visuals): the overview, then the seed's four sheets."""
    users_by_class = [total(f"users-{c}", "daily", c) for c in ("humans", "machines", "dormant")]
    return [
        (
            "overview",
            "Overview",
            [
                kpi(
                    "overview-humans",
                    "IAM users with a console password",
                    total("k1", "daily", "humans"),
                    day("t1", "daily"),
                ),
                kpi(
                    "overview-no-mfa",
                    "Console users without MFA",
                    total("k2", "daily", "console_without_mfa"),
                    day("t2", "daily"),
                ),
                kpi("overview-keys", "Active access keys", total("k3", "daily", "active_keys"), day("t3", "daily")),
                line("overview-users", "IAM users per day, by class", day("o1", "daily"), users_by_class),
                table(
                    "overview-accounts", "Accounts", "accounts", ["name", "account_id", "ou_path", "last_snapshot_date"]
                ),
            ],
        ),
        (
            "migration",
            "SSO migration",
            [
                line(
                    "migration-humans",
                    "IAM users with a console password (to move to IAM Identity Center)",
                    day("m1", "daily"),
                    [total("m2", "daily", "humans")],
                ),
                bar(
                    "migration-by-account",
                    "Console users left, by account",
                    dimension("m3", "latest", "account_name"),
                    [count("m4", "latest", "user")],
                ),
                table("migration-users", "Console users left", "latest", CONSOLE_USER_COLUMNS),
            ],
        ),
        (
            "compliance",
            "Compliance report",
            [
                line(
                    "compliance-no-mfa",
                    "Console users without MFA, per day",
                    day("c1", "daily"),
                    [total("c2", "daily", "console_without_mfa")],
                ),
                bar(
                    "compliance-by-account",
                    "Console users without MFA, by account (the period's most)",
                    dimension("c3", "daily", "account_id"),
                    [total("c4", "daily", "console_without_mfa", "MAX")],
                ),
                table(
                    "compliance-users",
                    "Console users: MFA and access keys",
                    "latest",
                    ["account_name", "user", "mfa_active", *KEY_COLUMNS],
                ),
            ],
        ),
        (
            "users",
            "User activity",
            [
                bar(
                    "users-classes",
                    "IAM users by class",
                    dimension("u1", "latest", "user_class"),
                    [count("u2", "latest", "user")],
                ),
                table(
                    "users-activity", "When each user last used a password or an access key", "latest", ACTIVITY_COLUMNS
                ),
            ],
        ),
        (
            "regions",
            "Region usage",
            [
                bar(
                    "regions-keys",
                    "Active access keys by region last used",
                    dimension("r1", "key_use", "region"),
                    [total("r2", "key_use", "keys")],
                ),
                bar(
                    "regions-services",
                    "Active access keys by service last used",
                    dimension("r3", "key_use", "service"),
                    [total("r4", "key_use", "keys")],
                ),
                line(
                    "regions-recent",
                    "Keys used in the last day, per day",
                    day("r5", "key_use"),
                    [total("r6", "key_use", "keys_used_recently")],
                ),
            ],
        ),
    ]


def controls(sheet_id: str) -> list[dict[str, Any]]:
    """Account, Date and User: the same three filters on every sheet."""
    return [
        {
            "Dropdown": {
                "FilterControlId": f"{sheet_id}-account",
                "Title": "Account",
                "SourceFilterId": ACCOUNT_FILTER,
                "Type": "MULTI_SELECT",
            }
        },
        {
            "DateTimePicker": {
                "FilterControlId": f"{sheet_id}-date",
                "Title": "Date",
                "SourceFilterId": DATE_FILTER,
                "Type": "DATE_RANGE",
            }
        },
        {"TextField": {"FilterControlId": f"{sheet_id}-user", "Title": "User", "SourceFilterId": USER_FILTER}},
    ]


def sheet(sheet_id: str, name: str, visuals: list[dict[str, Any]]) -> dict[str, Any]:
    widths = {"KPIVisual": 12, "LineChartVisual": 36, "BarChartVisual": 18, "TableVisual": 36}
    elements = []
    for visual in visuals:
        kind, body = next(iter(visual.items()))
        elements.append(
            {"ElementId": body["VisualId"], "ElementType": "VISUAL", "ColumnSpan": widths[kind], "RowSpan": 12}
        )
    sheet_controls = controls(sheet_id)
    control_elements = [
        {
            "ElementId": next(iter(c.values()))["FilterControlId"],
            "ElementType": "FILTER_CONTROL",
            "ColumnSpan": 2,
            "RowSpan": 1,
        }
        for c in sheet_controls
    ]
    return {
        "SheetId": sheet_id,
        "Name": name,
        "Visuals": visuals,
        "FilterControls": sheet_controls,
        "Layouts": [{"Configuration": {"GridLayout": {"Elements": elements}}}],
        "SheetControlLayouts": [{"Configuration": {"GridLayout": {"Elements": control_elements}}}],
    }


def filter_groups(sheet_ids: list[str]) -> list[dict[str, Any]]:
    """The controls' filters, across every dataset that has the column; and the human users' tables."""
    everywhere = {
        "SelectedSheets": {
            "SheetVisualScopingConfigurations": [{"SheetId": s, "Scope": "ALL_VISUALS"} for s in sheet_ids]
        }
    }
    every_value = {"MatchOperator": "CONTAINS", "SelectAllOptions": "FILTER_ALL_VALUES"}
    account = {
        "CategoryFilter": {
            "FilterId": ACCOUNT_FILTER,
            "Column": column("daily", "account_id"),
            "Configuration": {"FilterListConfiguration": every_value},
        }
    }
    user = {
        "CategoryFilter": {
            "FilterId": USER_FILTER,
            "Column": column("latest", "user"),
            "Configuration": {
                "CustomFilterConfiguration": {
                    "MatchOperator": "CONTAINS",
                    "NullOption": "NON_NULLS_ONLY",
                    "SelectAllOptions": "FILTER_ALL_VALUES",
                }
            },
        }
    }
    dates = {
        "TimeRangeFilter": {
            "FilterId": DATE_FILTER,
            "Column": column("daily", "snapshot_date"),
            "NullOption": "NON_NULLS_ONLY",
            "TimeGranularity": "DAY",
            "IncludeMinimum": True,
            "IncludeMaximum": True,
            "RangeMinimumValue": {"RollingDate": {"Expression": "addDateTime(-90, 'DD', truncDate('DD', now()))"}},
            "RangeMaximumValue": {"RollingDate": {"Expression": "truncDate('DD', now())"}},
        }
    }
    humans = {
        "CategoryFilter": {
            "FilterId": HUMAN_FILTER,
            "Column": column("latest", "user_class"),
            "Configuration": {"FilterListConfiguration": {"MatchOperator": "EQUALS", "CategoryValues": ["human"]}},
        }
    }
    human_tables = [("migration", ["migration-by-account", "migration-users"]), ("compliance", ["compliance-users"])]
    human_scope = {
        "SelectedSheets": {
            "SheetVisualScopingConfigurations": [
                {"SheetId": s, "Scope": "SELECTED_VISUALS", "VisualIds": ids} for s, ids in human_tables
            ]
        }
    }

    def group(name: str, filters: dict[str, Any], scope: dict[str, Any], cross: str) -> dict[str, Any]:
        return {
            "FilterGroupId": name,
            "Filters": [filters],
            "ScopeConfiguration": scope,
            "CrossDataset": cross,
            "Status": "ENABLED",
        }

    return [
        group("account", account, everywhere, "ALL_DATASETS"),
        group("date", dates, everywhere, "ALL_DATASETS"),
        group("user", user, everywhere, "ALL_DATASETS"),
        group("humans", humans, human_scope, "SINGLE_DATASET"),
    ]


def definition(dataset_arn: Callable[[str], object]) -> dict[str, Any]:
    """The dashboard's Definition: datasets by identifier (each view's dataset ARN), the sheets, their filters."""
    pages = [sheet(sheet_id, name, visuals) for sheet_id, name, visuals in sheets()]
    return {
        "DataSetIdentifierDeclarations": [{"Identifier": name, "DataSetArn": dataset_arn(name)} for name in DATASETS],
        "Sheets": pages,
        "FilterGroups": filter_groups([page["SheetId"] for page in pages]),
    }
