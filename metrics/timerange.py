"""Time ranges: half-open [start, end) spans of local calendar days in one timezone.

Every range credstats answers is day-aligned, so a range is kept as local dates and turned into
instants only at the edge of SQL; that keeps DST changes and month lengths exact. This module also
holds the comparison rule (previous period, same period last year) and series bucketing.
"""

from __future__ import annotations

import calendar
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from metrics.definitions import Granularity
from metrics.errors import UserError, did_you_mean

MAX_BUCKETS = 1000


@lru_cache(maxsize=256)
def zone(name: str) -> ZoneInfo:
    """The IANA zone `name`, or a UserError that suggests close names."""
    try:
        if not name or name.startswith(("/", ".")) or ".." in name:
            raise ValueError(name)
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        import zoneinfo

        close = did_you_mean(name, zoneinfo.available_timezones())
        raise UserError(
            f"Unknown timezone {name!r}: use an IANA name such as Europe/London or "
            "America/New_York.",
            close or ["UTC", "America/New_York", "Europe/London"],
        ) from None


def add_months(day: date, months: int) -> date:
    """`day` moved by whole months, clamped to the end of a shorter month (Mar 31 - 1 → Feb 28)."""
    index = day.year * 12 + day.month - 1 + months
    year, month = divmod(index, 12)
    last = calendar.monthrange(year, month + 1)[1]
    return date(year, month + 1, min(day.day, last))


def unit_start(day: date, unit: Granularity) -> date:
    """The first day of the calendar unit that contains `day` (weeks start on Monday)."""
    match unit:
        case Granularity.DAY:
            return day
        case Granularity.WEEK:
            return day - timedelta(days=day.weekday())
        case Granularity.MONTH:
            return day.replace(day=1)
        case Granularity.QUARTER:
            return date(day.year, (day.month - 1) // 3 * 3 + 1, 1)
        case Granularity.YEAR:
            return date(day.year, 1, 1)


def shift(day: date, unit: Granularity, count: int) -> date:
    """`day` moved by `count` calendar units (month-based units clamp the day of month)."""
    match unit:
        case Granularity.DAY:
            return day + timedelta(days=count)
        case Granularity.WEEK:
            return day + timedelta(weeks=count)
        case Granularity.MONTH:
            return add_months(day, count)
        case Granularity.QUARTER:
            return add_months(day, 3 * count)
        case Granularity.YEAR:
            return add_months(day, 12 * count)


def local_midnight(day: date, tz: ZoneInfo) -> datetime:
    return datetime.combine(day, time.min, tzinfo=tz)


def fmt_day(day: date, with_year: bool = True) -> str:
    text = f"{day:%b} {day.day}"
    return f"{text}, {day.year}" if with_year else text


@dataclass(frozen=True)
class TimeRange:
    """Local days [start, end) in timezone `tz`; None on either side means unbounded.

    `unit` is set when the range was named as a calendar unit (last week, Q3, this year...) and
    `to_date` when that unit is still under way, which decides how it is compared.
    """

    start: date | None
    end: date | None
    tz: str = "UTC"
    label: str = ""
    unit: Granularity | None = None
    to_date: bool = False

    def __post_init__(self) -> None:
        zone(self.tz)
        if self.start is not None and self.end is not None and not self.start < self.end:
            raise UserError(
                f"The range {self.start.isoformat()} to {self.end.isoformat()} is empty: "
                "the start must come before the end.",
                ["2026-07-01..2026-09-30", "last quarter"],
            )

    @property
    def zone(self) -> ZoneInfo:
        return zone(self.tz)

    @property
    def start_at(self) -> datetime | None:
        return None if self.start is None else local_midnight(self.start, self.zone)

    @property
    def end_at(self) -> datetime | None:
        return None if self.end is None else local_midnight(self.end, self.zone)

    @property
    def unbounded(self) -> bool:
        return self.start is None and self.end is None

    @property
    def days(self) -> int | None:
        if self.start is None or self.end is None:
            return None
        return (self.end - self.start).days

    def describe(self) -> str:
        """The range in words, end day included: 'Jul 1 – Sep 30, 2026'."""
        if self.start is None and self.end is None:
            return "all time"
        if self.start is None:
            assert self.end is not None
            return f"until {fmt_day(self.end - timedelta(days=1))}"
        if self.end is None:
            return f"since {fmt_day(self.start)}"
        last = self.end - timedelta(days=1)
        if last == self.start:
            return fmt_day(last)
        same_year = last.year == self.start.year
        return f"{fmt_day(self.start, with_year=not same_year)} – {fmt_day(last)}"

    def previous(self) -> TimeRange | None:
        """The period this range is compared with by default (see README, comparisons).

        A calendar unit is compared with the unit before it; one still under way with the
        previous unit up to the same point, so a partial period never meets a whole one. Any
        other range is compared with the range of the same length that ends where it starts.
        """
        if self.start is None or self.end is None:
            return None
        if self.unit is not None:
            start = shift(self.start, self.unit, -1)
            if self.to_date:
                last = shift(self.end - timedelta(days=1), self.unit, -1)
                end = min(last + timedelta(days=1), self.start)
            else:
                end = self.start
            return replace(self, start=start, end=end, label=f"previous {self.unit.value}")
        length = self.end - self.start
        return TimeRange(self.start - length, self.start, self.tz, "previous period")

    def year_ago(self) -> TimeRange | None:
        """The same days one year earlier (29 February becomes 28 February)."""
        if self.start is None or self.end is None:
            return None
        start = add_months(self.start, -12)
        end = add_months(self.end - timedelta(days=1), -12) + timedelta(days=1)
        return replace(self, start=start, end=end, label="same period last year")

    def buckets(self, granularity: Granularity, first: date | None = None) -> list[TimeRange]:
        """Consecutive buckets covering the range, clipped to it; `first` bounds an open start."""
        start = self.start if self.start is not None else first
        if start is None or self.end is None:
            return []
        out = list(_bucket_spans(start, self.end, granularity))
        if len(out) > MAX_BUCKETS:
            raise UserError(
                f"That would be {len(out)} {granularity.value}s, more than {MAX_BUCKETS}: "
                "choose a coarser series or a shorter range.",
                ["by:month", "by:quarter"],
            )
        return [TimeRange(s, e, self.tz, "", granularity) for s, e in out]


def _bucket_spans(start: date, end: date, granularity: Granularity) -> Iterator[tuple[date, date]]:
    cursor = start
    while cursor < end:
        nxt = min(shift(unit_start(cursor, granularity), granularity, 1), end)
        yield cursor, nxt
        cursor = nxt


def today_in(now: datetime, tz: str) -> date:
    """The local calendar day of instant `now` in `tz`."""
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    return now.astimezone(zone(tz)).date()


def rolling(today: date, count: int, unit: Granularity, tz: str, label: str) -> TimeRange:
    """The last `count` units, today included: last 30 days = [today - 29, tomorrow)."""
    if count < 1:
        raise UserError(f"'{label}' covers no time: ask for at least 1 {unit.value}.",
                        ["last 30 days", "last 12 weeks"])
    tomorrow = today + timedelta(days=1)
    return TimeRange(shift(tomorrow, unit, -count), tomorrow, tz, label)


def current_unit(today: date, unit: Granularity, tz: str, label: str) -> TimeRange:
    """The unit under way, to date: [start of the unit, tomorrow)."""
    tomorrow = today + timedelta(days=1)
    return TimeRange(unit_start(today, unit), tomorrow, tz, label, unit, to_date=True)


def previous_unit(today: date, unit: Granularity, tz: str, label: str) -> TimeRange:
    """The previous complete unit: last quarter on 29 Nov = [Jul 1, Oct 1)."""
    end = unit_start(today, unit)
    return TimeRange(shift(end, unit, -1), end, tz, label, unit)


def named_unit(start: date, unit: Granularity, today: date, tz: str, label: str) -> TimeRange:
    """A named month, quarter or year; one still under way ends tomorrow (to date)."""
    end = shift(start, unit, 1)
    tomorrow = today + timedelta(days=1)
    if start > today:
        raise UserError(f"{label} has not started yet.", ["last quarter", "this year"])
    if end > tomorrow:
        return TimeRange(start, tomorrow, tz, f"{label} to date", unit, to_date=True)
    return TimeRange(start, end, tz, label, unit)


def all_time(tz: str) -> TimeRange:
    return TimeRange(None, None, tz, "all time")
