"""The demo organisation's IAM Identity Center over its period: people created OU by OU, access granted
in waves, and the daily snapshots `credsight collect` would have stored.

The story follows the credential reports' own (population.py), which it never changes: each account
moves to SSO on its day and each person's console password goes some days later (or never).

- People: every person with a console password somewhere gets an Identity Center user, created with
  the first wave of an OU they work in (Security first, then Infrastructure, Prod, Dev, Sandbox and
  Root), and no later than their first account's access; people whose accounts never move get one
  only half the time: the others are never matched (`no_sso_user`).
- User names: the email (`alice.smith@example.com`, matched by the email's local part) in most OUs,
  the bare name (`alice.smith`, matched by user name) for people first seen in Security or
  Infrastructure.
- Access, in weekly waves: a group per OU (`Prod-engineers`), every person of the OU a member, assigned
  to each account of the OU a few days before the account moves; Security accounts get direct
  assignments to each person instead. Between that day and the day a password goes, people who sign
  in with their IAM password are in dual use; people whose password never goes stay so, or become
  ready to remove after 30 idle days; passwords removed make an IAM user ready to remove, and those
  the reports then delete are removed.
- Three people's Identity Center users bear another name (`asmith@example.com`): no rule can guess
  them; the store's people-mapping.csv (`mapping_csv`) names two of them, one with a glob, and the
  third is never matched. One person has a contractor's second Identity Center user with the same
  email local part (`…@partner.example`): one ambiguous pair.

Every random choice is a named draw (draws.py), so the story of the credential reports, pinned by
tests/test_demo_digest.py, is untouched, and this one is pinned by tests/test_demo_identity.py.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from credsight.demo.draws import Draws
from credsight.demo.organization import DemoOrganization
from credsight.demo.population import HUMAN, NEVER, Population
from credsight.store.runs import IdentitySnapshot
from credsight.store.schemas import (
    IDENTITY_ASSIGNMENT_SCHEMA,
    IDENTITY_GROUP_SCHEMA,
    IDENTITY_MEMBERSHIP_SCHEMA,
    IDENTITY_USER_SCHEMA,
)

INSTANCE_ARN = "arn:aws:sso:::instance/ssoins-72230b1e0d9c4f1a"
IDENTITY_STORE = "d-9067e1b5c4"
NAMESPACE = uuid.UUID("3f5b8c2e-7d41-4e0a-9c6b-2a1d5e8f4b70")  # user and group ids are uuid5 of their names
# OUs in the order their people are created, and when (a share of the period).
WAVES = {
    "Root/Security": 0.04,
    "Root/Infrastructure": 0.10,
    "Root/Workloads/Prod": 0.16,
    "Root/Workloads/Dev": 0.24,
    "Root/Sandbox": 0.34,
    "Root": 0.48,
}
BARE_NAMES = ("Root/Security", "Root/Infrastructure")  # people first seen there have user name = the name
PERMISSION_SETS = {
    "Root/Security": "ps-6a1e4f0c2b9d8e37",  # AdministratorAccess
    "Root/Infrastructure": "ps-6a1e4f0c2b9d8e37",
    "Root/Workloads/Prod": "ps-1c7b3e9a5d2f4680",  # PowerUserAccess
    "Root/Workloads/Dev": "ps-1c7b3e9a5d2f4680",
    "Root/Sandbox": "ps-1c7b3e9a5d2f4680",
    "Root": "ps-84d0a6c2e1f3b957",  # ReadOnlyAccess
}
READ_ONLY = "ps-84d0a6c2e1f3b957"
DIRECT_OUS = ("Root/Security",)  # assigned person by person, not through a group
RENAMED = 3  # people whose Identity Center user bears another name
MAPPED = 2  # of those, how many the mapping file names
WAVE_DAYS = 7
LEAD_DAYS = (0, 11)  # an account's access comes this many days before it moves (low, high)


@dataclass(frozen=True)
class DemoPerson:
    """One Identity Center user of the story."""

    iam_name: str  # the IAM user name people know them by (first.last)
    user_name: str
    emails: tuple[str, ...]
    display_name: str
    created: int  # the day index the user appears (NEVER: never)
    ous: tuple[str, ...]
    accounts: tuple[str, ...]  # where the person has a console password

    @property
    def user_id(self) -> str:
        return str(uuid.uuid5(NAMESPACE, f"user:{self.user_name}"))


@dataclass(frozen=True)
class Cast:
    """Who the story is about: the accounts, when each moves to SSO, and where each person has a password."""

    seed: int
    days: Sequence[dt.date]
    management: str  # the account Identity Center is read from
    accounts: Sequence[tuple[str, str, int]]  # account id, OU path, the day index it moves (NEVER: never)
    people: Mapping[str, Sequence[str]]  # a person's IAM user name -> the accounts with their console password


def cast_of(organization: DemoOrganization) -> Cast:
    """The demo organisation's cast, read from the population its reports follow (never changed)."""
    pop: Population = organization._population
    where: dict[str, set[str]] = {}
    for e in np.flatnonzero(pop.kind == HUMAN):
        where.setdefault(pop.names[e], set()).add(pop.accounts[int(pop.acct[e])].account_id)
    return Cast(
        seed=int(organization._seed),
        days=organization.days(),
        management=pop.accounts[pop.management].account_id,
        accounts=[(a.account_id, a.ou_path, int(pop.sso_day[k])) for k, a in enumerate(pop.accounts)],
        people={name: sorted(held) for name, held in where.items()},
    )


@dataclass
class DemoIdentityCenter:
    """Identity Center as the story's period saw it, a snapshot a day."""

    cast: Cast
    people: list[DemoPerson] = field(init=False)
    absent: list[str] = field(init=False)  # IAM names whose people never get an Identity Center user
    renamed: list[DemoPerson] = field(init=False)
    ambiguous: str = field(init=False)  # the IAM user name two people match
    assigned: dict[str, int] = field(init=False)  # account id -> the day its access comes (moving accounts)

    def __post_init__(self) -> None:
        cast = self.cast
        draw = Draws(cast.seed, "identity")
        lead = draw("access_lead_days").integers(*LEAD_DAYS, len(cast.accounts))
        self.assigned = {
            account: max(0, (moves - int(lead[k])) // WAVE_DAYS * WAVE_DAYS)
            for k, (account, _ou, moves) in enumerate(cast.accounts)
            if moves < NEVER
        }
        ou_of = {account: ou for account, ou, _moves in cast.accounts}
        order = list(WAVES)
        wave = {ou: int(len(cast.days) * share) for ou, share in WAVES.items()}
        names = sorted(cast.people)
        kept = draw("person_without_moves_created").random(len(names)) < 0.5
        people, absent = [], []
        for n, name in enumerate(names):
            held = tuple(sorted(cast.people[name]))
            ous = tuple(sorted({ou_of[a] for a in held}, key=lambda ou: order.index(ou) if ou in order else len(order)))
            moving = [self.assigned[a] for a in held if a in self.assigned]
            first_wave = wave.get(ous[0], wave["Root"])
            created = min(first_wave, *moving) if moving else (first_wave if kept[n] else NEVER)
            if created == NEVER or "." not in name:
                absent.append(name)
                continue
            user_name = name if ous[0] in BARE_NAMES else f"{name}@example.com"
            first, last = name.rstrip("0123456789").split(".", 1)
            display = f"{first.title()} {last.title()}"
            people.append(DemoPerson(name, user_name, (f"{name}@example.com",), display, created, ous, held))
        eligible = [p for p in people if any(a in self.assigned for a in p.accounts)]
        chosen = draw("renamed_people").permutation(len(eligible))[: RENAMED + 1].tolist() if eligible else []
        self.renamed = []
        for index in chosen[:RENAMED]:
            person = eligible[index]
            first, last = person.iam_name.split(".", 1)
            other = f"{first[0]}{last}@example.com"
            renamed = DemoPerson(
                person.iam_name, other, (other,), person.display_name, person.created, person.ous, person.accounts
            )
            people[people.index(person)] = renamed
            self.renamed.append(renamed)
        self.ambiguous = ""
        if len(chosen) > RENAMED:
            twin = eligible[chosen[RENAMED]]
            contractor = f"{twin.iam_name}@partner.example"
            display = f"{twin.display_name} (contractor)"
            people.append(DemoPerson(twin.iam_name, contractor, (contractor,), display, twin.created, twin.ous, ()))
            self.ambiguous = twin.iam_name
        self.people = people
        self.absent = absent

    def mapping_csv(self) -> str:
        """The example mapping file: the renamed people no rule can guess (all but the last)."""
        lines = ["account_id,user,identity_center_user"]
        for n, person in enumerate(self.renamed[:MAPPED]):
            account = "*" if n == 0 else person.accounts[0]  # a glob over every account, and one account
            lines.append(f"{account},{person.iam_name},{person.user_name}")
        return "\n".join(lines) + "\n"

    def snapshots(self) -> Iterator[IdentitySnapshot]:
        """One snapshot per day of the period, oldest first: each table once with the day each row
        appears, then cut a day at a time."""
        cast = self.cast
        groups = [(ou, str(uuid.uuid5(NAMESPACE, f"group:{ou}")), f"{ou.rsplit('/', 1)[-1]}-engineers") for ou in WAVES]
        group_of = {ou: group_id for ou, group_id, _ in groups}
        ou_of = {account: ou for account, ou, _moves in cast.accounts}
        sets = INSTANCE_ARN.replace(":instance/", ":permissionSet/")
        members = [
            {"appears": p.created, "identity_store_id": IDENTITY_STORE, "group_id": group_of[ou], "user_id": p.user_id}
            for p in self.people
            for ou in p.ous
            if ou in group_of and ou not in DIRECT_OUS
        ]
        holders: dict[str, list[DemoPerson]] = {}
        for p in self.people:
            for account in p.accounts:
                holders.setdefault(account, []).append(p)
        granted = []
        for account, access_day in sorted(self.assigned.items()):
            ou = ou_of[account]
            if ou not in group_of:
                continue
            given = [(f"{sets}/{PERMISSION_SETS[ou]}", access_day)]
            if ou == "Root/Sandbox":  # two permission sets on one account: still one access
                given.append((f"{sets}/{READ_ONLY}", access_day))
            for permission_set, since in given:
                if ou in DIRECT_OUS:
                    for p in holders.get(account, []):
                        granted.append((max(since, p.created), account, permission_set, "USER", p.user_id))
                else:
                    granted.append((since, account, permission_set, "GROUP", group_of[ou]))
        users = _table([{"appears": p.created, **self._user_row(p)} for p in self.people], IDENTITY_USER_SCHEMA)
        memberships = _table(members, IDENTITY_MEMBERSHIP_SCHEMA)
        assignments = _table(
            [
                {
                    "appears": since,
                    "instance_arn": INSTANCE_ARN,
                    "account_id": account,
                    "permission_set_arn": permission_set,
                    "principal_type": kind,
                    "principal_id": principal,
                }
                for since, account, permission_set, kind, principal in granted
            ],
            IDENTITY_ASSIGNMENT_SCHEMA,
        )
        group_rows = [
            {"identity_store_id": IDENTITY_STORE, "group_id": group_id, "display_name": name, "description": ou}
            for ou, group_id, name in groups
        ]
        group_table = _table(group_rows, IDENTITY_GROUP_SCHEMA).drop_columns(["appears"])
        for i, day in enumerate(cast.days):
            collected = dt.datetime(day.year, day.month, day.day, 3, 0, tzinfo=dt.UTC)
            yield IdentitySnapshot(
                snapshot_date=day,
                account_id=cast.management,
                instance_arn=INSTANCE_ARN,
                identity_store_id=IDENTITY_STORE,
                users=_as_of(users, i),
                groups=group_table,
                memberships=_as_of(memberships, i),
                assignments=_as_of(assignments, i),
                collected_at=collected,
            )

    @staticmethod
    def _user_row(person: DemoPerson) -> dict[str, object]:
        given, family = person.display_name.split(" ", 1)
        return {
            "identity_store_id": IDENTITY_STORE,
            "user_id": person.user_id,
            "user_name": person.user_name,
            "display_name": person.display_name,
            "given_name": given,
            "family_name": family,
            "emails": list(person.emails),
            "primary_email": person.emails[0],
            "external_ids": None,
        }


def _as_of(table: pa.Table, day: int) -> pa.Table:
    """The rows that have appeared by day index `day`, without the column saying when."""
    return table.filter(pc.less_equal(table.column("appears"), day)).drop_columns(["appears"])


def _table(rows: Sequence[Mapping[str, object]], schema: pa.Schema) -> pa.Table:
    """Rows in a stored table's layout but snapshot_date and run_id (the run adds them), and `appears`."""
    columns = pa.schema(
        [pa.field("appears", pa.int64()), *(f for f in schema if f.name not in ("snapshot_date", "run_id"))]
    )
    return pa.Table.from_pylist(list(rows), schema=columns)
