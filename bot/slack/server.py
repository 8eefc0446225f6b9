"""HTTP mode: Bolt's request handler in a WSGI app served by gunicorn (threads, no forks of
the app state), plus GET /healthz."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import Any

from slack_bolt.adapter.wsgi import SlackRequestHandler
from sqlalchemy import Engine

from bot.settings import Settings
from bot.slack.deps import Deps
from metrics.db import ping

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]
logger = logging.getLogger("credstats.slack")


def health(engine: Engine) -> tuple[str, bytes]:
    """200 when the database answers, 503 otherwise."""
    if ping(engine):
        return "200 OK", b"ok\n"
    logger.warning("health check: the database is unreachable")
    return "503 Service Unavailable", b"database unreachable\n"


def wsgi_app(settings: Settings, deps: Deps, *, scheduler: bool = True) -> WSGIApp:
    from bot.slack.app import create_app
    from bot.slack.scheduler import start_scheduler

    engine = deps.engine
    slack = SlackRequestHandler(create_app(settings, engine, deps), path="/slack/events")
    if scheduler:
        start_scheduler(settings, deps)

    def application(environ: dict[str, Any], start_response: Callable[..., Any]
                    ) -> Iterable[bytes]:
        if environ.get("PATH_INFO") == "/healthz" and environ.get("REQUEST_METHOD") == "GET":
            status, body = health(engine)
            start_response(status, [("Content-Type", "text/plain"),
                                    ("Content-Length", str(len(body)))])
            return [body]
        return slack(environ, start_response)

    return application


def serve(factory: Callable[[], WSGIApp], host: str, port: int, workers: int,
          threads: int) -> None:
    """Run `factory()`'s app under gunicorn (each worker process builds its own app)."""
    from gunicorn.app.base import BaseApplication

    class Server(BaseApplication):  # type: ignore[misc]
        def load_config(self) -> None:
            self.cfg.set("bind", f"{host}:{port}")
            self.cfg.set("workers", workers)
            self.cfg.set("worker_class", "gthread")
            self.cfg.set("threads", threads)
            self.cfg.set("timeout", 60)
            self.cfg.set("graceful_timeout", 10)

        def load(self) -> WSGIApp:
            return factory()

    Server().run()
