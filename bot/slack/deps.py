"""What every Slack listener needs: settings, the database, the worker pool, a clock, and the
users' timezones (from users.info, cached)."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass, field
from datetime import UTC, datetime

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from sqlalchemy import Engine

from bot.settings import Settings

logger = logging.getLogger("credstats.slack")


def utc_now() -> datetime:
    return datetime.now(UTC)


class TimezoneCache:
    """A user's Slack timezone, asked once an hour at most; None when Slack will not say."""

    def __init__(self, ttl_seconds: float = 3600) -> None:
        self.ttl = ttl_seconds
        self.known: dict[str, tuple[str | None, float]] = {}
        self.lock = threading.Lock()

    def get(self, client: WebClient, user_id: str) -> str | None:
        with self.lock:
            hit = self.known.get(user_id)
        if hit is not None and hit[1] > time.monotonic():
            return hit[0]
        tz: str | None = None
        try:
            user = client.users_info(user=user_id).get("user") or {}
            tz = user.get("tz") or None
        except SlackApiError as exc:
            logger.warning("users.info for %s failed: %s", user_id, exc.response.get("error"))
        with self.lock:
            self.known[user_id] = (tz, time.monotonic() + self.ttl)
        return tz


@dataclass
class Deps:
    settings: Settings
    engine: Engine
    jobs: Executor
    clock: Callable[[], datetime] = utc_now
    timezones: TimezoneCache = field(default_factory=TimezoneCache)
    read_engine: Engine | None = None  # CREDSTATS_READ_DATABASE_URL: figures from a replica

    @property
    def reader(self) -> Engine:
        return self.read_engine or self.engine
