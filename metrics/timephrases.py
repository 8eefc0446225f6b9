"""Time phrases of the query language → a resolver that turns (today, tz) into a TimeRange.

Rules are tried in order on the lower-cased text; each match is cut out so that later, shorter
rules cannot read it again. parsedatetime is not used for ranges, quarters or relative phrases
(it reads "last 30 days" forward and puts "since March" into next year); single dates are parsed
here with the rule that a date without a year is the most recent one that is not in the future.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date, timedelta

from metrics.definitions import Granularity
from metrics.errors import UserError
from metrics.timerange import (
    TimeRange,
    all_time,
    current_unit,
    named_unit,
    previous_unit,
    rolling,
    shift,
)

Resolver = Callable[[date, str], TimeRange]

MONTHS = {
    name: index + 1
    for index, names in enumerate(
        ("jan january", "feb february", "mar march", "apr april", "may", "jun june",
         "jul july", "aug august", "sep sept september", "oct october", "nov november",
         "dec december")
    )
    for name in names.split()
}
WEEKDAYS = {name: i for i, names in enumerate(
    ("mon monday", "tue tues tuesday", "wed wednesday", "thu thur thurs thursday", "fri friday",
     "sat saturday", "sun sunday")) for name in names.split()}
NUMBERS = {w: i + 1 for i, w in enumerate(
    "one two three four five six seven eight nine ten eleven twelve".split())}
ORDINAL_QUARTERS = {"first": 1, "1st": 1, "second": 2, "2nd": 2, "third": 3, "3rd": 3,
                    "fourth": 4, "4th": 4, "last": 4}
UNITS = {u.value: u for u in Granularity}
SHORT_UNITS = {"d": Granularity.DAY, "w": Granularity.WEEK, "wk": Granularity.WEEK,
               "wks": Granularity.WEEK, "mo": Granularity.MONTH, "mos": Granularity.MONTH,
               "y": Granularity.YEAR, "yr": Granularity.YEAR, "yrs": Granularity.YEAR}

_MONTH = r"(?:" + "|".join(sorted(MONTHS, key=len, reverse=True)) + r")\b\.?"
_WEEKDAY = r"(?:" + "|".join(sorted(WEEKDAYS, key=len, reverse=True)) + r")\b"
_UNIT = r"(day|week|month|quarter|year)s?\b"
_COUNT = r"(\d+|" + "|".join(NUMBERS) + r")"
_ISO = r"\d{4}-\d{1,2}-\d{1,2}\b"
_SLASH = r"\b\d{1,2}/\d{1,2}(?:/\d{2,4})?\b"
_DAY = r"\b\d{1,2}(?:st|nd|rd|th)?\b"
_OPT_YEAR = r"(?:,?\s+\d{4}\b)?"
_DATE = (rf"(?:{_ISO}|{_SLASH}|{_MONTH}\s+{_DAY}{_OPT_YEAR}|{_DAY}\s+(?:of\s+)?{_MONTH}"
         rf"{_OPT_YEAR})")
_TO = r"(?:\s*(?:\.\.|–|—)\s*|\s+-\s+|-(?=\s*[a-z])|\s+(?:to|and|until|till|through|thru)\s+)"
_QUARTER = (r"(?:q([1-4])(?:\s*(?:of\s+)?-?\s*(\d{4}))?|(\d{4})\s*-?\s*q([1-4])"
            r"|(?:the\s+)?(first|second|third|fourth|1st|2nd|3rd|4th)\s+quarter"
            r"(?:\s+(?:of\s+)?(\d{4}))?)")

_QUARTER_ONLY = r"(?:q([1-4])|(?:the\s+)?(first|second|third|fourth|1st|2nd|3rd|4th)\s+quarter)"

EXAMPLES = ["last quarter", "2026-07-01..2026-09-30", "since March 1"]


def _bad_date(text: str) -> UserError:
    return UserError(f"'{text}' is not a date that exists.",
                     ["2026-02-28", "March 1", "1 March 2026"])


def parse_date(text: str, today: date) -> date:
    """One date: ISO, US-style 3/1/2026, 'March 1', '1st of March 2026'; without a year, the
    most recent such day that is not in the future."""
    text = " ".join(text.strip().lower().replace(",", " ").replace(".", " ").split())
    year: int | None
    try:
        if re.fullmatch(_ISO, text):
            year, month, day = (int(p) for p in text.split("-"))
            return date(year, month, day)
        if "/" in text:
            parts = [int(p) for p in text.split("/")]
            month, day = parts[0], parts[1]
            year = (parts[2] + 2000 if parts[2] < 100 else parts[2]) if len(parts) == 3 else None
        else:
            words = [w for w in re.sub(r"(\d)(st|nd|rd|th)\b", r"\1", text).split() if w != "of"]
            if words[0].isdigit():
                words[0], words[1] = words[1], words[0]
            month, day = MONTHS[words[0]], int(words[1])
            year = int(words[2]) if len(words) > 2 else None
        if year is not None:
            return date(year, month, day)
        for back in range(0, 9):  # 29 February: up to eight years back
            try:
                candidate = date(today.year - back, month, day)
            except ValueError:
                continue
            if candidate <= today:
                return candidate
        raise ValueError(text)
    except (ValueError, KeyError, IndexError):
        raise _bad_date(text) from None


def _month_start(name: str, year: str | None, today: date, *, completed: bool = False) -> date:
    """The month `name` of `year`; without one, the most recent that has started (or, with
    `completed`, that has ended)."""
    month = MONTHS[name.rstrip(".")]
    if year:
        return date(int(year), month, 1)
    start = date(today.year, month, 1)
    limit = date(today.year, today.month, 1)
    too_late = start >= limit if completed else start > today
    return date(today.year - 1, month, 1) if too_late else start


def _quarter_number(m: re.Match[str], first: int) -> tuple[int, str | None]:
    q1, y1, y2, q2, ordinal, y3 = m.groups()[first: first + 6]
    if q1 or q2:
        return int(q1 or q2), y1 or y2
    return ORDINAL_QUARTERS[ordinal], y3


def _quarter_start(number: int, year: str | None, today: date) -> date:
    if year:
        return date(int(year), 3 * number - 2, 1)
    start = date(today.year, 3 * number - 2, 1)
    return start if start <= today else date(today.year - 1, 3 * number - 2, 1)


def _count(text: str) -> int:
    return int(text) if text.isdigit() else NUMBERS[text]


def _days(start: date | None, end: date | None, tz: str, label: str) -> TimeRange:
    return TimeRange(start, end, tz, label)


def _since(start: Callable[[date], date], label: str) -> Resolver:
    def resolve(today: date, tz: str) -> TimeRange:
        first = start(today)
        if first > today:
            raise UserError(f"'{label}' is in the future.", EXAMPLES)
        return _days(first, today + timedelta(days=1), tz, label)
    return resolve


def _month_range(m: re.Match[str]) -> Resolver:
    label = m.group(0).strip()

    def resolve(today: date, tz: str) -> TimeRange:
        first_name, first_year, last_name, last_year = m.groups()
        last = _month_start(last_name, last_year, today)
        if first_year is None:
            first = date(last.year, MONTHS[first_name.rstrip(".")], 1)
            if first > last:
                first = date(last.year - 1, first.month, 1)
        else:
            first = _month_start(first_name, first_year, today)
        end = min(shift(last, Granularity.MONTH, 1), today + timedelta(days=1))
        if first >= end:
            raise UserError(f"'{label}' is empty or in the future.", EXAMPLES)
        return _days(first, end, tz, label)
    return resolve


def _weekday(m: re.Match[str]) -> Resolver:
    qualifier, name = m.group(1), m.group(2)

    def resolve(today: date, tz: str) -> TimeRange:
        back = (today.weekday() - WEEKDAYS[name]) % 7
        if qualifier == "last" and back == 0:
            back = 7
        day = today - timedelta(days=back)
        return _days(day, day + timedelta(days=1), tz, m.group(0).strip())
    return resolve


def _single_date(m: re.Match[str]) -> Resolver:
    def resolve(today: date, tz: str) -> TimeRange:
        day = parse_date(m.group(1), today)
        if day > today:
            raise UserError(f"{day:%b %-d, %Y} is in the future.", EXAMPLES)
        return _days(day, day + timedelta(days=1), tz, m.group(1))
    return resolve


def _named_month(m: re.Match[str]) -> Resolver:
    qualifier, name, year = m.group(1), m.group(2), m.group(3)

    def resolve(today: date, tz: str) -> TimeRange:
        start = _month_start(name, year, today, completed=qualifier in ("last", "previous"))
        return named_unit(start, Granularity.MONTH, today, tz, f"{start:%B %Y}")
    return resolve


def _named_quarter(m: re.Match[str]) -> Resolver:
    number, year = _quarter_number(m, 0)

    def resolve(today: date, tz: str) -> TimeRange:
        start = _quarter_start(number, year, today)
        return named_unit(start, Granularity.QUARTER, today, tz, f"Q{number} {start.year}")
    return resolve


def _quarter_of_relative_year(m: re.Match[str]) -> Resolver:
    number = int(m.group(1)) if m.group(1) else ORDINAL_QUARTERS[m.group(2)]

    def resolve(today: date, tz: str) -> TimeRange:
        year = today.year - (1 if m.group(3) == "last" else 0)
        start = date(year, 3 * number - 2, 1)
        return named_unit(start, Granularity.QUARTER, today, tz, f"Q{number} {year}")
    return resolve


def _month_of_relative_year(m: re.Match[str]) -> Resolver:
    def resolve(today: date, tz: str) -> TimeRange:
        year = today.year - (1 if m.group(2) == "last" else 0)
        start = date(year, MONTHS[m.group(1).rstrip(".")], 1)
        return named_unit(start, Granularity.MONTH, today, tz, f"{start:%B %Y}")
    return resolve


def _future(m: re.Match[str]) -> Resolver:
    raise UserError(
        f"'{m.group(0).strip()}' is in the future: credstats counts what has happened.",
        EXAMPLES)


Rule = tuple[re.Pattern[str], Callable[[re.Match[str]], Resolver]]

def _hours(m: re.Match[str]) -> Resolver:
    raise UserError(
        f"'{m.group(0).strip()}': credstats counts whole days in your timezone.",
        ["today", "last 2 days", "yesterday"])


RULES: list[Rule] = [
    (re.compile(r"\b(?:last|past|previous)\s+\d+\s+(?:hours?|minutes?|hrs?)\b"), _hours),
    (re.compile(r"\b(?:next|tomorrow|upcoming|coming)\b(?:\s+(?:\d+\s+)?" + _UNIT + r")?"),
     _future),
    (re.compile(rf"\b(?:from\s+|between\s+)?({_DATE}){_TO}({_DATE})"),
     lambda m: lambda today, tz: _days(
         parse_date(m.group(1), today), parse_date(m.group(2), today) + timedelta(days=1), tz,
         m.group(0).strip())),
    (re.compile(rf"\b(?:from\s+|between\s+)?({_MONTH})(?:\s+(\d{{4}}))?{_TO}({_MONTH})"
                r"(?:\s+(\d{4}))?\b"),
     _month_range),
    (re.compile(rf"\b(?:since|from|starting|after)\s+({_DATE})"),
     lambda m: _since(lambda today: parse_date(m.group(1), today), m.group(0).strip())),
    (re.compile(rf"\b(?:since|from|starting)\s+(?:the\s+)?(?:start\s+of\s+|beginning\s+of\s+)?"
                rf"{_QUARTER}"),
     lambda m: _since(lambda today: _quarter_start(*_quarter_number(m, 0), today),
                      m.group(0).strip())),
    (re.compile(rf"\b(?:since|from|starting)\s+(?:the\s+)?(?:start\s+of\s+|beginning\s+of\s+)?"
                rf"({_MONTH})(?:\s+(\d{{4}}))?"),
     lambda m: _since(lambda today: _month_start(m.group(1), m.group(2), today),
                      m.group(0).strip())),
    (re.compile(r"\b(?:since|from|starting)\s+(?:the\s+)?(?:start\s+of\s+|beginning\s+of\s+)?"
                r"((?:19|20)\d{2})\b"),
     lambda m: _since(lambda today: date(int(m.group(1)), 1, 1), m.group(0).strip())),
    (re.compile(rf"\b(?:until|till|through|up\s+to|before)\s+({_DATE})"),
     lambda m: lambda today, tz: _days(
         None, parse_date(m.group(1), today)
         + timedelta(days=0 if m.group(0).startswith("before") else 1), tz, m.group(0).strip())),
    (re.compile(rf"\b(?:since|from)\s+the\s+(?:start|beginning)\s+of\s+(?:the|this)\s+{_UNIT}"),
     lambda m: lambda today, tz: current_unit(today, UNITS[m.group(1)], tz, m.group(0).strip())),
    (re.compile(rf"\b(?:in\s+|during\s+)?{_QUARTER_ONLY}\s+(?:of\s+)?(last|this)\s+year\b"),
     _quarter_of_relative_year),
    (re.compile(rf"\b(?:in\s+|during\s+)?({_MONTH})\s+(?:of\s+)?(last|this)\s+year\b"),
     _month_of_relative_year),
    (re.compile(r"\b(?:all[- ]time|ever|lifetime|since\s+(?:the\s+)?(?:beginning|start|launch|"
                r"inception))\b"),
     lambda m: lambda today, tz: all_time(tz)),
    (re.compile(rf"\b(?:last|past|previous|prior|trailing)\s+{_COUNT}\s+{_UNIT}"),
     lambda m: lambda today, tz: rolling(
         today, _count(m.group(1)), UNITS[m.group(2)], tz, m.group(0).strip())),
    (re.compile(r"\b(?:last|past|trailing)\s+(\d+)\s*(d|w|wk|wks|mo|mos|y|yr|yrs)\b"),
     lambda m: lambda today, tz: rolling(
         today, int(m.group(1)), SHORT_UNITS[m.group(2)], tz, m.group(0).strip())),
    (re.compile(rf"\b(?:this|current)\s+{_UNIT}(?:\s+(?:so\s+far|to\s+date))?"
                r"|\b(w|m|q|y)td\b|\b(week|month|quarter|year)[- ]to[- ]date\b"),
     lambda m: lambda today, tz: current_unit(
         today, UNITS[m.group(1) or m.group(3)] if (m.group(1) or m.group(3)) else
         {"w": Granularity.WEEK, "m": Granularity.MONTH, "q": Granularity.QUARTER,
          "y": Granularity.YEAR}[m.group(2)], tz, m.group(0).strip())),
    (re.compile(rf"\b(?:the\s+)?(?:last|previous|prior)\s+(?:full\s+|complete\s+|whole\s+)?"
                rf"{_UNIT}"),
     lambda m: lambda today, tz: previous_unit(today, UNITS[m.group(1)], tz,
                                               m.group(0).strip().removeprefix("the "))),
    (re.compile(rf"\bpast\s+{_UNIT}"),
     lambda m: lambda today, tz: rolling(today, 1, UNITS[m.group(1)], tz, m.group(0).strip())),
    (re.compile(r"\btoday\b"),
     lambda m: lambda today, tz: _days(today, today + timedelta(days=1), tz, "today")),
    (re.compile(r"\byesterday\b"),
     lambda m: lambda today, tz: _days(today - timedelta(days=1), today, tz, "yesterday")),
    (re.compile(rf"\b(?:(last|this|on)\s+)?({_WEEKDAY})"), _weekday),
    (re.compile(rf"\b(?:in\s+|during\s+)?{_QUARTER}"), _named_quarter),
    (re.compile(rf"(?:\bon\s+)?({_DATE})"), _single_date),
    (re.compile(rf"\b(?:(last|previous|this)\s+)?(?:in\s+|during\s+)?(?:the\s+month\s+of\s+)?"
                rf"({_MONTH})(?:\s+(?:of\s+)?(\d{{4}}))?"), _named_month),
    (re.compile(r"\b(?:in\s+|during\s+)?(?:the\s+year\s+)?((?:19|20)\d{2})\b"),
     lambda m: lambda today, tz: named_unit(
         date(int(m.group(1)), 1, 1), Granularity.YEAR, today, tz, m.group(1))),
]


def take_time(text: str, today: date, tz: str) -> tuple[str, tuple[str, Resolver] | None]:
    """Cut every time phrase out of `text`; more than one is an error. Each phrase is resolved
    once here, so an impossible date fails by name before anything runs."""
    found: tuple[str, Resolver] | None = None
    for pattern, rule in RULES:
        while (match := pattern.search(text)) is not None:
            phrase = match.group(0).strip()
            resolver = rule(match)
            resolver(today, tz)
            if found is not None:
                raise UserError(
                    f"Two time ranges in one question: '{found[0]}' and '{phrase}'. Keep one.",
                    ["engagement last quarter", "issued 2026-01-01..2026-03-31"])
            found = (phrase, resolver)
            text = text[: match.start()] + " " + text[match.end():]
    return text, found
