"""`/regions`: where access keys are used, by region and service, over time and per account; users
whose keys were last used outside the allowed regions stand out.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

import plotly.graph_objects as go
from dash import dcc, html

from credsight.present import figures
from credsight.present.dashboard.filters import Filters
from credsight.present.dashboard.shell import notice, table
from credsight.query import Database

PER_DAY = """
    SELECT snapshot_date, coalesce(region, '(never used)') AS region, sum(keys_used_recently)::BIGINT AS keys
    FROM key_use
    WHERE snapshot_date BETWEEN $from AND $to AND in_scope($accounts, account_id)
    GROUP BY ALL ORDER BY ALL"""
ON_DATE = """
    SELECT k.account_id, m.name AS account_name, coalesce(k.region, '(never used)') AS region,
           coalesce(k.service, '-') AS service, k.keys, k.keys_used_recently
    FROM key_use AS k LEFT JOIN account_metadata AS m USING (account_id)
    WHERE k.snapshot_date = (SELECT max(snapshot_date) FROM key_use WHERE snapshot_date <= $date)
      AND in_scope($accounts, k.account_id)
    ORDER BY k.keys DESC"""
OUTSIDE = """
    SELECT r.account_id, r.account_name, r."user", n.key, n.region, n.service, n.used
    FROM latest AS r,
         LATERAL (VALUES (1, r.access_key_1_active, r.access_key_1_last_used_region, r.access_key_1_last_used_service,
                          r.access_key_1_last_used_date),
                         (2, r.access_key_2_active, r.access_key_2_last_used_region, r.access_key_2_last_used_service,
                          r.access_key_2_last_used_date)) AS n(key, active, region, service, used)
    WHERE n.active AND n.region IS NOT NULL AND NOT list_contains($allowed, n.region)
      AND in_scope($accounts, r.account_id)
    ORDER BY n.used DESC"""


def layout(
    database: Database, filters: Filters, date: dt.date, accounts: list[str] | None, allowed: Sequence[str] = ()
) -> list[Any]:
    start = filters.start or date - dt.timedelta(days=89)
    where = {"from": start, "to": filters.end or date, "accounts": accounts}
    per_day = database.sql(PER_DAY, where).rows
    if not per_day:
        return [notice(f"No key use recorded between {start} and {filters.end or date} for these accounts.")]
    figure = go.Figure()
    for region in sorted({row["region"] for row in per_day}):
        points = [row for row in per_day if row["region"] == region]
        figure.add_trace(
            go.Bar(x=[p["snapshot_date"] for p in points], y=[p["keys"] for p in points], name=figures.text(region))
        )
    figure.update_layout(
        barmode="stack", title="Active keys used since the day before, by region", template="plotly_white"
    )
    on_date = database.sql(ON_DATE, {"date": date, "accounts": accounts}).rows
    parts: list[Any] = [html.H1(f"Regions and services on {date} (UTC)"), dcc.Graph(id="regions-trend", figure=figure)]
    parts.append(
        table(
            "regions-table",
            on_date,
            [
                ("account_id", "account"),
                ("account_name", "name"),
                ("region", "region"),
                ("service", "service"),
                ("keys", "active keys"),
                ("keys_used_recently", "used since the day before"),
            ],
            f"credsight-regions-{date}.csv",
        )
    )
    if allowed:
        outside = database.sql(OUTSIDE, {"allowed": list(allowed), "accounts": accounts}).rows
        parts.append(html.H2(f"Keys last used outside {', '.join(allowed)} ({len(outside)})"))
        parts.append(
            table(
                "regions-outside",
                outside,
                [
                    ("account_id", "account"),
                    ("account_name", "name"),
                    ("user", "user"),
                    ("key", "key"),
                    ("region", "region"),
                    ("service", "service"),
                    ("used", "last used (UTC)"),
                ],
                "credsight-keys-outside-allowed-regions.csv",
            )
        )
    else:
        parts.append(notice("Serve with --allowed-regions (e.g. us-east-1,eu-west-1) to list keys used elsewhere."))
    return parts
