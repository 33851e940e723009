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
- `identity_snapshots`, `identity_users`, `identity_groups`, `identity_memberships`,
  `identity_assignments`: IAM Identity Center as each day's snapshot saw it (the newest run of a day).
- `people`   each person's IAM user's SSO migration state per day (created by rules/people.py,
             which first computes who each IAM user is: see PEOPLE_MACROS below).

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
    # kind: what was attempted; outcome files from before the column existed hold credential reports only.
    "runs": "SELECT * REPLACE (coalesce(kind, 'credential_report') AS kind) FROM outcome_parts",
    "identity_snapshots": """
        SELECT s.* FROM identity_snapshots_parts AS s
        SEMI JOIN (SELECT snapshot_date, max(run_id) AS run_id FROM identity_snapshots_parts GROUP BY snapshot_date)
            AS newest USING (snapshot_date, run_id)""",
    "identity_users": "SELECT * FROM identity_users_parts SEMI JOIN identity_snapshots USING (snapshot_date, run_id)",
    "identity_groups": "SELECT * FROM identity_groups_parts SEMI JOIN identity_snapshots USING (snapshot_date, run_id)",
    "identity_memberships": """
        SELECT * FROM identity_memberships_parts SEMI JOIN identity_snapshots USING (snapshot_date, run_id)""",
    "identity_assignments": """
        SELECT * FROM identity_assignments_parts SEMI JOIN identity_snapshots USING (snapshot_date, run_id)""",
}

# The SSO migration per person. rules/people.py computes the small tables these read from the Identity
# Center snapshots (numbered from 1, `idx`) and the matching rules, then creates them:
#   people_calendar  (first_day, idxs): the Identity Center snapshot as of each day from first_day on, a list
#   people_days      (idx, snapshot_date, collected_at): each snapshot, and when it was collected
#   people_names     (name_key, first_idx, last_idx, match): who a lower-cased IAM user name is, over those snapshots
#   people_keys      (account_id, name_key, first_idx, last_idx, match): the same where mapping lines decide
#   people_assigned  (account_id, principal_type, principal_id, first_idx, last_idx): unbroken runs of each
#                    account assignment (any permission set) of a user (USER) or group (GROUP)
#   people_members   (group_id, person, first_idx, last_idx): unbroken runs of each group membership
#   people_settings  (ready_days)
# match is a struct (status matched | ambiguous | missing, rule, person, user_id, user_name, candidates); person
# is a number per Identity Center user. The {placeholders} are the fixed fragments of PEOPLE_FRAGMENTS.
PEOPLE_MACROS: dict[str, str] = {
    # Each person's candidate IAM user on each day from start to stop: the human ones (a console password), and
    # the dormant ones (no password or key left) and, with a mapping, machine ones, for the steps to keep or not;
    # root never. `idx`: the Identity Center snapshot as of the day.
    "people_rows": """(start, stop, accounts, first_day, idxs) AS TABLE
        SELECT r.snapshot_date, r.account_id, r."user", r.arn, r.user_class, r.user_class = 'human' AS human,
               list_extract(idxs, (r.snapshot_date - first_day)::INTEGER + 1) AS idx,
               greatest(r.password_last_used, r.access_key_1_last_used_date, r.access_key_2_last_used_date)
                   AS last_iam_use,
               r.user_creation_time
        FROM report_parts AS r {unsuperseded}
        WHERE r.snapshot_date BETWEEN greatest(start, first_day) AND stop
          AND in_scope(accounts, r.account_id) AND r.user_class IN ('human', 'dormant'{machine})""",
    # The (account, user) pairs of those rows, numbered, with the name lower-cased (name_key), the account numbered
    # and the last day each is seen: who each is is worked out for these only.
    "people_pairs": """(start, stop, accounts) AS TABLE
        SELECT account_id, "user", lower("user") AS name_key, last_day, row_number() OVER () AS key_id,
               dense_rank() OVER (ORDER BY account_id) AS account_number FROM (
            SELECT r.account_id, r."user", max(r.snapshot_date) AS last_day FROM report_parts AS r
            WHERE r.snapshot_date BETWEEN start AND stop AND in_scope(accounts, r.account_id)
              AND r.user_class IN ('human', 'dormant'{machine})
            GROUP BY ALL)""",
}
# The steps from the pairs to each row's state, each reading the ones before it by name (rules/people.py keeps
# each as a temporary table of its call, so that the last one joins tables of known size; the people view
# runs them as one query).
PEOPLE_STEPS: dict[str, str] = {
    # Who each IAM user is, over which snapshots: a mapping line's decision where one covers the pair, else the name's.
    "key_matches": """
        SELECT p.key_id, p.account_number, p.account_id, p."user", p.last_day, n.first_idx, n.last_idx, n.match
        FROM pairs AS p JOIN people_names AS n USING (name_key){not_mapped}{mapped}""",
    "key_people": """
        SELECT DISTINCT key_id, account_id, match.person AS person, match.user_id AS user_id
        FROM key_matches WHERE match.status = 'matched'""",
    # When an assignment reaches the account of each IAM user's person: directly, or through a group for as long
    # as both the group's assignment and the membership lasted; overlapping or adjacent runs are one.
    "reach": """
        WITH reach_pieces AS (
            SELECT k.key_id, k.person, a.first_idx, a.last_idx
            FROM key_people AS k JOIN people_assigned AS a
                ON a.account_id = k.account_id AND a.principal_type = 'USER' AND a.principal_id = k.user_id
            UNION ALL
            SELECT k.key_id, k.person, greatest(a.first_idx, g.first_idx), least(a.last_idx, g.last_idx)
            FROM key_people AS k JOIN people_members AS g ON g.person = k.person
            JOIN people_assigned AS a
                ON a.account_id = k.account_id AND a.principal_type = 'GROUP' AND a.principal_id = g.group_id
            WHERE a.first_idx <= g.last_idx AND g.first_idx <= a.last_idx)
        SELECT r.*, d.snapshot_date AS since, d.collected_at AS since_at FROM (
            SELECT key_id, person, min(first_idx) AS first_idx, max(last_idx) AS last_idx FROM (
                SELECT *, sum(CASE WHEN reached IS NULL OR first_idx > reached + 1 THEN 1 ELSE 0 END)
                              OVER (PARTITION BY key_id, person ORDER BY first_idx, last_idx ROWS UNBOUNDED PRECEDING)
                              AS island
                FROM (SELECT *, max(last_idx) OVER (PARTITION BY key_id, person ORDER BY first_idx, last_idx
                                                    ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS reached
                      FROM reach_pieces))
            GROUP BY key_id, person, island) AS r
        JOIN people_days AS d ON d.idx = r.first_idx""",
    # Each IAM user's timeline in pieces over which both who it is and whether its person reaches the account stay
    # the same: each row then finds its state's inputs in one lookup (flat columns: a row carries only those read).
    "timeline": """
        WITH bounds AS (
            SELECT key_id, first_idx AS bound FROM key_matches UNION SELECT key_id, last_idx + 1 FROM key_matches
            UNION SELECT key_id, first_idx FROM reach UNION SELECT key_id, last_idx + 1 FROM reach),
        pieces AS (
            SELECT key_id, bound AS first_idx, lead(bound) OVER (PARTITION BY key_id ORDER BY bound) - 1 AS last_idx
            FROM bounds)
        SELECT m.key_id, m.account_number, m.account_id, m."user", m.last_day, m.match.status, m.match.rule,
               m.match.user_id, m.match.user_name, m.match.candidates, p.first_idx, p.last_idx,
               a.first_idx AS reached_from, a.since, a.since_at
        FROM pieces AS p
        JOIN key_matches AS m ON m.key_id = p.key_id AND p.first_idx BETWEEN m.first_idx AND m.last_idx
        LEFT JOIN reach AS a
            ON a.key_id = p.key_id AND a.person = m.match.person AND p.first_idx BETWEEN a.first_idx AND a.last_idx
        WHERE p.last_idx IS NOT NULL""",
    # Each row's state. Unused long enough outranks dual use: days unused count from the last password or key use,
    # or from the user's creation if none was ever used. Dual use is an IAM use after the collection of the first
    # snapshot that showed the (unbroken) access.
    "states": """
        SELECT r.snapshot_date, r.account_id, r."user", r.arn, r.user_class, r.human, m.key_id, m.account_number,
               -- the state, numbered as rules/people.py's STATES (from 1)
               CASE WHEN m.status = 'ambiguous' THEN 3
                    WHEN m.status IS DISTINCT FROM 'matched' THEN 1
                    WHEN m.reached_from IS NULL THEN 2
                    WHEN (r.snapshot_date - DATE '1970-01-01')
                         - epoch_us(coalesce(r.last_iam_use, r.user_creation_time)) // 86400000000 >= {ready_days}
                        THEN 5
                    WHEN r.last_iam_use > m.since_at THEN 4
                    ELSE 6 END::UTINYINT AS state_number,
               CASE WHEN m.status = 'matched' THEN m.user_name END AS person,
               CASE WHEN m.status = 'matched' THEN m.user_id END AS person_id,
               CASE WHEN m.status IN ('matched', 'ambiguous') THEN m.rule END AS matched_by,
               m.candidates AS candidates,
               CASE WHEN m.status = 'missing' THEN 'the mapping names ' || m.user_name
                    || ', who is not an Identity Center user' END AS note,
               m.since AS assigned_since, r.last_iam_use,
               (r.snapshot_date - DATE '1970-01-01')
                   - epoch_us(coalesce(r.last_iam_use, r.user_creation_time)) // 86400000000 AS days_unused,
               r.snapshot_date = m.last_day AS last_seen
        FROM people_rows({period}) AS r
        LEFT JOIN timeline AS m
            ON m.account_id = r.account_id AND m."user" = r."user" AND r.idx BETWEEN m.first_idx AND m.last_idx
        WHERE r.human OR {tied}""",
}
PEOPLE_FRAGMENTS: dict[str, dict[str, str]] = {
    # tied: the rows besides the human ones that are a person's (people_rows yields dormant ones, and machine
    # ones with a mapping): those some rule ties to a name, and machine ones only when a mapping line does.
    "without_mapping": {"not_mapped": "", "mapped": "", "machine": "", "tied": "m.status IS NOT NULL"},
    "with_mapping": {
        "not_mapped": """
            ANTI JOIN (SELECT DISTINCT account_id, name_key FROM people_keys) AS k USING (account_id, name_key)""",
        "mapped": """
            UNION ALL
            SELECT p.key_id, p.account_number, p.account_id, p."user", p.last_day, k.first_idx, k.last_idx, k.match
            FROM pairs AS p JOIN people_keys AS k USING (account_id, name_key)""",
        "machine": ", 'machine'",
        "tied": "(m.status IS NOT NULL AND (r.user_class = 'dormant' OR m.rule = 'mapping'))",
    },
}
EVERY_DAY = "DATE '0001-01-01', DATE '9999-12-31', NULL::VARCHAR[]"
# The calendar arguments of people_rows: the view's; a question binds $first_day and $idxs.
CALENDAR = "(SELECT first_day FROM people_calendar), (SELECT idxs FROM people_calendar)"
READY_DAYS = "(SELECT ready_days FROM people_settings)"  # the view's; a question binds $ready_days
# A state's name from its number (see the states step).
STATE_NAME = (
    "(['no_sso_user', 'sso_user_no_access', 'ambiguous', 'dual_use', 'ready_to_remove', 'migrated'])[p.state_number]"
)
PEOPLE_VIEWS: dict[str, str] = {
    "people": """
        WITH pairs AS (SELECT * FROM people_pairs({every_day})),
        key_matches AS ({key_matches}), key_people AS ({key_people}), reach AS ({reach}), timeline AS ({timeline}),
        states AS ({states})
        SELECT p.* EXCLUDE (human, key_id, account_number, state_number, last_seen), {state} AS state,
               m.name AS account_name, m.ou_path
        FROM states AS p LEFT JOIN account_metadata AS m USING (account_id)""",
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
