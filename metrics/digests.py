"""Digest subscriptions, their schedule, and runs claimed exactly once across replicas.

A subscription posts one digest per period (yesterday, last week Monday–Monday, last month) at a
local time in its own timezone. Every scheduler tick, in any number of processes, calls
`claim_due`: it locks the due subscriptions (FOR UPDATE SKIP LOCKED on PostgreSQL) and inserts a
run unique per (subscription, period) in the same transaction, so each period is claimed once.
A run then moves claimed → posting → posted (or failed, skipped, unknown); see README, "Digests".
Nothing here talks to Slack.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from enum import StrEnum

from sqlalchemy import Connection, delete, insert, select, update

from metrics.definitions import Granularity
from metrics.errors import UserError
from metrics.schema import digest_runs, digest_subscriptions
from metrics.timerange import TimeRange, add_months, unit_start, zone

GRACE = timedelta(hours=24)
LEASE = timedelta(minutes=2)  # a run left in claimed/posting longer than this was abandoned


class Frequency(StrEnum):
    DAILY = "daily"
    WEEKLY = "weekly"
    MONTHLY = "monthly"


class RunState(StrEnum):
    CLAIMED = "claimed"
    POSTING = "posting"
    POSTED = "posted"
    FAILED = "failed"
    SKIPPED = "skipped"
    UNKNOWN = "unknown"


WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
PERIOD_LABELS = {Frequency.DAILY: "yesterday", Frequency.WEEKLY: "last week",
                 Frequency.MONTHLY: "last month"}
PERIOD_UNITS = {Frequency.DAILY: Granularity.DAY, Frequency.WEEKLY: Granularity.WEEK,
                Frequency.MONTHLY: Granularity.MONTH}


@dataclass(frozen=True)
class Subscription:
    id: int
    team_id: str
    channel_id: str
    organization_id: int
    created_by: str
    frequency: Frequency
    weekday: int | None
    at_minute: int
    timezone: str
    groups: tuple[str, ...]
    skip_empty: bool
    paused: bool

    def describe(self) -> str:
        when = {Frequency.DAILY: "every day",
                Frequency.WEEKLY: f"every {WEEKDAYS[self.weekday or 0].capitalize()}",
                Frequency.MONTHLY: "on the 1st of every month"}[self.frequency]
        hour, minute = divmod(self.at_minute, 60)
        parts = [f"#{self.id}", f"<#{self.channel_id}>", f"{self.frequency.value} digest",
                 f"{when} at {hour:02d}:{minute:02d} {self.timezone}"]
        if self.groups:
            parts.append("groups: " + ", ".join(self.groups))
        if self.skip_empty:
            parts.append("skips empty periods")
        if self.paused:
            parts.append("PAUSED")
        return " · ".join(parts)


@dataclass(frozen=True)
class Run:
    id: int
    subscription: Subscription
    period: TimeRange
    scheduled_for: datetime
    state: RunState
    attempts: int
    message_ts: str | None = None


# -- the schedule ------------------------------------------------------------------------------

def last_due(sub: Subscription, now: datetime) -> datetime:
    """The latest scheduled instant at or before `now` (local time, DST-correct)."""
    tz = zone(sub.timezone)
    local = now.astimezone(tz)
    at = time(sub.at_minute // 60, sub.at_minute % 60)
    day = local.date()
    if sub.frequency is Frequency.WEEKLY:
        day -= timedelta(days=(day.weekday() - (sub.weekday or 0)) % 7)
    elif sub.frequency is Frequency.MONTHLY:
        day = day.replace(day=1)
    while (due := datetime.combine(day, at, tzinfo=tz)) > now:
        day = {Frequency.DAILY: day - timedelta(days=1),
               Frequency.WEEKLY: day - timedelta(days=7),
               Frequency.MONTHLY: add_months(day, -1)}[sub.frequency]
    return due


def period_for(sub: Subscription, due: datetime) -> TimeRange:
    """The complete period a digest due at `due` covers: yesterday, the previous Monday-to-
    Monday week, or the previous month, in the subscription's timezone."""
    local_day: date = due.astimezone(zone(sub.timezone)).date()
    unit = PERIOD_UNITS[sub.frequency]
    end = unit_start(local_day, unit)
    if unit is Granularity.DAY:
        end = local_day
    start = {Granularity.DAY: end - timedelta(days=1),
             Granularity.WEEK: end - timedelta(days=7),
             Granularity.MONTH: add_months(end, -1)}[unit]
    return TimeRange(start, end, sub.timezone, PERIOD_LABELS[sub.frequency], unit)


# -- subscriptions ----------------------------------------------------------------------------

def _subscription(row: object) -> Subscription:
    r = row._mapping  # type: ignore[attr-defined]
    return Subscription(
        id=int(r["id"]), team_id=r["team_id"], channel_id=r["channel_id"],
        organization_id=int(r["organization_id"]), created_by=r["created_by"],
        frequency=Frequency(r["frequency"]), weekday=r["weekday"], at_minute=r["at_minute"],
        timezone=r["timezone"], groups=tuple(json.loads(r["groups"] or "[]")),
        skip_empty=bool(r["skip_empty"]), paused=bool(r["paused"]))


def add_subscription(conn: Connection, *, team_id: str, channel_id: str, organization_id: int,
                     created_by: str, frequency: Frequency, weekday: int | None,
                     at_minute: int, timezone: str, groups: tuple[str, ...], skip_empty: bool,
                     now: datetime) -> Subscription:
    zone(timezone)
    if not 0 <= at_minute < 24 * 60:
        raise UserError("A digest time must be between 00:00 and 23:59.", ["at 9:00"])
    new_id = conn.execute(insert(digest_subscriptions).values(
        team_id=team_id, channel_id=channel_id, organization_id=organization_id,
        created_by=created_by, frequency=frequency.value,
        weekday=weekday if frequency is Frequency.WEEKLY else None, at_minute=at_minute,
        timezone=timezone, groups=json.dumps(list(groups)), skip_empty=int(skip_empty),
        paused=0, created_at=now).returning(digest_subscriptions.c.id)).scalar_one()
    return get_subscription(conn, team_id, int(new_id))


def get_subscription(conn: Connection, team_id: str, sub_id: int) -> Subscription:
    d = digest_subscriptions.c
    row = conn.execute(select(digest_subscriptions).where(d.id == sub_id,
                                                          d.team_id == team_id)).first()
    if row is None:
        raise UserError(f"There is no digest #{sub_id} in this workspace.",
                        ["digest list all"])
    return _subscription(row)


def list_subscriptions(conn: Connection, team_id: str, channel_id: str | None = None
                       ) -> list[tuple[Subscription, Run | None]]:
    """Subscriptions with their latest run (for `digest list`)."""
    d = digest_subscriptions.c
    stmt = select(digest_subscriptions).where(d.team_id == team_id).order_by(d.id)
    if channel_id is not None:
        stmt = stmt.where(d.channel_id == channel_id)
    out = []
    for row in conn.execute(stmt).all():
        sub = _subscription(row)
        out.append((sub, latest_run(conn, sub)))
    return out


def set_paused(conn: Connection, sub: Subscription, paused: bool) -> None:
    conn.execute(update(digest_subscriptions).where(digest_subscriptions.c.id == sub.id)
                 .values(paused=int(paused)))


def remove_subscription(conn: Connection, sub: Subscription) -> None:
    conn.execute(delete(digest_runs).where(digest_runs.c.subscription_id == sub.id))
    conn.execute(delete(digest_subscriptions).where(digest_subscriptions.c.id == sub.id))


# -- runs -------------------------------------------------------------------------------------

def _run(row: object, sub: Subscription) -> Run:
    r = row._mapping  # type: ignore[attr-defined]
    due = r["scheduled_for"]
    return Run(int(r["id"]), sub, period_for(sub, due), due, RunState(r["state"]),
               int(r["attempts"]), r["message_ts"])


def latest_run(conn: Connection, sub: Subscription) -> Run | None:
    row = conn.execute(select(digest_runs).where(digest_runs.c.subscription_id == sub.id)
                       .order_by(digest_runs.c.period_start.desc()).limit(1)).first()
    return None if row is None else _run(row, sub)


def run_error(conn: Connection, run_id: int) -> str | None:
    return conn.execute(select(digest_runs.c.error).where(digest_runs.c.id == run_id)).scalar()


def claim_due(conn: Connection, now: datetime, grace: timedelta = GRACE) -> list[Run]:
    """Claim the runs due at `now`; call inside a transaction (commit to make them yours).

    Due subscriptions are locked with FOR UPDATE SKIP LOCKED, so concurrent ticks divide them
    between themselves; the run record is unique per (subscription, period), so a period is
    claimed once even by a tick that saw the subscription unlocked later. A run more than
    `grace` late is recorded as skipped instead of posted.
    """
    d = digest_subscriptions.c
    stmt = select(digest_subscriptions).where(d.paused == 0).order_by(d.id)
    if conn.dialect.name == "postgresql":
        stmt = stmt.with_for_update(skip_locked=True)
    claimed = []
    for row in conn.execute(stmt).all():
        sub = _subscription(row)
        due = last_due(sub, now)
        if due < row._mapping["created_at"]:
            continue  # scheduled before the subscription existed
        period = period_for(sub, due)
        assert period.start_at is not None
        exists = conn.execute(select(digest_runs.c.id).where(
            digest_runs.c.subscription_id == sub.id,
            digest_runs.c.period_start == period.start_at)).first()
        if exists is not None:
            continue
        late = now - due > grace
        state = RunState.SKIPPED if late else RunState.CLAIMED
        run_id = conn.execute(insert(digest_runs).values(
            subscription_id=sub.id, period_start=period.start_at, scheduled_for=due,
            state=state.value, attempts=0, updated_at=now,
            error="missed by more than the grace window" if late else None,
        ).returning(digest_runs.c.id)).scalar_one()
        if not late:
            claimed.append(Run(int(run_id), sub, period, due, state, 0))
    return claimed


def abandoned(conn: Connection, now: datetime) -> list[Run]:
    """Runs left in claimed or posting past the lease (their process died), locked for the
    caller, who reconciles them."""
    r = digest_runs.c
    stmt = select(digest_runs).where(
        r.state.in_([RunState.CLAIMED.value, RunState.POSTING.value]),
        r.updated_at < now - LEASE)
    if conn.dialect.name == "postgresql":
        stmt = stmt.with_for_update(skip_locked=True)
    out = []
    for row in conn.execute(stmt).all():
        sub_row = conn.execute(select(digest_subscriptions).where(
            digest_subscriptions.c.id == row.subscription_id)).one()
        out.append(_run(row, _subscription(sub_row)))
    return out


def move(conn: Connection, run: Run, to: RunState, now: datetime, *,
         expected: tuple[RunState, ...], message_ts: str | None = None,
         error: str | None = None) -> bool:
    """Move a run to state `to` if it is still in one of `expected`; False if someone else
    moved it first (the caller then leaves it alone)."""
    r = digest_runs.c
    values: dict[str, object] = {"state": to.value, "updated_at": now}
    if to is RunState.POSTING:
        values["attempts"] = r.attempts + 1
    if message_ts is not None:
        values["message_ts"] = message_ts
    if error is not None:
        values["error"] = error[:500]
    done = conn.execute(update(digest_runs).where(
        r.id == run.id, r.state.in_([s.value for s in expected])).values(**values))
    return bool(done.rowcount)
