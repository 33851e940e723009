"""The views every reader of the store sees, the macros their questions share, and the named questions
asked of them, as SQL.

Views (what `credsight query` runs SQL against):

- `reports`  one row per (snapshot_date, account_id, user): AWS column names, typed, markers in
             `<column>_marker`, plus account_name, is_root, user_class, generated_time,
             collected_at, run_id. Where a day holds several runs for an account, the latest.
- `latest`   each account's most recent snapshot.
- `accounts` each account's latest metadata and its last snapshot date.
- `runs`     every account attempt of every run.
- `daily`    one row per report: user counts by class, console users without MFA, active keys.
- `key_use`  active keys per report by last-used region and service.

Parameters are bound ($name), never pasted. Everything here is created on each Database (database.py).
"""

from __future__ import annotations

from credsight.report.model import ROOT_USER

# Columns that exist so the original CSV can be written back; `reports` leaves them out.
FORMAT_COLUMNS = ("line_number", "raw_line")
LAYOUT_COLUMNS = ("csv_header", "csv_eol", "csv_final_eol")

# The pieces of SQL every question shares, by name: `name(arguments) AS body`.
MACROS: dict[str, str] = {
    # Whole days from a timestamp's date to a day: a key rotated exactly 90 days before the snapshot is 90
    # days old, and passes a 90-day limit.
    "age_days": "(ts, day) AS date_diff('day', CAST(ts AS DATE), day)",
    "any_key_active": "(r) AS coalesce(r.access_key_1_active, false) OR coalesce(r.access_key_2_active, false)",
    # The account filter of every question: $accounts NULL means every account.
    "in_scope": "(accounts, account) AS (accounts IS NULL OR list_contains(accounts, account))",
    "is_root_user": f"(name) AS name = '{ROOT_USER}'",  # the credential report's root row (a constant)
}
# Macros over the views (created after them).
TABLE_MACROS: dict[str, str] = {
    # Each account's snapshot as of a day: its latest snapshot on or before that day.
    "snapshot_days": """(day, accounts) AS TABLE
        SELECT account_id, max(snapshot_date) AS snapshot_date FROM daily
        WHERE snapshot_date <= day AND in_scope(accounts, account_id)
        GROUP BY account_id""",
}

# Computed once when a Database opens, and shared by its cursors.
SHARED_TABLES: dict[str, str] = {
    # Runs replaced by a later run of the same account and day: usually none, always few.
    "superseded": """
        SELECT d.account_id, d.snapshot_date, d.run_id
        FROM daily_parts AS d
        JOIN (SELECT account_id, snapshot_date, max(run_id) AS newest FROM daily_parts
              GROUP BY account_id, snapshot_date HAVING count(*) > 1) AS repeated
        USING (account_id, snapshot_date)
        WHERE d.run_id < repeated.newest""",
}

VIEWS: dict[str, str] = {
    "daily": "SELECT * EXCLUDE ({layout_columns}) FROM daily_parts {unsuperseded}",
    "key_use": "SELECT * FROM key_use_parts {unsuperseded}",
    "account_metadata": """
        SELECT account_id, unnest(arg_max(
            struct_pack(name, email, state, ou_path, joined, tags, snapshot_date, run_id), (snapshot_date, run_id)))
        FROM account_parts GROUP BY account_id""",
    "accounts": """
        SELECT d.account_id, m.name, m.email, m.state, m.ou_path, m.joined, m.tags,
               d.first_snapshot_date, d.last_snapshot_date, d.snapshots
        FROM (SELECT account_id, min(snapshot_date) AS first_snapshot_date, max(snapshot_date) AS last_snapshot_date,
                     count(*) AS snapshots
              FROM daily GROUP BY account_id) AS d
        LEFT JOIN account_metadata AS m USING (account_id)""",
    "reports": """
        SELECT r.* EXCLUDE ({format_columns}), m.name AS account_name, is_root_user(r."user") AS is_root
        FROM report_parts AS r {unsuperseded}
        LEFT JOIN account_metadata AS m USING (account_id)""",
    "latest": """
        SELECT reports.* FROM reports
        SEMI JOIN (SELECT account_id, max(snapshot_date) AS snapshot_date FROM daily GROUP BY account_id) AS newest
        USING (account_id, snapshot_date)""",
    "runs": "SELECT * FROM outcome_parts",
}

# The questions the dashboard, findings and exports ask, by name; parameters are bound, never pasted.
QUERIES: dict[str, str] = {
    "users_per_day": """
        SELECT snapshot_date, account_id, users, humans, machines, dormant
        FROM daily WHERE snapshot_date BETWEEN $from AND $to ORDER BY snapshot_date, account_id""",
    "console_without_mfa_per_day": """
        SELECT snapshot_date, sum(console_without_mfa) AS console_without_mfa, sum(humans) AS humans
        FROM daily WHERE snapshot_date BETWEEN $from AND $to GROUP BY snapshot_date ORDER BY snapshot_date""",
    "latest_snapshot": "SELECT * FROM latest",  # unordered: sorting every column costs more than reading it
    "user_history": """
        SELECT * FROM reports WHERE account_id = $account AND "user" = $user ORDER BY snapshot_date""",
    "key_use_per_day": """
        SELECT snapshot_date, region, sum(keys) AS keys, sum(keys_used_recently) AS keys_used_recently
        FROM key_use WHERE snapshot_date BETWEEN $from AND $to
        GROUP BY snapshot_date, region ORDER BY snapshot_date, region""",
    "report_version": """
        SELECT run_id FROM daily WHERE account_id = $account AND snapshot_date = $date""",
    "report_rows": """
        SELECT * FROM report_parts WHERE account_id = $account AND snapshot_date = $date AND run_id = $run_id""",
    "report_layout": """
        SELECT csv_header, csv_eol, csv_final_eol FROM daily_parts
        WHERE account_id = $account AND snapshot_date = $date AND run_id = $run_id""",
    "stored_reports": "SELECT account_id, snapshot_date, content_sha256 FROM runs WHERE status = 'success'",
}
