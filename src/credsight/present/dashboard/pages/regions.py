"""`/regions`: where access keys are used, by region and service, over time and per account; keys last
used outside the allowed regions stand out.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

import plotly.graph_objects as go
import pyarrow as pa
from dash import html

from credsight.present import figures
from credsight.present.dashboard.parts import Block, Figure, NoView, Page, Part, Table, View
from credsight.present.dashboard.shell import notice

PER_DAY = """
    SELECT snapshot_date, coalesce(region, '(never used)') AS region, sum(keys_used_recently)::BIGINT AS keys
    FROM key_use
    WHERE snapshot_date BETWEEN $from AND $to AND in_scope($accounts, account_id)
    GROUP BY ALL ORDER BY ALL"""
ON_DATE = """
    SELECT k.account_id, m.name AS account_name, coalesce(k.region, '(never used)') AS region,
           coalesce(k.service, '-') AS service, k.keys, k.keys_used_recently
    FROM key_use AS k SEMI JOIN snapshot_days($date, $accounts) USING (account_id, snapshot_date)
    LEFT JOIN account_metadata AS m USING (account_id)
    ORDER BY k.keys DESC"""
OUTSIDE = """
    SELECT r.account_id, r.account_name, r."user", n.key, n.region, n.service, n.used
    FROM (SELECT * FROM reports SEMI JOIN snapshot_days($date, $accounts) USING (account_id, snapshot_date)) AS r,
         LATERAL (VALUES (1, r.access_key_1_active, r.access_key_1_last_used_region, r.access_key_1_last_used_service,
                          r.access_key_1_last_used_date),
                         (2, r.access_key_2_active, r.access_key_2_last_used_region, r.access_key_2_last_used_service,
                          r.access_key_2_last_used_date)) AS n(key, active, region, service, used)
    WHERE n.active AND n.region IS NOT NULL AND NOT list_contains($allowed, n.region)
    ORDER BY n.used DESC"""
ALLOWED_REGIONS_HINT = "Serve with --allowed-regions (e.g. us-east-1,eu-west-1) to list keys used elsewhere."
ON_DATE_COLUMNS = (
    ("account_id", "account"),
    ("account_name", "name"),
    ("region", "region"),
    ("service", "service"),
    ("keys", "active keys"),
    ("keys_used_recently", "used since the day before"),
)
OUTSIDE_COLUMNS = (
    ("account_id", "account"),
    ("account_name", "name"),
    ("user", "user"),
    ("key", "key"),
    ("region", "region"),
    ("service", "service"),
    ("used", "last used (UTC)"),
)


def period(view: View) -> dict[str, Any]:
    start = view.filters.start or view.date - dt.timedelta(days=89)
    return {"from": start, "to": view.filters.end or view.date, "accounts": view.accounts}


def heading(view: View) -> list[Any]:
    return [html.H1(f"Regions and services on {view.date} (UTC)")]


def trend(view: View) -> go.Figure:
    where = period(view)
    per_day = view.database.sql(PER_DAY, where).rows
    if not per_day:
        raise NoView(f"No key use recorded between {where['from']} and {where['to']} for these accounts.")
    figure = go.Figure()
    for region in sorted({row["region"] for row in per_day}):
        points = [row for row in per_day if row["region"] == region]
        figure.add_trace(
            go.Bar(x=[p["snapshot_date"] for p in points], y=[p["keys"] for p in points], name=figures.text(region))
        )
    figure.update_layout(
        barmode="stack", title="Active keys used since the day before, by region", template="plotly_white"
    )
    return figure


def on_date(view: View) -> pa.Table:
    return view.database.sql(ON_DATE, {"date": view.date, "accounts": view.accounts}).table


def page(allowed: Sequence[str] = ()) -> Page:
    parts: list[Part] = [
        Block("regions-heading", heading),
        Figure("regions-trend", trend, "Active keys used since the day before, by region"),
        Table(
            "regions-table",
            ON_DATE_COLUMNS,
            on_date,
            lambda view: f"credsight-regions-{view.date}.csv",
            kinds={"keys": "number", "keys_used_recently": "number"},
        ),
    ]
    if allowed:

        def outside(view: View) -> pa.Table:
            where = {"allowed": list(allowed), "accounts": view.accounts, "date": view.date}
            return view.database.sql(OUTSIDE, where).table

        parts.append(
            Table(
                "regions-outside",
                OUTSIDE_COLUMNS,
                outside,
                lambda view: "credsight-keys-outside-allowed-regions.csv",
                kinds={"key": "number", "used": "date"},
                title=lambda view, rows: f"Keys last used outside {', '.join(allowed)} ({rows})",
            )
        )
    else:
        parts.append(
            Block(
                "regions-outside-note",
                lambda view: [
                    notice("Serve with --allowed-regions (e.g. us-east-1,eu-west-1) to list keys used elsewhere.")
                ],
            )
        )
    return Page("/regions", parts)
