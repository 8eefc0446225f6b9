"""Mentions and direct messages, answered in their thread; other bots are ignored."""

from __future__ import annotations

from typing import Any

from slack_bolt import Ack, App
from slack_sdk import WebClient

from bot.slack.answer import Question, answer
from bot.slack.deps import Deps


def _from_a_bot(event: dict[str, Any]) -> bool:
    return bool(event.get("bot_id") or event.get("subtype") == "bot_message"
                or event.get("bot_profile"))


def _question(body: dict[str, Any], event: dict[str, Any], source: str) -> Question:
    return Question(
        team_id=body.get("team_id") or event.get("team", ""),
        user_id=event.get("user", ""),
        channel_id=event.get("channel", ""),
        text=event.get("text", ""),
        source="mention" if source == "mention" else "dm",
        thread_ts=event.get("thread_ts") or event.get("ts"),
        event_id=body.get("event_id"),
    )


def register(app: App, deps: Deps) -> None:
    @app.event("app_mention")
    def on_mention(ack: Ack, body: dict[str, Any], event: dict[str, Any],
                   client: WebClient) -> None:
        ack()
        if not _from_a_bot(event):
            deps.jobs.submit(answer, deps, client, _question(body, event, "mention"))

    @app.event({"type": "message", "channel_type": "im"})
    def on_direct_message(ack: Ack, body: dict[str, Any], event: dict[str, Any],
                          client: WebClient) -> None:
        ack()
        if _from_a_bot(event) or event.get("subtype"):
            return  # edits, deletions, joins and bots are not questions
        deps.jobs.submit(answer, deps, client, _question(body, event, "dm"))

    @app.event("message")
    def on_other_message(ack: Ack) -> None:
        ack()  # channel messages without a mention are not for us
