"""The query language: table-driven forms, errors, and properties (hypothesis)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from metrics.catalog import Group
from metrics.definitions import Comparison, CredentialKind, Granularity, Metric
from metrics.errors import UserError
from metrics.parse import WORD_TO_METRIC, clean_slack_text, parse

NOW = datetime(2026, 11, 29, 15, 0, tzinfo=UTC)  # a Sunday
CATALOG = [
    Group(1, "Certified Public Accountant", "CPA"),
    Group(2, "Chartered Financial Analyst", "CFA"),
    Group(3, "Data Science Bootcamp", None),
]


def resolved(text: str, tz: str = "UTC") -> tuple[str, tuple[str, ...], str | None, str | None]:
    q = parse(text, now=NOW, tz=tz, catalog=CATALOG)
    start, end = q.time_range.start_at, q.time_range.end_at
    return (q.metric.value, q.groups, start.date().isoformat() if start else None,
            end.date().isoformat() if end else None)


CPA, CFA, DSB = (g.name for g in CATALOG)


@pytest.mark.parametrize(("text", "expected"), [
    ("", ("summary", (), "2026-10-31", "2026-11-30")),
    ("summary", ("summary", (), "2026-10-31", "2026-11-30")),
    ("engagement group:CPA last quarter", ("engagement", (CPA,), "2026-07-01", "2026-10-01")),
    ("issued last 30 days", ("issued", (), "2026-10-31", "2026-11-30")),
    ("issued past 2 weeks", ("issued", (), "2026-11-16", "2026-11-30")),
    ("issued this year", ("issued", (), "2026-01-01", "2026-11-30")),
    ("issued ytd", ("issued", (), "2026-01-01", "2026-11-30")),
    ("issued this week", ("issued", (), "2026-11-23", "2026-11-30")),
    ("issued last week", ("issued", (), "2026-11-16", "2026-11-23")),
    ("issued last month", ("issued", (), "2026-10-01", "2026-11-01")),
    ("issued last year", ("issued", (), "2025-01-01", "2026-01-01")),
    ("issued all time", ("issued", (), None, None)),
    ("recipients ever", ("recipients", (), None, None)),
    ("issued 2026-07-01..2026-09-30", ("issued", (), "2026-07-01", "2026-10-01")),
    ("issued from 2026-07-01 to 2026-07-31", ("issued", (), "2026-07-01", "2026-08-01")),
    ("issued between March 1 and March 31", ("issued", (), "2026-03-01", "2026-04-01")),
    ("issued since 2026-03-01", ("issued", (), "2026-03-01", "2026-11-30")),
    ("issued since March", ("issued", (), "2026-03-01", "2026-11-30")),
    ("issued today", ("issued", (), "2026-11-29", "2026-11-30")),
    ("issued yesterday", ("issued", (), "2026-11-28", "2026-11-29")),
    ("issued on 2026-02-28", ("issued", (), "2026-02-28", "2026-03-01")),
    ("issued Q3", ("issued", (), "2026-07-01", "2026-10-01")),
    ("issued q3 2025", ("issued", (), "2025-07-01", "2025-10-01")),
    ("issued 2026-Q2", ("issued", (), "2026-04-01", "2026-07-01")),
    ("issued Q4", ("issued", (), "2026-10-01", "2026-11-30")),
    ("issued Q1", ("issued", (), "2026-01-01", "2026-04-01")),
    ("issued October", ("issued", (), "2026-10-01", "2026-11-01")),
    ("issued december", ("issued", (), "2025-12-01", "2026-01-01")),
    ("issued Oct 2025", ("issued", (), "2025-10-01", "2025-11-01")),
    ("issued 2025", ("issued", (), "2025-01-01", "2026-01-01")),
    ("issued March 1st", ("issued", (), "2026-03-01", "2026-03-02")),
    ("issued 1 March 2024", ("issued", (), "2024-03-01", "2024-03-02")),
    ("issued Dec 25", ("issued", (), "2025-12-25", "2025-12-26")),
    ("how many CFA credentials did we issue last month?",
     ("issued", (CFA,), "2026-10-01", "2026-11-01")),
    ("compare CPA vs CFA last quarter", ("compare", (CPA, CFA), "2026-07-01", "2026-10-01")),
    ("compare group:CPA group:CFA", ("compare", (CPA, CFA), "2026-10-31", "2026-11-30")),
    ("engagement data science bootcamp this quarter",
     ("engagement", (DSB,), "2026-10-01", "2026-11-30")),
    ('issued group:"Data Science Bootcamp"', ("issued", (DSB,), "2026-10-31", "2026-11-30")),
    ("issued group:CPA,CFA", ("issued", (CPA, CFA), "2026-10-31", "2026-11-30")),
    ("top groups this year", ("groups", (), "2026-01-01", "2026-11-30")),
    ("activity last 7 days", ("activity", (), "2026-11-23", "2026-11-30")),
    ("help", ("help", (), "2026-10-31", "2026-11-30")),
    ("?", ("help", (), "2026-10-31", "2026-11-30")),
    ("ENGAGEMENT GROUP:cpa LAST QUARTER", ("engagement", (CPA,), "2026-07-01", "2026-10-01")),
])
def test_forms(text: str, expected: tuple[str, tuple[str, ...], str | None, str | None]) -> None:
    assert resolved(text) == expected


def test_options() -> None:
    q = parse("issued kind:badge by:week vs:year tz:Europe/London basis:event", now=NOW,
              catalog=CATALOG)
    assert q.kind is CredentialKind.BADGE and q.granularity is Granularity.WEEK
    assert q.compare is Comparison.YEAR and q.tz == "Europe/London"
    assert parse("engagement this quarter vs last year", now=NOW).compare is Comparison.YEAR
    assert parse("issued by month", now=NOW).granularity is Granularity.MONTH
    assert parse("issued last quarter weekly", now=NOW).granularity is Granularity.WEEK


def test_timezone_decides_today() -> None:
    late = datetime(2026, 11, 30, 2, 0, tzinfo=UTC)  # still Nov 29 in New York
    q = parse("issued today tz:America/New_York", now=late)
    assert q.time_range.start_at is not None
    assert q.time_range.start_at.isoformat() == "2026-11-29T00:00:00-05:00"


@pytest.mark.parametrize(("text", "message"), [
    ("issued flurble", "I didn't understand 'flurble'"),
    ("issued last quarter 2025", "Two time ranges"),
    ("issued on 2026-02-30", "'2026-02-30' is not a date that exists"),
    ("issued colour:red", "Unknown option 'colour:'"),
    ("issued tz:Mars/Base", "Unknown timezone 'Mars/Base'"),
    ("issued by:fortnight", "Unknown by:fortnight"),
    ("issued group:Nope", "No group called 'Nope'"),
    ("issued 2027", "has not started yet"),
    ("compare group:CPA", "Compare needs at least two groups"),
    ("issued last 0 days", "covers no time"),
])
def test_errors_name_what_was_wrong(text: str, message: str) -> None:
    with pytest.raises(UserError, match=message) as info:
        parse(text, now=NOW, catalog=CATALOG)
    assert info.value.suggestions


def test_unknown_word_gets_a_suggestion() -> None:
    with pytest.raises(UserError) as info:
        parse("engagment last quarter", now=NOW, catalog=CATALOG)
    assert "Did you mean engagement?" in info.value.message


def test_slack_markup_is_cleaned() -> None:
    assert clean_slack_text("<@U123ABC> issued &amp; more “CPA” <#C1|general>?") == (
        'issued & more "CPA" general')


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from([
    *WORD_TO_METRIC, "last", "this", "quarter", "30", "days", "q3", "2026", "2025-02-29",
    "2026-07-01..2026-09-30", "since", "march", "group:CPA", "group:", "by:week", "vs:year",
    "tz:UTC", "CPA", "cfa", "and", "the", "?", "weekly", "xyz", "all", "time", "from", "to",
    "kind:badge", "basis:event", "<@U1>", "&amp;", "1st", "on", "ever",
]), max_size=8), st.sampled_from(["UTC", "America/New_York", "Europe/London", "Asia/Kolkata"]))
def test_any_text_parses_or_raises_the_user_error(words: list[str], tz: str) -> None:
    try:
        q = parse(" ".join(words), now=NOW, tz=tz, catalog=CATALOG)
    except UserError as exc:
        assert exc.message
        return
    r = q.time_range
    if r.start_at is not None and r.end_at is not None:
        assert r.start_at < r.end_at
    assert q.metric in Metric


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=40))
def test_arbitrary_text_never_crashes(text: str) -> None:
    try:
        parse(text, now=NOW, catalog=CATALOG)
    except UserError:
        pass


@pytest.mark.parametrize(("text", "expected"), [
    ("how many people received a CPA certificate in 2025",
     ("recipients", (CPA,), "2025-01-01", "2026-01-01")),
    ("what's the open rate for the data science bootcamp this year",
     ("engagement", (DSB,), "2026-01-01", "2026-11-30")),
    ("open rate bootcamp last quarter", ("engagement", (DSB,), "2026-07-01", "2026-10-01")),
    ("CPA vs CFA this year", ("compare", (CPA, CFA), "2026-01-01", "2026-11-30")),
    ("downloads for CFA last month", ("engagement", (CFA,), "2026-10-01", "2026-11-01")),
    ("which group issued the most certificates this year",
     ("groups", (), "2026-01-01", "2026-11-30")),
    ("what happened last week", ("activity", (), "2026-11-16", "2026-11-23")),
    ("issued from March to May", ("issued", (), "2026-03-01", "2026-06-01")),
    ("issued between Jan and Mar 2026", ("issued", (), "2026-01-01", "2026-04-01")),
    ("issued from November to January", ("issued", (), "2025-11-01", "2026-02-01")),
    ("issued Jul 1 - Sep 30", ("issued", (), "2026-07-01", "2026-10-01")),
    ("issued Jul 1-Sep 30", ("issued", (), "2026-07-01", "2026-10-01")),
    ("issued 2026-07-01 - 2026-09-30", ("issued", (), "2026-07-01", "2026-10-01")),
    ("issued since Q2", ("issued", (), "2026-04-01", "2026-11-30")),
    ("issued since 2025", ("issued", (), "2025-01-01", "2026-11-30")),
    ("issued until Sep 30", ("issued", (), None, "2026-10-01")),
    ("issued last October", ("issued", (), "2025-10-01", "2025-11-01")
     if NOW.month == 10 else ("issued", (), "2026-10-01", "2026-11-01")),
    ("issued last November", ("issued", (), "2025-11-01", "2025-12-01")),
    ("issued November", ("issued", (), "2026-11-01", "2026-11-30")),
    ("issued the month of October", ("issued", (), "2026-10-01", "2026-11-01")),
    ("issued October of 2025", ("issued", (), "2025-10-01", "2025-11-01")),
    ("issued third quarter of 2025", ("issued", (), "2025-07-01", "2025-10-01")),
    ("issued Q3 of 2025", ("issued", (), "2025-07-01", "2025-10-01")),
    ("issued last monday", ("issued", (), "2026-11-23", "2026-11-24")),
    ("issued on friday", ("issued", (), "2026-11-27", "2026-11-28")),
    ("issued sunday", ("issued", (), "2026-11-29", "2026-11-30")),
    ("issued 3/1/2026", ("issued", (), "2026-03-01", "2026-03-02")),
    ("issued the 1st of March", ("issued", (), "2026-03-01", "2026-03-02")),
    ("issued Feb 29", ("issued", (), "2024-02-29", "2024-03-01")),
    ("issued last two weeks", ("issued", (), "2026-11-16", "2026-11-30")),
    ("issued past week", ("issued", (), "2026-11-23", "2026-11-30")),
    ("issued year to date", ("issued", (), "2026-01-01", "2026-11-30")),
    ("issued this quarter so far", ("issued", (), "2026-10-01", "2026-11-30")),
    ("issued in the last 30 days", ("issued", (), "2026-10-31", "2026-11-30")),
    ("how are we doing", ("summary", (), "2026-10-31", "2026-11-30")),
    ("issued since the start of the year", ("issued", (), "2026-01-01", "2026-11-30")),
    ("issued since the beginning", ("issued", (), None, None)),
    ("issued Q3 last year", ("issued", (), "2025-07-01", "2025-10-01")),
    ("issued third quarter of last year", ("issued", (), "2025-07-01", "2025-10-01")),
    ("issued October last year", ("issued", (), "2025-10-01", "2025-11-01")),
    ("issued last 7d", ("issued", (), "2026-11-23", "2026-11-30")),
    ("issued last 3mo", ("issued", (), "2026-08-30", "2026-11-30")),
    ("issued last full week", ("issued", (), "2026-11-16", "2026-11-23")),
    ("yesterday's activity", ("activity", (), "2026-11-28", "2026-11-29")),
    ("CPA v CFA last quarter", ("compare", (CPA, CFA), "2026-07-01", "2026-10-01")),
    ("top 5 groups this year", ("groups", (), "2026-01-01", "2026-11-30")),
    ("issued Jan-Mar 2026", ("issued", (), "2026-01-01", "2026-04-01")),
    ("issued from 1/1/2026 to 3/31/2026", ("issued", (), "2026-01-01", "2026-04-01")),
])
def test_natural_forms(text: str, expected: tuple[str, tuple[str, ...], str | None, str | None]
                       ) -> None:
    assert resolved(text) == expected


@pytest.mark.parametrize("text", ["engagement next month", "issued tomorrow",
                                  "issued in the last 24 hours", "issued December 25 2026",
                                  "issued since 2027", "issued 13/45/2026"])
def test_future_and_impossible_phrases_are_refused(text: str) -> None:
    with pytest.raises(UserError):
        parse(text, now=NOW, catalog=CATALOG)


def test_every_help_example_parses_and_the_readme_shows_help() -> None:
    from pathlib import Path

    from bot.help_text import OPTIONS, TIME_FORMS, usage

    for forms, _meaning in TIME_FORMS:
        for form in forms:
            q = parse(f"issued {form}", now=NOW, catalog=CATALOG)
            assert q.time_range.label, form
    for form, _meaning in OPTIONS:
        for example in form.split(", "):
            if "|" not in example:
                parse(f"issued {example}", now=NOW, catalog=CATALOG)
    readme = (Path(__file__).parents[1] / "README.md").read_text()
    assert usage() in readme
