"""One typed settings object for the Slack app, built from the environment (and a .env file).

Missing or malformed settings stop start-up with one message naming each; secrets never appear
in a repr, a log line or an error.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from urllib.parse import urlparse

from metrics.errors import UserError

SLACK_API_DEFAULT = "https://slack.com/api/"


class SettingsError(UserError):
    """Start-up refused: `problems` names each missing or malformed setting."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("credstats cannot start: " + "; ".join(problems) + ".",
                         ["see README.md, 'Running the Slack app'"])


@dataclass(frozen=True)
class Settings:
    bot_token: str = field(repr=False)
    signing_secret: str = field(repr=False)
    app_token: str | None = field(default=None, repr=False)
    client_id: str | None = None
    client_secret: str | None = field(default=None, repr=False)
    api_url: str = SLACK_API_DEFAULT
    database_url: str | None = None
    org: str | None = None
    timezone: str = "UTC"
    workers: int = 8
    admins: tuple[str, ...] = ()  # Slack user ids who may change anyone's digests
    read_database_url: str | None = None  # a replica for the figures
    statement_timeout_ms: int = 2000
    digest_grace_hours: float = 24.0

    @property
    def oauth(self) -> bool:
        return bool(self.client_id and self.client_secret)


def load_settings(*, socket_mode: bool = False, env: dict[str, str] | None = None) -> Settings:
    """Read the settings; a .env file in the working directory fills what the environment lacks."""
    if env is None:
        from dotenv import dotenv_values

        env = {**{k: v for k, v in dotenv_values(".env").items() if v is not None},
               **os.environ}
    problems: list[str] = []
    values = env

    def get(name: str) -> str | None:
        return (values.get(name) or "").strip() or None

    bot_token, secret = get("SLACK_BOT_TOKEN"), get("SLACK_SIGNING_SECRET")
    client_id, client_secret = get("SLACK_CLIENT_ID"), get("SLACK_CLIENT_SECRET")
    oauth = bool(client_id or client_secret)
    if oauth and not (client_id and client_secret):
        problems.append("SLACK_CLIENT_ID and SLACK_CLIENT_SECRET go together (OAuth mode)")
    if not oauth:
        if bot_token is None:
            problems.append("SLACK_BOT_TOKEN is missing (the xoxb-... token of the app's "
                            "'OAuth & Permissions' page)")
        elif not bot_token.startswith("xoxb-"):
            problems.append("SLACK_BOT_TOKEN does not look like a bot token (xoxb-...)")
    if not socket_mode and secret is None:
        problems.append("SLACK_SIGNING_SECRET is missing (the app's 'Basic Information' page)")
    app_token = get("SLACK_APP_TOKEN")
    if socket_mode:
        if app_token is None:
            problems.append("SLACK_APP_TOKEN is missing: Socket Mode needs an app-level token "
                            "(xapp-...) with the connections:write scope")
        elif not app_token.startswith("xapp-"):
            problems.append("SLACK_APP_TOKEN does not look like an app-level token (xapp-...)")
    api_url = get("SLACK_API_URL") or SLACK_API_DEFAULT
    if urlparse(api_url).scheme not in ("http", "https") or not urlparse(api_url).netloc:
        problems.append(f"SLACK_API_URL {api_url!r} is not an http(s) URL")
    if not api_url.endswith("/"):
        api_url += "/"
    timezone = get("CREDSTATS_TIMEZONE") or "UTC"
    try:
        from metrics.timerange import zone

        zone(timezone)
    except UserError:
        problems.append(f"CREDSTATS_TIMEZONE {timezone!r} is not an IANA timezone")
    workers_text = get("CREDSTATS_WORKERS") or "8"
    if not workers_text.isdigit() or int(workers_text) < 1:
        problems.append(f"CREDSTATS_WORKERS {workers_text!r} is not a positive number")
    grace_text = get("CREDSTATS_DIGEST_GRACE_HOURS") or "24"
    try:
        grace = float(grace_text)
    except ValueError:
        grace = -1
    if grace < 0:
        problems.append(f"CREDSTATS_DIGEST_GRACE_HOURS {grace_text!r} is not a number of hours")
    timeout_text = get("CREDSTATS_STATEMENT_TIMEOUT_MS") or "2000"
    if not timeout_text.isdigit() or int(timeout_text) < 1:
        problems.append(f"CREDSTATS_STATEMENT_TIMEOUT_MS {timeout_text!r} is not a positive "
                        "number of milliseconds")
    if problems:
        raise SettingsError(problems)
    return Settings(
        bot_token=bot_token or "",
        signing_secret=secret or "",
        app_token=app_token,
        client_id=client_id,
        client_secret=client_secret,
        api_url=api_url,
        database_url=get("CREDSTATS_DATABASE_URL"),
        org=get("CREDSTATS_ORG"),
        timezone=timezone,
        workers=int(workers_text),
        admins=tuple(u.strip() for u in (get("CREDSTATS_ADMINS") or "").split(",") if u.strip()),
        digest_grace_hours=grace,
        read_database_url=get("CREDSTATS_READ_DATABASE_URL"),
        statement_timeout_ms=int(timeout_text),
    )
