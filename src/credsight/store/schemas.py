"""Every table of the store, its Arrow schema and its sort order: one place for all of them.

The report rows are the parsed credential report (report.model.REPORT_SCHEMA) plus what the run
adds; `daily` and `key_use` are the counts written with each batch (see rollups.py); `accounts`
is the organization's metadata per day; `runs` is one row per account attempt, and per Identity
Center attempt (`kind`). The identity_* tables are IAM Identity Center's daily snapshots (users,
groups, memberships, account assignments); an `identity_snapshots` row, written last, commits one.
"""

from __future__ import annotations

import pyarrow as pa

from credsight.report.model import REPORT_SCHEMA, UTC_SECONDS

# Columns every reports row carries beside the parsed report.
RUN_FIELDS = [
    pa.field("generated_time", UTC_SECONDS),
    pa.field("collected_at", UTC_SECONDS, nullable=False),
    pa.field("run_id", pa.string(), nullable=False),
]
# user_class is derived (see rollups.user_class) and stored so that every reader agrees on it.
STORED_SCHEMA = pa.schema([*REPORT_SCHEMA, *RUN_FIELDS, pa.field("user_class", pa.string(), nullable=False)])

OUTCOME_SCHEMA = pa.schema(
    [
        pa.field("run_id", pa.string(), nullable=False),
        pa.field("account_id", pa.string(), nullable=False),
        pa.field("snapshot_date", pa.date32()),
        pa.field("status", pa.string(), nullable=False),  # success | failed | skipped
        pa.field("error_class", pa.string()),
        pa.field("error_message", pa.string()),
        pa.field("rows", pa.int64()),
        pa.field("generated_time", UTC_SECONDS),
        pa.field("finished_at", UTC_SECONDS, nullable=False),
        pa.field("source", pa.string()),
        pa.field("content_sha256", pa.string()),
        pa.field("seconds", pa.float64()),  # how long the account took to collect
        # What was attempted: credential_report (one account's report) or identity_center (the
        # organization's Identity Center). Files written before the column existed read as NULL,
        # which the runs view shows as credential_report.
        pa.field("kind", pa.string()),
    ]
)
OUTCOME_KINDS = ("credential_report", "identity_center")

ACCOUNT_SCHEMA = pa.schema(
    [
        pa.field("snapshot_date", pa.date32(), nullable=False),
        pa.field("account_id", pa.string(), nullable=False),
        pa.field("name", pa.string()),
        pa.field("email", pa.string()),
        pa.field("state", pa.string()),
        pa.field("ou_path", pa.string()),
        pa.field("joined", pa.date32()),
        pa.field("tags", pa.map_(pa.string(), pa.string())),
        pa.field("run_id", pa.string(), nullable=False),
    ]
)

# Who an IAM user is, judged from their credentials alone.
USER_CLASSES = ("root", "human", "machine", "dormant")

DAILY_SCHEMA = pa.schema(
    [
        pa.field("snapshot_date", pa.date32(), nullable=False),
        pa.field("account_id", pa.string(), nullable=False),
        pa.field("run_id", pa.string(), nullable=False),
        pa.field("generated_time", UTC_SECONDS),
        pa.field("users", pa.int64(), nullable=False),
        pa.field("humans", pa.int64(), nullable=False),
        pa.field("machines", pa.int64(), nullable=False),
        pa.field("dormant", pa.int64(), nullable=False),
        pa.field("console_without_mfa", pa.int64(), nullable=False),
        pa.field("active_keys", pa.int64(), nullable=False),
        pa.field("root_mfa", pa.bool_()),
        pa.field("root_active_keys", pa.int64()),
        # What the report was, so it can be written back byte for byte (see model.ReportLayout).
        pa.field("source", pa.string()),
        pa.field("csv_header", pa.string(), nullable=False),
        pa.field("csv_eol", pa.string(), nullable=False),
        pa.field("csv_final_eol", pa.bool_(), nullable=False),
    ]
)
COUNTS = ("users", "humans", "machines", "dormant", "console_without_mfa", "active_keys")

KEY_USE_SCHEMA = pa.schema(
    [
        pa.field("snapshot_date", pa.date32(), nullable=False),
        pa.field("account_id", pa.string(), nullable=False),
        pa.field("run_id", pa.string(), nullable=False),
        pa.field("region", pa.string()),
        pa.field("service", pa.string()),
        pa.field("keys", pa.int64(), nullable=False),
        pa.field("keys_used_recently", pa.int64(), nullable=False),
    ]
)

# IAM Identity Center, one snapshot a day (sources/identity_center.py). Users and groups as the
# identity store lists them; memberships per group; account assignments per user and per group
# (direct ones only: AWS lists a group's assignments under the group, and its members reach the
# account through the membership).
IDENTITY_USER_SCHEMA = pa.schema(
    [
        pa.field("snapshot_date", pa.date32(), nullable=False),
        pa.field("identity_store_id", pa.string(), nullable=False),
        pa.field("user_id", pa.string(), nullable=False),
        pa.field("user_name", pa.string()),
        pa.field("display_name", pa.string()),
        pa.field("given_name", pa.string()),
        pa.field("family_name", pa.string()),
        pa.field("emails", pa.list_(pa.string())),
        pa.field("primary_email", pa.string()),
        pa.field("external_ids", pa.map_(pa.string(), pa.string())),  # issuer -> id (SCIM, e.g. Okta)
        pa.field("run_id", pa.string(), nullable=False),
    ]
)
IDENTITY_GROUP_SCHEMA = pa.schema(
    [
        pa.field("snapshot_date", pa.date32(), nullable=False),
        pa.field("identity_store_id", pa.string(), nullable=False),
        pa.field("group_id", pa.string(), nullable=False),
        pa.field("display_name", pa.string()),
        pa.field("description", pa.string()),
        pa.field("external_ids", pa.map_(pa.string(), pa.string())),
        pa.field("run_id", pa.string(), nullable=False),
    ]
)
IDENTITY_MEMBERSHIP_SCHEMA = pa.schema(
    [
        pa.field("snapshot_date", pa.date32(), nullable=False),
        pa.field("identity_store_id", pa.string(), nullable=False),
        pa.field("group_id", pa.string(), nullable=False),
        pa.field("user_id", pa.string(), nullable=False),
        pa.field("run_id", pa.string(), nullable=False),
    ]
)
IDENTITY_ASSIGNMENT_SCHEMA = pa.schema(
    [
        pa.field("snapshot_date", pa.date32(), nullable=False),
        pa.field("instance_arn", pa.string(), nullable=False),
        pa.field("account_id", pa.string(), nullable=False),
        pa.field("permission_set_arn", pa.string(), nullable=False),
        pa.field("principal_type", pa.string(), nullable=False),  # USER | GROUP
        pa.field("principal_id", pa.string(), nullable=False),
        pa.field("run_id", pa.string(), nullable=False),
    ]
)
# One row per Identity Center snapshot: what it holds. Written after the four tables, it commits them.
IDENTITY_SNAPSHOT_SCHEMA = pa.schema(
    [
        pa.field("snapshot_date", pa.date32(), nullable=False),
        pa.field("run_id", pa.string(), nullable=False),
        pa.field("instance_arn", pa.string(), nullable=False),
        pa.field("identity_store_id", pa.string(), nullable=False),
        pa.field("users", pa.int64(), nullable=False),
        pa.field("groups", pa.int64(), nullable=False),
        pa.field("memberships", pa.int64(), nullable=False),
        pa.field("assignments", pa.int64(), nullable=False),
        pa.field("collected_at", UTC_SECONDS, nullable=False),  # when the listing began: assignments existed then
        pa.field("calls", pa.int64()),
        pa.field("seconds", pa.float64()),
    ]
)

MONTHLY_TABLES = ("reports", "daily", "key_use", "accounts")
# Month-partitioned too, committed by their identity_snapshots twin (see Store.identity_parts).
IDENTITY_TABLES = ("identity_users", "identity_groups", "identity_memberships", "identity_assignments")
IDENTITY_COMMIT = "identity_snapshots"
# Every month-partitioned table of the store, as Athena and Glue declare them.
PARTITIONED_TABLES = (*MONTHLY_TABLES, *IDENTITY_TABLES, IDENTITY_COMMIT)
SORT_KEYS = {
    "reports": ["account_id", "user", "snapshot_date", "run_id"],
    "daily": ["snapshot_date", "account_id", "run_id"],
    "key_use": ["snapshot_date", "account_id", "run_id", "region", "service"],
    "accounts": ["account_id", "snapshot_date", "run_id"],
    "identity_users": ["user_id", "snapshot_date", "run_id"],
    "identity_groups": ["group_id", "snapshot_date", "run_id"],
    "identity_memberships": ["group_id", "user_id", "snapshot_date", "run_id"],
    "identity_assignments": ["account_id", "principal_type", "principal_id", "permission_set_arn", "snapshot_date"],
    "identity_snapshots": ["snapshot_date", "run_id"],
}


def schema_of(table_name: str) -> pa.Schema:
    return {
        "reports": STORED_SCHEMA,
        "daily": DAILY_SCHEMA,
        "key_use": KEY_USE_SCHEMA,
        "accounts": ACCOUNT_SCHEMA,
        "identity_users": IDENTITY_USER_SCHEMA,
        "identity_groups": IDENTITY_GROUP_SCHEMA,
        "identity_memberships": IDENTITY_MEMBERSHIP_SCHEMA,
        "identity_assignments": IDENTITY_ASSIGNMENT_SCHEMA,
        "identity_snapshots": IDENTITY_SNAPSHOT_SCHEMA,
    }[table_name]
