"""Platform-wide figures (`credstats platform`): every organization at once, from the
pre-aggregates in one statement, equal to the raw computation and to each organization's own
answer."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from metrics.catalog import list_groups, list_organizations
from metrics.parse import parse
from metrics.platform import KEYS, platform
from metrics.run import run
from tests.conftest import SEEDED_AT, Database
from tests.test_cli import credstats

NOW = SEEDED_AT
RANGES = ("last quarter", "all time", "last 30 days", "2025", "yesterday", "this year")
ZONES = ("UTC", "America/New_York", "Asia/Kathmandu")


def test_platform_figures_from_rollups_equal_the_raw_ones(synthetic: Database) -> None:
    with synthetic.engine.connect() as conn:
        for phrase in RANGES:
            for tz in ZONES:
                time_range = parse(phrase, now=NOW, tz=tz, catalog=[]).time_range
                fast = platform(conn, time_range, NOW)
                raw = platform(conn, time_range, NOW, rollups=False)
                assert fast.from_rollups and not raw.from_rollups
                assert (fast.organizations, fast.total, fast.previous_total) == \
                    (raw.organizations, raw.total, raw.previous_total), (phrase, tz)
        quarter = platform(conn, parse("last quarter", now=NOW, catalog=[]).time_range, NOW)
    assert len(quarter.organizations) == 7
    assert quarter.total["issued"] > 100
    assert 0 < quarter.total["linkedin_shared"] < quarter.total["issued"]


def test_platform_totals_add_up_each_organizations_own_answer(synthetic: Database) -> None:
    tz = "America/New_York"
    with synthetic.engine.connect() as conn:
        time_range = parse("last quarter", now=NOW, tz=tz, catalog=[]).time_range
        result = platform(conn, time_range, NOW)
        by_name = {o.name: o.values for o in result.organizations}
        summed = dict.fromkeys(KEYS, 0)
        for org in list_organizations(conn):
            query = parse("engagement last quarter", now=NOW, tz=tz,
                          catalog=list_groups(conn, org))
            own = run(conn, org, query, NOW).values
            assert by_name[org.name] == {k: own[k] for k in KEYS}
            for k in KEYS:
                summed[k] += own[k]
    assert result.total == summed
    issued = [o.values["issued"] for o in result.organizations]
    assert issued == sorted(issued, reverse=True)  # largest first


def test_a_moment_before_the_latest_event_reads_raw_rows(synthetic: Database) -> None:
    earlier = NOW - timedelta(days=20)
    with synthetic.engine.connect() as conn:
        time_range = parse("last quarter", now=earlier, catalog=[]).time_range
        result = platform(conn, time_range, earlier)
        raw = platform(conn, time_range, earlier, rollups=False)
    assert not result.from_rollups
    assert result.total == raw.total


def test_platform_command(synthetic: Database) -> None:
    done = credstats("platform", "last", "quarter", "--json", "--db", synthetic.url,
                     "--now", NOW.isoformat())
    assert done.returncode == 0, done.stderr
    answer = json.loads(done.stdout)
    assert answer["range"]["label"] == "last quarter"
    assert answer["range"]["start"].startswith("2026-07-01")
    assert len(answer["organizations"]) == 7
    assert answer["total"]["issued"] == sum(o["issued"] for o in answer["organizations"])
    assert set(answer["total"]) == set(KEYS)

    text = credstats("platform", "last", "quarter", "--db", synthetic.url, "--now", NOW.isoformat())
    assert text.returncode == 0, text.stderr
    assert "Platform · 7 organizations · Jul 1 – Sep 30, 2026" in text.stdout
    assert "All organizations" in text.stdout and "Seed Org 0001" in text.stdout


@pytest.mark.parametrize("words", [("group:P01", "last", "quarter"), ("last", "blorp"),
                                   ("this", "year", "by:month")])
def test_platform_refuses_what_is_not_a_range(synthetic: Database, words: tuple[str, ...]) -> None:
    done = credstats("platform", *words, "--db", synthetic.url, "--now", NOW.isoformat())
    assert done.returncode != 0
    assert "credstats platform last quarter" in done.stderr  # an example to follow
    assert " ".join(words[-2:]).split()[-1] in done.stderr  # says what it did not take
