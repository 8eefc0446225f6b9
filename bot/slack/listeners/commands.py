"""/credstats: acknowledged at once, answered from the worker pool."""

from __future__ import annotations

from typing import Any

from slack_bolt import Ack, App
from slack_sdk import WebClient

from bot.slack.answer import Question, answer
from bot.slack.deps import Deps


def register(app: App, deps: Deps) -> None:
    @app.command("/credstats")
    def on_credstats(ack: Ack, command: dict[str, Any], client: WebClient) -> None:
        ack()  # within milliseconds: no query, no I/O before this
        question = Question(
            team_id=command.get("team_id", ""),
            user_id=command.get("user_id", ""),
            channel_id=command.get("channel_id", ""),
            text=command.get("text", ""),
            source="command",
            response_url=command.get("response_url"),
        )
        deps.jobs.submit(answer, deps, client, question)
