"""SQL builders: each returns a `Select` for one kind of figure and runs nothing.

Values are always bound parameters. Buckets (series) are computed in Python from local calendar
boundaries and turned into a CASE over UTC instants, so day/week/month series are exact in any
timezone and identical on SQLite and PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeAlias

from sqlalchemy import ColumnElement, Select, Subquery, and_, case, func, literal, select

from metrics.definitions import ENGAGEMENT_STEPS, Actor, CredentialKind, EngagementStep, EventType
from metrics.schema import credentials, engagement_events

c = credentials.c
e = engagement_events.c

AnySelect: TypeAlias = Select[*tuple[Any, ...]]


@dataclass(frozen=True)
class Scope:
    """Which credentials a figure counts: one organization, optionally some groups and a kind."""

    org_id: int
    group_ids: tuple[int, ...] = ()
    kind: CredentialKind | None = None


def _issued_within(start: datetime | None, end: datetime | None) -> list[ColumnElement[bool]]:
    filters: list[ColumnElement[bool]] = []
    if start is not None:
        filters.append(c.issued_at >= start)
    if end is not None:
        filters.append(c.issued_at < end)
    return filters


def _credential_filters(
    scope: Scope, start: datetime | None, end: datetime | None
) -> list[ColumnElement[bool]]:
    filters = [c.organization_id == scope.org_id, *_issued_within(start, end)]
    if scope.group_ids:
        filters.append(c.group_id.in_(scope.group_ids))
    if scope.kind is not None:
        filters.append(c.kind == scope.kind.value)
    return filters


def bucket_index(
    column: ColumnElement[datetime], boundaries: Sequence[datetime | None]
) -> ColumnElement[int]:
    """0 for [b0, b1), 1 for [b1, b2)... (rows outside [b0, bn) must be filtered out first)."""
    whens = [(column < bound, index) for index, bound in enumerate(boundaries[1:])]
    return case(*whens, else_=None)


def cohort_select(
    scope: Scope,
    start: datetime | None,
    end: datetime | None,
    now: datetime,
    *,
    engagement: bool,
    key: ColumnElement[int] | None = None,
) -> AnySelect:
    """issued, recipients and (optionally) the engagement funnel of credentials issued in
    [start, end); engagement counts each cohort credential once per step, events up to `now`.

    The funnel reads each cohort credential's events once (one probe per credential that
    returns a bitmask of steps) rather than once per step, and never reads other credentials'
    events.
    """
    filters = _credential_filters(scope, start, end)
    if not engagement:
        columns: list[ColumnElement[int]] = [
            # count(*), not count(id): the (organization, group, issued_at) index holds every
            # column this reads, so PostgreSQL answers from it alone (no heap fetch per row)
            func.count().label("issued"),
            func.count(c.recipient_id.distinct()).label("recipients"),
        ]
        return _keyed(select(*columns).where(*filters), key)
    pc = _cohort_steps(filters, now, key).c
    stmt = select(
        func.count(pc.id).label("issued"),
        func.count(pc.recipient_id.distinct()).label("recipients"),
        *(_count_step(pc.steps, bit).label(step.key)
          for bit, step in enumerate(ENGAGEMENT_STEPS)),
    )
    if key is not None:
        stmt = stmt.add_columns(pc.k).group_by(pc.k)
    return stmt


def _cohort_steps(filters: list[ColumnElement[bool]], now: datetime,
                  key: ColumnElement[int] | None = None) -> Subquery:
    """One row per credential matching `filters`: id, recipient, organization, `key` (as k)
    and `steps`, a bitmask of the engagement steps it reached by `now` (bit i for
    ENGAGEMENT_STEPS[i]).

    One correlated probe per credential reads its events once (an index-only scan of
    ix_engagement_events_credential_id_event_type_actor_occurred_at); a join of the cohort
    with the events would read every event of the organization.
    """
    mask = sum(
        (func.max(case((_step_matches(step, now), 1), else_=0)) * (1 << bit)
         for bit, step in enumerate(ENGAGEMENT_STEPS)),
        start=literal(0),
    )
    steps_of = select(func.coalesce(mask, 0)).where(e.credential_id == c.id).scalar_subquery()
    keys = [key.label("k")] if key is not None else []
    return (
        select(c.id, c.recipient_id, c.organization_id, *keys, steps_of.label("steps"))
        .where(*filters)
        .offset(0)  # a fence: PostgreSQL would otherwise inline the probe once per step
        .subquery("per_credential")
    )


def _count_step(steps: ColumnElement[int], bit: int) -> ColumnElement[int]:
    return func.coalesce(func.sum(case((steps.op("&")(1 << bit) != 0, 1), else_=0)), 0)


def reaches(step: EngagementStep, event: Any = e) -> ColumnElement[bool]:
    """Whether an event reaches `step` (EngagementStep.reached_by, in SQL)."""
    matches: ColumnElement[bool] = event.event_type.in_([t.value for t in step.event_types])
    if step.owner_only:
        matches = and_(matches, event.actor == Actor.OWNER.value)
    return matches


def _step_matches(step: EngagementStep, now: datetime) -> ColumnElement[bool]:
    """An event (of the joined credential) that counts for `step` as of `now`."""
    return and_(reaches(step), e.occurred_at <= now)


def activity_select(
    scope: Scope,
    start: datetime | None,
    end: datetime | None,
    *,
    key: ColumnElement[int] | None = None,
) -> AnySelect:
    """Events whose occurred_at is in [start, end), per type, and the credentials they touched."""
    columns: list[ColumnElement[int]] = [
        func.coalesce(func.sum(case((e.event_type == t.value, 1), else_=0)), 0).label(t.value)
        for t in EventType
    ]
    columns += [
        func.count(e.id).label("events"),
        func.count(e.credential_id.distinct()).label("credentials"),
    ]
    stmt = select(*columns).where(*_event_filters(scope, start, end))
    if scope.group_ids or scope.kind is not None:
        stmt = stmt.join(credentials, c.id == e.credential_id).where(
            *_credential_filters(scope, None, None)
        )
    return _keyed(stmt, key)


def event_basis_select(
    scope: Scope,
    start: datetime | None,
    end: datetime | None,
    now: datetime,
    *,
    key: ColumnElement[int] | None = None,
) -> AnySelect:
    """Engagement by event date: distinct credentials with a step's event in [start, end),
    up to `now` (as the funnel by issue date counts events).

    Index-only on PostgreSQL: the (organization, occurred_at) index covers type, actor,
    credential and group. (Grouping the range's events by credential into a bitmask of steps
    took twice as long at 10M as a sorted distinct count per step.)"""
    columns = [func.count(case((reaches(step), e.credential_id), else_=None).distinct())
               .label(step.key) for step in ENGAGEMENT_STEPS]
    stmt = select(*columns).where(*_event_filters(scope, start, end), e.occurred_at <= now)
    if scope.group_ids:  # an event carries its credential's group (metrics/rollups.py)
        stmt = stmt.where(e.group_id.in_(scope.group_ids))
    if scope.kind is not None:
        stmt = stmt.join(credentials, c.id == e.credential_id).where(
            c.organization_id == scope.org_id, c.kind == scope.kind.value)
    return _keyed(stmt, key)


def first_issue_select(scope: Scope) -> AnySelect:
    return select(func.min(c.issued_at)).where(*_credential_filters(scope, None, None))


def first_event_select(scope: Scope) -> AnySelect:
    return select(func.min(e.occurred_at)).where(e.organization_id == scope.org_id)


def _event_filters(
    scope: Scope, start: datetime | None, end: datetime | None
) -> list[ColumnElement[bool]]:
    filters: list[ColumnElement[bool]] = [e.organization_id == scope.org_id]
    if start is not None:
        filters.append(e.occurred_at >= start)
    if end is not None:
        filters.append(e.occurred_at < end)
    return filters


def _keyed(stmt: AnySelect, key: ColumnElement[int] | None) -> AnySelect:
    if key is None:
        return stmt
    labelled = key.label("k")
    return stmt.add_columns(labelled).group_by(labelled)


def peer_cohorts_select(
    exclude_org_id: int,
    start: datetime | None,
    end: datetime | None,
    now: datetime,
    min_issued: int,
) -> AnySelect:
    """Per other organization: issued, opened, shared and referral_clicked of the range's
    cohort (only organizations with at least `min_issued` credentials in it)."""
    bits = {step.key: bit for bit, step in enumerate(ENGAGEMENT_STEPS)}
    filters = [c.organization_id != exclude_org_id, *_issued_within(start, end)]
    pc = _cohort_steps(filters, now).c
    issued = func.count(pc.id)
    return (
        select(pc.organization_id, issued.label("issued"),
               *(_count_step(pc.steps, bits[k]).label(k)
                 for k in ("opened", "shared", "referral_clicked")))
        .group_by(pc.organization_id)
        .having(issued >= min_issued)
    )
