"""Buttons under an answer: the same question again, with one change, in its thread."""

from __future__ import annotations

import json
import re
from typing import Any

from slack_bolt import Ack, App
from slack_sdk import WebClient

from bot.slack.answer import Question, answer
from bot.slack.deps import Deps

CHANGES = {"credstats_vs_year": " vs:year", "credstats_by_group": " by:group",
           "credstats_csv": ""}


def register(app: App, deps: Deps) -> None:
    @app.action(re.compile(r"^credstats_(vs_year|by_group|csv)$"))
    def on_button(ack: Ack, body: dict[str, Any], action: dict[str, Any],
                  client: WebClient) -> None:
        ack()
        try:
            asked = json.loads(action.get("value") or "{}").get("q", "")
        except json.JSONDecodeError:
            asked = ""
        message = body.get("message") or {}
        question = Question(
            team_id=(body.get("team") or {}).get("id", ""),
            user_id=(body.get("user") or {}).get("id", ""),
            channel_id=(body.get("channel") or {}).get("id", ""),
            text=asked + CHANGES[action["action_id"]],
            source="button",
            thread_ts=message.get("thread_ts") or message.get("ts"),
            response_url=body.get("response_url"),
            csv=action["action_id"] == "credstats_csv",
        )
        deps.jobs.submit(answer, deps, client, question)
