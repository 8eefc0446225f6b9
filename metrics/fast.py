"""Figures from the pre-aggregates that metrics/rollups.py keeps, equal to the raw computation.

A range [a, b) of instants (local midnights, rarely UTC midnights) is cut into whole UTC days
[A, B), read from the rollups, and at most two partial days at its edges, read from the raw
credentials (at most a day of rows each, by index). Distinct recipients come from the stored
"previous credential of the same recipient" facts:

    recipients in [a, b) = credentials in [a, b) whose previous credential is missing or < a

For the whole days that is issued - (credentials whose previous one is >= a), counted as the
previous ones in the partial day [a, A) (raw, by index on the previous-credential time) plus the
`credential_links` rows with day - gap >= A: one index range per gap g < B - A, so the work is
bounded by the range's length, not by the number of credentials.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple, TypeAlias

from sqlalchemy import (
    ColumnElement,
    Connection,
    Integer,
    Row,
    Select,
    Subquery,
    and_,
    case,
    func,
    literal,
    or_,
    select,
    union_all,
)

from metrics.definitions import ENGAGEMENT_STEPS, EventType
from metrics.rollups import ORG
from metrics.schema import (
    UTCDateTime,
    credential_days,
    credential_links,
    credentials,
    engagement_events,
    event_days,
    organizations,
    rollup_state,
)

c = credentials.c
e = engagement_events.c
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
NEVER = datetime(3000, 1, 1, tzinfo=UTC)
BEFORE = -10**7  # day numbers outside any data
AFTER = 10**7
STEP_KEYS = tuple(step.key for step in ENGAGEMENT_STEPS)

AnyRow: TypeAlias = Row[*tuple[Any, ...]]
Execute = Callable[[Select[*tuple[Any, ...]]], Sequence[AnyRow]]
Values = dict[str, int]


@dataclass(frozen=True)
class Window:
    """One range [start, end) of instants (None: unbounded), cut at UTC midnights."""

    k: int
    start: datetime | None
    end: datetime | None

    @property
    def days(self) -> tuple[int, int] | None:
        """[A, B): the whole UTC days inside the range (None if there is none)."""
        first = BEFORE if self.start is None else math.ceil(_epoch(self.start) / 86400)
        last = AFTER if self.end is None else math.floor(_epoch(self.end) / 86400)
        return (first, last) if first < last else None

    @property
    def edges(self) -> list[tuple[datetime, datetime]]:
        """The parts of the range outside its whole days."""
        days = self.days
        if days is None:
            assert self.start is not None and self.end is not None
            return [(self.start, self.end)] if self.start < self.end else []
        out = []
        if self.start is not None and self.start < day_at(days[0]):
            out.append((self.start, day_at(days[0])))
        if self.end is not None and day_at(days[1]) < self.end:
            out.append((day_at(days[1]), self.end))
        return out


def _epoch(instant: datetime) -> float:
    return (instant - EPOCH).total_seconds()


def day_at(day: int) -> datetime:
    return EPOCH + timedelta(days=day)


def _rows(columns: dict[str, Any], rows: list[tuple[Any, ...]], name: str) -> Subquery:
    """A small literal table (UNION ALL of one-row SELECTs; portable, unlike VALUES)."""
    selects = [select(*(literal(v, t).label(n) for (n, t), v in zip(columns.items(), row,
                                                                   strict=True)))
               for row in rows]
    return (union_all(*selects) if len(selects) > 1 else selects[0]).subquery(name)


class Level:
    """Which rows a figure reads: the organization's (group_id 0, previous credential in the
    organization) or some groups' (previous credential in the same group)."""

    def __init__(self, org_id: int, group_ids: tuple[int, ...] | None) -> None:
        self.org_id = org_id
        self.group_ids = group_ids

    def rollup(self, table: Any) -> list[ColumnElement[bool]]:
        if self.group_ids is None:
            return [table.c.organization_id == self.org_id, table.c.group_id == ORG]
        return [table.c.organization_id == self.org_id, table.c.group_id.in_(self.group_ids)]

    def raw(self) -> list[ColumnElement[bool]]:
        if self.group_ids is None:
            return [c.organization_id == self.org_id]
        return [c.organization_id == self.org_id, c.group_id.in_(self.group_ids)]

    def keys(self, windows: Sequence[Window]) -> list[tuple[int, int]]:
        """Every (window, group) a figure has, whether or not any row counts for it."""
        return [(w.k, g) for w in windows for g in (self.group_ids or (ORG,))]

    @property
    def group(self) -> ColumnElement[int]:
        return literal(ORG, Integer) if self.group_ids is None else c.group_id

    @property
    def prev(self) -> ColumnElement[datetime]:
        return c.org_prev_at if self.group_ids is None else c.group_prev_at


def last_event_at(conn: Connection, org_id: int | None) -> datetime | None:
    """The latest event the rollups hold (for one organization, or for all)."""
    s = rollup_state.c
    stmt = select(func.max(s.last_event_at))
    if org_id is not None:
        stmt = stmt.where(s.organization_id == org_id)
    value: datetime | None = conn.execute(stmt).scalar()
    return value


def rollups_answer(conn: Connection, org_id: int, now: datetime) -> bool:
    """Whether the organization's rollups hold the answer as of `now`: they exist and count
    every stored event, so `now` must not be before the latest one."""
    s = rollup_state.c
    row = conn.execute(select(s.last_event_at).where(s.organization_id == org_id)).first()
    return row is not None and (row[0] is None or row[0] <= now)


def cohort(execute: Execute, level: Level, windows: Sequence[Window], *, engagement: bool
           ) -> dict[tuple[int, int], Values]:
    """issued, recipients and (optionally) the engagement steps of the credentials issued in
    each window, per (window k, group id; 0 for the organization)."""
    out: dict[tuple[int, int], Values] = {}

    def add(key: tuple[int, int], values: dict[str, int]) -> None:
        into = out.setdefault(key, {"issued": 0, "recipients": 0,
                                    **({k: 0 for k in STEP_KEYS} if engagement else {})})
        for name, value in values.items():
            into[name] += value

    steps = STEP_KEYS if engagement else ()
    for key in level.keys(windows):
        add(key, {})
    whole = [w for w in windows if w.days is not None]
    if whole:
        days = _rows({"k": Integer(), "lo": Integer(), "hi": Integer()},
                     [(w.k, *w.days) for w in whole if w.days], "windows")
        cd = credential_days.c
        stmt = (select(days.c.k, cd.group_id, func.sum(cd.issued), func.sum(cd.firsts),
                       *(func.sum(cd[s]) for s in steps))
                .select_from(days.join(credential_days, and_(
                    cd.day >= days.c.lo, cd.day < days.c.hi, *level.rollup(credential_days))))
                .group_by(days.c.k, cd.group_id))
        starts = {w.k: w.start for w in windows}
        for k, group, issued, firsts, *reached in execute(stmt):
            add((k, group), {"issued": issued,
                             "recipients": firsts if starts[k] is None else issued,
                             **dict(zip(steps, reached, strict=True))})
    edges = [(w.k, lo, hi, w.start) for w in windows for lo, hi in w.edges]
    if edges:
        inside = [and_(c.issued_at >= lo, c.issued_at < hi) for _, lo, hi, _ in edges]
        k = case(*((cond, literal(k, Integer)) for cond, (k, *_) in zip(inside, edges,
                                                                       strict=True)))
        start = case(*((cond, literal(a, UTCDateTime())) for cond, (_, _, _, a)
                       in zip(inside, edges, strict=True)), else_=None)
        new = or_(level.prev.is_(None), level.prev < start)
        stmt = (select(k, level.group, func.count(), _count(new),
                       *(_count(c.steps.op("&")(1 << STEP_KEYS.index(key)) != 0)
                         for key in steps))
                .where(*level.raw(), or_(*inside))
                .group_by(k, level.group))
        for key_k, group, issued, recipients, *reached in execute(stmt):
            add((key_k, group), {"issued": issued, "recipients": recipients,
                                 **dict(zip(steps, reached, strict=True))})
    for key, repeats in _repeats(execute, level, [w for w in whole if w.start is not None]):
        add(key, {"recipients": -repeats})
    return out


def _count(condition: ColumnElement[bool]) -> ColumnElement[int]:
    return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)


def _repeats(execute: Execute, level: Level, windows: Sequence[Window]
             ) -> list[tuple[tuple[int, int], int]]:
    """Per window: credentials issued in its whole days [A, B) whose previous credential was
    issued at or after the window's start a."""
    out: list[tuple[tuple[int, int], int]] = []
    partial = [(w.k, w.start, day_at(w.days[0]), day_at(w.days[1]) if w.end else NEVER)
               for w in windows if w.days and w.start and w.start < day_at(w.days[0])]
    if partial:  # the previous credential in [a, A)
        inside = [and_(level.prev >= a, level.prev < lo, c.issued_at >= lo, c.issued_at < hi)
                  for _, a, lo, hi in partial]
        k = case(*((cond, literal(k, Integer)) for cond, (k, *_) in zip(inside, partial,
                                                                       strict=True)))
        stmt = (select(k, level.group, func.count()).where(*level.raw(), or_(*inside))
                .group_by(k, level.group))
        out += [((key_k, group), n) for key_k, group, n in execute(stmt)]
    spans = [(w.k, *w.days) for w in windows if w.days]
    if any(hi == AFTER for _, _, hi in spans):  # an open end: up to the last day issued
        cd = credential_days.c
        last = execute(select(func.max(cd.day)).where(*level.rollup(credential_days)))[0][0]
        spans = [(k, lo, min(hi, (last or lo) + 1)) for k, lo, hi in spans]
        spans = [(k, lo, hi) for k, lo, hi in spans if lo < hi]
    if spans:  # the previous credential on a whole day >= A: gaps g < B - A
        longest = max(hi - lo for _, lo, hi in spans)
        sp = _rows({"k": Integer(), "lo": Integer(), "hi": Integer()}, spans, "spans")
        gaps = select(literal(0, Integer).label("g")).cte("gaps", recursive=True)
        gaps = gaps.union_all(select(gaps.c.g + 1).where(gaps.c.g < longest - 1))
        cl = credential_links.c
        stmt = (select(sp.c.k, cl.group_id, func.sum(cl.links))
                .select_from(sp.join(gaps, gaps.c.g < sp.c.hi - sp.c.lo).join(
                    credential_links, and_(*level.rollup(credential_links), cl.gap == gaps.c.g,
                                           cl.day >= sp.c.lo + gaps.c.g, cl.day < sp.c.hi)))
                .group_by(sp.c.k, cl.group_id))
        out += [((k, group), int(n)) for k, group, n in execute(stmt)]
    return out


def activity(execute: Execute, level: Level, windows: Sequence[Window]
             ) -> dict[tuple[int, int], Values]:
    """Events per type (and in all) with occurred_at in each window, per (window, group)."""
    out: dict[tuple[int, int], Values] = {}

    def add(key: tuple[int, int], event_type: str, n: int) -> None:
        into = out.setdefault(key, {t.value: 0 for t in EventType} | {"events": 0})
        into[event_type] += n
        into["events"] += n

    for key in level.keys(windows):
        out[key] = {t.value: 0 for t in EventType} | {"events": 0}
    whole = [(w.k, *w.days) for w in windows if w.days]
    if whole:
        days = _rows({"k": Integer(), "lo": Integer(), "hi": Integer()}, whole, "windows")
        ed = event_days.c
        stmt = (select(days.c.k, ed.group_id, ed.event_type, func.sum(ed.events))
                .select_from(days.join(event_days, and_(
                    ed.day >= days.c.lo, ed.day < days.c.hi, *level.rollup(event_days))))
                .group_by(days.c.k, ed.group_id, ed.event_type))
        for k, group, event_type, n in execute(stmt):
            add((k, group), event_type, int(n))
    edges = [(w.k, lo, hi) for w in windows for lo, hi in w.edges]
    if edges:
        inside = [and_(e.occurred_at >= lo, e.occurred_at < hi) for _, lo, hi in edges]
        k = case(*((cond, literal(k, Integer)) for cond, (k, *_) in zip(inside, edges,
                                                                       strict=True)))
        stmt = (select(k, level.group, e.event_type, func.count())
                .select_from(engagement_events.join(credentials, c.id == e.credential_id))
                .where(e.organization_id == level.org_id, or_(*inside), *level.raw())
                .group_by(k, level.group, e.event_type))
        for key_k, group, event_type, n in execute(stmt):
            add((key_k, group), event_type, int(n))
    return out


class PeerCohort(NamedTuple):
    organization_id: int
    issued: int
    opened: int
    shared: int
    referral_clicked: int


def peer_cohorts(execute: Execute, exclude_org_id: int, window: Window, min_issued: int
                 ) -> list[PeerCohort]:
    """Per other organization: issued, opened, shared and referral_clicked of the window's
    cohort (only organizations with at least `min_issued` credentials in it)."""
    keys = ("opened", "shared", "referral_clicked")
    totals: dict[int, list[int]] = {}

    def add(org_id: int, values: Sequence[int]) -> None:
        into = totals.setdefault(org_id, [0, 0, 0, 0])
        for i, v in enumerate(values):
            into[i] += int(v or 0)

    if window.days is not None:
        cd = credential_days.c
        lo, hi = window.days
        stmt = (select(cd.organization_id, func.sum(cd.issued), *(func.sum(cd[k]) for k in keys))
                .where(cd.group_id == ORG, cd.organization_id != exclude_org_id,
                       cd.day >= lo, cd.day < hi)
                .group_by(cd.organization_id))
        for org_id, *values in execute(stmt):
            add(org_id, values)
    bits = {step.key: bit for bit, step in enumerate(ENGAGEMENT_STEPS)}
    o = organizations.c
    for lo_at, hi_at in window.edges:
        stmt = (select(o.id, func.count(), *(_count(c.steps.op("&")(1 << bits[k]) != 0)
                                             for k in keys))
                .select_from(organizations.join(credentials, and_(
                    c.organization_id == o.id, c.issued_at >= lo_at, c.issued_at < hi_at)))
                .where(o.id != exclude_org_id).group_by(o.id))
        for org_id, *values in execute(stmt):
            add(org_id, values)
    return [PeerCohort(org_id, *v) for org_id, v in totals.items() if v[0] >= min_issued]
