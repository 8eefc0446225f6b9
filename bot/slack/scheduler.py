"""The digest scheduler every `credstats serve` worker and `credstats socket` runs: a daemon
thread that ticks at least once a minute. Any number of them run side by side; the database
decides who posts what (metrics/digests.py)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import timedelta

from slack_sdk import WebClient
from sqlalchemy import Engine

from bot.digests import tick
from bot.settings import Settings
from bot.slack.deps import Deps

logger = logging.getLogger("credstats.digests")
INTERVAL_SECONDS = 30.0


def client_for_team(settings: Settings, engine: Engine) -> Callable[[str], WebClient]:
    """The Web API client that speaks for a workspace: the one bot token, or (many
    workspaces) the token its installation stored."""
    from bot.slack.app import web_client

    if not settings.oauth:
        shared = web_client(settings)
        return lambda team_id: shared

    from dataclasses import replace

    from slack_sdk.oauth.installation_store.sqlalchemy import SQLAlchemyInstallationStore

    assert settings.client_id
    store = SQLAlchemyInstallationStore(settings.client_id, engine)

    def for_team(team_id: str) -> WebClient:
        bot = store.find_bot(enterprise_id=None, team_id=team_id)
        if bot is None or not bot.bot_token:
            raise RuntimeError(f"no installation for workspace {team_id}")
        return web_client(replace(settings, bot_token=bot.bot_token))

    return for_team


def start_scheduler(settings: Settings, deps: Deps,
                    interval: float = INTERVAL_SECONDS) -> threading.Event:
    """Start ticking in the background; set the returned event to stop."""
    stop = threading.Event()
    client_for = client_for_team(settings, deps.engine)
    grace = timedelta(hours=settings.digest_grace_hours)

    def loop() -> None:
        while not stop.wait(interval):
            try:
                tick(deps.engine, client_for, deps.clock(), grace)
            except Exception:  # a tick must never kill the thread; the next one retries
                logger.exception("digest tick failed")

    threading.Thread(target=loop, name="credstats-digests", daemon=True).start()
    return stop
