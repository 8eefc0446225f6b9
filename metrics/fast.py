"""Figures from the pre-aggregates that metrics/rollups.py keeps, equal to the raw computation.

A range [a, b) of instants (local midnights, rarely UTC midnights) is cut into whole UTC days
[A, B) and the whole UTC hours around them, read from the daily and hourly rollups, and at most
two remnants of less than an hour (zones at :30 and :45), read from the raw rows by index.
Groups have daily rollups only: a group's partial day at an edge of the range is read from raw
rows, or, when most of it is inside the range, as the whole day less the raw part outside
(`Cut`): never more than 12 hours of raw rows per edge.

Distinct counts come from the stored "previous row of the same key" facts (the recipient's
previous credential; the credential's previous event):

    distinct keys in [a, b) = rows in [a, b) whose previous row is missing or before a

For the rollup-counted rows that is rows - (rows whose previous one is at or after a). The
links count previous rows by day: the day links (day, gap) of whole days and the hour links
(hour, gap) of whole hours, those whose previous row is on a day >= F, F being the UTC
midnight nearer a; the rows whose previous row is between a and F's midnight are read raw by
the index on the previous-row time (at most 12 hours of them) and taken away or added back.
Where a day has links rows of many gaps (an organization's recipients: previous credentials
years back), a day's links up to a gap are one row's `upto` (the running sum of the day's links
by gap): one index probe per day of the range, however many rows (across a platform, whose
many small organizations have few rows, one index range per organization and gap); where it
has few (a group's recipients; a credential's events, mostly weeks apart), one range over the
days, filtered by gap.

Every statement has a fixed shape: the windows travel as one JSON parameter (a table function on
both backends), so a statement is built and compiled once however many windows a series has.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Any, Literal, NamedTuple, TypeAlias

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Connection,
    DateTime,
    Executable,
    FromClause,
    Integer,
    Row,
    Select,
    String,
    Table,
    and_,
    any_,
    bindparam,
    case,
    cast,
    column,
    func,
    literal_column,
    or_,
    select,
    text,
    true,
    union_all,
)
from sqlalchemy.dialects import postgresql
from sqlalchemy.sql.elements import TextClause

from metrics.definitions import ENGAGEMENT_STEPS, EventType
from metrics.rollups import DAWN, ORG
from metrics.schema import (
    SHORT_LINK,
    SHORT_LINK_DAYS,
    credential_crossings,
    credential_days,
    credential_hour_links,
    credential_hours,
    credential_links,
    credentials,
    engagement_events,
    rollup_state,
    touch_days,
    touch_hour_links,
    touch_hours,
    touch_links,
)

c = credentials.c
e = engagement_events.c
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
NEVER = datetime(3000, 1, 1, tzinfo=UTC)
BEFORE = -10**7  # day numbers outside any data
AFTER = 10**7
STEP_KEYS = tuple(step.key for step in ENGAGEMENT_STEPS)
EVENT_TYPES = tuple(t.value for t in EventType)

AnyRow: TypeAlias = Row[*tuple[Any, ...]]
Execute = Callable[[Executable, dict[str, Any]], Sequence[AnyRow]]
Values = dict[str, int]


@dataclass(frozen=True)
class Window:
    """One range [start, end) of instants (None: unbounded), cut into whole UTC days, whole
    UTC hours around them, and remnants of less than an hour (zones at :30 and :45). Without
    `hourly` rollups (a group's: only organizations have them), the partial days at its edges
    are read raw or as whole days less their raw part outside the range (`cut`)."""

    k: int
    start: datetime | None
    end: datetime | None
    hourly: bool = True

    def daily(self) -> Window:
        """The same range, read from daily rollups and raw rows only."""
        return replace(self, hourly=False)

    @property
    def grid(self) -> tuple[int, int] | None:
        """[ha, hb): the whole UTC hours inside the range (None if there is none)."""
        first = BEFORE * 24 if self.start is None else math.ceil(_epoch(self.start) / 3600)
        last = AFTER * 24 if self.end is None else math.floor(_epoch(self.end) / 3600)
        return (first, last) if first < last else None

    @property
    def days(self) -> tuple[int, int] | None:
        """[A, B): the whole UTC days inside the range (None if there is none)."""
        grid = self.grid
        if grid is None:
            return None
        first, last = math.ceil(grid[0] / 24), math.floor(grid[1] / 24)
        return (first, last) if first < last else None

    @property
    def hours(self) -> list[tuple[int, int]]:
        """The whole hours inside the range but outside its whole days."""
        grid, days = self.grid, self.days
        if grid is None:
            return []
        if days is None:
            return [grid]
        return [(lo, hi) for lo, hi in ((grid[0], days[0] * 24), (days[1] * 24, grid[1]))
                if lo < hi]

    @property
    def remnants(self) -> list[tuple[datetime, datetime]]:
        """The parts of the range outside its whole hours (read from raw rows)."""
        grid = self.grid
        if grid is None:
            assert self.start is not None and self.end is not None
            return [(self.start, self.end)] if self.start < self.end else []
        out = []
        if self.start is not None and self.start < hour_at(grid[0]):
            out.append((self.start, hour_at(grid[0])))
        if self.end is not None and hour_at(grid[1]) < self.end:
            out.append((hour_at(grid[1]), self.end))
        return out

    def cut(self) -> Cut:
        """How the range is read: whole UTC days, whole hours, raw edges, and what the links
        of its previous rows need (see `Cut`)."""
        a, b = self.start, self.end
        edges: list[tuple[datetime, datetime, datetime | None, int]] = []
        if self.hourly:
            grid = self.grid
            edges = [(lo, hi, a, 1) for lo, hi in self.remnants]
            if grid is None:
                return Cut(None, [], edges, None, None, [])
            floor, partial = _floor(a, hour_at(grid[0]) if a is not None else EPOCH,
                                    hour_at(grid[1]) if b is not None else NEVER)
            return Cut(self.days, self.hours, edges, floor, partial,
                       _hour_links(self.hours, floor))
        # daily rollups only: an edge's partial day is read raw, or, when it is mostly inside
        # the range, as the whole day less its raw part outside the range (at most 12 hours)
        lo_day, hi_day = BEFORE, AFTER
        if a is not None and b is not None and _inside_a_day(a, b):
            # a range inside one UTC day: raw, or the day less both raw ends, whichever is less
            lo_day = math.floor(_epoch(a) / 86400)
            first, last = day_at(lo_day), day_at(lo_day + 1)
            if (a - first) + (last - b) >= b - a:
                return Cut(None, [], [(a, b, a, 1)], None, None, [])
            return Cut((lo_day, lo_day + 1), [], [(first, a, first, -1), (b, last, first, -1)],
                       *_floor(a, a, b), [])
        if a is not None:
            lo_day = math.ceil(_epoch(a) / 86400)
            day = day_at(lo_day)
            if a < day and day - a > HALF_DAY and (b is None or b >= day):
                lo_day -= 1
                edges.append((day_at(lo_day), a, day_at(lo_day), -1))
            elif a < day:
                edges.append((a, day, a, 1))
        if b is not None:
            hi_day = math.floor(_epoch(b) / 86400)
            day = day_at(hi_day)
            if day < b and b - day > HALF_DAY and (a is None or a <= day):
                hi_day += 1
                # the rows after the range that the whole day counts (their previous rows
                # from the floor on are links; the rest were new)
                edges.append((b, day_at(hi_day), day_at(lo_day) if a is not None else None,
                              -1))
            elif day < b:
                edges.append((day, b, a, 1))
        if lo_day >= hi_day:
            assert a is not None and b is not None
            return Cut(None, [], [(a, b, a, 1)] if a < b else [], None, None, [])
        floor, partial = _floor(a, max(day_at(lo_day), a) if a is not None else EPOCH,
                                min(day_at(hi_day), b) if b is not None else NEVER)
        if floor is not None:
            assert floor == lo_day
        return Cut((lo_day, hi_day), [], edges, floor, partial, [])


HALF_DAY = timedelta(hours=12)


def _inside_a_day(a: datetime, b: datetime) -> bool:
    """Whether [a, b) lies strictly inside one UTC day (neither end at its midnights)."""
    day = math.floor(_epoch(a) / 86400)
    return day_at(day) < a and b < day_at(day + 1)


@dataclass(frozen=True)
class Cut:
    """A range [a, b) as the rollups read it. Its rows: the whole UTC `days` [dlo, dhi) (daily
    rollups) and `hours` [hlo, hhi) (hourly rollups), and raw `edges` (lo, hi, before, sign),
    added (sign 1) or taken away (-1), new when their previous row is before `before`.

    The distinct count of the rollup-counted rows is their number less those whose previous
    row is at or after a: the links count previous rows on days from `floor` on (whole days:
    day - gap >= floor; `hour_links` (hlo, hhi, g): hours whose rows' previous row is within
    g days), and `partial` (plo, phi, glo, ghi, sign) corrects them for the rows counted in
    [glo, ghi) whose previous row is in [plo, phi): between a and the floor's midnight, so
    taken away (sign 1) when a is earlier, added back (-1) when it is later. The floor is the
    midnight nearer a: at most 12 hours of previous rows are read raw."""

    days: tuple[int, int] | None
    hours: list[tuple[int, int]]
    edges: list[tuple[datetime, datetime, datetime | None, int]]
    floor: int | None  # None: from the beginning (the firsts count; no links)
    partial: tuple[datetime, datetime, datetime, datetime, int] | None
    hour_links: list[tuple[int, int, int]]


def _floor(a: datetime | None, glo: datetime, ghi: datetime
           ) -> tuple[int | None, tuple[datetime, datetime, datetime, datetime, int] | None]:
    """The links' first day for a range starting at a whose rollup-counted rows are in
    [glo, ghi), and the raw correction between a and that day's midnight (see `Cut`)."""
    if a is None:
        return None, None
    day = math.floor(_epoch(a) / 86400)
    midnight = day_at(day)
    if a == midnight:
        return day, None
    if a - midnight < HALF_DAY:
        return day, (midnight, a, glo, ghi, -1)
    return day + 1, (a, day_at(day + 1), glo, ghi, 1)


def _hour_links(hours: list[tuple[int, int]], floor: int | None) -> list[tuple[int, int, int]]:
    """(hlo, hhi, g) per day of the whole hours: their rows' previous rows on days >= floor are
    within g days (hours on days before the floor have none there)."""
    if floor is None:
        return []
    out = []
    for lo, hi in hours:
        while lo < hi:
            day = lo // 24
            end = min(hi, (day + 1) * 24)
            if day >= floor:
                out.append((lo, end, day - floor))
            lo = end
    return out


def _epoch(instant: datetime) -> float:
    return (instant - EPOCH).total_seconds()


def day_at(day: int) -> datetime:
    return EPOCH + timedelta(days=day)


def hour_at(hour: int) -> datetime:
    return EPOCH + timedelta(hours=hour)


# -- windows as a JSON parameter ---------------------------------------------------------------

_FIELDS: dict[str, Any] = {
    "k": Integer(), "lo": DateTime(timezone=True), "hi": DateTime(timezone=True),
    "a": DateTime(timezone=True), "glo": DateTime(timezone=True),
    "ghi": DateTime(timezone=True), "dlo": Integer(), "dhi": Integer(), "hlo": Integer(),
    "hhi": Integer(), "g": Integer(), "grp": Integer(), "floor": Integer(), "s": Integer(),
    "plo": DateTime(timezone=True), "phi": DateTime(timezone=True), "day": Integer()}
_TABLES = {  # the fields of each windows table (its parameter's name)
    "whole": ("k", "dlo", "dhi"),
    "hours": ("k", "hlo", "hhi"),
    "edges": ("k", "lo", "hi", "a", "s"),
    "partial": ("k", "plo", "phi", "glo", "ghi", "s"),
    "shortpartial": ("k", "plo", "phi", "glo", "ghi", "s"),
    "spans": ("k", "dlo", "dhi", "floor", "grp"),
    "shortspans": ("k", "dlo", "dhi", "floor", "grp"),
    "hourlinks": ("k", "hlo", "hhi", "g"),
    "probes": ("k", "g", "dlo", "dhi", "grp"),
    "dayprobes": ("k", "day", "g"),
    "ranges": ("k", "lo", "hi"),
}


def _windows(dialect: str, name: str) -> FromClause:
    """A table of `_TABLES[name]`'s fields from the JSON list in parameter `name`, limited to
    parameter `name_rows` rows: with the count bound, PostgreSQL plans for that many rows (a
    table function is otherwise assumed to return 100) and probes indexes per window."""
    param = bindparam(name, type_=String())
    rows = bindparam(f"{name}_rows", type_=Integer())
    fields = {n: _FIELDS[n] for n in _TABLES[name]}
    if dialect == "postgresql":
        table = (func.json_to_recordset(cast(param, postgresql.JSON))
                 .table_valued(*(column(n, t) for n, t in fields.items()))
                 .render_derived(name=f"{name}_json", with_types=True))
        return select(*table.c).limit(rows).subquery(name)
    each = func.json_each(param).table_valued("value")
    return select(*(func.json_extract(each.c.value, f"$.{n}").label(n) for n in fields)
                  ).limit(rows).subquery(name)


def _probes(dialect: str) -> FromClause:
    """The probes table (k, g, dlo, dhi, grp): one row per gap g in [0, dhi - floor) of each
    span (k, dlo, dhi, floor, grp) in parameter `probes`, with dlo moved to max(floor + g, dlo)
    (the rows on days [dlo, dhi) whose previous row is on a day >= floor). PostgreSQL
    expands the spans itself (a platform-wide quarter is thousands of probes: sending them as
    JSON cost more than probing); SQLite gets them expanded (`_probe_rows`)."""
    if dialect != "postgresql":
        return _windows(dialect, "probes")
    spans = (func.json_to_recordset(cast(bindparam("probes", type_=String()), postgresql.JSON))
             .table_valued(*(column(n, Integer()) for n in ("k", "dlo", "dhi", "floor", "grp")))
             .render_derived(name="spans_json", with_types=True))
    gaps = (func.generate_series(_const(0), spans.c.dhi - spans.c.floor - _const(1))
            .table_valued(column("g", Integer())).render_derived(name="gaps").lateral())
    return (select(spans.c.k, gaps.c.g,
                   func.greatest(spans.c.floor + gaps.c.g, spans.c.dlo).label("dlo"),
                   spans.c.dhi, spans.c.grp)
            .select_from(spans.join(gaps, true()))
            .limit(bindparam("probes_rows", type_=Integer())).subquery("probes"))


def _probe_rows(dialect: str, spans: list[dict[str, int]]) -> dict[str, Any]:
    """The parameters of `_probes` for spans (k, dlo, dhi, floor, grp)."""
    count = sum(span["dhi"] - span["floor"] for span in spans)
    if dialect == "postgresql":
        return {"probes": json.dumps(spans), "probes_rows": count}
    return _json_params(dialect, probes=[
        {"k": span["k"], "grp": span["grp"], "g": g, "dhi": span["dhi"],
         "dlo": max(span["floor"] + g, span["dlo"])}
        for span in spans for g in range(span["dhi"] - span["floor"])])


def _day_probes(dialect: str) -> FromClause:
    """The day probes table (k, day, g): one row per day in [dlo, dhi) of each span (k, dlo,
    dhi, floor) in parameter `dayprobes`, with g = day - floor (the largest gap whose previous
    rows are on days >= floor). PostgreSQL expands the spans itself; SQLite gets them expanded
    (`_day_probe_rows`)."""
    if dialect != "postgresql":
        return _windows(dialect, "dayprobes")
    spans = (func.json_to_recordset(cast(bindparam("dayprobes", type_=String()),
                                         postgresql.JSON))
             .table_valued(*(column(n, Integer()) for n in ("k", "dlo", "dhi", "floor")))
             .render_derived(name="dayspans_json", with_types=True))
    days = (func.generate_series(spans.c.dlo, spans.c.dhi - _const(1))
            .table_valued(column("day", Integer())).render_derived(name="days").lateral())
    return (select(spans.c.k, days.c.day, (days.c.day - spans.c.floor).label("g"))
            .select_from(spans.join(days, true()))
            .limit(bindparam("dayprobes_rows", type_=Integer())).subquery("dayprobes"))


def _day_probe_rows(dialect: str, spans: list[dict[str, int]]) -> dict[str, Any]:
    """The parameters of `_day_probes` for spans (k, dlo, dhi, floor)."""
    count = sum(span["dhi"] - span["dlo"] for span in spans)
    if dialect == "postgresql":
        return {"dayprobes": json.dumps(spans), "dayprobes_rows": count}
    return _json_params(dialect, dayprobes=[
        {"k": span["k"], "day": day, "g": day - span["floor"]}
        for span in spans for day in range(span["dlo"], span["dhi"])])


def _instant_json(dialect: str, instant: datetime | None) -> str | None:
    if instant is None:
        return None
    utc = instant.astimezone(UTC)
    # SQLite compares the text metrics.schema.UTCDateTime stores
    return utc.strftime("%Y-%m-%d %H:%M:%S.%f") if dialect == "sqlite" else utc.isoformat()


def _json_params(dialect: str, **tables: list[dict[str, Any]]) -> dict[str, Any]:
    """The parameters of `_windows` tables: each list as JSON, and its length."""
    out: dict[str, Any] = {}
    for name, rows in tables.items():
        out[name] = json.dumps([{k: _instant_json(dialect, v) if isinstance(v, datetime) else v
                                 for k, v in row.items()} for row in rows])
        out[f"{name}_rows"] = len(rows)
    return out


class Level:
    """Which rows a figure reads, and what its figures are keyed by: the organization's
    (group_id 0; the recipient's previous credential in the organization; key 0), some
    groups' (previous credential in the group; key: the group's id) or, across a platform,
    several organizations' (each as a whole; key: the organization's id)."""

    def __init__(self, org_id: int, group_ids: tuple[int, ...] | None, *,
                 org_ids: tuple[int, ...] | None = None) -> None:
        self.org_id = org_id
        self.group_ids = group_ids
        self.org_ids = org_ids

    @property
    def mode(self) -> Mode:
        if self.org_ids is not None:
            return "orgs"
        return "org" if self.group_ids is None else "groups"

    @property
    def members(self) -> tuple[int, ...]:
        """The keys of its figures."""
        if self.org_ids is not None:
            return self.org_ids
        return self.group_ids if self.group_ids is not None else (ORG,)

    def params(self) -> dict[str, Any]:
        return {"org": self.org_id, "groups": list(self.group_ids or ()),
                "orgs": list(self.org_ids or ())}

    def keys(self, windows: Sequence[Window]) -> list[tuple[int, int]]:
        """Every (window, key) a figure has, whether or not any row counts for it."""
        return [(w.k, m) for w in windows for m in self.members]


Mode: TypeAlias = Literal["org", "groups", "orgs"]


def _org() -> Any:
    return bindparam("org", type_=Integer())


def _among(dialect: str, column: Any, name: str) -> ColumnElement[bool]:
    """`column` is one of the ids in list parameter `name`: one array parameter on PostgreSQL
    (an expanded IN list puts a placeholder per id into the statement's text, which psycopg
    converts on every execution; the planner treats both alike), an expanded list on SQLite."""
    if dialect == "postgresql":
        ids: Any = bindparam(name, type_=postgresql.ARRAY(BigInteger()))
        among: ColumnElement[bool] = column == any_(ids)
        return among
    result: ColumnElement[bool] = column.in_(bindparam(name, expanding=True))
    return result


def _rollup_level(dialect: str, table: Table, mode: Mode) -> list[ColumnElement[bool]]:
    if mode == "orgs":
        return [_among(dialect, table.c.organization_id, "orgs"),
                table.c.group_id == _const(ORG)]
    if mode == "org":
        return [table.c.organization_id == _org(), table.c.group_id == _const(ORG)]
    return [table.c.organization_id == _org(), _among(dialect, table.c.group_id, "groups")]


def _key(table: Table, mode: Mode) -> ColumnElement[int]:
    """What a figure of `table`'s rows is keyed by (see `Level`); `table` is a rollup or a
    raw table."""
    if mode == "orgs":
        return table.c.organization_id
    if mode == "org" and table in (credentials, engagement_events):
        # raw rows of the organization (a cast: a bare number in GROUP BY is a position)
        return cast(_const(ORG), Integer)
    return table.c.group_id


def _raw_level(dialect: str, mode: Mode, table: Table = credentials
               ) -> list[ColumnElement[bool]]:
    if mode == "orgs":
        return [_among(dialect, table.c.organization_id, "orgs")]
    if mode == "org":
        return [table.c.organization_id == _org()]
    return [table.c.organization_id == _org(), _among(dialect, table.c.group_id, "groups")]


def _const(value: int | str) -> ColumnElement[Any]:
    """A constant of ours written into the SQL rather than sent as a parameter. A statement
    here is several kilobytes; psycopg converts its placeholders on every execution (it caches
    statements of up to 4 kB and 50 parameters), so it keeps only the real parameters."""
    if isinstance(value, str):
        assert value.replace("_", "").isalnum()  # the parts' names, event types
        return literal_column(f"'{value}'", String())
    return literal_column(str(int(value)), Integer())


def _count(condition: ColumnElement[bool], weight: Any = None) -> ColumnElement[int]:
    """The rows meeting `condition`, each counted `weight` times (a column; default 1)."""
    weight = _const(1) if weight is None else weight
    return func.coalesce(func.sum(case((condition, weight), else_=_const(0))), _const(0))


def _reached(bit: int) -> ColumnElement[bool]:
    """Whether a raw credential reached engagement step `bit` (its `steps` fact)."""
    return c.steps.op("&")(_const(1 << bit)) != _const(0)


def _pad(columns: list[Any], width: int) -> list[Any]:
    return columns + [_const(0)] * (width - len(columns))


@dataclass(frozen=True)
class _Distinct:
    """A distinct count by its previous-row facts: raw rows (`time`, `prev`) of `table`, whose
    whole days are in `days` and `links` and whole hours in `hours` and `hour_links`."""

    table: Table
    time: str
    days: Table
    links: Table
    hours: Table
    hour_links: Table
    # the levels of one organization whose day links are read by day (one index range over a
    # range's days, filtered by gap: few rows per day) rather than by gap (one probe per day)
    by_day: tuple[Mode, ...]
    # the levels whose previous rows in a short range's first partial day are read from the
    # index of short links only (metrics.schema.SHORT_LINK)
    short: tuple[Mode, ...] = ()
    # the by-day levels whose links rows of a short range are read from the index of short
    # links rows only (metrics.schema's ix_credential_links_short)
    short_links: tuple[Mode, ...] = ()
    # the levels whose links of a day are one row's `upto` (the day's links up to a gap): one
    # index probe per day of a range, however many gaps a day has (an organization with
    # millions of credentials has a links row for nearly every day and gap)
    upto: tuple[Mode, ...] = ()

    def prev(self, mode: Mode) -> ColumnElement[datetime]:
        if self.table is credentials:
            return c.group_prev_at if mode == "groups" else c.org_prev_at
        return e.prev_at


# a recipient's previous credential can be years earlier: an organization has links rows of
# many gaps each day, a group few; a credential's events mostly come within weeks of each other
_RECIPIENTS = _Distinct(credentials, "issued_at", credential_days, credential_links,
                        credential_hours, credential_hour_links, by_day=("groups",),
                        short=("org", "orgs"), short_links=("groups",), upto=("org",))
# a range of up to this many days counts, in its first partial day, only credentials issued
# within metrics.schema.SHORT_LINK_DAYS of their previous one (the margin keeps SQLite's
# julianday arithmetic, exact to ~40 microseconds, away from the index's bound)
SHORT_RANGE = timedelta(days=92)
_TOUCHED = _Distinct(engagement_events, "occurred_at", touch_days, touch_links, touch_hours,
                     touch_hour_links, by_day=("org", "groups"))


def _parts(dialect: str, mode: Mode, distinct: _Distinct, width: int,
           sums: Callable[[Table], list[Any]], edge_sums: Callable[[Any], list[Any]],
           raw_level: list[ColumnElement[bool]]) -> Executable:
    """One statement of parts (see `Cut`), rows (part, k, group, values...):
    'd' whole days and 'h' whole hours (count, firsts, sums), 'e' raw edges (count, new, sums;
    an edge taken away counts negatively: `edge_sums(sign)`); rows whose previous row is at or
    after the window's start, to subtract from the count: 'l' links inside whole days (one
    index range per window and gap, or per window), 'q' links into whole hours, and 'p' the
    correction of those for previous rows between the start and the links' first midnight
    (raw, by the previous-row index; negative where it adds back)."""
    dt, lt, ht, hl = distinct.days, distinct.links, distinct.hours, distinct.hour_links
    table = distinct.table
    time = table.c[distinct.time]
    prev, group = distinct.prev(mode), _key(table, mode)
    w = _windows(dialect, "whole")
    days = (select(_const("d"), w.c.k, _key(dt, mode), *_pad(sums(dt), width))
            .select_from(w.join(dt, and_(dt.c.day >= w.c.dlo, dt.c.day < w.c.dhi,
                                         *_rollup_level(dialect, dt, mode))))
            .group_by(w.c.k, _key(dt, mode)))
    hw = _windows(dialect, "hours")
    hours = (select(_const("h"), hw.c.k, _key(ht, mode), *_pad(sums(ht), width))
             .select_from(hw.join(ht, and_(ht.c.hour >= hw.c.hlo, ht.c.hour < hw.c.hhi,
                                           *_rollup_level(dialect, ht, mode))))
             .group_by(hw.c.k, _key(ht, mode)))
    ed = _windows(dialect, "edges")
    new = or_(prev.is_(None), prev < ed.c.a)
    edges = (select(_const("e"), ed.c.k, group,
                    *_pad([func.sum(ed.c.s), _count(new, ed.c.s), *edge_sums(ed.c.s)], width))
             .select_from(ed.join(table, and_(time >= ed.c.lo, time < ed.c.hi, *raw_level)))
             .group_by(ed.c.k, group))
    pw = _windows(dialect, "partial")
    unindexed = func.coalesce(time, time)  # the previous-row index is the narrow one
    partial = (select(_const("p"), pw.c.k, group, *_pad([func.sum(pw.c.s)], width))
               .select_from(pw.join(table, and_(
                   prev >= pw.c.plo, prev < pw.c.phi, unindexed >= pw.c.glo,
                   unindexed < pw.c.ghi, *raw_level)))
               .group_by(pw.c.k, group))

    def by_day(spans: str, *short: ColumnElement[bool]) -> Select[Any]:
        # few links rows per day: every links row of each span's days (one index range per
        # window and member), those whose previous row is on a day >= the floor
        sw = _windows(dialect, spans)
        return (select(_const("l"), sw.c.k, _key(lt, mode),
                       *_pad([func.sum(lt.c.links)], width))
                .select_from(sw.join(lt, and_(
                    lt.c.organization_id == _org(), lt.c.group_id == sw.c.grp,  # (0: the org)
                    lt.c.day >= sw.c.dlo, lt.c.day < sw.c.dhi,
                    lt.c.day - lt.c.gap >= sw.c.floor, *short)))
                .group_by(sw.c.k, _key(lt, mode)))

    short_links: list[Select[Any]] = []
    if mode in distinct.upto:
        # per day d of a span, the links of the largest gap g <= d - floor: its `upto`
        dp = _day_probes(dialect)
        upto = (select(lt.c.upto).where(
            lt.c.organization_id == _org(), lt.c.group_id == _const(ORG), lt.c.day == dp.c.day,
            lt.c.gap <= dp.c.g).order_by(lt.c.gap.desc()).limit(1).scalar_subquery())
        org = cast(_const(ORG), Integer)  # (a cast: a bare number in GROUP BY is a position)
        links = (select(_const("l"), dp.c.k, org,
                        *_pad([func.sum(func.coalesce(upto, _const(0)))], width))
                 .select_from(dp).group_by(dp.c.k, org))
    elif mode in distinct.by_day:
        links = by_day("spans")
        if mode in distinct.short_links:
            # spans of up to SHORT_LINK_DAYS days from the floor: their links rows are short,
            # and the partial index holds those alone (the predicate as the index states it)
            short_links.append(by_day("shortspans", lt.c.gap < _const(SHORT_LINK_DAYS)))
    else:
        # many: one probe per (window, gap g[, member]): days [max(floor + g, A), B)
        pr = _probes(dialect)
        probe_level = {
            "org": [lt.c.organization_id == _org(), lt.c.group_id == _const(ORG)],
            "groups": [lt.c.organization_id == _org(), lt.c.group_id == pr.c.grp],
            "orgs": [lt.c.organization_id == pr.c.grp, lt.c.group_id == _const(ORG)],
        }[mode]
        links = (select(_const("l"), pr.c.k, _key(lt, mode),
                        *_pad([func.sum(lt.c.links)], width))
                 .select_from(pr.join(lt, and_(
                     *probe_level, lt.c.gap == pr.c.g, lt.c.day >= pr.c.dlo,
                     lt.c.day < pr.c.dhi)))
                 .group_by(pr.c.k, _key(lt, mode)))
    qw = _windows(dialect, "hourlinks")
    hour_links = (select(_const("q"), qw.c.k, _key(hl, mode),
                        *_pad([func.sum(hl.c.links)], width))
                 .select_from(qw.join(hl, and_(
                     *_rollup_level(dialect, hl, mode), hl.c.hour >= qw.c.hlo,
                     hl.c.hour < qw.c.hhi, hl.c.gap <= qw.c.g)))
                 .group_by(qw.c.k, _key(hl, mode)))
    parts = [days, hours, edges, partial, links, *short_links, hour_links]
    if mode in distinct.short:
        # the same for ranges of up to SHORT_RANGE: their rows' previous rows are recent, and
        # the index of short links holds those alone (a few percent of the credentials)
        sp = _windows(dialect, "shortpartial")
        parts.append(select(_const("p"), sp.c.k, group, *_pad([func.sum(sp.c.s)], width))
                     .select_from(sp.join(table, and_(
                         prev >= sp.c.plo, prev < sp.c.phi, unindexed >= sp.c.glo,
                         unindexed < sp.c.ghi, _short_link(dialect), *raw_level)))
                     .group_by(sp.c.k, group))
    return union_all(*parts)


def _short_link(dialect: str) -> TextClause:
    """metrics.schema.SHORT_LINK, the short-links index's predicate, as the index has it: the
    planner uses a partial index for a query that states its predicate."""
    return text(SHORT_LINK[dialect])


@cache
def _cohort_statement(dialect: str, mode: Mode, engagement: bool) -> Executable:
    steps = STEP_KEYS if engagement else ()
    return _parts(
        dialect, mode, _RECIPIENTS, 2 + len(steps),
        sums=lambda t: [func.sum(t.c.issued), func.sum(t.c.firsts),
                        *(func.sum(t.c[s]) for s in steps)],
        edge_sums=lambda sign: [_count(_reached(STEP_KEYS.index(s)), sign) for s in steps],
        raw_level=_raw_level(dialect, mode))


@cache
def _touched_statement(dialect: str, mode: Mode) -> Executable:
    # events carry their credential's group (metrics/rollups.py keeps it); a day's or an hour's
    # rollup row has a count per event type
    return _parts(
        dialect, mode, _TOUCHED, 2 + len(EVENT_TYPES),
        sums=lambda t: [func.sum(t.c.events), func.sum(t.c.firsts),
                        *(func.sum(t.c[name]) for name in EVENT_TYPES)],
        edge_sums=lambda sign: [_count(e.event_type == _const(name), sign)
                                for name in EVENT_TYPES],
        raw_level=_raw_level(dialect, mode, engagement_events))


def _distinct(execute: Execute, conn: Connection, statement: Executable, distinct: _Distinct,
              level: Level, windows: Sequence[Window], names: Sequence[str]
              ) -> dict[tuple[int, int], Values]:
    """Run a `_parts` statement: per (window, group), `names[0]` (rows), `names[1]` (distinct)
    and the further sums `names[2:]`."""
    dialect = conn.dialect.name
    out = {key: dict.fromkeys(names, 0) for key in level.keys(windows)}
    starts = {w.k: w.start for w in windows}
    if level.mode == "groups":  # hourly rollups are the organizations'
        windows = [w.daily() for w in windows]
    cuts = [(w.k, w.cut()) for w in windows]
    if any(cut.days and cut.days[1] == AFTER and cut.floor is not None for _, cut in cuts):
        # an open end: up to the last day with rows
        last = _last_day(execute, dialect, distinct, level)
    probes: list[dict[str, int]] = []
    for k, cut in cuts:
        if cut.floor is None or cut.days is None:
            continue  # from the beginning: the firsts count, no links
        lo, hi = cut.days
        if hi == AFTER:
            hi = min(hi, (last if last is not None else lo) + 1)
        if lo < hi:
            probes += [{"k": k, "dlo": lo, "dhi": hi, "floor": cut.floor, "grp": member}
                       for member in level.members]

    def short(p: tuple[datetime, datetime, datetime, datetime, int]) -> bool:
        """Whether the partial rows are all short links: rows before ghi whose previous row
        is at or after plo are within ghi - plo of it."""
        return level.mode in distinct.short and p[3] - p[0] <= SHORT_RANGE

    def partial(p: tuple[datetime, datetime, datetime, datetime, int]) -> dict[str, Any]:
        return dict(zip(("plo", "phi", "glo", "ghi", "s"), p, strict=True))

    def short_span(span: dict[str, int]) -> bool:
        """Whether the span's links are all short: rows on days before dhi whose previous
        row is on a day >= floor."""
        return level.mode in distinct.short_links and span["dhi"] - span["floor"] <= \
            SHORT_LINK_DAYS

    if level.mode in distinct.upto:
        links = _day_probe_rows(dialect, [
            {k: p[k] for k in ("k", "dlo", "dhi", "floor")} for p in probes])
    elif level.mode in distinct.by_day:
        links = _json_params(dialect, spans=[p for p in probes if not short_span(p)],
                             shortspans=[p for p in probes if short_span(p)])
    else:
        links = _probe_rows(dialect, probes)
    params = {
        **level.params(),
        **links,
        **_json_params(
            dialect,
            whole=[{"k": k, "dlo": cut.days[0], "dhi": cut.days[1]}
                   for k, cut in cuts if cut.days],
            hours=[{"k": k, "hlo": lo, "hhi": hi} for k, cut in cuts for lo, hi in cut.hours],
            edges=[{"k": k, "lo": lo, "hi": hi, "a": before, "s": sign}
                   for k, cut in cuts for lo, hi, before, sign in cut.edges],
            partial=[{"k": k, **partial(p)} for k, cut in cuts
                     if (p := cut.partial) and not short(p)],
            shortpartial=[{"k": k, **partial(p)} for k, cut in cuts
                          if (p := cut.partial) and short(p)],
            hourlinks=[{"k": k, "hlo": lo, "hhi": hi, "g": g}
                       for k, cut in cuts for lo, hi, g in cut.hour_links]),
    }
    for part, k, group, first, second, *sums in execute(statement, params):
        into = out.setdefault((k, group), dict.fromkeys(names, 0))
        if part in ("d", "h"):
            into[names[0]] += first
            into[names[1]] += second if starts[k] is None else first
        elif part == "e":
            into[names[0]] += first
            into[names[1]] += second
        else:  # 'p', 'l', 'q': rows whose previous row is at or after the window's start
            into[names[1]] -= first
            continue
        for name, value in zip(names[2:], sums, strict=False):
            into[name] += value
    return out


def _last_day(execute: Execute, dialect: str, distinct: _Distinct, level: Level) -> int | None:
    dt = distinct.days
    stmt = select(func.max(dt.c.day)).where(*_rollup_level(dialect, dt, level.mode))
    value: int | None = execute(stmt, level.params())[0][0]
    return value


def cohort(execute: Execute, conn: Connection, level: Level, windows: Sequence[Window], *,
           engagement: bool) -> dict[tuple[int, int], Values]:
    """issued, recipients and (optionally) the engagement steps of the credentials issued in
    each window, per (window k, group id; 0 for the organization)."""
    names = ("issued", "recipients", *(STEP_KEYS if engagement else ()))
    statement = _cohort_statement(conn.dialect.name, level.mode, engagement)
    return _distinct(execute, conn, statement, _RECIPIENTS, level, windows, names)


def activity(execute: Execute, conn: Connection, level: Level, windows: Sequence[Window]
             ) -> dict[tuple[int, int], Values]:
    """Events per type (and in all) with occurred_at in each window, and the credentials they
    touched, per (window, group): one statement."""
    return _distinct(execute, conn, _touched_statement(conn.dialect.name, level.mode), _TOUCHED,
                     level, windows, ("events", "credentials", *EVENT_TYPES))


@cache
def _crossed_statement(dialect: str) -> Executable:
    x, w = credential_crossings.c, _windows(dialect, "ranges")
    return (select(w.c.k, func.count(func.distinct(x.credential_id)))
            .select_from(w.join(credential_crossings, and_(
                x.organization_id == _org(), _among(dialect, x.other_group_id, "groups"),
                _among(dialect, x.group_id, "groups"),
                x.other_prev_at >= w.c.lo, x.other_prev_at < w.c.hi, x.issued_at < w.c.hi,
                or_(x.prev_at.is_(None), x.prev_at < w.c.lo))))
            .group_by(w.c.k))


def crossed(execute: Execute, conn: Connection, level: Level, windows: Sequence[Window]
            ) -> dict[int, int]:
    """Per window: the credentials of the level's groups (several) issued in it that are new
    to their own group but not to the groups together, the recipient's previous credential
    in them being in another of the groups, at or after the window's start (from
    metrics.schema.credential_crossings, whose rows of a range are only those of credentials
    whose recipient holds another of the groups). The groups' unique recipients together are
    the sum of each group's less these."""
    assert level.mode == "groups"
    dialect = conn.dialect.name
    params = {**level.params(), **_json_params(dialect, ranges=[
        {"k": w.k, "lo": w.start or DAWN, "hi": w.end or NEVER} for w in windows])}
    out = dict.fromkeys((w.k for w in windows), 0)
    for k, count in execute(_crossed_statement(dialect), params):
        out[k] = count
    return out


# -- the state of the rollups -------------------------------------------------------------------

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


# -- peers --------------------------------------------------------------------------------------

class PeerCohort(NamedTuple):
    organization_id: int
    issued: int
    opened: int
    shared: int
    referral_clicked: int


_PEER_KEYS = ("opened", "shared", "referral_clicked")


@cache
def _peer_statement(dialect: str) -> Executable:
    cd = credential_days.c
    w = _windows(dialect, "whole")
    days = (select(cd.organization_id, func.sum(cd.issued), *(func.sum(cd[k]) for k in _PEER_KEYS))
            .select_from(w.join(credential_days, and_(cd.day >= w.c.dlo, cd.day < w.c.dhi)))
            .where(cd.group_id == _const(ORG), cd.organization_id != _org())
            .group_by(cd.organization_id))
    ch = credential_hours.c
    hw = _windows(dialect, "hours")
    hours = (select(ch.organization_id, func.sum(ch.issued),
                    *(func.sum(ch[k]) for k in _PEER_KEYS))
             .select_from(hw.join(credential_hours, and_(
                 _among(dialect, ch.organization_id, "peers"),
                 ch.group_id == _const(ORG), ch.hour >= hw.c.hlo, ch.hour < hw.c.hhi)))
             .group_by(ch.organization_id))
    eg = _windows(dialect, "edges")
    bits = {step.key: bit for bit, step in enumerate(ENGAGEMENT_STEPS)}
    edges = (select(c.organization_id, func.count(),
                    *(_count(_reached(bits[k])) for k in _PEER_KEYS))
             .select_from(eg.join(credentials, and_(
                 _among(dialect, c.organization_id, "peers"),
                 c.issued_at >= eg.c.lo, c.issued_at < eg.c.hi)))
             .group_by(c.organization_id))
    return union_all(days, hours, edges)


def peer_cohorts(execute: Execute, conn: Connection, exclude_org_id: int,
                 peer_ids: Sequence[int], window: Window, min_issued: int) -> list[PeerCohort]:
    """Per other organization: issued, opened, shared and referral_clicked of the window's
    cohort (only organizations with at least `min_issued` credentials in it)."""
    dialect = conn.dialect.name
    params = {
        "org": exclude_org_id,
        "peers": list(peer_ids),  # one index range per organization for the partial days
        **_json_params(
            dialect,
            whole=[{"k": 0, "dlo": window.days[0], "dhi": window.days[1]}] if window.days
            else [],
            hours=[{"k": 0, "hlo": lo, "hhi": hi} for lo, hi in window.hours],
            edges=[{"k": 0, "lo": lo, "hi": hi} for lo, hi in window.remnants]),
    }
    totals: dict[int, list[int]] = {}
    for org_id, *values in execute(_peer_statement(dialect), params):
        into = totals.setdefault(org_id, [0, 0, 0, 0])
        for i, v in enumerate(values):
            into[i] += int(v or 0)
    return [PeerCohort(org_id, *v) for org_id, v in totals.items() if v[0] >= min_issued]

