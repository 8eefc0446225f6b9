"""A local stand-in for Slack's Web API (and response_url, and file uploads) for end-to-end tests.

An HTTP server on 127.0.0.1 at a random port that records every call and answers as Slack
would, including the whole files_upload_v2 flow. It can answer 429 or fail a method on demand.
"""

from __future__ import annotations

import itertools
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse


@dataclass
class Call:
    method: str  # "chat.postMessage", "response_url", "upload" ...
    params: dict[str, Any]
    headers: dict[str, str]
    body: bytes = b""
    response: dict[str, Any] = field(default_factory=dict)


@dataclass
class SlackStandIn:
    calls: list[Call] = field(default_factory=list)
    user_timezones: dict[str, str] = field(default_factory=dict)
    failures: dict[str, list[str]] = field(default_factory=dict)  # method → errors to return
    rate_limits: dict[str, int] = field(default_factory=dict)  # method → 429s to return first
    delays: dict[str, float] = field(default_factory=dict)  # method → seconds before answering
    history_errors: list[str] = field(default_factory=list)
    messages: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # channel → posts
    bot_user_id: str = "UBOT"
    team_id: str = "T1"
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self._ids = itertools.count(1)
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    @property
    def api_url(self) -> str:
        return f"{self.url}/api/"

    def start(self) -> SlackStandIn:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def named(self, method: str) -> list[Call]:
        with self.lock:
            return [c for c in self.calls if c.method == method]

    def wait_for(self, predicate: Callable[[SlackStandIn], Any], timeout: float = 20.0) -> Any:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = predicate(self)
            if found:
                return found
            time.sleep(0.05)
        raise AssertionError(f"the stand-in never saw what the test waited for; calls: "
                             f"{[c.method for c in self.calls]}")

    # -- answers ----------------------------------------------------------------------------

    def answer(
        self, method: str, params: dict[str, Any]
    ) -> tuple[int, dict[str, Any], dict[str, str]]:
        with self.lock:
            if self.rate_limits.get(method):
                self.rate_limits[method] -= 1
                return 429, {"ok": False, "error": "ratelimited"}, {"Retry-After": "1"}
            errors = self.failures.get(method)
            if errors:
                return 200, {"ok": False, "error": errors.pop(0)}, {}
        n = next(self._ids)
        if method == "auth.test":
            return 200, {"ok": True, "user_id": self.bot_user_id, "bot_id": "BBOT",
                         "team_id": self.team_id, "team": "Test", "user": "credstats",
                         "url": "https://test.slack.com/"}, {}
        if method in ("chat.postMessage", "chat.update"):
            ts = f"1700000000.{n:06d}"
            metadata = params.get("metadata")
            if isinstance(metadata, str):
                metadata = json.loads(metadata)
            with self.lock:
                self.messages.setdefault(str(params.get("channel")), []).append(
                    {"ts": ts, "text": params.get("text"), "metadata": metadata})
            delay = self.delays.get(method)
            if delay:
                time.sleep(delay)  # the message is stored: as if Slack answered slowly
            return 200, {"ok": True, "channel": params.get("channel"),
                         "ts": ts, "message": {"text": params.get("text")}}, {}
        if method == "conversations.history":
            if self.history_errors:
                return 200, {"ok": False, "error": self.history_errors[0]}, {}
            with self.lock:
                found = list(self.messages.get(str(params.get("channel")), []))
            return 200, {"ok": True, "messages": found[::-1], "has_more": False}, {}
        if method == "chat.postEphemeral":
            return 200, {"ok": True, "message_ts": f"1700000000.{n:06d}"}, {}
        if method == "users.info":
            user = params.get("user", "")
            tz = self.user_timezones.get(user, "UTC")
            return 200, {"ok": True, "user": {"id": user, "tz": tz, "is_admin": False}}, {}
        if method == "files.getUploadURLExternal":
            file_id = f"F{n:05d}"
            return 200, {"ok": True, "file_id": file_id,
                         "upload_url": f"{self.url}/upload/{file_id}"}, {}
        if method == "files.completeUploadExternal":
            files = json.loads(params.get("files", "[]"))
            return 200, {"ok": True, "files": [{"id": f["id"], "title": f.get("title")}
                                               for f in files]}, {}
        if method == "oauth.v2.access":
            team = params.get("code", "T2").removeprefix("code-")
            return 200, {"ok": True, "access_token": f"xoxb-installed-{team}",
                         "token_type": "bot", "scope": "commands,chat:write",
                         "bot_user_id": "UBOT", "app_id": "A1",
                         "team": {"id": team, "name": f"Team {team}"}, "enterprise": None,
                         "authed_user": {"id": "UADMIN"}, "is_enterprise_install": False}, {}
        if method == "conversations.join":
            return 200, {"ok": True, "channel": {"id": params.get("channel")}}, {}
        return 200, {"ok": False, "error": "unknown_method"}, {}

    # -- reading what was sent ----------------------------------------------------------------

    def uploads(self) -> list[tuple[Call, Call]]:
        """(byte upload, completeUploadExternal) pairs, matched by file id."""
        with self.lock:
            bytes_by_id = {c.params["file_id"]: c for c in self.calls if c.method == "upload"}
            done = [c for c in self.calls if c.method == "files.completeUploadExternal"]
        pairs = []
        for complete in done:
            for f in json.loads(complete.params["files"]):
                if f["id"] in bytes_by_id:
                    pairs.append((bytes_by_id[f["id"]], complete))
        return pairs


def _handler(standin: SlackStandIn) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def _reply(self, status: int, payload: dict[str, Any] | str,
                   headers: dict[str, str] | None = None) -> None:
            body = (payload if isinstance(payload, str) else json.dumps(payload)).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json" if isinstance(payload, dict)
                             else "text/plain")
            for key, value in (headers or {}).items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length)
            path = urlparse(self.path).path
            headers = {k.lower(): v for k, v in self.headers.items()}
            if path.startswith("/upload/"):
                call = Call("upload", {"file_id": path.rsplit("/", 1)[1]}, headers, raw)
                with standin.lock:
                    standin.calls.append(call)
                self._reply(200, "OK - uploaded")
                return
            if path.startswith("/response/"):
                call = Call("response_url", json.loads(raw or b"{}"), headers, raw)
                with standin.lock:
                    standin.calls.append(call)
                self._reply(200, "ok")
                return
            method = path.removeprefix("/api/")
            if "json" in headers.get("content-type", ""):
                params = json.loads(raw or b"{}")
            else:
                params = {k: v[0] for k, v in parse_qs(raw.decode()).items()}
            for key in ("blocks",):
                if isinstance(params.get(key), str):
                    params[key] = json.loads(params[key])
            status, payload, extra = standin.answer(method, params)
            with standin.lock:
                standin.calls.append(Call(method, params, headers, raw, payload))
            self._reply(status, payload, extra)

        do_GET = do_POST

    return Handler


def reset(standin: SlackStandIn) -> None:
    with standin.lock:
        standin.calls.clear()
        standin.messages.clear()
        standin.delays.clear()
        standin.history_errors.clear()
        standin.failures.clear()
        standin.rate_limits.clear()
        standin.user_timezones.clear()
