"""The paged tables in the browser: sort and filter act on every row, not the grid's first block of 100;
Download CSV gives every row as the table shows it (filtered, sorted) with spreadsheet formulas neutralised;
a compliance cell click lists the failing users with their evidence and accepted risks.

The migration page's table of every person's IAM user holds more than two blocks; the hostile account's users,
whose names a spreadsheet would run ("=1+2", "@evil"), signed in long ago, so they sit in the last block until
sorted. Its state column narrows it to one state, and a worklist's Download CSV gives every user of its state.
"""

from __future__ import annotations

import csv
import io
from typing import Any

from playwright.sync_api import expect

from credsight.present.dashboard.grid import BLOCK_ROWS
from credsight.query import Database
from tests import dashboard_story as expected
from tests.dashboard_browser import (
    Tab,
    browser,
    context,
    csv_rows,
    database,
    download,
    filter_text,
    loaded_rows,
    server,
    small_rows,
    sort_by,
    story,
    tab,
    wait_for_grid,
)
from tests.dashboard_story import Story

__all__ = ["browser", "context", "database", "server", "story", "tab"]  # the fixtures this module uses

TABLE, GRID = "migration-everyone", "migration-everyone-grid"
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")  # what a spreadsheet runs as a formula (OWASP CSV injection)


def neutralised(value: str) -> str:
    return "'" + value if value.startswith(FORMULA_START) else value


def human_users(database: Database, story: Story) -> list[dict[str, Any]]:
    """Every person's IAM user on the newest day, with its state."""
    return expected.people_states(database, story.newest, expected.every_account(database))


def test_sorting_a_column_orders_every_row_not_the_first_block(tab: Tab, database: Database, story: Story) -> None:
    humans = human_users(database, story)
    users = sorted(h["user"] for h in humans)
    tab.open("/migration")
    first_block = [r["user"] for r in loaded_rows(tab.page, GRID)]
    assert len(humans) > 2 * BLOCK_ROWS and users[0] not in first_block  # the first in order is on a later block
    sort_by(tab.page, TABLE, "user", "ascending")
    wait_for_grid(tab.page, GRID, "user", users[:20], len(users))
    sort_by(tab.page, TABLE, "user", "descending")
    wait_for_grid(tab.page, GRID, "user", users[::-1][:20], len(users))
    used = sorted(h["last_iam_use"] for h in humans if h["last_iam_use"])
    sort_by(tab.page, TABLE, "last_iam_use", "ascending")  # the oldest sign-ins were in the last block
    wait_for_grid(tab.page, GRID, "last_iam_use", [u.isoformat() for u in used[:20]], len(users))


def test_a_column_filter_finds_rows_from_every_block(tab: Tab, database: Database, story: Story) -> None:
    users = [h["user"] for h in human_users(database, story)]
    tab.open("/migration")
    assert "@evil" not in [r["user"] for r in loaded_rows(tab.page, GRID)]
    filter_text(tab.page, TABLE, "user", "@EVIL")  # contains, whatever the case
    wait_for_grid(tab.page, GRID, "user", ["@evil"], 1)
    filter_text(tab.page, TABLE, "user", "crowd-14")
    wanted = [u for u in users if "crowd-14" in u]
    assert len(wanted) == 10
    wait_for_grid(tab.page, GRID, "user", [], len(wanted))
    assert sorted(r["user"] for r in loaded_rows(tab.page, GRID, len(wanted))) == sorted(wanted)


def test_download_csv_gives_every_row_as_sorted_with_formulas_neutralised(
    tab: Tab, database: Database, story: Story
) -> None:
    users = sorted(h["user"] for h in human_users(database, story))
    tab.open("/migration")
    sort_by(tab.page, TABLE, "user", "ascending")
    wait_for_grid(tab.page, GRID, "user", users[:5], len(users))
    assert users[:4] == sorted(expected.FORMULA_USERS)  # the grid shows them as they are
    name, text = download(tab.page, TABLE)
    assert name == f"credsight-people-{story.newest}.csv"
    rows = csv_rows(text)
    columns = tab.page.locator(f"#{TABLE} .ag-header-cell").evaluate_all(
        "cells => cells.map(c => c.getAttribute('col-id'))"
    )
    assert list(rows[0]) == columns
    assert [r["user"] for r in rows] == [neutralised(u) for u in users]  # all of them, not a block
    assert [r["user"] for r in rows[:4]] == ["'" + u for u in sorted(expected.FORMULA_USERS)]


def test_download_csv_gives_the_filtered_rows_in_the_order_shown(tab: Tab, database: Database, story: Story) -> None:
    wanted = sorted((h["user"] for h in human_users(database, story) if "o" in h["user"].lower()), reverse=True)
    assert len(wanted) > BLOCK_ROWS
    tab.open("/migration")
    filter_text(tab.page, TABLE, "user", "o")
    sort_by(tab.page, TABLE, "user", "descending")
    wait_for_grid(tab.page, GRID, "user", wanted[:5], len(wanted))
    _name, text = download(tab.page, TABLE)
    assert [r["user"] for r in csv_rows(text)] == [neutralised(u) for u in wanted]


def test_the_state_column_narrows_the_table_and_a_worklist_downloads_every_user_of_its_state(
    tab: Tab, database: Database, story: Story
) -> None:
    states = human_users(database, story)
    no_sso = sorted(h["user"] for h in states if h["state"] == "no_sso_user")
    dual = [h for h in states if h["state"] == "dual_use"]
    assert len(no_sso) > BLOCK_ROWS and dual  # the crowd has nobody in Identity Center
    tab.open("/migration")
    filter_text(tab.page, TABLE, "state", "dual_use")
    wait_for_grid(tab.page, GRID, "state", ["dual_use"] * min(len(dual), 5), len(dual))
    shown = loaded_rows(tab.page, GRID, len(dual))
    assert sorted((r["account_id"], r["user"]) for r in shown) == sorted((h["account_id"], h["user"]) for h in dual)
    name, text = download(tab.page, "migration-no-sso-user")
    assert name == f"credsight-no-sso-user-{story.newest}.csv"
    assert sorted(r["user"] for r in csv_rows(text)) == sorted(neutralised(u) for u in no_sso)  # every block


def test_download_csv_neutralises_tabs_and_carriage_returns_and_keeps_markup_as_text(
    tab: Tab, database: Database, story: Story
) -> None:
    tab.open("/regions")
    name, text = download(tab.page, "regions-table")
    assert name == f"credsight-regions-{story.newest}.csv"
    fields = list(csv.reader(io.StringIO(text, newline="")))  # as a spreadsheet reads it (RFC 4180)
    assert {len(row) for row in fields} == {len(fields[0])}, "a value broke its row"
    assert [value for row in fields[1:] for value in row if value.startswith(FORMULA_START)] == []
    rows = csv_rows(text)
    every = expected.key_use_on(database, story.newest, expected.every_account(database))
    assert len(rows) == len(every) > BLOCK_ROWS
    hostile = {(r["account_name"], r["region"], r["service"]) for r in rows if r["account_id"] == expected.HOSTILE}
    assert (expected.EVIL, "'" + expected.CR_REGION, "'" + expected.TAB_SERVICE) in hostile
    assert (expected.EVIL, expected.EVIL, expected.EVIL) in hostile  # markup is no formula: the value as it is


def test_a_compliance_cell_lists_the_failing_users_with_evidence_and_accepted_risks(
    tab: Tab, database: Database, story: Story
) -> None:
    risk = story.risk
    users = expected.failing_users(database, story.newest, risk.account, risk.rule)
    assert risk.user in users and len(users) >= 2
    evaluated = expected.failing(database, story.newest, [risk.account])[risk.account][risk.rule][1]
    tab.open("/compliance")
    cell = tab.page.locator(f"#compliance-matrix .ag-row[row-id='{risk.account}'] [col-id='{risk.rule}']")
    expect(cell).to_have_text(f"{len(users)} / {evaluated}")
    cell.click()
    expect(tab.page.locator("#compliance-detail h2")).to_have_text(
        f"{risk.rule} in {risk.account}: {len(users)} failing"
    )
    rows = small_rows(tab.page, "compliance-users")
    assert sorted(r["user"] for r in rows) == users
    assert all("password_enabled=True" in r["evidence"] and "mfa_active=False" in r["evidence"] for r in rows)
    assert [
        (r["user"], r["exception_reason"], r["exception_owner"], r["exception_expires"])
        for r in rows
        if r["status"] == "excepted"
    ] == [(risk.user, expected.RISK_REASON, risk.owner, risk.expires.isoformat())]
    assert {r["status"] for r in rows if r["user"] != risk.user} == {"open"}
    row = tab.page.locator(f"#compliance-users .ag-row:has([col-id=user]:text-is('{risk.user}'))")
    expect(row.locator("[col-id=status]")).to_have_text("excepted")
    expect(row.locator("[col-id=exception_reason]")).to_have_text(expected.RISK_REASON)


def test_a_passing_cell_says_every_user_passes(tab: Tab, database: Database, story: Story) -> None:
    failing = expected.failing(database, story.newest, story.demo_accounts)
    account, rule = next((a, r) for a, counts in sorted(failing.items()) for r, (n, _) in counts.items() if n == 0)
    tab.open("/compliance")
    cell = tab.page.locator(f"#compliance-matrix .ag-row[row-id='{account}'] [col-id='{rule}']")
    expect(cell).to_have_text("pass")
    cell.click()
    expect(tab.page.locator("#compliance-detail .notice")).to_have_text(
        f"Every user of {account} passes {rule} on {story.newest}."
    )
