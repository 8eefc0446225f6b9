"""Digests: a scheduled query. What a digest says (the same metrics path and Block Kit pieces as
/credstats), and delivering claimed runs exactly once, with recovery after a crash.

Delivery of a run: claimed → posting (attempts + 1) → chat.postMessage carrying metadata that
names the run → posted (with the message ts). A process that dies leaves the run in claimed or
posting; after the lease another tick reconciles it: a run still `claimed` never reached Slack
and is posted; a run in `posting` is looked up in the channel's history by its metadata and
marked posted if found, posted now if the history shows it is not there, or recorded as
`unknown` if the history cannot be read (never a blind repost).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from sqlalchemy import Connection, Engine

from bot.charts import chart_for
from bot.numbers import benchmark_lines, count_change, fraction
from bot.render_blocks import Block, context_line, figure_lines
from metrics.catalog import Organization, list_organizations
from metrics.definitions import Comparison, Metric
from metrics.digests import (
    GRACE,
    Frequency,
    Run,
    RunState,
    Subscription,
    abandoned,
    claim_due,
    move,
)
from metrics.query import MetricQuery, MetricResult
from metrics.run import run as run_query
from metrics.timerange import TimeRange

logger = logging.getLogger("credstats.digests")
METADATA_EVENT = "credstats_digest"
MIN_MOVER_BASE = 30
PERMANENT = ("channel_not_found", "is_archived", "not_in_channel", "account_inactive",
             "invalid_auth", "token_revoked", "missing_scope")
TITLES = {Frequency.DAILY: "Daily digest", Frequency.WEEKLY: "Weekly digest",
          Frequency.MONTHLY: "Monthly digest"}


@dataclass(frozen=True)
class Digest:
    blocks: list[Block]
    text: str
    empty: bool
    engagement: MetricResult


def organization(conn: Connection, org_id: int) -> Organization:
    return next(o for o in list_organizations(conn) if o.id == org_id)


def compose(conn: Connection, sub: Subscription, period: TimeRange, now: datetime) -> Digest:
    """The digest of `period`: the same queries /credstats runs, composed."""
    org = organization(conn, sub.organization_id)
    base = MetricQuery(Metric.ENGAGEMENT, period, groups=sub.groups,
                       compare=Comparison.PREVIOUS)
    engagement = run_query(conn, org, base, now)
    activity = run_query(conn, org, replace(base, metric=Metric.ACTIVITY), now)
    groups = run_query(conn, org, replace(base, metric=Metric.GROUPS, groups=()), now)
    title = f"{TITLES[sub.frequency]} · {period.describe()}"
    if sub.groups:
        title += " · " + ", ".join(sub.groups)
    v, a = engagement.values, activity.values
    if v["issued"] == 0 and a["events"] == 0:
        text = f"{title}: nothing happened — no credentials issued and no engagement."
        return Digest([_section(f"*{title}*: nothing happened — no credentials issued and no "
                                "engagement.")], text, True, engagement)
    blocks: list[Block] = [{"type": "header",
                            "text": {"type": "plain_text", "text": title[:150]}}]
    blocks.append(_section("\n".join(figure_lines(engagement))))
    pa = activity.previous.values if activity.previous else None
    shares = a["linkedin_share"] + a["twitter_share"] + a["facebook_share"] + a["other_share"]
    activity_line = (f"*Activity during the period* (by event date): {a['view']:,} views · "
                     f"{a['pdf_download'] + a['image_download']:,} downloads · "
                     f"{shares:,} shares · {a['events']:,} events in all")
    if pa is not None:
        activity_line += f"  _{count_change(a['events'], pa['events'])}_"
    blocks.append(_section(activity_line))
    if not sub.groups:
        top = [g for g in groups.by_group if g.values["issued"]][:5]
        if top:
            blocks.append(_section("*Top groups*\n" + "\n".join(
                f"{i}. {g.group}: {g.values['issued']:,} issued · "
                f"{fraction(g.values['opened'], g.values['issued'])} opened"
                for i, g in enumerate(top, 1))))
        movers = _movers(conn, org, groups, now)
        if movers:
            blocks.append(_section("*Notable changes*\n" + "\n".join(movers)))
    if engagement.benchmarks:
        blocks.append(_context("\n".join(benchmark_lines(dict(v), engagement.benchmarks))))
    blocks.append(_context(context_line(engagement)))
    text = (f"{title}: {v['issued']:,} issued, {fraction(v['opened'], v['issued'])} opened, "
            f"{a['events']:,} events")
    return Digest(blocks, text, False, engagement)


def _movers(conn: Connection, org: Organization, groups: MetricResult, now: datetime
            ) -> list[str]:
    """Groups whose issuance moved most vs the previous period, where the base matters."""
    previous_range = groups.time_range.previous()
    if previous_range is None:
        return []
    before = run_query(conn, org, replace(groups.query, time_range=previous_range), now)
    earlier = {g.group: g.values["issued"] for g in before.by_group}
    moves = []
    for g in groups.by_group:
        now_n, then_n = g.values["issued"], earlier.get(g.group, 0)
        if max(now_n, then_n) >= MIN_MOVER_BASE and now_n != then_n:
            moves.append((abs(now_n - then_n), f"{g.group}: {then_n:,} → {now_n:,} issued "
                          f"({count_change(now_n, then_n)})"))
    return [line for _, line in sorted(moves, reverse=True)[:3]]


def _section(text: str) -> Block:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text[:3000]}}


def _context(text: str) -> Block:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": text[:3000]}]}


# -- delivery ---------------------------------------------------------------------------------

ClientFor = Callable[[str], WebClient]


def tick(engine: Engine, client_for: ClientFor, now: datetime,
         grace: timedelta = GRACE) -> list[tuple[int, RunState]]:
    """One scheduler tick: reconcile abandoned runs, claim what is due, deliver it. Returns
    (run id, final state) for every run it touched; one failing channel never stops the rest."""
    with engine.begin() as conn:
        stale = abandoned(conn, now)
        for run in stale:  # take them over: a fresh lease for this process
            move(conn, run, run.state, now, expected=(run.state,))
    with engine.begin() as conn:
        due = claim_due(conn, now, grace)
    outcomes = []
    for run in stale + due:
        try:
            outcomes.append((run.id, deliver(engine, client_for(run.subscription.team_id),
                                             run, now)))
        except Exception:
            logger.exception("digest run %s failed", run.id)
            with engine.begin() as conn:
                move(conn, run, RunState.FAILED, now, error="internal error (see the log)",
                     expected=(RunState.CLAIMED, RunState.POSTING))
            outcomes.append((run.id, RunState.FAILED))
    return outcomes


def deliver(engine: Engine, client: WebClient, run: Run, now: datetime) -> RunState:
    sub = run.subscription
    if run.state is RunState.POSTING:
        found = _find_posted(client, run)
        if found is None:
            with engine.begin() as conn:
                move(conn, run, RunState.UNKNOWN, now, expected=(RunState.POSTING,),
                     error="crashed while posting and the channel history could not be read")
            return RunState.UNKNOWN
        if isinstance(found, str):
            with engine.begin() as conn:
                move(conn, run, RunState.POSTED, now, expected=(RunState.POSTING,),
                     message_ts=found)
            return RunState.POSTED
    with engine.begin() as conn:
        digest = compose(conn, sub, run.period, now)
        if digest.empty and sub.skip_empty:
            move(conn, run, RunState.SKIPPED, now, error="nothing happened (skip-empty)",
                 expected=(RunState.CLAIMED, RunState.POSTING))
            return RunState.SKIPPED
        if not move(conn, run, RunState.POSTING, now,
                    expected=(RunState.CLAIMED, RunState.POSTING)):
            return run.state  # another process has it
    _join(client, sub.channel_id)
    try:
        response = client.chat_postMessage(
            channel=sub.channel_id, blocks=digest.blocks, text=digest.text, unfurl_links=False,
            metadata={"event_type": METADATA_EVENT,
                      "event_payload": {"run_id": run.id, "subscription_id": sub.id,
                                        "period_start": run.period.start_at.isoformat()
                                        if run.period.start_at else ""}})
    except SlackApiError as exc:
        error = str(exc.response.get("error"))
        with engine.begin() as conn:
            move(conn, run, RunState.FAILED, now, expected=(RunState.POSTING,),
                 error=f"Slack said {error}")
        if error in PERMANENT:
            _tell_creator(client, sub, error)
        return RunState.FAILED
    ts = str(response["ts"])
    with engine.begin() as conn:
        move(conn, run, RunState.POSTED, now, expected=(RunState.POSTING,), message_ts=ts)
    chart = None if digest.empty else chart_for(digest.engagement)
    if chart is not None:
        try:
            client.files_upload_v2(channel=sub.channel_id, thread_ts=ts, content=chart.png,
                                   filename=chart.filename, title=chart.title,
                                   alt_txt=chart.alt_text)
        except SlackApiError as exc:
            logger.warning("digest chart upload failed: %s", exc.response.get("error"))
    return RunState.POSTED


def _find_posted(client: WebClient, run: Run) -> str | bool | None:
    """The ts of this run's message found by its metadata; False when the history shows it was
    never posted; None when the history cannot be read."""
    oldest = (run.scheduled_for - timedelta(minutes=5)).timestamp()
    try:
        history = client.conversations_history(channel=run.subscription.channel_id,
                                               oldest=str(oldest), include_all_metadata=True,
                                               limit=200)
    except SlackApiError as exc:
        logger.warning("cannot read history to reconcile run %s: %s", run.id,
                       exc.response.get("error"))
        return None
    for message in history.get("messages") or []:
        meta = message.get("metadata") or {}
        if meta.get("event_type") == METADATA_EVENT and \
                (meta.get("event_payload") or {}).get("run_id") == run.id:
            return str(message["ts"])
    return False


def _join(client: WebClient, channel: str) -> None:
    """Join a public channel the bot is not in (channels:join); private ones need an invite."""
    if not channel.startswith("C"):
        return
    try:
        client.conversations_join(channel=channel)
    except SlackApiError as exc:
        logger.info("could not join %s: %s", channel, exc.response.get("error"))


def _tell_creator(client: WebClient, sub: Subscription, error: str) -> None:
    hint = ("invite me with `/invite @credstats`" if error == "not_in_channel"
            else "the channel may be archived or gone; `/credstats digest remove "
            f"{sub.id}` stops it")
    try:
        client.chat_postMessage(channel=sub.created_by,
                                text=f"I could not post digest #{sub.id} in <#{sub.channel_id}> "
                                f"({error}): {hint}.")
    except SlackApiError:
        logger.warning("could not tell %s about digest %s", sub.created_by, sub.id)
