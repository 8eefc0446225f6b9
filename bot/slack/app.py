"""create_app(settings, engine): the Bolt app with every listener registered."""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor

from slack_bolt import App
from slack_sdk import WebClient
from slack_sdk.http_retry.builtin_handlers import (
    ConnectionErrorRetryHandler,
    RateLimitErrorRetryHandler,
)
from sqlalchemy import Engine

from bot.settings import Settings
from bot.slack.deps import Deps
from bot.slack.listeners import register_listeners

logger = logging.getLogger("credstats.slack")


def web_client(settings: Settings) -> WebClient:
    """A Web API client for SLACK_API_URL that waits out 429s and retries dropped connections."""
    return WebClient(
        token=settings.bot_token or None,
        base_url=settings.api_url,
        timeout=10,
        retry_handlers=[RateLimitErrorRetryHandler(max_retry_count=3),
                        ConnectionErrorRetryHandler(max_retry_count=2)],
    )


def create_app(settings: Settings, engine: Engine, deps: Deps | None = None) -> App:
    """The Bolt app. Listeners only acknowledge and hand work to `deps.jobs`, a bounded pool, so
    slow queries never hold up the next acknowledgement."""
    deps = deps or Deps(settings, engine,
                        ThreadPoolExecutor(max_workers=settings.workers,
                                           thread_name_prefix="credstats-answer"))
    app = App(
        token=settings.bot_token,
        signing_secret=settings.signing_secret,
        client=web_client(settings),
        logger=logger,
        # acknowledging is all a listener does before returning: plenty of threads for it
        listener_executor=ThreadPoolExecutor(max_workers=64, thread_name_prefix="credstats-ack"),
    )
    register_listeners(app, deps)
    return app
