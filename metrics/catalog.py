"""Organizations and groups by name: who is asking and which groups they mean."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import Connection, select

from metrics.errors import UserError, did_you_mean
from metrics.schema import groups, organizations


@dataclass(frozen=True)
class Organization:
    id: int
    name: str
    industry: str | None = None


@dataclass(frozen=True)
class Group:
    id: int
    name: str
    code: str | None

    @property
    def display(self) -> str:
        return f"{self.name} ({self.code})" if self.code else self.name


def list_organizations(conn: Connection) -> list[Organization]:
    rows = conn.execute(
        select(organizations.c.id, organizations.c.name, organizations.c.industry)
        .order_by(organizations.c.name)
    )
    return [Organization(r.id, r.name, r.industry) for r in rows]


def resolve_organization(conn: Connection, name: str | None) -> Organization:
    """The organization called `name` (case-insensitive), or the only one when no name is given."""
    orgs = list_organizations(conn)
    if not orgs:
        raise UserError(
            "The database holds no organization yet: import some credentials first.",
            ["credstats import --credentials credentials.csv --org 'Your Org'", "credstats demo"],
        )
    if name is None:
        if len(orgs) == 1:
            return orgs[0]
        raise UserError(
            "The database holds several organizations; say which one with --org: "
            + ", ".join(o.name for o in orgs) + ".",
            [f"--org {o.name!r}" for o in orgs[:3]],
        )
    for org in orgs:
        if org.name.lower() == name.strip().lower():
            return org
    raise UserError(
        f"No organization called {name!r}. Known: " + ", ".join(o.name for o in orgs) + ".",
        did_you_mean(name, [o.name for o in orgs]),
    )


def list_groups(conn: Connection, org: Organization) -> list[Group]:
    rows = conn.execute(
        select(groups.c.id, groups.c.name, groups.c.code)
        .where(groups.c.organization_id == org.id)
        .order_by(groups.c.name)
    )
    return [Group(r.id, r.name, r.code) for r in rows]


def resolve_group(catalog: Sequence[Group], typed: str) -> Group:
    """The group `typed` names: its exact name or code, else a unique prefix, else a unique
    substring (all case-insensitive). Ambiguity and unknown names are errors, never a zero."""
    needle = " ".join(typed.split()).lower()
    if not needle:
        raise UserError("An empty group name: write group:NAME.", ["group:CPA"])
    exact = [g for g in catalog if g.name.lower() == needle or (g.code or "").lower() == needle]
    if len(exact) == 1:
        return exact[0]
    for matcher in (str.startswith, str.__contains__):
        found = [g for g in catalog if matcher(g.name.lower(), needle)]
        if len(found) == 1:
            return found[0]
        if len(found) > 1:
            names = ", ".join(g.display for g in found)
            raise UserError(
                f"Group {typed!r} could mean several groups: {names}. Say which one.",
                [f'group:"{g.name}"' for g in found[:3]],
            )
    known = [g.name for g in catalog] + [g.code for g in catalog if g.code]
    close = did_you_mean(typed, known)
    hint = f" Did you mean {', '.join(close)}?" if close else ""
    listing = ", ".join(g.display for g in catalog) or "none yet"
    raise UserError(
        f"No group called {typed!r}.{hint} Groups: {listing}.",
        close or [g.name for g in catalog[:3]],
    )
