"""Settings from the environment: every problem named at once, secrets never shown."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from bot.settings import SettingsError, load_settings
from tests.slack_client import CREDSTATS


def test_missing_and_malformed_settings_are_named_together() -> None:
    with pytest.raises(SettingsError) as info:
        load_settings(env={"SLACK_API_URL": "ftp://nope", "CREDSTATS_TIMEZONE": "Mars/Base"})
    message = info.value.message
    for name in ("SLACK_BOT_TOKEN is missing", "SLACK_SIGNING_SECRET is missing",
                 "SLACK_API_URL 'ftp://nope'", "CREDSTATS_TIMEZONE 'Mars/Base'"):
        assert name in message
    with pytest.raises(SettingsError, match="SLACK_APP_TOKEN is missing"):
        load_settings(socket_mode=True, env={"SLACK_BOT_TOKEN": "xoxb-1"})
    with pytest.raises(SettingsError, match="does not look like a bot token"):
        load_settings(env={"SLACK_BOT_TOKEN": "xoxp-user", "SLACK_SIGNING_SECRET": "s"})


def test_settings_defaults_and_secret_free_repr() -> None:
    settings = load_settings(env={"SLACK_BOT_TOKEN": "xoxb-secret-1",
                                  "SLACK_SIGNING_SECRET": "secret-2",
                                  "SLACK_API_URL": "http://127.0.0.1:9/api"})
    assert settings.api_url == "http://127.0.0.1:9/api/"
    assert settings.timezone == "UTC" and settings.org is None and not settings.oauth
    assert "secret" not in repr(settings)


def test_serve_refuses_to_start_without_settings(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SLACK_")}
    done = subprocess.run([CREDSTATS, "serve", "--port", "0"], env=env, cwd=tmp_path,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert "SLACK_BOT_TOKEN is missing" in done.stderr
    assert "SLACK_SIGNING_SECRET is missing" in done.stderr


def test_dotenv_file_is_read(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("SLACK_BOT_TOKEN=xoxb-from-file\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("SLACK_")}
    done = subprocess.run([CREDSTATS, "serve", "--port", "0"], env=env, cwd=tmp_path,
                          capture_output=True, text=True, timeout=60)
    assert "SLACK_BOT_TOKEN" not in done.stderr  # found in .env
    assert "SLACK_SIGNING_SECRET is missing" in done.stderr
