"""Signed requests to a running credstats server, as Slack sends them."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from slack_sdk.signature import SignatureVerifier

SECRET = "test-signing-secret"
CREDSTATS = str(Path(sys.executable).with_name("credstats"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    """`credstats serve` in a subprocess, pointed at the stand-in."""

    def __init__(self, db_url: str, api_url: str, **env: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {**os.environ, "SLACK_BOT_TOKEN": "xoxb-test-token",
                    "SLACK_SIGNING_SECRET": SECRET, "SLACK_API_URL": api_url,
                    "CREDSTATS_DATABASE_URL": db_url, **env}
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> Server:
        self.process = subprocess.Popen(
            [CREDSTATS, "serve", "--host", "127.0.0.1", "--port", str(self.port)],
            env=self.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(self.process.stdout.read().decode()  # type: ignore[union-attr]
                                     )
            try:
                if self.get("/healthz")[0] == 200:
                    return self
            except OSError:
                pass
            time.sleep(0.1)
        raise AssertionError("credstats serve did not become healthy")

    def stop(self) -> str:
        assert self.process is not None
        self.process.terminate()
        try:
            out, _ = self.process.communicate(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            out, _ = self.process.communicate()
        return out.decode()

    def get(self, path: str) -> tuple[int, bytes]:
        try:
            with urllib.request.urlopen(self.url + path, timeout=10) as r:
                return r.status, r.read()
        except urllib.error.HTTPError as e:
            return e.code, e.read()

    def post(self, body: bytes, content_type: str, *, secret: str = SECRET,
             timestamp: int | None = None, headers: dict[str, str] | None = None
             ) -> tuple[int, bytes, float]:
        ts = str(timestamp if timestamp is not None else int(time.time()))
        signature = SignatureVerifier(secret).generate_signature(timestamp=ts, body=body)
        request = urllib.request.Request(
            self.url + "/slack/events", data=body, method="POST",
            headers={"Content-Type": content_type, "X-Slack-Request-Timestamp": ts,
                     "X-Slack-Signature": signature, **(headers or {})})
        started = time.monotonic()
        try:
            with urllib.request.urlopen(request, timeout=10) as r:
                return r.status, r.read(), time.monotonic() - started
        except urllib.error.HTTPError as e:
            return e.code, e.read(), time.monotonic() - started

    def command(self, text: str, *, team: str = "T1", user: str = "U1", channel: str = "C1",
                response_url: str, **kwargs: Any) -> tuple[int, bytes, float]:
        body = urlencode({"token": "x", "team_id": team, "team_domain": "test",
                          "channel_id": channel, "channel_name": "general", "user_id": user,
                          "user_name": "pat", "command": "/credstats", "text": text,
                          "api_app_id": "A1", "response_url": response_url,
                          "trigger_id": "t"}).encode()
        return self.post(body, "application/x-www-form-urlencoded", **kwargs)

    def event(self, event: dict[str, Any], *, event_id: str, team: str = "T1",
              **kwargs: Any) -> tuple[int, bytes, float]:
        body = json.dumps({"token": "x", "team_id": team, "api_app_id": "A1",
                           "type": "event_callback", "event_id": event_id,
                           "event_time": int(time.time()), "event": event,
                           "authorizations": [{"team_id": team, "user_id": "UBOT",
                                               "is_bot": True}]}).encode()
        return self.post(body, "application/json", **kwargs)

    def action(self, payload: dict[str, Any], **kwargs: Any) -> tuple[int, bytes, float]:
        body = urlencode({"payload": json.dumps(payload)}).encode()
        return self.post(body, "application/x-www-form-urlencoded", **kwargs)
