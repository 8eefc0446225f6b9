"""The one answer path for /credstats, mentions, DMs and buttons (and, later, digests).

A `Question` says who asked, where, and how to reply. `answer` runs it on the shared metrics
path and replies: results in the channel or thread as Block Kit with a chart in the thread;
help, usage errors and unknown groups ephemerally; an apology when something broke. Nobody is
ever left without a reply.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from typing import Literal

from psycopg.errors import QueryCanceled
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.webhook import WebhookClient
from sqlalchemy import Connection
from sqlalchemy.exc import DBAPIError

from bot.charts import chart_for
from bot.help_text import usage
from bot.render_blocks import Block, error_blocks, explain_blocks, render_blocks
from bot.render_csv import render_csv
from bot.slack.deps import Deps
from metrics.catalog import Organization, list_groups, resolve_organization
from metrics.conversations import (
    first_delivery,
    last_thread_query,
    organization_for_team,
    remember_thread,
)
from metrics.definitions import Metric
from metrics.errors import UserError
from metrics.glossary import explain
from metrics.parse import parse
from metrics.run import run

logger = logging.getLogger("credstats.slack")
NOT_MEMBER = ("not_in_channel", "channel_not_found")
INVITE = "I'm not in this channel, so only the numbers came: `/invite @credstats` for charts " \
    "and buttons here."


@dataclass(frozen=True)
class Question:
    team_id: str
    user_id: str
    channel_id: str
    text: str
    source: Literal["command", "mention", "dm", "button"]
    thread_ts: str | None = None  # the thread to answer in (mentions, DMs, buttons)
    response_url: str | None = None  # commands and buttons
    event_id: str | None = None  # events: Slack retries deliver the same id again
    csv: bool = False

    @property
    def thread_key(self) -> str | None:
        if self.thread_ts is None:
            return None
        return f"{self.team_id}:{self.channel_id}:{self.thread_ts}"


def answer(deps: Deps, client: WebClient, question: Question) -> None:
    """Answer `question`; every failure still ends in a reply to the asker."""
    try:
        _answer(deps, client, question)
    except UserError as exc:
        _ephemeral(client, question, *error_blocks(exc.message, exc.suggestions))
    except DBAPIError as exc:
        logger.exception("database error answering %s from %s", question.source,
                         question.team_id)
        if isinstance(exc.orig, QueryCanceled) and "statement timeout" in str(exc.orig):
            _ephemeral(client, question, *error_blocks(*_too_long(question.text, deps)))
        else:
            _apologize(client, question, "the database is not answering right now")
    except Exception:
        logger.exception("failed answering %s from %s", question.source, question.team_id)
        _apologize(client, question, "something went wrong on my side")


def _answer(deps: Deps, client: WebClient, question: Question) -> None:
    now = deps.clock()
    words = question.text.strip().split()
    if words and words[0].lower() == "explain":
        _ephemeral(client, question, *explain_blocks(explain(" ".join(words[1:]) or None)))
        return
    if words and words[0].lower() == "digest" and question.source == "command":
        from bot.slack import digest_commands

        with deps.engine.connect() as conn:
            org = _organization(deps, conn, question.team_id)
        reply = digest_commands.handle(deps, client, org, question.team_id, question.user_id,
                                       question.channel_id, question.text, now)
        _ephemeral(client, question, [_text_block(reply)], reply)
        return
    tz = deps.timezones.get(client, question.user_id) or deps.settings.timezone
    if question.event_id:
        with deps.engine.begin() as conn:
            if not first_delivery(conn, question.event_id, now):
                logger.info("event %s already handled: a retry, not answered again",
                            question.event_id)
                return
    with deps.engine.connect() as conn:  # conversation state: the primary
        org = _organization(deps, conn, question.team_id)
        previous = last_thread_query(conn, question.thread_key) if question.thread_key else None
    with deps.reader.connect() as conn:  # the figures: a replica when one is configured
        query = parse(question.text, now=now, tz=tz, catalog=list_groups(conn, org),
                      previous=previous)
        if query.metric is Metric.HELP:
            _ephemeral(client, question, [_text_block(f"```{usage()[:2900]}```")], usage())
            return
        result = run(conn, org, query, now)
    if question.thread_key:
        with deps.engine.begin() as conn:
            remember_thread(conn, question.thread_key, query.text, now)
    if question.csv or query.output_format == "csv":
        _upload(client, question.channel_id, question.thread_ts, render_csv(result).encode(),
                "credstats.csv", f"{query.text} (CSV)", "The figures as CSV")
        return
    blocks, text = render_blocks(result, query.text)
    ts = _post(client, question, blocks, text)
    chart = chart_for(result)
    if ts is not None and chart is not None:
        _upload(client, question.channel_id, ts, chart.png, chart.filename, chart.title,
                chart.alt_text)


def _organization(deps: Deps, conn: Connection, team_id: str) -> Organization:
    linked = organization_for_team(conn, team_id)
    if linked is not None:
        return linked
    if deps.settings.oauth:
        raise UserError(
            f"This workspace ({team_id}) is not linked to an organization yet. An admin can "
            f"link it with: credstats org link {team_id} \"Organization name\".",
            [f"credstats org link {team_id} \"Organization name\""])
    return resolve_organization(conn, deps.settings.org)


def _text_block(text: str) -> Block:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text[:3000]}}


def _post(client: WebClient, question: Question, blocks: list[Block], text: str) -> str | None:
    """Post the answer where it belongs; returns its ts (None when it went by response_url)."""
    try:
        response = client.chat_postMessage(channel=question.channel_id, blocks=blocks,
                                           text=text, thread_ts=question.thread_ts,
                                           unfurl_links=False)
        return str(response["ts"])
    except SlackApiError as exc:
        if exc.response.get("error") not in NOT_MEMBER or not question.response_url:
            raise
    note: Block = {"type": "context", "elements": [{"type": "mrkdwn", "text": INVITE}]}
    plain = [b for b in blocks if b.get("type") != "actions"]
    WebhookClient(question.response_url).send(
        text=text, blocks=[*plain, note], response_type="in_channel")
    return None


def _upload(client: WebClient, channel: str, thread_ts: str | None, content: bytes,
            filename: str, title: str, alt_text: str) -> None:
    try:
        client.files_upload_v2(channel=channel, thread_ts=thread_ts, content=content,
                               filename=filename, title=title, alt_txt=alt_text)
    except SlackApiError as exc:
        # the numbers are already posted; a failed chart must not turn into an apology
        logger.warning("upload of %s failed: %s", filename, exc.response.get("error"))


def _ephemeral(client: WebClient, question: Question, blocks: list[Block], text: str) -> None:
    if question.response_url:
        WebhookClient(question.response_url).send(text=text, blocks=blocks,
                                                  response_type="ephemeral")
    elif question.source == "dm":
        client.chat_postMessage(channel=question.channel_id, blocks=blocks, text=text,
                                thread_ts=question.thread_ts)
    else:
        client.chat_postEphemeral(channel=question.channel_id, user=question.user_id,
                                  blocks=blocks, text=text, thread_ts=question.thread_ts)


_BY_EVENT_DATE = re.compile(r"\bbasis:\s?event\b", re.IGNORECASE)
_KIND = re.compile(r"\bkind:\s?\w+", re.IGNORECASE)


def _too_long(text: str, deps: Deps) -> tuple[str, tuple[str, ...]]:
    """What to say when a question's statement ran past CREDSTATS_STATEMENT_TIMEOUT_MS: the
    same question as the pre-aggregates answer it (by issue date, without kind:), when that
    differs, and a short range."""
    seconds = deps.settings.statement_timeout_ms / 1000
    fast = " ".join(_KIND.sub(" ", _BY_EVENT_DATE.sub(" ", text)).split())
    asked = " ".join(text.split())
    suggestions = [q for q in (fast, "engagement last 30 days") if q and q != asked]
    return (f"Counting that took longer than the {seconds:g}-second limit on one database "
            "query (CREDSTATS_STATEMENT_TIMEOUT_MS), so I stopped it; nothing was changed. "
            "Engagement by event date (basis:event) and kind: filters are counted from the "
            "stored rows of the whole range; everything else comes from the pre-aggregates "
            "in milliseconds.", tuple(suggestions))


def _apologize(client: WebClient, question: Question, why: str) -> None:
    text = f":warning: Sorry, {why}. Please try again in a minute."
    try:
        _ephemeral(client, question, [_text_block(text)], text)
    except Exception:
        logger.exception("could not even apologize to %s", question.user_id)
