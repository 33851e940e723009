"""`/users`: any IAM user across the organization: a search as you type (part of a user name, an ARN, an
account id or name), then one user's page: their credentials' state, each key's age and use, and changes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import plotly.graph_objects as go
from dash import Input, Output, State, dcc, html

from credsight.present import figures
from credsight.present.dashboard.filters import parse, query_string
from credsight.present.dashboard.parts import Block, Page, View, small_table
from credsight.present.dashboard.shell import notice
from credsight.rules.users import find_users, user_events

if TYPE_CHECKING:
    import dash

    from credsight.present.dashboard.view import StoreView

USERS = """
    SELECT "user" FROM reports SEMI JOIN snapshot_days($date, [$account]) USING (account_id, snapshot_date)
    ORDER BY is_root_user("user") DESC, "user"
"""
HISTORY = """
    SELECT snapshot_date, user_class, password_enabled, password_last_used, mfa_active,
           access_key_1_active, access_key_1_last_rotated, access_key_1_last_used_date,
           access_key_1_last_used_region, access_key_1_last_used_service,
           access_key_2_active, access_key_2_last_rotated, access_key_2_last_used_date,
           access_key_2_last_used_region, access_key_2_last_used_service
    FROM reports WHERE account_id = $account AND "user" = $user AND snapshot_date <= $date
    ORDER BY snapshot_date"""
COLUMNS = tuple(
    (name, name.replace("_", " ")) for name in HISTORY.split("FROM")[0].replace("SELECT", "").replace(",", " ").split()
)
EVENT_COLUMNS = (
    ("snapshot_date", "seen on"),
    ("severity", "severity"),
    ("kind", "change"),
    ("access_key", "key"),
    ("before", "before"),
    ("after", "after"),
)
RESULT_COLUMNS = (
    ("account_id", "account"),
    ("account_name", "name"),
    ("ou_path", "OU"),
    ("user", "user"),
    ("class", "class"),
    ("password_last_used", "last sign-in (UTC)"),
    ("last_key_use", "last key use (UTC)"),
    ("open_findings", "open findings"),
)
RESULTS = 50  # search results shown; a longer list is for a narrower search


def picker(users: list[str], chosen: str | None) -> dcc.Dropdown:
    return dcc.Dropdown(
        id="user-picker", options=[{"label": u, "value": u} for u in users], value=chosen, placeholder="Pick a user"
    )


def search(view: View) -> list[Any]:
    return [
        html.H1("Users"),
        dcc.Input(
            id="user-search",
            type="search",
            placeholder="Search every account: part of a user name, an ARN, an account id or name",
            debounce=False,
            style={"width": "40em"},
        ),
        html.Div(id="user-results"),
    ]


def detail(view: View) -> list[Any]:
    filters = view.filters
    if len(filters.accounts) != 1:
        return [notice("Search above, or pick one account in the filter and then a user.")]
    account = filters.accounts[0]
    users = [row["user"] for row in view.database.sql(USERS, {"account": account, "date": view.date}).rows]
    if not filters.user or filters.user not in users:
        return [html.H2(f"Users of {account}"), picker(users, None), notice("Pick a user to see their history.")]
    where = {"account": account, "user": filters.user, "date": view.date}
    history = view.database.sql(HISTORY, where).rows
    if not history:
        return [picker(users, filters.user), notice(f"No snapshot of {filters.user} on or before {view.date}.")]
    found = user_events(view.database, account, filters.user, until=view.date).to_pylist()
    found.reverse()  # the newest first
    return [
        html.H2(f"{filters.user} in {account}"),
        picker(users, filters.user),
        dcc.Graph(id="user-ages", figure=ages(history, filters.user, account)),
        dcc.Graph(id="user-regions", figure=last_used(history, "region", "Regions each key was last used in")),
        dcc.Graph(id="user-services", figure=last_used(history, "service", "Services each key last called")),
        html.H3(f"Events ({len(found)})"),
        small_table("user-events", found, EVENT_COLUMNS),
        html.H3("State per snapshot"),
        small_table("user-history", history, COLUMNS),
    ]


def ages(history: list[dict[str, Any]], user: str, account: str) -> go.Figure:
    """Each active key's age and the days since the last sign-in, day by day."""
    figure = go.Figure()
    days = [row["snapshot_date"] for row in history]
    for key in (1, 2):
        age = [
            (day - row[f"access_key_{key}_last_rotated"].date()).days
            if row[f"access_key_{key}_active"] and row[f"access_key_{key}_last_rotated"]
            else None
            for day, row in zip(days, history, strict=True)
        ]
        figure.add_trace(go.Scatter(x=days, y=age, name=f"key {key} age (days)", mode="lines"))
    unused = [
        (day - row["password_last_used"].date()).days if row["password_last_used"] else None
        for day, row in zip(days, history, strict=True)
    ]
    figure.add_trace(go.Scatter(x=days, y=unused, name="days since sign-in", mode="lines"))
    figure.update_layout(
        title=f"{figures.text(user)} in {figures.text(account)}",
        template="plotly_white",
        xaxis_title="snapshot date (UTC)",
    )
    return figure


def last_used(history: list[dict[str, Any]], what: str, title: str) -> go.Figure:
    """Each key's last-used region (or service) day by day: where the key has been seen working."""
    figure = go.Figure()
    for key in (1, 2):
        points = [
            (row["snapshot_date"], row[f"access_key_{key}_last_used_{what}"])
            for row in history
            if row[f"access_key_{key}_last_used_{what}"]
        ]
        if points:
            figure.add_trace(
                go.Scatter(
                    x=[d for d, _ in points],
                    y=[figures.text(v) for _, v in points],
                    name=f"key {key}",
                    mode="markers",
                )
            )
    if not figure.data:
        return figures.empty(title, "no key of this user was used")
    figure.update_layout(
        title=title, template="plotly_white", xaxis_title="snapshot date (UTC)", yaxis={"type": "category"}
    )
    return figure


def page() -> Page:
    return Page("/users", [Block("users-search", search), Block("users-detail", detail)], callbacks=callbacks)


def callbacks(app: dash.Dash, view: StoreView) -> None:
    @app.callback(
        Output("url", "search", allow_duplicate=True),
        Input("user-picker", "value"),
        State("url", "search"),
        prevent_initial_call=True,
    )
    def pick_user(user: str | None, search: str | None) -> str:
        from dash.exceptions import PreventUpdate

        chosen = parse(search).with_(user=user or None)
        if chosen == parse(search):
            raise PreventUpdate
        return query_string(chosen)

    @app.callback(Output("user-results", "children"), Input("user-search", "value"), prevent_initial_call=True)
    def results(text: str | None) -> list[Any]:
        if not text or not text.strip():
            return []
        found = view.answer(("user search", text.strip()), lambda database: find_users(database, text.strip(), RESULTS))
        if not found.num_rows:
            return [notice(f"No IAM user matches {text.strip()!r} in any account.")]
        rows = found.to_pylist()
        links = [
            html.Li(
                dcc.Link(
                    f"{row['user']} in {row['account_id']} {row.get('account_name') or ''}".rstrip(),
                    href="/users" + query_string(parse("").with_(accounts=(row["account_id"],), user=row["user"])),
                )
            )
            for row in rows
        ]
        return [
            html.P(f"{len(rows)} users" + (" (the first ones: narrow the search)" if len(rows) >= RESULTS else "")),
            html.Ul(links),
        ]
