"""Metric results on both backends against figures counted by hand (tests/seed_example.py)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest

from metrics.catalog import resolve_organization
from metrics.importer import import_files
from metrics.parse import parse
from metrics.query import MetricResult
from metrics.run import run
from tests import seed_example
from tests.conftest import Database

NOW = datetime.fromisoformat(seed_example.NOW)
ZERO_ENGAGEMENT = {"opened": 0, "downloaded": 0, "linkedin_shared": 0,
                   "linkedin_profile_added": 0, "shared": 0, "referral_clicked": 0,
                   "wallet_added": 0}


@pytest.fixture
def loaded(db: Database, tmp_path: Path) -> Database:
    creds, events = seed_example.write_files(tmp_path)
    import_files(db.engine, "Seed Org", creds, events, now=NOW)
    return db


def ask(db: Database, text: str, tz: str = "UTC") -> MetricResult:
    with db.engine.connect() as conn:
        org = resolve_organization(conn, None)
        from metrics.catalog import list_groups

        query = parse(text, now=NOW, tz=tz, catalog=list_groups(conn, org))
        return run(conn, org, query, NOW)


def test_seed_example_engagement(loaded: Database) -> None:
    result = ask(loaded, "engagement group:CPA last quarter")
    assert result.groups == ("Certified Public Accountant",)
    assert result.time_range.start_at == datetime.fromisoformat("2026-07-01T00:00:00+00:00")
    assert result.time_range.end_at == datetime.fromisoformat("2026-10-01T00:00:00+00:00")
    assert dict(result.values) == {
        "issued": 43, "recipients": 41, "opened": 22, "downloaded": 8, "linkedin_shared": 5,
        "linkedin_profile_added": 1, "shared": 7, "referral_clicked": 2, "wallet_added": 0,
    }
    assert result.previous is not None
    assert result.previous.time_range.start_at == datetime.fromisoformat("2026-04-01T00:00+00:00")
    assert dict(result.previous.values) == {
        "issued": 38, "recipients": 38, **ZERO_ENGAGEMENT, "opened": 19, "downloaded": 4,
    }


def test_issued_and_recipients_all_groups(loaded: Database) -> None:
    result = ask(loaded, "issued last quarter")
    assert dict(result.values) == {"issued": 53, "recipients": 51}
    assert ask(loaded, "recipients all time").values == {"issued": 92, "recipients": 90}
    assert ask(loaded, "recipients all time").previous is None


def test_groups_breakdown_ranks_every_group(loaded: Database) -> None:
    result = ask(loaded, "groups last quarter")
    assert [(g.group, g.code) for g in result.by_group] == [
        ("Certified Public Accountant", "CPA"), ("Chartered Financial Analyst", "CFA")]
    cfa = result.by_group[1].values
    assert dict(cfa) == {"issued": 10, "recipients": 10, **ZERO_ENGAGEMENT, "opened": 6,
                         "linkedin_shared": 1, "shared": 1}
    assert result.values["issued"] == 53 and result.values["opened"] == 28


def test_compare_keeps_the_groups_asked_for(loaded: Database) -> None:
    result = ask(loaded, "compare group:CFA group:CPA last quarter")
    assert [g.group for g in result.by_group] == [seed_example.CFA, seed_example.CPA]
    assert [g.values["issued"] for g in result.by_group] == [10, 43]


def test_kind_filter(loaded: Database) -> None:
    assert ask(loaded, "issued kind:badge last quarter").values["issued"] == 10


def test_monthly_and_weekly_series(loaded: Database) -> None:
    monthly = ask(loaded, "issued group:CPA last quarter by:month")
    assert [p.values["issued"] for p in monthly.series] == [16, 15, 12]
    assert [p.time_range.start.isoformat() for p in monthly.series if p.time_range.start] == [
        "2026-07-01", "2026-08-01", "2026-09-01"]
    weekly = ask(loaded, "issued group:CPA last quarter by:week")
    starts = [p.time_range.start for p in weekly.series]
    assert starts[0] and starts[0].isoformat() == "2026-07-01"  # clipped to the range
    assert starts[1] and starts[1].isoformat() == "2026-07-06"  # then Mondays
    assert len(weekly.series) == 14
    assert sum(p.values["issued"] for p in weekly.series) == 43


def test_event_at_2330_local_on_last_day_counts_in_that_timezone(loaded: Database) -> None:
    text = "activity group:CPA 2026-09-01..2026-09-30"
    new_york = ask(loaded, text, tz="America/New_York")
    utc = ask(loaded, text, tz="UTC")
    assert new_york.values["view"] == 1 and new_york.values["events"] == 1
    assert new_york.values["credentials"] == 1
    assert utc.values["events"] == 0
    # Oct 1 00:00 UTC is still Sep 30 in New York
    assert (new_york.values["issued"], utc.values["issued"]) == (13, 12)
    assert new_york.time_range.end_at is not None
    assert new_york.time_range.end_at.isoformat() == "2026-10-01T00:00:00-04:00"


def test_activity_counts_events_by_date_whatever_the_issue_date(loaded: Database) -> None:
    result = ask(loaded, "activity group:CPA 2026-10-01..2026-10-31")
    # every Q3 CPA event happened in October: 22 + 5 owner views, 3 guest views, 1 guest
    # view at Oct 1 03:30, 8 + 1 downloads, 6 LinkedIn shares, 1 profile add, 2 other shares,
    # 2 referral clicks
    v = result.values
    assert (v["view"], v["pdf_download"], v["image_download"], v["linkedin_share"]) == (
        31, 8, 1, 6)
    assert (v["linkedin_profile_add"], v["twitter_share"], v["other_share"]) == (1, 1, 1)
    assert (v["referral_click"], v["wallet_add"], v["facebook_share"]) == (2, 0, 0)
    assert v["events"] == 51
    assert v["credentials"] == 26  # C01–C25 and C30
    assert v["issued"] == 1  # CPA-EDGE-OUT


def test_engagement_by_event_date_counts_credentials_engaged_in_the_range(
        loaded: Database) -> None:
    """basis:event: credentials with a step's event in the range, whatever their issue date
    (counted by hand from tests/seed_example.py)."""
    # every Q3 CPA event happened from Oct 5 to Oct 8: C01-C22 owner views (C04, C08... twice),
    # C23-C25 and C30 guest views only, C01-C08 downloads (C05 twice), C01-C05 LinkedIn shares
    # (C03 twice), C01's profile add, C09 and C10 shares elsewhere, C02 and C04 referral clicks
    october = {"opened": 22, "downloaded": 8, "linkedin_shared": 5,
               "linkedin_profile_added": 1, "shared": 7, "referral_clicked": 2,
               "wallet_added": 0}
    result = ask(loaded, "engagement group:CPA 2026-10-01..2026-10-31 basis:event")
    assert {k: result.values[k] for k in october} == october
    # Q3 itself: only the CFA badges' events (F01-F06 viewed, F01 shared on LinkedIn), and
    # the previous period Q2 the CPA P01-P19 views and P01-P04 downloads
    q3 = {**ZERO_ENGAGEMENT, "opened": 6, "linkedin_shared": 1, "shared": 1}
    result = ask(loaded, "engagement Q3 2026 basis:event")
    assert {k: result.values[k] for k in q3} == q3
    assert result.previous is not None
    assert {k: result.previous.values[k] for k in q3} == {
        **ZERO_ENGAGEMENT, "opened": 19, "downloaded": 4}
    groups = ask(loaded, "groups Q3 2026 basis:event").by_group
    assert {g.code: {k: g.values[k] for k in q3} for g in groups} == {
        "CFA": q3, "CPA": ZERO_ENGAGEMENT}
    assert {k: ask(loaded, "engagement group:CPA Q3 2026 basis:event").values[k]
            for k in q3} == ZERO_ENGAGEMENT
    assert {k: ask(loaded, "engagement kind:badge Q3 2026 basis:event").values[k]
            for k in q3} == q3
    assert {k: ask(loaded, "engagement kind:certificate Q3 2026 basis:event").values[k]
            for k in q3} == ZERO_ENGAGEMENT
    weekly = ask(loaded, "engagement group:CPA 2026-10-01..2026-10-31 by:week basis:event")
    per_week = {p.time_range.start.isoformat(): {k: p.values[k] for k in october}
                for p in weekly.series if p.time_range.start}
    assert per_week.pop("2026-10-05") == october  # Monday Oct 5 - Sunday Oct 11
    assert list(per_week) == ["2026-10-01", "2026-10-12", "2026-10-19", "2026-10-26"]
    assert all(values == ZERO_ENGAGEMENT for values in per_week.values())


def test_events_after_now_do_not_count(loaded: Database) -> None:
    early = datetime.fromisoformat("2026-10-05T12:00:00+00:00")  # views at 09:00..12:00 only
    with loaded.engine.connect() as conn:
        org = resolve_organization(conn, None)
        query = parse("engagement group:CPA Q3 2026", now=early)
        result = run(conn, org, query, early)
        # by event date too, even when the range (October) goes on past now
        by_event = run(conn, org, parse("engagement group:CPA 2026-10-01..2026-10-31 "
                                        "basis:event", now=early), early)
    assert result.values["opened"] == 4
    assert result.values["downloaded"] == 0
    assert (by_event.values["opened"], by_event.values["downloaded"]) == (4, 0)


def test_summary_sections(loaded: Database) -> None:
    result = ask(loaded, "summary")
    sections = dict(result.sections)
    assert sections["last_quarter"].values["issued"] == 53
    assert sections["all_time"].values["issued"] == 92
    assert sections["all_time"].values["recipients"] == 90
    assert sections["last_30_days"].values["issued"] == 0
    assert dict(result.values)["issued"] == 0  # the range asked: the last 30 days


def test_unknown_group_is_an_error_not_a_zero(loaded: Database) -> None:
    from metrics.errors import UserError

    with pytest.raises(UserError, match="Did you mean") as info:
        ask(loaded, "issued group:CPX last quarter")
    assert "CPA" in info.value.suggestions
    with pytest.raises(UserError, match="several groups"):
        ask(loaded, "issued group:c last quarter")  # both names start with "C"
