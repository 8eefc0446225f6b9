"""Pre-aggregates kept exact in the same transaction as every write.

Every writer (the importer, the seed generator) follows one protocol:

    rollups.mark_credentials(conn, ids)   # before the write: where the rows counted until now
    ... insert / update credentials and events ...
    rollups.mark_credentials(conn, ids)   # after: where they count now
    rollups.mark_events(conn, ids)        # (before and after, for events)
    rollups.apply(conn)                   # recompute what was marked

`apply` first recomputes the per-credential facts of every marked recipient (the steps each
credential reached; the issue time of the recipient's previous credential in the organization and
in the group), then recomputes every rollup row of every marked (organization, UTC day): per
group by day, and per organization by hour and by day (its days summed from its hours).
Recomputing whole days, rather than adding deltas, keeps the rollups a pure function of the raw
rows, so a test can compare them with a rebuild from scratch.

Days are UTC day numbers and hours UTC hour numbers; metrics/fast.py reads a range's whole days
from the daily rollups, an organization's whole hours at its edges (local midnight is rarely UTC
midnight) from the hourly ones, and what is left (zones at :30 and :45; a group's partial days)
from the raw rows.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    BindParameter,
    Column,
    ColumnElement,
    Connection,
    Integer,
    MetaData,
    Select,
    Subquery,
    Table,
    and_,
    case,
    cast,
    delete,
    exists,
    func,
    insert,
    literal,
    or_,
    over,
    select,
    update,
)
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement

from metrics.db import BULK_MIN, indexes_after
from metrics.definitions import ENGAGEMENT_STEPS, EventType
from metrics.schema import (
    Id,
    UTCDateTime,
    credential_crossings,
    credential_days,
    credential_hour_links,
    credential_hours,
    credential_links,
    credentials,
    engagement_events,
    groups,
    organizations,
    rollup_state,
    touch_days,
    touch_hour_links,
    touch_hours,
    touch_links,
)
from metrics.sql import reaches

c = credentials.c
e = engagement_events.c
ROLLUPS = (credential_days, credential_links, touch_days, touch_links)
HOURLY = (credential_hours, credential_hour_links, touch_hours, touch_hour_links)
EVENT_ROLLUPS = (touch_days, touch_links, touch_hours, touch_hour_links)  # the events' ones
CREDENTIAL_ROLLUPS = (credential_days, credential_links, credential_hours, credential_hour_links)
EventsFrom = Callable[[], str | None]  # a schema holding the events' rollups, or None
EVENT_TYPES = tuple(t.value for t in EventType)  # touch_days' and touch_hours' columns
ORG = 0  # group_id of the rows that hold a whole organization
DAWN = datetime(1000, 1, 1, tzinfo=UTC)  # before any instant stored here


# -- portable day arithmetic ----------------------------------------------------------------------

class utc_day(FunctionElement[int]):  # noqa: N801 (a SQL function)
    """The UTC day number (days since 1970-01-01) of an instant column."""

    type = Integer()
    inherit_cache = True


# PostgreSQL: whole days and hours of the interval since 1900-01-01 UTC (a difference of two
# instants is in days and hours, whatever the session's timezone), exact integers in
# double precision; 4x cheaper than extract(epoch ...), which is numeric, on the seed's and
# rebuilds' tens of millions of rows. Counted from 1900 so any instant here is after it (a
# negative interval would round its days towards zero).
_SINCE_1900 = "TIMESTAMPTZ '1900-01-01 00:00:00+00'"
_DAYS_1900_TO_1970 = 25567


@compiles(utc_day, "postgresql")
def _utc_day_pg(element: utc_day, compiler: SQLCompiler, **kw: Any) -> str:
    (arg,) = element.clauses
    since = f"({compiler.process(arg, **kw)} - {_SINCE_1900})"
    return f"(CAST(date_part('day', {since}) AS INTEGER) - {_DAYS_1900_TO_1970})"


@compiles(utc_day, "sqlite")
def _utc_day_sqlite(element: utc_day, compiler: SQLCompiler, **kw: Any) -> str:
    (arg,) = element.clauses
    # instants are stored as 'YYYY-MM-DD HH:MM:SS.ffffff' in UTC (metrics.schema.UTCDateTime)
    return f"CAST(julianday(substr({compiler.process(arg, **kw)}, 1, 10)) - 2440587.5 AS INTEGER)"


class utc_hour(FunctionElement[int]):  # noqa: N801 (a SQL function)
    """The UTC hour number (utc_day * 24 + hour of the day) of an instant column."""

    type = Integer()
    inherit_cache = True


@compiles(utc_hour, "postgresql")
def _utc_hour_pg(element: utc_hour, compiler: SQLCompiler, **kw: Any) -> str:
    (arg,) = element.clauses
    since = f"({compiler.process(arg, **kw)} - {_SINCE_1900})"
    return (f"(CAST(date_part('day', {since}) * 24 + date_part('hour', {since}) AS INTEGER)"
            f" - {_DAYS_1900_TO_1970 * 24})")


@compiles(utc_hour, "sqlite")
def _utc_hour_sqlite(element: utc_hour, compiler: SQLCompiler, **kw: Any) -> str:
    (arg,) = element.clauses
    text_ = compiler.process(arg, **kw)
    return (f"(CAST(julianday(substr({text_}, 1, 10)) - 2440587.5 AS INTEGER) * 24 "
            f"+ CAST(substr({text_}, 12, 2) AS INTEGER))")


class day_start(FunctionElement[Any]):  # noqa: N801 (a SQL function)
    """The instant a UTC day number starts, comparable with stored instants."""

    type = UTCDateTime()
    inherit_cache = True


@compiles(day_start, "postgresql")
def _day_start_pg(element: day_start, compiler: SQLCompiler, **kw: Any) -> str:
    (arg,) = element.clauses
    return f"to_timestamp(({compiler.process(arg, **kw)}) * 86400)"


@compiles(day_start, "sqlite")
def _day_start_sqlite(element: day_start, compiler: SQLCompiler, **kw: Any) -> str:
    (arg,) = element.clauses
    return (f"(strftime('%Y-%m-%d %H:%M:%S', ({compiler.process(arg, **kw)}) * 86400, "
            "'unixepoch') || '.000000')")


def lock(conn: Connection, organization_id: int) -> None:
    """Serialize writers of one organization until the transaction ends (PostgreSQL): two
    imports into it would otherwise recompute the same rollup rows at once."""
    if conn.dialect.name == "postgresql":
        conn.execute(select(func.pg_advisory_xact_lock(
            cast(literal(LOCK_SPACE), Integer), cast(literal(organization_id), Integer))))


LOCK_SPACE = 7_460_521  # the advisory lock key space of credstats' writers


# -- what a write marks -------------------------------------------------------------------------

_marks = MetaData()
dirty_recipients = Table(
    "rollup_dirty_recipients", _marks,
    Column("recipient_id", Id, nullable=False),
    # 1: some of their credentials were written (their crossings change too); 0: only events
    Column("credentials", Integer, nullable=False),
    prefixes=["TEMPORARY"],
)
dirty_days = Table(
    "rollup_dirty_days", _marks,
    Column("organization_id", Id, nullable=False),
    Column("day", Integer, nullable=False),
    prefixes=["TEMPORARY"],
)
marked_days = Table(  # dirty_days without repeats, with the instants each day spans
    "rollup_marked_days", _marks,
    Column("organization_id", Id, nullable=False),
    Column("day", Integer, nullable=False),
    Column("starts_at", UTCDateTime(), nullable=False),
    Column("ends_at", UTCDateTime(), nullable=False),
    prefixes=["TEMPORARY"],
)
facts = Table(  # recomputed per-credential facts, before they are written back
    "rollup_facts", _marks,
    Column("id", Id, nullable=False),
    Column("steps", Integer, nullable=False),
    Column("org_prev_at", UTCDateTime(), nullable=True),
    Column("group_prev_at", UTCDateTime(), nullable=True),
    prefixes=["TEMPORARY"],
)
event_facts = Table(
    "rollup_event_facts", _marks,
    Column("id", Id, nullable=False),
    Column("prev_at", UTCDateTime(), nullable=True),
    Column("group_id", Id, nullable=True),
    prefixes=["TEMPORARY"],
)

# an organization's hourly figures (group_id 0), read from the raw rows once and written as
# they are into the hourly rollups and summed by day into the daily ones
_credential_hours = Table(
    "rollup_credential_hours", _marks,
    *(Column(name, Integer, nullable=False) for name in (
        "organization_id", "group_id", "hour", "issued", "firsts",
        *(step.key for step in ENGAGEMENT_STEPS))),
    prefixes=["TEMPORARY"],
)
_credential_links = Table(
    "rollup_credential_links", _marks,
    *(Column(name, Integer, nullable=False)
      for name in ("organization_id", "group_id", "hour", "gap", "links")),
    prefixes=["TEMPORARY"],
)
_event_hours = Table(  # events, their credential's firsts, and events of each type
    "rollup_event_hours", _marks,
    *(Column(name, Integer, nullable=False)
      for name in ("organization_id", "group_id", "hour", "events", "firsts", *EVENT_TYPES)),
    prefixes=["TEMPORARY"],
)
_touch_links = Table(
    "rollup_touch_links", _marks,
    *(Column(name, Integer, nullable=False)
      for name in ("organization_id", "group_id", "hour", "gap", "links")),
    prefixes=["TEMPORARY"],
)
_HOURLY_TEMP = (_credential_hours, _credential_links, _event_hours, _touch_links)
_TEMP = (dirty_recipients, dirty_days, marked_days, facts, event_facts, *_HOURLY_TEMP)


def _ensure_marks(conn: Connection) -> None:
    for table in (dirty_recipients, dirty_days):
        table.create(conn, checkfirst=True)


def mark(conn: Connection, *, days: Select[Any] | None = None,
         recipients: Select[Any] | None = None, events_only: bool = False) -> None:
    """Mark (organization_id, instant) pairs whose UTC days to recompute, and recipients
    whose credentials' facts to recompute (`events_only`: only their credentials' events
    were written, so only the steps they reached can change)."""
    _ensure_marks(conn)
    if days is not None:
        sub = days.subquery("marked")
        org, instant = sub.c
        conn.execute(insert(dirty_days).from_select(
            ["organization_id", "day"], select(org, utc_day(instant)).distinct()))
    if recipients is not None:
        sub = recipients.subquery("marked")
        conn.execute(insert(dirty_recipients).from_select(
            ["recipient_id", "credentials"],
            select(sub.c[0], literal(0 if events_only else 1))))


def mark_credentials(conn: Connection, where: ColumnElement[bool]) -> None:
    """Mark the stored credentials `where` selects: their issue days, their events' days and
    their recipients (and so the facts of their recipients' other credentials). `where` is
    over metrics.schema's `credentials` table."""
    mark(conn, days=select(c.organization_id, c.issued_at).where(where),
         recipients=select(c.recipient_id).where(where).distinct())
    # their events count in touch_days under the credential's group
    mark(conn, days=select(e.organization_id, e.occurred_at).where(
        e.credential_id.in_(select(c.id).where(where))))


def mark_events(conn: Connection, where: ColumnElement[bool]) -> None:
    """Mark the stored events `where` selects (over `engagement_events`): their days and the
    recipients of their credentials."""
    mark(conn, days=select(e.organization_id, e.occurred_at).where(where),
         recipients=select(c.recipient_id).where(
             c.id.in_(select(e.credential_id).where(where))).distinct(), events_only=True)


# -- recomputing ---------------------------------------------------------------------------------

def steps_mask(event: Any = e) -> ColumnElement[int]:
    """Per credential (grouped by credential_id): the bitmask of the engagement steps its
    events reached, at any date (EngagementStep.reached_by, in SQL)."""
    mask: ColumnElement[int] = literal(0)
    for bit, step in enumerate(ENGAGEMENT_STEPS):
        mask = mask + func.max(case((reaches(step, event), 1 << bit), else_=0))
    return mask


def apply(conn: Connection, *, whole: list[int] | None = None,
          events_from: EventsFrom | None = None, credentials: bool = True) -> None:
    """Recompute the facts of marked recipients' credentials and the rollups of marked days
    (or of every day of the organizations `whole`, whose rollup rows are gone: a rebuild;
    without their crossings and credentials' rollups when `credentials` is False)."""
    _ensure_marks(conn)
    for table in (marked_days, facts, event_facts):
        table.drop(conn, checkfirst=True)
        table.create(conn)
    _analyze(conn, dirty_recipients)
    for table, changed in _recompute_facts(conn).items():
        if changed >= ANALYZE_AFTER:
            # the planner's statistics still show the facts as before (all null after an
            # import of new credentials): with them it read an index of credentials with a
            # previous one once per marked day (200,000 imported: 40 s instead of 0.3 s)
            _analyze(conn, table)
    if credentials:
        _recompute_crossings(conn, whole)  # (before the days: `events_from` may wait)
    if whole is None:
        conn.execute(insert(marked_days).from_select(
            ["organization_id", "day", "starts_at", "ends_at"],
            select(dirty_days.c.organization_id, dirty_days.c.day, day_start(dirty_days.c.day),
                   day_start(dirty_days.c.day + 1)).distinct()))
        _analyze(conn, marked_days)
        _recompute_days(conn, _Marked(), credentials=credentials)
        orgs: Any = select(marked_days.c.organization_id).distinct()
    else:
        _recompute_days(conn, _Whole(whole), events_from=events_from,
                        credentials=credentials)
        orgs = select(organizations.c.id).where(organizations.c.id.in_(whole))
    _recompute_state(conn, orgs)
    for table in _TEMP:
        table.drop(conn, checkfirst=True)


def _analyze(conn: Connection, table: Table) -> None:
    if conn.dialect.name == "postgresql":  # temp tables get no autovacuum
        conn.exec_driver_sql(f"ANALYZE {table.name}")


def facts_select(target: Subquery) -> Select[Any]:
    """`target`'s columns plus each credential's facts: steps (from its stored events, unless
    `target` has a `steps` column: a generator that knows them), org_prev_at, group_prev_at.

    `target` needs id, recipient_id, group_id and issued_at, and must hold every credential of
    its recipients (the previous credential of a recipient is one of them)."""
    t, ev = target.c, e
    order = [t.issued_at, t.id]
    prev = [
        over(func.lag(t.issued_at), partition_by=t.recipient_id, order_by=order)
        .label("org_prev_at"),
        over(func.lag(t.issued_at), partition_by=[t.recipient_id, t.group_id], order_by=order)
        .label("group_prev_at"),
    ]
    if "steps" in t:
        return select(*t, *prev)
    steps = (select(ev.credential_id.label("id"), steps_mask(ev).label("steps"))
             .where(ev.credential_id.in_(select(t.id)))
             .group_by(ev.credential_id).subquery("reached"))
    return select(*t, func.coalesce(steps.c.steps, 0).label("steps"), *prev
                  ).select_from(target.outerjoin(steps, steps.c.id == t.id))


def event_facts_select(target: Subquery) -> Select[Any]:
    """`target`'s columns plus each event's facts: prev_at, the time of the previous event of
    the same credential (by time, then id), and group_id, its credential's group. `target`
    (id, credential_id, occurred_at) must hold every event of its credentials."""
    t = target.c
    return (select(*t, over(func.lag(t.occurred_at), partition_by=t.credential_id,
                            order_by=[t.occurred_at, t.id]).label("prev_at"),
                   c.group_id.label("group_id"))
            .select_from(target.join(credentials, c.id == t.credential_id)))


ANALYZE_AFTER = 10_000  # rows whose facts changed, from which a table's statistics are renewed


def _recompute_facts(conn: Connection) -> dict[Table, int]:
    """Recompute the marked recipients' facts; returns how many rows changed, per table."""
    target = (select(c.id, c.recipient_id, c.group_id, c.issued_at)
              .where(c.recipient_id.in_(select(dirty_recipients.c.recipient_id)))
              .subquery("target"))
    computed = facts_select(target).subquery("computed").c
    conn.execute(insert(facts).from_select(
        ["id", "steps", "org_prev_at", "group_prev_at"],
        select(computed.id, computed.steps, computed.org_prev_at, computed.group_prev_at)))
    f = facts.c
    differs = (c.steps != f.steps) | c.org_prev_at.is_distinct_from(f.org_prev_at) \
        | c.group_prev_at.is_distinct_from(f.group_prev_at)
    # a credential whose facts change counts differently on its issue day
    conn.execute(insert(dirty_days).from_select(
        ["organization_id", "day"],
        select(c.organization_id, utc_day(c.issued_at)).where(c.id == f.id, differs)
        .distinct()))
    _analyze(conn, facts)
    changed_credentials = conn.execute(update(credentials).where(c.id == f.id, differs).values(
        steps=f.steps, org_prev_at=f.org_prev_at, group_prev_at=f.group_prev_at)).rowcount
    # the events of the same credentials
    target = (select(e.id, e.credential_id, e.occurred_at)
              .where(e.credential_id.in_(select(f.id))).subquery("target"))
    computed = event_facts_select(target).subquery("computed").c
    conn.execute(insert(event_facts).from_select(
        ["id", "prev_at", "group_id"], select(computed.id, computed.prev_at, computed.group_id)))
    ef = event_facts.c
    changed = e.prev_at.is_distinct_from(ef.prev_at) | e.group_id.is_distinct_from(ef.group_id)
    conn.execute(insert(dirty_days).from_select(
        ["organization_id", "day"],
        select(e.organization_id, utc_day(e.occurred_at)).where(e.id == ef.id, changed)
        .distinct()))
    _analyze(conn, event_facts)
    changed_events = conn.execute(update(engagement_events).where(e.id == ef.id, changed)
                                  .values(prev_at=ef.prev_at, group_id=ef.group_id)).rowcount
    return {credentials: changed_credentials, engagement_events: changed_events}


def crossings_select(where: ColumnElement[bool]) -> Select[Any]:
    """The crossings (metrics.schema.credential_crossings) of the credentials `where` selects
    (over `credentials`): per credential and other group of the same recipient, the latest
    credential in that group before it (by time, then id) when it is later than the
    credential's previous one in its own group (`group_prev_at`, stored)."""
    x = credentials.alias("x")
    before = or_(x.c.issued_at < c.issued_at, and_(x.c.issued_at == c.issued_at, x.c.id < c.id))
    mine = [c.organization_id, c.recipient_id, c.id, c.group_id, c.issued_at, c.group_prev_at]
    return (select(*mine, x.c.group_id, func.max(x.c.issued_at))
            .select_from(credentials.join(x, and_(
                # (a recipient is one organization's: stated for a distributed database)
                x.c.organization_id == c.organization_id, x.c.recipient_id == c.recipient_id,
                x.c.group_id != c.group_id, before,
                # the credentials between the previous one in the group and this one: one
                # range of the index by (recipient_id, issued_at) per credential, so a
                # recipient of k credentials in G groups costs k * G rows, not k * k
                x.c.issued_at > func.coalesce(c.group_prev_at, literal(DAWN, UTCDateTime())),
                x.c.issued_at <= c.issued_at)))
            .where(where)
            .group_by(*mine, x.c.group_id))


def _recompute_crossings(conn: Connection, whole: list[int] | None) -> None:
    """The crossings of the marked recipients (or of every recipient of the organizations
    `whole`), from their stored credentials and facts."""
    x = credential_crossings.c
    if whole is None:
        marked = select(dirty_recipients.c.recipient_id).where(
            dirty_recipients.c.credentials == 1)
        conn.execute(delete(credential_crossings).where(x.recipient_id.in_(marked)))
        where = c.recipient_id.in_(marked)
    else:
        conn.execute(delete(credential_crossings).where(x.organization_id.in_(whole)))
        where = c.organization_id.in_(whole)
    conn.execute(insert(credential_crossings).from_select(
        [col.name for col in credential_crossings.c], crossings_select(where)))


class _Marked:
    """The rows of the marked days (a join with rollup_marked_days)."""

    def credentials(self, *columns: Any) -> tuple[ColumnElement[int], Select[Any]]:
        m = marked_days.c
        # the range lets a small write probe the index day by day; the equality on the day
        # lets a large one hash-join instead of testing every (day, row) pair
        return m.day, select(m.organization_id, *columns).where(
            c.organization_id == m.organization_id, c.issued_at >= m.starts_at,
            c.issued_at < m.ends_at, utc_day(c.issued_at) == m.day)

    def events(self, *columns: Any) -> tuple[ColumnElement[int], Select[Any]]:
        m = marked_days.c
        return m.day, select(m.organization_id, *columns).select_from(
            marked_days.join(engagement_events, and_(
                e.organization_id == m.organization_id, e.occurred_at >= m.starts_at,
                e.occurred_at < m.ends_at, utc_day(e.occurred_at) == m.day)))

    def clear(self, conn: Connection, tables: tuple[Table, ...]) -> None:
        m = marked_days.c
        for table in tables:
            tc = table.c
            if table in HOURLY:  # the marked days' hours
                day = and_(tc.hour >= m.day * 24, tc.hour < m.day * 24 + 24,
                           tc.hour // 24 == m.day)
            else:
                day = m.day == tc.day
            conn.execute(delete(table).where(exists().where(
                m.organization_id == tc.organization_id, day)))


class _Whole:
    """Every row of some organizations (grouped by day rather than joined with days)."""

    def __init__(self, org_ids: list[int]) -> None:
        self.org_ids = org_ids

    def credentials(self, *columns: Any) -> tuple[ColumnElement[int], Select[Any]]:
        return utc_day(c.issued_at), select(c.organization_id, *columns).where(
            c.organization_id.in_(self.org_ids))

    def events(self, *columns: Any) -> tuple[ColumnElement[int], Select[Any]]:
        return utc_day(e.occurred_at), select(e.organization_id, *columns).where(
            e.organization_id.in_(self.org_ids))

    def clear(self, conn: Connection, tables: tuple[Table, ...]) -> None:
        for table in tables:
            conn.execute(delete(table).where(table.c.organization_id.in_(self.org_ids)))


def _recompute_days(conn: Connection, rows: _Marked | _Whole, *,
                    events_from: EventsFrom | None = None, credentials: bool = True) -> None:
    """Every rollup row of the days `rows` selects: per group by day, and for the organization
    (group 0) by hour and by day.

    The raw rows are read eight times, for credentials, their links, events (with a count per
    type) and their links: per group and day, written as they are into the daily rollups, and
    per organization and hour, written as they are into the hourly rollups and summed by day
    into the daily ones. Groups have no hourly rows: a group's answer reads the partial days
    at its range's edges from the raw rows, which hold a group's few rows of a day by index
    (per group and hour, the rollups held about one row per event).

    Rows are inserted in the order of each rollup's key: an index grows at its right edge, and
    one built after a bulk load finds its rows already sorted.

    `events_from`: returns (once the credentials' rows are written: it may wait for them) a
    schema whose EVENT_ROLLUPS already hold these rows (`rebuild_events` there), copied rather
    than computed, or None. `credentials` False: the credentials' rollups are already written
    (`rebuild_credentials`)."""
    order = _KeyOrder(conn)
    if credentials:
        _credential_days(conn, rows, order)
    rows.clear(conn, EVENT_ROLLUPS)
    schema = events_from() if events_from else None
    if schema is None:
        _event_days(conn, rows, order)
        return
    for table in EVENT_ROLLUPS:
        names = ", ".join(col.name for col in table.c)
        conn.exec_driver_sql(f'INSERT INTO {table.name} ({names}) SELECT {names} '
                             f'FROM "{schema}".{table.name}')


def _credential_days(conn: Connection, rows: _Marked | _Whole, order: _KeyOrder) -> None:
    """The credentials' rollups (CREDENTIAL_ROLLUPS) of `rows`, in place of theirs
    (`_recompute_days`)."""
    rows.clear(conn, CREDENTIAL_ROLLUPS)
    _fresh(conn, (_credential_hours, _credential_links))
    step_keys = [step.key for step in ENGAGEMENT_STEPS]
    step_sums = [func.sum(case((c.steps.op("&")(1 << bit) != 0, 1), else_=0))
                 for bit in range(len(ENGAGEMENT_STEPS))]
    values = ["issued", "firsts", *step_keys]
    org = literal(ORG)
    # per group and day, per organization and hour
    day, _ = rows.credentials()
    hour = utc_hour(c.issued_at)
    _insert(conn, credential_days, ["group_id", "day", *values], order,
            rows.credentials(c.group_id, day, func.count(), _nulls(c.group_prev_at), *step_sums))
    _insert(conn, _credential_hours, ["group_id", "hour", *values], None,
            rows.credentials(org, hour, func.count(), _nulls(c.org_prev_at), *step_sums))
    # their links: gap in days from the previous credential's UTC day, whatever the grain
    _insert(conn, credential_links, ["group_id", "gap", "day", "links"], order,
            rows.credentials(c.group_id, day - utc_day(c.group_prev_at), day, func.count()),
            c.group_prev_at.is_not(None))
    _insert(conn, _credential_links, ["group_id", "hour", "gap", "links"], None,
            rows.credentials(org, hour, day - utc_day(c.org_prev_at), func.count()),
            c.org_prev_at.is_not(None))
    _sum_hours(conn, _credential_hours, credential_hours, credential_days, order)
    _sum_hours(conn, _credential_links, credential_hour_links, credential_links, order)


def _event_days(conn: Connection, rows: _Marked | _Whole, order: _KeyOrder) -> None:
    """The events' rollups (EVENT_ROLLUPS) of `rows` (`_recompute_days`); an event's previous
    event is its credential's, in its group."""
    _fresh(conn, (_event_hours, _touch_links))
    by_type = [func.sum(case((e.event_type == t, 1), else_=0)) for t in EVENT_TYPES]
    values = ["events", "firsts", *EVENT_TYPES]
    org = literal(ORG)
    day, _ = rows.events()
    hour = utc_hour(e.occurred_at)
    _insert(conn, touch_days, ["group_id", "day", *values], order,
            rows.events(e.group_id, day, func.count(), _nulls(e.prev_at), *by_type))
    _insert(conn, _event_hours, ["group_id", "hour", *values], None,
            rows.events(org, hour, func.count(), _nulls(e.prev_at), *by_type))
    _insert(conn, touch_links, ["group_id", "gap", "day", "links"], order,
            rows.events(e.group_id, day - utc_day(e.prev_at), day, func.count()),
            e.prev_at.is_not(None))
    _insert(conn, _touch_links, ["group_id", "hour", "gap", "links"], None,
            rows.events(org, hour, day - utc_day(e.prev_at), func.count()),
            e.prev_at.is_not(None))
    _sum_hours(conn, _event_hours, touch_hours, touch_days, order)
    _sum_hours(conn, _touch_links, touch_hour_links, touch_links, order)


def rebuild_events(conn: Connection, organization_ids: Iterable[int], *, packed: bool) -> None:
    """The events' rollups (EVENT_ROLLUPS) of the organizations, from the events table and into
    the empty rollup tables that the connection's search path finds: how a bulk seed's second
    connection pre-aggregates the events it generated into a schema of its own (the seed's
    transaction then copies them: `rebuild`'s `events_from`). `packed`: _KeyOrder.packed of
    the seed's transaction (the organizations are not visible here)."""
    _event_days(conn, _Whole(list(organization_ids)), _KeyOrder(conn, packed=packed))


def keys_packed(conn: Connection) -> bool:
    """Whether the rollups' rows are ordered by packed keys here (_KeyOrder)."""
    return _KeyOrder(conn).packed


def _fresh(conn: Connection, tables: tuple[Table, ...]) -> None:
    for table in tables:
        table.drop(conn, checkfirst=True)
        table.create(conn)


def _sum_hours(conn: Connection, source: Table, hourly: Table, daily: Table,
               order: _KeyOrder) -> None:
    """The organization's hourly figures of `source` (a temporary table) as they are into
    `hourly`, and summed by day into `daily`."""
    keys = ["hour", "gap"] if "gap" in source.c else ["hour"]
    _sum(conn, source, hourly, keys, same_rows=True, order=order)
    _sum(conn, source, daily, ["day", *keys[1:]], order=order)
    source.drop(conn)


def _insert(conn: Connection, target: Table, names: list[str], order: _KeyOrder | None,
            selected: tuple[ColumnElement[int], Select[Any]],
            where: ColumnElement[bool] | None = None) -> None:
    """Insert a raw `rows.credentials` / `rows.events` selection (organization_id, then
    `names`) into `target`, grouped by organization and the key columns (the names before
    the values; a constant group is not grouped by), with `order`, in `target`'s key order."""
    _, stmt = selected
    if where is not None:
        stmt = stmt.where(where)
    columns = dict(zip(["organization_id", *names], stmt.selected_columns, strict=True))
    keys = [name for name in ("organization_id", "group_id", "hour", "day", "gap")
            if name in columns]
    stmt = stmt.group_by(*(columns[k] for k in keys if not isinstance(columns[k], BindParameter)))
    if "upto" in target.c:
        columns["upto"] = _upto(columns, columns["links"], order)
        stmt = stmt.add_columns(columns["upto"])
    if order is not None:
        stmt = stmt.order_by(*order([columns[col.name] for col in target.primary_key.columns]))
    conn.execute(insert(target).from_select(list(columns), stmt))


def _upto(key: dict[str, Any], links: ColumnElement[int],
          order: _KeyOrder | None) -> ColumnElement[int]:
    """`credential_links.upto` of grouped rows: their day's links up to their gap (a running
    sum of the day's `links`, by gap). With packed keys (`order`), the day is one bigint: its
    sort compares one column where three repeat over millions of rows (the organizations'
    daily links of the 10M seed, 3.3 million: 7.5 s to sort by three columns)."""
    day = [key[k] for k in ("organization_id", "group_id", "day")]
    if order is not None and order.packed:
        day = order(day)
    else:
        day = [col for col in day if not isinstance(col, BindParameter)]
    upto: ColumnElement[int] = func.sum(links).over(partition_by=day, order_by=key["gap"])
    return upto.label("upto")


def _nulls(column: ColumnElement[Any]) -> ColumnElement[int]:
    return func.sum(case((column.is_(None), 1), else_=0))


def _sum(conn: Connection, source: Table, target: Table, keys: list[str], *,
         same_rows: bool = False, order: _KeyOrder | None = None) -> None:
    """Insert into `target` the sums of `source`'s values that `target` has, by organization,
    group and `keys` ("day" sums the hours of a day); with `order`, in the order of `target`'s
    primary key."""
    s = source.c
    by: dict[str, ColumnElement[Any]] = {
        "organization_id": s.organization_id,
        "group_id": s.group_id,
        **{k: (s.hour // 24 if k == "day" else s[k]) for k in keys},
    }
    values = [col.name for col in target.c if col.name not in by and col.name != "upto"]
    if same_rows:  # `keys` are all of `source`'s
        stmt = select(*by.values(), *(s[v] for v in values))
    else:
        stmt = select(*by.values(), *(func.sum(s[v]) for v in values)).group_by(*by.values())
    if "upto" in target.c:
        values.append("upto")
        stmt = stmt.add_columns(_upto(by, func.sum(s.links), order))
    if order is not None:
        stmt = stmt.order_by(*order([by[col.name] for col in target.primary_key.columns]))
    conn.execute(insert(target).from_select([*by, *values], stmt))


class _KeyOrder:
    """ORDER BY terms for rows in a rollup key's order (organization, group, hour or day or gap,
    ...).

    PostgreSQL sorts by several columns one comparison per column, slowly when the leading
    columns repeat over millions of rows as the organization and group do (20 s for 4M rows
    here); it sorts one bigint several times faster. So when every organization and group id is
    below 2^21, the first three (non-negative integer) columns are packed into one bigint,
    which orders exactly as they do (hours reach 2^21 in 2209)."""

    BITS = 21

    def __init__(self, conn: Connection, *, packed: bool | None = None) -> None:
        limit = 1 << self.BITS
        self.packed = packed if packed is not None else conn.dialect.name == "postgresql" and all(
            conn.execute(select(func.coalesce(func.max(t.c.id), 0))).scalar_one() < limit
            for t in (organizations, groups))

    def __call__(self, columns: Sequence[ColumnElement[Any]]) -> list[ColumnElement[Any]]:
        if not self.packed:
            return list(columns)
        first, second, third, *rest = columns
        wide = [cast(col, BigInteger) for col in (first, second)]
        return [wide[0] * (1 << 2 * self.BITS) + wide[1] * (1 << self.BITS) + third, *rest]


def _recompute_state(conn: Connection, orgs: Any) -> None:
    s = rollup_state.c
    conn.execute(delete(rollup_state).where(s.organization_id.in_(orgs)))
    o = organizations.c
    last = (select(func.max(e.occurred_at)).where(e.organization_id == o.id).scalar_subquery())
    conn.execute(insert(rollup_state).from_select(
        ["organization_id", "last_event_at"], select(o.id, last).where(o.id.in_(orgs))))


def rebuild_missing(conn: Connection) -> list[int]:
    """Rebuild the facts and rollups of every organization without a rollup_state row (a
    migration emptied or created the rollups), in the caller's transaction; returns their ids.
    On PostgreSQL a large rebuild writes the rollups before it indexes them."""
    o, s = organizations.c, rollup_state.c
    missing = [row[0] for row in conn.execute(
        select(o.id).where(~exists().where(s.organization_id == o.id)).order_by(o.id))]
    if not missing:
        return []
    bulk = conn.dialect.name == "postgresql" and conn.execute(
        select(func.count()).select_from(credentials)).scalar_one() >= BULK_MIN
    if bulk:
        conn.exec_driver_sql("SET LOCAL work_mem = '1GB'")
    with indexes_after(conn, (*ROLLUPS, *HOURLY, credential_crossings), bulk=bulk):
        rebuild(conn, missing)
    return missing


def rebuild(conn: Connection, organization_ids: Iterable[int], *, facts: bool = True,
            events_from: EventsFrom | None = None, credentials: bool = True) -> None:
    """Recompute every rollup of the organizations from their raw rows (rows of days that no
    longer hold any credential or event go too), and their credentials' facts unless the
    writer stored them with `facts_select` (`facts=False`). `events_from`: called when the
    rest is done, returns a schema holding the events' rollups of exactly these rows
    (`rebuild_events`), copied, or None. `credentials` False: the crossings and credentials'
    rollups are written already (`rebuild_credentials`), only the events' are."""
    org_ids = list(organization_ids)
    if facts:
        mark(conn, recipients=select(c.recipient_id).where(c.organization_id.in_(org_ids)))
    apply(conn, whole=org_ids, events_from=events_from, credentials=credentials)


def rebuild_credentials(conn: Connection, organization_ids: Iterable[int]) -> None:
    """The credentials' half of `rebuild(..., facts=False)`: the crossings and credentials'
    rollups of organizations whose credentials are stored with their facts, written before
    their events (a bulk writer's single-process work while its second connection works on
    the events; `rebuild(..., credentials=False)` does the rest once the events are in)."""
    org_ids = list(organization_ids)
    _recompute_crossings(conn, org_ids)
    _credential_days(conn, _Whole(org_ids), _KeyOrder(conn))
