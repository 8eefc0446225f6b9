"""Platform-wide figures, for whoever runs a deployment that serves many organizations: every
organization's credentials issued in a range, their unique recipients and engagement funnel,
each organization as a whole and all of them together, and the previous period's totals.

A recipient belongs to one organization (metrics.schema.recipients), so the platform's unique
recipients are the sum of the organizations'. The figures come from the pre-aggregates in one
statement per question (metrics/fast.py, keyed by organization), or from the raw rows when
those cannot answer (`now` before the latest stored event; `rollups=False`, which the tests
compare with them).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Executable

from metrics import fast, sql
from metrics.catalog import list_organizations
from metrics.definitions import ENGAGEMENT_KEYS
from metrics.timerange import TimeRange

Values = dict[str, int]
KEYS = ("issued", "recipients", *ENGAGEMENT_KEYS)


@dataclass(frozen=True)
class OrganizationFigures:
    name: str
    values: Values


@dataclass(frozen=True)
class PlatformResult:
    time_range: TimeRange
    previous_range: TimeRange | None
    now: datetime
    organizations: tuple[OrganizationFigures, ...]  # largest first (by issued in the range)
    total: Values
    previous_total: Values | None
    from_rollups: bool


def platform(conn: Connection, time_range: TimeRange, now: datetime, *,
             compare: bool = True, rollups: bool = True) -> PlatformResult:
    """Every organization's cohort figures for `time_range` (and the previous period's
    totals when `compare`), as of `now`."""
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    orgs = list_organizations(conn)
    previous = time_range.previous() if compare else None
    ranges = [time_range, *([previous] if previous else [])]
    last = fast.last_event_at(conn, None)
    from_rollups = rollups and bool(orgs) and (last is None or last <= now)
    if from_rollups:
        level = fast.Level(0, None, org_ids=tuple(o.id for o in orgs))
        windows = [fast.Window(k, r.start_at, r.end_at) for k, r in enumerate(ranges)]
        found = fast.cohort(_execute(conn), conn, level, windows, engagement=True)
    else:
        found = {}
        for org in orgs:
            for k, r in enumerate(ranges):
                row = conn.execute(sql.cohort_select(sql.Scope(org.id), r.start_at, r.end_at,
                                                     now, engagement=True)).mappings().one()
                found[(k, org.id)] = {key: int(v or 0) for key, v in row.items()}

    def figures(k: int, org_id: int) -> Values:
        values = found.get((k, org_id), {})
        return {key: int(values.get(key, 0)) for key in KEYS}

    def total(k: int) -> Values:
        return {key: sum(figures(k, o.id)[key] for o in orgs) for key in KEYS}

    rows = sorted((OrganizationFigures(o.name, figures(0, o.id)) for o in orgs),
                  key=lambda row: (-row.values["issued"], row.name))
    return PlatformResult(
        time_range=time_range, previous_range=previous, now=now, organizations=tuple(rows),
        total=total(0), previous_total=total(1) if previous else None,
        from_rollups=from_rollups)


def _execute(conn: Connection) -> fast.Execute:
    def execute(stmt: Executable, params: dict[str, Any] | None = None
                ) -> list[fast.AnyRow]:
        return list(conn.execute(stmt, params or {}).all())
    return execute
