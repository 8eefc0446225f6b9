"""End to end: signed Slack requests over HTTP to `credstats serve`, answers checked at a local
Slack Web API stand-in (tests/slack_standin.py)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml
from sqlalchemy import text as sql_text

from bot.numbers import count_change, fraction, pct
from metrics.db import make_engine, upgrade
from metrics.importer import import_files
from tests import seed_example
from tests.slack_client import Server
from tests.slack_standin import SlackStandIn, reset

NOW = datetime(2026, 11, 29, 12, tzinfo=UTC)
PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def standin() -> Iterator[SlackStandIn]:
    s = SlackStandIn().start()
    yield s
    s.stop()


@pytest.fixture(scope="module")
def db_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    directory = tmp_path_factory.mktemp("slack-db")
    url = f"sqlite:///{directory / 'credstats.sqlite3'}"
    engine = make_engine(url)
    upgrade(engine)
    creds, events = seed_example.write_files(directory)
    import_files(engine, "Seed Org", creds, events, now=NOW)
    engine.dispose()
    return url


@pytest.fixture(scope="module")
def server(db_url: str, standin: SlackStandIn) -> Iterator[Server]:
    s = Server(db_url, standin.api_url).start()
    yield s
    s.stop()


@pytest.fixture(autouse=True)
def _clean(standin: SlackStandIn) -> None:
    reset(standin)


def section_text(call_params: dict) -> str:  # type: ignore[type-arg]
    return "\n".join(
        b.get("text", {}).get("text", "") if b["type"] != "context"
        else " ".join(e.get("text", "") for e in b["elements"])
        for b in call_params.get("blocks", []) if b["type"] in ("section", "context", "header"))


def posted(standin: SlackStandIn, n: int = 1) -> list:  # type: ignore[type-arg]
    return standin.wait_for(lambda s: len(s.named("chat.postMessage")) >= n
                            and s.named("chat.postMessage"))


def test_slash_command_posts_numbers_and_a_chart_in_the_thread(
    server: Server, standin: SlackStandIn
) -> None:
    status, body, _ = server.command("engagement group:CPA Q3 2026",
                                     response_url=f"{standin.url}/response/1")
    assert status == 200 and body == b""
    [message] = posted(standin)
    params = message.params
    assert params["channel"] == "C1"
    header = params["blocks"][0]["text"]["text"]
    assert header == "Engagement · Certified Public Accountant · Jul 1 – Sep 30, 2026 (Q3 2026)"
    text = section_text(params)
    assert "*43* issued" in text and "*41* unique recipients" in text
    assert "*22 of 43 · 51%* opened" in text
    assert "*8* downloaded · 19% of issued · 36% of opened" in text
    assert "*5* shared on LinkedIn" in text and "*1* added to LinkedIn profile" in text
    assert "▲ 5 (+13%)" in text  # 43 vs 38 in Q2
    assert "Timezone UTC" in text and "`/credstats explain`" in text
    assert "Engagement" in params["text"]  # the plain-text fallback
    actions = [b for b in params["blocks"] if b["type"] == "actions"][0]["elements"]
    assert [a["text"]["text"] for a in actions] == ["vs last year", "by group", "CSV"]

    [(upload, complete)] = standin.wait_for(lambda s: s.uploads())
    assert upload.body.startswith(PNG) and len(upload.body) > 10_000
    assert complete.params["channel_id"] == "C1"
    assert message.params.get("thread_ts") is None  # the answer is top level ...
    assert complete.params["thread_ts"] == message.response["ts"]  # ... the chart in its thread
    [get_url] = standin.named("files.getUploadURLExternal")
    assert get_url.params["alt_txt"].startswith("Engagement funnel: Issued 43; Opened 22")
    assert int(get_url.params["length"]) == len(upload.body)
    assert not standin.named("files.upload")  # the retired method is never called


def test_usage_errors_are_ephemeral_with_suggestions(server: Server,
                                                     standin: SlackStandIn) -> None:
    server.command("engagement group:CPX", response_url=f"{standin.url}/response/2")
    [reply] = standin.wait_for(lambda s: s.named("response_url"))
    assert reply.params["response_type"] == "ephemeral"
    assert "No group called 'CPX'. Did you mean CPA?" in reply.params["text"]
    assert "/credstats help" in reply.params["text"]
    assert not standin.named("chat.postMessage")

    reset(standin)
    server.command("help", response_url=f"{standin.url}/response/3")
    [reply] = standin.wait_for(lambda s: s.named("response_url"))
    assert reply.params["response_type"] == "ephemeral"
    assert "Metrics:" in reply.params["text"] and "Time:" in reply.params["text"]

    reset(standin)
    server.command("explain engagement", response_url=f"{standin.url}/response/3e")
    [reply] = standin.wait_for(lambda s: s.named("response_url"))
    assert reply.params["response_type"] == "ephemeral"
    assert "opened (Opened): credentials viewed at least once by their owner" in \
        reply.params["text"]


def test_not_in_channel_numbers_arrive_by_response_url(server: Server,
                                                       standin: SlackStandIn) -> None:
    standin.failures["chat.postMessage"] = ["not_in_channel"]
    server.command("issued Q3 2026", response_url=f"{standin.url}/response/4")
    [reply] = standin.wait_for(lambda s: s.named("response_url"))
    assert reply.params["response_type"] == "in_channel"
    assert "*53* issued" in section_text(reply.params)
    assert "/invite @credstats" in section_text(reply.params)


def test_mention_answers_in_its_thread_and_follow_ups_use_the_thread(
    server: Server, standin: SlackStandIn
) -> None:
    mention = {"type": "app_mention", "user": "U1", "channel": "C9", "ts": "1701.000100",
               "text": "<@UBOT> how many CFA credentials did we issue in Q3 2026?"}
    assert server.event(mention, event_id="EvM1")[0] == 200
    [first] = posted(standin)
    assert first.params["thread_ts"] == "1701.000100"
    assert "Chartered Financial Analyst" in first.params["blocks"][0]["text"]["text"]
    assert "*10* issued" in section_text(first.params)

    follow_up = {"type": "app_mention", "user": "U1", "channel": "C9", "ts": "1701.000200",
                 "thread_ts": "1701.000100", "text": "<@UBOT> same for CPA"}
    server.event(follow_up, event_id="EvM2")
    second = posted(standin, 2)[1]
    assert second.params["thread_ts"] == "1701.000100"
    assert "Certified Public Accountant" in second.params["blocks"][0]["text"]["text"]
    assert "*43* issued" in section_text(second.params)


def test_follow_up_reaches_another_replica(db_url: str, standin: SlackStandIn,
                                          server: Server) -> None:
    mention = {"type": "app_mention", "user": "U1", "channel": "C8", "ts": "1702.000100",
               "text": "<@UBOT> engagement CPA Q3 2026"}
    server.event(mention, event_id="EvR1")
    posted(standin)
    replica = Server(db_url, standin.api_url).start()
    try:
        replica.event({"type": "app_mention", "user": "U1", "channel": "C8",
                       "ts": "1702.000200", "thread_ts": "1702.000100",
                       "text": "<@UBOT> and Q2 2026?"}, event_id="EvR2")
        second = posted(standin, 2)[1]
    finally:
        replica.stop()
    assert "Engagement · Certified Public Accountant · Apr 1 – Jun 30, 2026" in \
        second.params["blocks"][0]["text"]["text"]


def test_a_retried_event_is_answered_once(server: Server, standin: SlackStandIn) -> None:
    mention = {"type": "app_mention", "user": "U1", "channel": "C7", "ts": "1703.000100",
               "text": "<@UBOT> issued Q3 2026"}
    server.event(mention, event_id="EvDup")
    server.event(mention, event_id="EvDup", headers={"X-Slack-Retry-Num": "1",
                                                     "X-Slack-Retry-Reason": "http_timeout"})
    posted(standin)
    time.sleep(1.5)
    assert len(standin.named("chat.postMessage")) == 1


def test_direct_messages_are_answered_and_bots_ignored(server: Server,
                                                       standin: SlackStandIn) -> None:
    bot = {"type": "message", "channel_type": "im", "channel": "D1", "user": "U2",
           "bot_id": "B9", "ts": "1704.000050", "text": "issued Q3 2026"}
    server.event(bot, event_id="EvBot")
    dm = {"type": "message", "channel_type": "im", "channel": "D1", "user": "U2",
          "ts": "1704.000100", "text": "recipients Q3 2026"}
    server.event(dm, event_id="EvDM")
    [reply] = posted(standin)
    assert reply.params["channel"] == "D1" and reply.params["thread_ts"] == "1704.000100"
    assert "*51* unique recipients" in section_text(reply.params)
    time.sleep(1)
    assert len(standin.named("chat.postMessage")) == 1


def test_bad_signature_and_stale_timestamp_are_refused(server: Server,
                                                       standin: SlackStandIn) -> None:
    assert server.command("issued", response_url=f"{standin.url}/response/5",
                          secret="wrong")[0] == 401
    stale = int(time.time()) - 6 * 60
    assert server.command("issued", response_url=f"{standin.url}/response/5",
                          timestamp=stale)[0] == 401
    time.sleep(1)
    assert not standin.calls


def test_buttons_rerun_the_question_with_the_change(server: Server,
                                                    standin: SlackStandIn) -> None:
    server.command("engagement group:CPA Q3 2026", response_url=f"{standin.url}/response/6")
    [message] = posted(standin)
    buttons = {a["action_id"]: a for b in message.params["blocks"] if b["type"] == "actions"
               for a in b["elements"]}
    payload = {"type": "block_actions", "user": {"id": "U1"}, "team": {"id": "T1"},
               "channel": {"id": "C1"}, "message": {"ts": "1700000000.000077"},
               "response_url": f"{standin.url}/response/7", "api_app_id": "A1",
               "trigger_id": "t", "container": {"type": "message"},
               "actions": [{**buttons["credstats_vs_year"], "block_id": "credstats_actions"}]}
    assert server.action(payload)[0] == 200
    second = posted(standin, 2)[1]
    assert second.params["thread_ts"] == "1700000000.000077"
    assert "same period last year (Jul 1 – Sep 30, 2025)" in section_text(second.params)

    csv_payload = {**payload, "actions": [{**buttons["credstats_csv"],
                                           "block_id": "credstats_actions"}]}
    server.action(csv_payload)
    csv_upload = standin.wait_for(
        lambda s: [u for u, c in s.uploads() if u.body.startswith(b"row,group")])
    lines = csv_upload[0].body.decode().splitlines()
    assert lines[1].startswith("total,Certified Public Accountant,2026-07-01T00:00:00+00:00")
    assert ",43,41,22,8,5,1,7,2,0" in lines[1]


def test_compare_lists_each_group_and_their_total(server: Server, standin: SlackStandIn,
                                                 db_url: str) -> None:
    """The groups side by side, then together (a recipient of both counts once), as the
    text, CSV and JSON answers give them; the seed's figures are counted by hand."""
    server.command("compare CPA vs CFA Q3 2026", response_url=f"{standin.url}/response/9")
    [message] = posted(standin)
    text_ = section_text(message.params)
    engine = make_engine(db_url)
    with engine.connect() as conn:
        def plain(start: str, end: str) -> tuple[int, int]:
            issued, people = conn.execute(sql_text(
                "SELECT count(*), count(DISTINCT c.recipient_id) FROM credentials c "
                "JOIN groups g ON g.id = c.group_id WHERE g.code IN ('CPA', 'CFA') "
                "AND c.issued_at >= :start AND c.issued_at < :end"),
                {"start": start, "end": end}).one()
            return issued, people
        (issued, recipients), (before, _) = (plain("2026-07-01", "2026-10-01"),
                                              plain("2026-04-01", "2026-07-01"))
    engine.dispose()
    assert issued == 53  # 43 + 10
    assert "Certified Public Accountant (CPA)*: 43 issued · 41 recipients" in text_
    assert "Chartered Financial Analyst (CFA)*: 10 issued" in text_
    assert (f"*Total* (both groups): 53 issued  _{count_change(53, before)}_ · "
            f"{recipients} unique recipients "
            f"· {fraction(28, 53)} opened · {pct(6, 53)} shared on LinkedIn") in text_


def test_rate_limited_post_is_retried(server: Server, standin: SlackStandIn) -> None:
    standin.rate_limits["chat.postMessage"] = 1
    server.command("issued Q3 2026", response_url=f"{standin.url}/response/8")
    ok = standin.wait_for(lambda s: [c for c in s.named("chat.postMessage")
                                     if c.response.get("ok")])
    calls = standin.named("chat.postMessage")
    assert [c.response.get("error") for c in calls] == ["ratelimited", None]
    assert "*53* issued" in section_text(ok[0].params)


def test_user_timezone_decides_the_dates(server: Server, standin: SlackStandIn) -> None:
    standin.user_timezones["U5"] = "America/New_York"
    server.command("activity group:CPA 2026-09-01..2026-09-30", user="U5",
                   response_url=f"{standin.url}/response/9")
    [message] = posted(standin)
    text = section_text(message.params)
    assert "Timezone America/New_York" in text
    assert "*1* events on *1* credentials" in text  # the 23:30 New York view on Sep 30


def test_healthz(server: Server) -> None:
    assert server.get("/healthz") == (200, b"ok\n")


def test_manifest_matches_the_registered_listeners() -> None:
    from bot.slack.listeners import COMMANDS, EVENTS

    manifest = yaml.safe_load((Path(__file__).parents[1] / "manifest.yml").read_text())
    assert tuple(c["command"] for c in manifest["features"]["slash_commands"]) == COMMANDS
    assert tuple(manifest["settings"]["event_subscriptions"]["bot_events"]) == EVENTS
    assert manifest["settings"]["interactivity"]["is_enabled"] is True
    from bot.slack.listeners import BOT_SCOPES

    assert tuple(manifest["oauth_config"]["scopes"]["bot"]) == BOT_SCOPES


def test_twenty_slow_commands_at_once_are_all_acknowledged_in_time(
    tmp_path: Path, standin: SlackStandIn
) -> None:
    """Two workers and twenty slow questions (a year of daily series over the demo program):
    acknowledgements never wait for the queries."""
    import subprocess
    from concurrent.futures import ThreadPoolExecutor

    from tests.slack_client import CREDSTATS

    url = f"sqlite:///{tmp_path / 'demo.sqlite3'}"
    subprocess.run([CREDSTATS, "demo", "--db", url], check=True, capture_output=True)
    busy = Server(url, standin.api_url, CREDSTATS_WORKERS="2").start()
    try:
        with ThreadPoolExecutor(max_workers=20) as pool:
            replies = list(pool.map(
                lambda i: busy.command("groups last 365 days by:day",
                                       response_url=f"{standin.url}/response/c{i}"),
                range(20)))
        assert [status for status, _, _ in replies] == [200] * 20
        assert max(seconds for _, _, seconds in replies) < 3.0  # Slack's deadline
        standin.wait_for(lambda s: len(s.named("chat.postMessage")) >= 20, timeout=120)
    finally:
        busy.stop()


def test_secrets_never_reach_the_logs(db_url: str, standin: SlackStandIn) -> None:
    noisy = Server(db_url, standin.api_url, SLACK_BOT_TOKEN="xoxb-very-secret-token",
                   SLACK_SIGNING_SECRET="shh-signing-secret").start()
    try:
        noisy.post(b"token=x&command=/credstats&text=issued", "application/x-www-form-urlencoded",
                   secret="shh-signing-secret")
        time.sleep(1)
    finally:
        log = noisy.stop()
    assert "xoxb-very-secret-token" not in log and "shh-signing-secret" not in log


def test_digest_subscriptions_through_the_slash_command(server: Server,
                                                        standin: SlackStandIn) -> None:
    def say(text: str, user: str = "U1") -> str:
        reset(standin)
        server.command(text, user=user, channel="C42",
                       response_url=f"{standin.url}/response/d")
        [reply] = standin.wait_for(lambda s: s.named("response_url"))
        assert reply.params["response_type"] == "ephemeral"
        return str(reply.params["text"])

    for bad, why in (("digest add weekly at 25:00", "'25:00' is not a time of day"),
                     ("digest add tz:Mars/Base", "Unknown timezone 'Mars/Base'"),
                     ("digest add group:NOPE", "No group called 'NOPE'"),
                     ("digest add #general", "pick it from Slack's autocomplete"),
                     ("digest add on funday", "'funday' is not a day of the week")):
        assert why in say(bad)
    assert "No digests in this channel yet" in say("digest list")

    created = say("digest add <#C77|reports> weekly on friday at 8:30am tz:Europe/London "
                  "group:CPA skip-empty")
    assert "Digest created: #1" in created and "<#C77>" in created
    assert "every Friday at 08:30 Europe/London" in created
    assert "groups: Certified Public Accountant" in created and "skips empty" in created
    assert standin.named("conversations.join")  # a public channel: the bot joins it
    assert "every Monday at 09:00 UTC" in say("digest add")  # the defaults, this channel
    listed = say("digest list all")
    assert "#1" in listed and "#2" in listed
    assert "<#C77>" not in say("digest list")  # this channel's only

    assert "Only <@U1>" in say("digest pause 1", user="U2")
    assert "Digest #1 paused" in say("digest pause 1")
    assert "PAUSED" in say("digest list all")
    assert "Digest #1 resumed" in say("digest resume 1")
    preview = say("digest preview 1")
    assert preview.startswith("Preview of the digest due Fri")
    assert "Digest #2 removed" in say("digest remove 2")
    assert "#2" not in say("digest list all")
    assert "There is no digest #9" in say("digest pause 9")
