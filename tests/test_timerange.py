"""Time ranges: constructors, the comparison rule, descriptions, buckets and DST."""

from __future__ import annotations

from datetime import UTC, date

import pytest

from metrics.definitions import Granularity as G
from metrics.errors import UserError
from metrics.timerange import (
    TimeRange,
    add_months,
    current_unit,
    named_unit,
    previous_unit,
    rolling,
)

TODAY = date(2026, 11, 29)  # a Sunday


def span(r: TimeRange | None) -> tuple[str | None, str | None]:
    assert r is not None
    return (r.start.isoformat() if r.start else None, r.end.isoformat() if r.end else None)


@pytest.mark.parametrize(("unit", "expected", "previous"), [
    (G.WEEK, ("2026-11-23", "2026-11-30"), ("2026-11-16", "2026-11-23")),
    (G.MONTH, ("2026-11-01", "2026-11-30"), ("2026-10-01", "2026-10-30")),
    (G.QUARTER, ("2026-10-01", "2026-11-30"), ("2026-07-01", "2026-08-30")),
    (G.YEAR, ("2026-01-01", "2026-11-30"), ("2025-01-01", "2025-11-30")),
])
def test_to_date_units_compare_with_the_same_point_before(
    unit: G, expected: tuple[str, str], previous: tuple[str, str]
) -> None:
    r = current_unit(TODAY, unit, "UTC", f"this {unit.value}")
    assert span(r) == expected and r.to_date
    assert span(r.previous()) == previous


@pytest.mark.parametrize(("unit", "expected", "previous"), [
    (G.WEEK, ("2026-11-16", "2026-11-23"), ("2026-11-09", "2026-11-16")),
    (G.MONTH, ("2026-10-01", "2026-11-01"), ("2026-09-01", "2026-10-01")),
    (G.QUARTER, ("2026-07-01", "2026-10-01"), ("2026-04-01", "2026-07-01")),
    (G.YEAR, ("2025-01-01", "2026-01-01"), ("2024-01-01", "2025-01-01")),
])
def test_previous_complete_units(unit: G, expected: tuple[str, str],
                                 previous: tuple[str, str]) -> None:
    r = previous_unit(TODAY, unit, "UTC", f"last {unit.value}")
    assert span(r) == expected
    assert span(r.previous()) == previous


def test_rolling_ranges_include_today_and_compare_with_equal_length() -> None:
    r = rolling(TODAY, 30, G.DAY, "UTC", "last 30 days")
    assert span(r) == ("2026-10-31", "2026-11-30") and r.days == 30
    assert span(r.previous()) == ("2026-10-01", "2026-10-31")
    assert span(rolling(TODAY, 3, G.MONTH, "UTC", "last 3 months")) == ("2026-08-30", "2026-11-30")
    with pytest.raises(UserError):
        rolling(TODAY, 0, G.DAY, "UTC", "last 0 days")


def test_month_ends_and_leap_days() -> None:
    assert add_months(date(2026, 3, 31), -1) == date(2026, 2, 28)
    assert add_months(date(2028, 2, 29), -12) == date(2027, 2, 28)
    march_to_date = current_unit(date(2026, 3, 31), G.MONTH, "UTC", "this month")
    assert span(march_to_date.previous()) == ("2026-02-01", "2026-03-01")
    leap = TimeRange(date(2028, 2, 1), date(2028, 3, 1), "UTC", "February 2028", G.MONTH)
    assert span(leap.year_ago()) == ("2027-02-01", "2027-03-01")
    assert span(TimeRange(date(2028, 2, 29), date(2028, 3, 1)).year_ago()) == (
        "2027-02-28", "2027-03-01")


def test_named_unit_under_way_ends_tomorrow() -> None:
    q4 = named_unit(date(2026, 10, 1), G.QUARTER, TODAY, "UTC", "Q4 2026")
    assert span(q4) == ("2026-10-01", "2026-11-30") and q4.to_date
    assert q4.label == "Q4 2026 to date"
    with pytest.raises(UserError, match="not started"):
        named_unit(date(2027, 1, 1), G.YEAR, TODAY, "UTC", "2027")


def test_descriptions() -> None:
    assert TimeRange(date(2026, 7, 1), date(2026, 10, 1)).describe() == "Jul 1 – Sep 30, 2026"
    assert TimeRange(date(2025, 12, 1), date(2026, 2, 1)).describe() == (
        "Dec 1, 2025 – Jan 31, 2026")
    assert TimeRange(date(2026, 11, 29), date(2026, 11, 30)).describe() == "Nov 29, 2026"
    assert TimeRange(None, None).describe() == "all time"


def test_empty_or_reversed_ranges_are_refused() -> None:
    with pytest.raises(UserError, match="start must come before the end"):
        TimeRange(date(2026, 3, 1), date(2026, 3, 1))


def test_unknown_timezone_suggests_names() -> None:
    with pytest.raises(UserError) as info:
        TimeRange(None, None, "America/New_Yrok")
    assert "America/New_York" in info.value.suggestions


@pytest.mark.parametrize(("day", "offset"), [
    (date(2026, 3, 8), "-05:00"),   # DST starts at 02:00 on Mar 8 in New York
    (date(2026, 3, 9), "-04:00"),
    (date(2026, 11, 1), "-04:00"),  # and ends at 02:00 on Nov 1
    (date(2026, 11, 2), "-05:00"),
])
def test_local_midnights_across_dst_in_new_york(day: date, offset: str) -> None:
    r = TimeRange(day, date(2026, 12, 31), "America/New_York")
    assert r.start_at is not None and r.start_at.isoformat().endswith(offset)


def test_a_dst_week_has_167_or_169_hours() -> None:
    spring = TimeRange(date(2026, 3, 23), date(2026, 3, 30), "Europe/London")  # BST from Mar 29
    autumn = TimeRange(date(2026, 10, 19), date(2026, 10, 26), "Europe/London")  # GMT from Oct 25
    for r, hours in ((spring, 167), (autumn, 169)):
        assert r.start_at is not None and r.end_at is not None
        # (aware datetimes in one zone subtract as wall times; compare instants in UTC)
        elapsed = r.end_at.astimezone(UTC) - r.start_at.astimezone(UTC)
        assert elapsed.total_seconds() == hours * 3600


def test_buckets_are_clipped_and_contiguous() -> None:
    r = TimeRange(date(2026, 7, 1), date(2026, 10, 1))
    weeks = r.buckets(G.WEEK)
    assert span(weeks[0]) == ("2026-07-01", "2026-07-06")
    assert span(weeks[-1]) == ("2026-09-28", "2026-10-01")
    assert all(a.end == b.start for a, b in zip(weeks, weeks[1:], strict=False))
    assert [span(m) for m in r.buckets(G.MONTH)] == [
        ("2026-07-01", "2026-08-01"), ("2026-08-01", "2026-09-01"), ("2026-09-01", "2026-10-01")]
    with pytest.raises(UserError, match="more than 1000"):
        TimeRange(date(2020, 1, 1), date(2026, 1, 1)).buckets(G.DAY)
