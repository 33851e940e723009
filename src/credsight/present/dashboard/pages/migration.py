"""`/migration`: the move from IAM users to IAM Identity Center, per person: each person's IAM users by
state over time and by OU, when nothing is left to migrate, the worklists (ready to remove, dual use, no
SSO user) and one person's page (their IAM users in every account, their Identity Center assignments).

Without any Identity Center snapshot the page says so and shows what the credential reports alone tell:
human IAM users (a console password) over time.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import plotly.graph_objects as go
import pyarrow as pa
import pyarrow.compute as pc
from dash import Input, Output, State, dcc, html
from dash.exceptions import PreventUpdate

from credsight.errors import PeopleError, UserFixable
from credsight.present import figures, questions
from credsight.present.dashboard.filters import matching_choices, parse, query_string
from credsight.present.dashboard.parts import Block, Figure, NoView, Page, Table, View, in_words, small_table, view_of
from credsight.present.dashboard.shell import card, notice
from credsight.present.dashboard.view import StoreView
from credsight.rules.matching import PeopleSettings
from credsight.rules.people import MIGRATED, STATES, People, describe, mapping_lines, open_people
from credsight.rules.trends import migration_projection

if TYPE_CHECKING:
    import dash

WORKLIST_COLUMNS = (
    ("account_id", "account"),
    ("account_name", "name"),
    ("ou_path", "OU"),
    ("user", "IAM user"),
    ("person", "person"),
    ("matched_by", "matched by"),
    ("assigned_since", "assigned since"),
    ("last_iam_use", "last IAM use (UTC)"),
    ("days_unused", "days unused"),
)
WORKLIST_KINDS = {"assigned_since": "date", "last_iam_use": "date", "days_unused": "number"}
WORKLISTS = (
    ("ready_to_remove", "Ready to remove: migrated, and the IAM password and keys unused"),
    ("dual_use", "Dual use: migrated, and the IAM password or a key still used since"),
    ("no_sso_user", "No SSO user: nobody in Identity Center matches the IAM user"),
)
PERSON_COLUMNS = (
    ("account_id", "account"),
    ("account_name", "name"),
    ("user", "IAM user"),
    ("state", "state"),
    ("last_iam_use", "last IAM use (UTC)"),
)
ASSIGNMENT_COLUMNS = (
    ("account_id", "account"),
    ("account_name", "name"),
    ("permission_set_arn", "permission set"),
    ("via", "through"),
    ("group_name", "group"),
    ("since", "since"),
)
NO_IDENTITY_CENTER = (
    "No IAM Identity Center snapshot yet: collect it with 'credsight collect' (from the management account or the "
    "Identity Center delegated administrator) to follow the migration per person. Until then: human IAM users."
)


def told_every(start: dt.date, end: dt.date) -> int:
    """Every how many days the burn-down is told: each day up to 120 days, every other week beyond (the default
    180 days: 13 points, 2 s less than weekly at 1,000 accounts)."""
    return 1 if (end - start).days <= 120 else 14


def period(view: View) -> tuple[dt.date, dt.date]:
    return view.filters.start or view.date - dt.timedelta(days=179), view.filters.end or view.date


def page(settings: PeopleSettings | None = None) -> Page:
    chosen = settings or PeopleSettings()

    def people(view: View) -> People | None:
        """The people tables of the store's current state (None: no Identity Center snapshot yet)."""

        def opened() -> People | None:
            lines, source = mapping_lines(view.database.store, chosen)
            try:
                found = open_people(view.database, chosen, lines, source)
            except PeopleError:  # no Identity Center snapshot yet: the page says so
                return None
            if found.days and found.rollup is not None:
                # The newest day reads the rollup; another date needs the timeline: built now, beside the
                # first draw, so that the first change of date finds it.
                threading.Thread(target=_build_timeline, args=(found,), name="people timeline", daemon=True).start()
            return found if found.days else None

        kept: People | None = view.keep(("people",), opened)
        return kept

    def states(view: View) -> pa.Table:
        found = people(view)
        if found is None:
            raise NoView(NO_IDENTITY_CENTER)
        key = ("people states", view.date, _accounts(view))
        table: pa.Table = view.keep(key, lambda: found.states(view.date, view.accounts))
        return table

    def burn_down(view: View) -> pa.Table:
        found = people(view)
        if found is None:
            raise NoView(NO_IDENTITY_CENTER)
        start, end = period(view)
        every = told_every(start, end)
        key = ("burn-down", start, end, _accounts(view), every)
        table: pa.Table = view.keep(key, lambda: found.burn_down(start, end, view.accounts, every=every))
        return table

    def summary(view: View) -> list[Any]:
        found = people(view)
        if found is None:
            humans = questions.humans_left(view.database, view.date, view.accounts)["humans"]
            projection = migration_projection(view.database, view.date, view.accounts)
            return [
                html.H1(f"SSO migration on {view.date} (UTC)"),
                notice(NO_IDENTITY_CENTER),
                html.Div(
                    [
                        card("human IAM users left", humans, warn=humans > 0),
                        card("projection (last 60 days)", projection.describe()),
                    ],
                    className="cards",
                ),
            ]
        day_states = states(view)
        counts = _by_state(day_states)
        left = sum(n for state, n in counts.items() if state not in MIGRATED)  # dual use and ready are migrated
        machines = found.machines(view.date, view.accounts, day_states)
        return [
            html.H1(f"SSO migration on {view.date} (UTC)"),
            html.Div(
                [
                    card("people's IAM users left to migrate", left, warn=left > 0),
                    *[card(state.replace("_", " "), counts.get(state, 0)) for state in STATES],
                    card("machine users (keys only, not people)", machines),
                    card("projection (last 60 days)", describe(found.projection(burn_down(view)))),
                ],
                className="cards",
            ),
        ]

    def trend(view: View) -> go.Figure:
        start, end = period(view)
        if people(view) is None:
            per_day = questions.per_day(view.database, start, end, view.accounts)
            return figures.users_by_class(*questions.by_class(per_day), f"IAM users by class, {start} to {end}")
        counted = burn_down(view).group_by(["snapshot_date", "state"]).aggregate([("users", "sum")])
        days = sorted(set(counted.column("snapshot_date").to_pylist()))
        per_state: dict[str, list[int]] = {}
        for row in counted.to_pylist():
            per_state.setdefault(row["state"], [0] * len(days))[days.index(row["snapshot_date"])] = row["users_sum"]
        return figures.by_state(days, per_state, f"People's IAM users by state, {start} to {end}")

    def by_ou(view: View) -> go.Figure:
        if people(view) is None:
            found = questions.humans_by_ou(view.database, view.date, view.accounts)
            places = [r["place"] for r in found]
            return figures.bars(places, [r["humans"] for r in found], "Human IAM users by OU", "users")
        counted = states(view).group_by(["ou_path", "state"]).aggregate([("user", "count")])
        places = sorted({row["ou_path"] or "(no OU)" for row in counted.to_pylist()})
        per_state: dict[str, list[int]] = {}
        for row in counted.to_pylist():
            per_state.setdefault(row["state"], [0] * len(places))[places.index(row["ou_path"] or "(no OU)")] = row[
                "user_count"
            ]
        return figures.states_by_place(places, per_state, f"People's IAM users by OU and state on {view.date}")

    def worklist(state: str, title: str) -> Table:
        def rows(view: View) -> pa.Table:
            found = states(view)
            return found.filter(pc.equal(found.column("state"), state))

        return Table(
            f"migration-{state.replace('_', '-')}",
            WORKLIST_COLUMNS,
            rows,
            lambda view: f"credsight-{state.replace('_', '-')}-{view.date}.csv",
            kinds=WORKLIST_KINDS,
            height=350,
            title=lambda view, count: f"{title} ({count})",
        )

    def person_choices(view: View) -> list[dict[str, str]]:
        """Everyone with an IAM user in the view (found by what is typed: see filters.matching_choices)."""

        def named() -> list[dict[str, str]]:
            names = sorted({p for p in states(view).column("person").to_pylist() if p})
            return [{"label": name, "value": name} for name in names]

        found: list[dict[str, str]] = view.keep(("person choices", view.date, _accounts(view)), named)
        return found

    def person(view: View) -> list[Any]:
        found = people(view)
        if found is None:
            return []
        picked = [view.filters.person] if view.filters.person else []
        chooser = dcc.Dropdown(
            id="migration-person-picker",
            options=matching_choices(person_choices(view), picked, None),
            value=view.filters.person,
            placeholder="A person: their IAM users in every account, their assignments",
        )
        if not view.filters.person:
            return [html.H2("One person"), chooser]
        accounts = found.person_accounts(view.filters.person, view.date).to_pylist()
        assignments = found.person_assignments(view.filters.person, view.date).to_pylist()
        return [
            html.H2(f"{view.filters.person}"),
            chooser,
            html.H3(f"IAM users ({len(accounts)})"),
            small_table("migration-person-accounts", accounts, PERSON_COLUMNS, height=250),
            html.H3(f"Identity Center assignments ({len(assignments)})"),
            small_table("migration-person-assignments", assignments, ASSIGNMENT_COLUMNS, height=250),
        ]

    def callbacks(app: dash.Dash, store: StoreView) -> None:
        @app.callback(
            Output("migration-person-picker", "options"),
            Input("migration-person-picker", "search_value"),
            State("migration-person-picker", "value"),
            State("url", "search"),
            prevent_initial_call=True,
        )
        def person_search(typed: str | None, picked: str | None, search: str | None) -> list[dict[str, str]]:
            """The people matching what is typed in the person picker (and the one picked), found on the server."""

            with store.open() as database:  # the choices are kept with the view's other answers
                try:
                    with in_words():
                        found = person_choices(view_of(database, "/migration", search, store))
                except NoView:
                    found = []
            return matching_choices(found, [picked] if picked else [], typed)

        pick_person(app)

    return Page(
        "/migration",
        [
            Block("migration-summary", summary),
            Figure("migration-trend", trend, "People's IAM users by state"),
            Figure("migration-by-ou", by_ou, "People's IAM users by OU"),
            *[worklist(state, title) for state, title in WORKLISTS],
            Table(
                "migration-everyone",
                (*WORKLIST_COLUMNS[:5], ("state", "state"), *WORKLIST_COLUMNS[5:]),
                states,
                lambda view: f"credsight-people-{view.date}.csv",
                kinds=WORKLIST_KINDS,
                height=450,
                title=lambda view, count: f"Every person's IAM user ({count}): filter the state column to narrow it",
            ),
            Block("migration-person", person),
        ],
        callbacks=callbacks,
    )


def _build_timeline(people: People) -> None:
    try:
        people.timeline()
    except UserFixable:  # (a bad [people] setting or mapping: the question that needs it says so)
        return


def _accounts(view: View) -> tuple[str, ...] | None:
    return tuple(view.accounts) if view.accounts is not None else None


def _by_state(states: pa.Table) -> dict[str, int]:
    counted = states.group_by("state").aggregate([("user", "count")])
    return dict(zip(counted.column("state").to_pylist(), counted.column("user_count").to_pylist(), strict=True))


def pick_person(app: dash.Dash) -> None:
    @app.callback(
        Output("url", "search", allow_duplicate=True),
        Input("migration-person-picker", "value"),
        State("url", "search"),
        prevent_initial_call=True,
    )
    def pick_person(person: str | None, search: str | None) -> str:
        chosen = parse(search).with_(person=person or None)
        if chosen == parse(search):
            raise PreventUpdate
        return query_string(chosen)


__all__: Sequence[str] = ["page"]
