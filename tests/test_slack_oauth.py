"""Many workspaces: the OAuth install flow stores an installation in credstats' database; an
installed but unlinked workspace is told how to link it; a linked one gets its own answers,
sent with its own bot token."""

from __future__ import annotations

import re
import subprocess
import urllib.request
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import text

from metrics.db import make_engine, upgrade
from metrics.importer import import_files
from tests import seed_example
from tests.slack_client import CREDSTATS, Server
from tests.slack_standin import SlackStandIn

NOW = datetime(2026, 11, 29, 12, tzinfo=UTC)



def test_install_link_and_answer(tmp_path: Path, standin: SlackStandIn) -> None:
    url = f"sqlite:///{tmp_path / 'oauth.sqlite3'}"
    engine = make_engine(url)
    upgrade(engine)
    creds, events = seed_example.write_files(tmp_path)
    import_files(engine, "Org A", creds, events, now=NOW)
    engine.dispose()
    server = Server(url, standin.api_url, SLACK_BOT_TOKEN="", SLACK_CLIENT_ID="111.222",
                    SLACK_CLIENT_SECRET="client-secret").start()
    try:
        # a browser: the install page sets the state cookie that the callback must carry
        # (Bolt marks it Secure, so it is passed on by hand over this test's plain http)
        with urllib.request.urlopen(server.url + "/slack/install") as install:
            page = install.read().decode()
            cookie = install.headers["Set-Cookie"].split(";", 1)[0]
        state = re.search(r"state=([\w-]+)", page)
        assert state, page
        callback = urllib.request.Request(
            f"{server.url}/slack/oauth_redirect?code=code-T2&state={state.group(1)}",
            headers={"Cookie": cookie})
        with urllib.request.urlopen(callback) as done:
            assert done.status == 200
        installed = make_engine(url)
        with installed.connect() as conn:
            teams = conn.execute(text("SELECT team_id, bot_token FROM slack_bots")).all()
        installed.dispose()
        assert [tuple(row) for row in teams] == [("T2", "xoxb-installed-T2")]
        assert standin.named("oauth.v2.access")

        server.command("issued Q3 2026", team="T2", response_url=f"{standin.url}/response/o1")
        [refusal] = standin.wait_for(lambda s: s.named("response_url"))
        assert "not linked to an organization" in refusal.params["text"]
        assert "credstats org link T2" in refusal.params["text"]

        subprocess.run([CREDSTATS, "org", "link", "T2", "Org A", "--db", url], check=True,
                       capture_output=True)
        server.command("issued Q3 2026", team="T2", response_url=f"{standin.url}/response/o2")
        [answer] = standin.wait_for(lambda s: s.named("chat.postMessage"))
        assert "*53* issued" in str(answer.params["blocks"])
        assert answer.headers["authorization"] == "Bearer xoxb-installed-T2"
    finally:
        server.stop()
