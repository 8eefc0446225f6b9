"""Digests: the schedule (DST-correct), exactly-once delivery across concurrent processes, crash
recovery, the grace window, and figures equal to `credstats ask` for the same range."""

from __future__ import annotations

import json
import os
import signal
import subprocess
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select

from metrics.digests import Frequency, Subscription, add_subscription, last_due, period_for
from metrics.importer import import_files
from metrics.schema import digest_runs
from tests import seed_example
from tests.conftest import Database
from tests.slack_client import CREDSTATS, SECRET
from tests.slack_standin import SlackStandIn

NOW = datetime(2026, 11, 29, 12, tzinfo=UTC)


def weekly(tz: str, weekday: int = 0, at: int = 9 * 60) -> Subscription:
    return Subscription(1, "T1", "C1", 1, "U1", Frequency.WEEKLY, weekday, at, tz, (), False,
                        False)


@pytest.mark.parametrize(("now", "due", "start", "end"), [
    # the week after DST ends in New York (Nov 1): 09:00 EST is 14:00 UTC
    ("2026-11-02T14:00:00+00:00", "2026-11-02T09:00:00-05:00",
     "2026-10-26T00:00:00-04:00", "2026-11-02T00:00:00-05:00"),
    # a minute early: still the previous Monday's digest, 09:00 EDT
    ("2026-11-02T13:59:00+00:00", "2026-10-26T09:00:00-04:00",
     "2026-10-19T00:00:00-04:00", "2026-10-26T00:00:00-04:00"),
    # the week DST starts (Mar 8): 09:00 EDT is 13:00 UTC
    ("2026-03-09T13:00:00+00:00", "2026-03-09T09:00:00-04:00",
     "2026-03-02T00:00:00-05:00", "2026-03-09T00:00:00-04:00"),
])
def test_weekly_schedule_is_local_and_dst_correct(now: str, due: str, start: str,
                                                  end: str) -> None:
    sub = weekly("America/New_York")
    got = last_due(sub, datetime.fromisoformat(now))
    assert got.isoformat() == due
    period = period_for(sub, got)
    assert period.start_at is not None and period.end_at is not None
    assert (period.start_at.isoformat(), period.end_at.isoformat()) == (start, end)


def test_daily_and_monthly_periods() -> None:
    daily = Subscription(1, "T1", "C1", 1, "U1", Frequency.DAILY, None, 8 * 60,
                         "Europe/London", (), False, False)
    due = last_due(daily, datetime(2026, 11, 29, 7, 59, tzinfo=UTC))
    assert due.isoformat() == "2026-11-28T08:00:00+00:00"
    assert period_for(daily, due).describe() == "Nov 27, 2026"
    monthly = Subscription(1, "T1", "C1", 1, "U1", Frequency.MONTHLY, None, 9 * 60, "UTC", (),
                           False, False)
    due = last_due(monthly, NOW)
    assert due.isoformat() == "2026-11-01T09:00:00+00:00"
    assert period_for(monthly, due).describe() == "Oct 1 – Oct 31, 2026"



@pytest.fixture
def seeded(pg_db: Database, tmp_path: Path) -> Database:
    creds, events = seed_example.write_files(tmp_path)
    import_files(pg_db.engine, "Seed Org", creds, events, now=NOW)
    return pg_db


def subscribe(db: Database, channel: str, frequency: Frequency = Frequency.MONTHLY,
              created: datetime = datetime(2026, 9, 1, tzinfo=UTC)) -> int:
    with db.engine.begin() as conn:
        sub = add_subscription(conn, team_id="T1", channel_id=channel, organization_id=1,
                               created_by="U1", frequency=frequency, weekday=0,
                               at_minute=9 * 60, timezone="UTC", groups=(), skip_empty=False,
                               now=created)
    return sub.id


def run_due(db: Database, standin: SlackStandIn, now: str, **extra: str
            ) -> subprocess.Popen[str]:
    env = {**os.environ, "SLACK_BOT_TOKEN": "xoxb-test", "SLACK_SIGNING_SECRET": SECRET,
           "SLACK_API_URL": standin.api_url, "CREDSTATS_DATABASE_URL": db.url, **extra}
    return subprocess.Popen([CREDSTATS, "digest", "run-due", "--now", now], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def states(db: Database) -> list[str]:
    with db.engine.connect() as conn:
        return list(conn.execute(select(digest_runs.c.state).order_by(digest_runs.c.id))
                    .scalars())


def digests_posted(standin: SlackStandIn) -> list[dict]:  # type: ignore[type-arg]
    return [c.params for c in standin.named("chat.postMessage")
            if (c.params.get("metadata") or {}) and c.response.get("ok")]


@pytest.mark.postgres
def test_three_concurrent_ticks_post_each_digest_once(seeded: Database,
                                                     standin: SlackStandIn) -> None:
    for channel in ("CA", "CB", "CC"):
        subscribe(seeded, channel)
    with ThreadPoolExecutor(max_workers=3) as pool:
        outputs = list(pool.map(
            lambda _: run_due(seeded, standin, "2026-11-01T09:00:30+00:00").communicate(
                timeout=120)[0], range(3)))
    posted = digests_posted(standin)
    assert sorted(p["channel"] for p in posted) == ["CA", "CB", "CC"], outputs
    assert states(seeded) == ["posted"] * 3
    # a later tick in the same period posts nothing more
    run_due(seeded, standin, "2026-11-01T10:00:00+00:00").communicate(timeout=120)
    assert len(digests_posted(standin)) == 3


@pytest.mark.postgres
def test_digest_figures_equal_ask_for_the_same_range(seeded: Database,
                                                    standin: SlackStandIn) -> None:
    subscribe(seeded, "CM")
    # the November 1st digest covers October: the seed's events happened then, but issuance
    # was in Q3; September's digest (due Oct 1) covers 12 CPA credentials
    run_due(seeded, standin, "2026-10-01T09:00:00+00:00").communicate(timeout=120)
    [message] = digests_posted(standin)
    text = json.dumps(message["blocks"], ensure_ascii=False)
    answer = json.loads(subprocess.run(
        [CREDSTATS, "ask", "engagement 2026-09-01..2026-09-30", "--json", "--db", seeded.url,
         "--now", "2026-10-01T09:00:00+00:00"], capture_output=True, text=True).stdout)
    v = answer["values"]
    assert "Monthly digest · Sep 1 – Sep 30, 2026" in text
    assert f"*{v['issued']}* issued" in text and f"*{v['recipients']}* unique recipients" in text
    assert f"*{v['opened']} of {v['issued']}" in text
    assert message["metadata"]["event_type"] == "credstats_digest"
    assert standin.wait_for(lambda s: s.uploads())  # the chart, in the digest's thread


@pytest.mark.postgres
def test_missed_digests_within_and_beyond_the_grace_window(seeded: Database,
                                                          standin: SlackStandIn) -> None:
    subscribe(seeded, "CL")
    run_due(seeded, standin, "2026-11-01T20:00:00+00:00").communicate(timeout=120)  # 11 h late
    assert len(digests_posted(standin)) == 1 and states(seeded) == ["posted"]
    subscribe(seeded, "CX", created=datetime(2026, 10, 15, tzinfo=UTC))
    run_due(seeded, standin, "2026-11-03T09:00:00+00:00").communicate(timeout=120)  # 48 h late
    assert len(digests_posted(standin)) == 1
    assert states(seeded) == ["posted", "skipped"]


@pytest.mark.postgres
@pytest.mark.parametrize(("history_readable", "final"), [(True, "posted"), (False, "unknown")])
def test_a_process_killed_while_posting_is_reconciled_not_reposted(
    seeded: Database, standin: SlackStandIn, history_readable: bool, final: str
) -> None:
    subscribe(seeded, "CK")
    standin.delays["chat.postMessage"] = 30  # Slack has the message; the answer never arrives
    victim = run_due(seeded, standin, "2026-11-01T09:00:00+00:00")
    standin.wait_for(lambda s: s.messages.get("CK"), timeout=60)
    victim.send_signal(signal.SIGKILL)
    victim.wait(timeout=10)
    assert states(seeded) == ["posting"]
    standin.delays.clear()
    if not history_readable:
        standin.history_errors.append("missing_scope")
    run_due(seeded, standin, "2026-11-01T09:05:00+00:00").communicate(timeout=120)
    assert states(seeded) == [final]
    assert len(standin.messages["CK"]) == 1  # never posted twice
