"""create_app(settings, engine): the Bolt app with every listener registered."""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace

from slack_bolt import App
from slack_bolt.oauth import OAuthFlow
from slack_bolt.oauth.oauth_settings import OAuthSettings
from slack_sdk import WebClient
from slack_sdk.http_retry.builtin_handlers import (
    ConnectionErrorRetryHandler,
    RateLimitErrorRetryHandler,
)
from sqlalchemy import Engine

from bot.settings import Settings
from bot.slack.deps import Deps
from bot.slack.listeners import BOT_SCOPES, register_listeners

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
    # acknowledging is all a listener does before returning: plenty of threads for it
    acks = ThreadPoolExecutor(max_workers=64, thread_name_prefix="credstats-ack")
    if settings.oauth:
        app = App(signing_secret=settings.signing_secret, client=web_client(settings),
                  logger=logger, listener_executor=acks, oauth_flow=oauth_flow(settings, engine))
    else:
        # the client carries the bot token (and SLACK_API_URL, and the retry handlers)
        app = App(signing_secret=settings.signing_secret, client=web_client(settings),
                  logger=logger, listener_executor=acks)
    register_listeners(app, deps)
    return app


def oauth_flow(settings: Settings, engine: Engine) -> OAuthFlow:
    """Many workspaces: /slack/install and /slack/oauth_redirect, installations kept by
    slack_sdk's SQLAlchemy stores in credstats' own database (tables from the migrations)."""
    from slack_sdk.oauth.installation_store.sqlalchemy import SQLAlchemyInstallationStore
    from slack_sdk.oauth.state_store.sqlalchemy import SQLAlchemyOAuthStateStore

    assert settings.client_id and settings.client_secret
    return OAuthFlow(
        client=web_client(replace(settings, bot_token="")),
        settings=OAuthSettings(
            client_id=settings.client_id,
            client_secret=settings.client_secret,
            scopes=list(BOT_SCOPES),
            installation_store=SQLAlchemyInstallationStore(settings.client_id, engine),
            state_store=SQLAlchemyOAuthStateStore(expiration_seconds=600, engine=engine),
            install_path="/slack/install",
            redirect_uri_path="/slack/oauth_redirect",
        ),
    )
