"""Slack end to end on PostgreSQL: workspaces see only their organization; a database outage
gets an apology, not silence, and answers resume."""

from __future__ import annotations

import subprocess
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine, text

from metrics.db import make_engine, normalize_url, upgrade
from metrics.importer import import_files
from tests import seed_example
from tests.conftest import PG_URL, Database
from tests.slack_client import CREDSTATS, Server
from tests.slack_standin import SlackStandIn

pytestmark = pytest.mark.postgres
NOW = datetime(2026, 11, 29, 12, tzinfo=UTC)



def test_two_workspaces_see_only_their_own_organization(
    pg_db: Database, tmp_path: Path, standin: SlackStandIn
) -> None:
    creds, events = seed_example.write_files(tmp_path)
    import_files(pg_db.engine, "Org A", creds, events, now=NOW)
    other = tmp_path / "b.csv"
    other.write_text("credential_id,group,group_code,recipient_email,issued_at\n"
                     "B1,Nursing Board,NB,n1@b.org,2026-08-01\n"
                     "B2,Nursing Board,NB,n2@b.org,2026-08-02\n")
    import_files(pg_db.engine, "Org B", other, now=NOW)
    for team, org in (("TA", "Org A"), ("TB", "Org B")):
        subprocess.run([CREDSTATS, "org", "link", team, org, "--db", pg_db.url], check=True,
                       capture_output=True)
    server = Server(pg_db.url, standin.api_url).start()
    try:
        server.command("issued Q3 2026", team="TA", channel="CA",
                       response_url=f"{standin.url}/response/a")
        server.command("issued Q3 2026", team="TB", channel="CB",
                       response_url=f"{standin.url}/response/b")
        server.command("issued group:CPA Q3 2026", team="TB", channel="CB",
                       response_url=f"{standin.url}/response/b2")
        posts = standin.wait_for(lambda s: len(s.named("chat.postMessage")) >= 2
                                 and s.named("chat.postMessage"))
        refusal = standin.wait_for(lambda s: s.named("response_url"))
    finally:
        server.stop()
    by_channel = {c.params["channel"]: c.params for c in posts}
    a_text = str(by_channel["CA"]["blocks"])
    b_text = str(by_channel["CB"]["blocks"])
    assert "*53* issued" in a_text
    assert "*2* issued" in b_text and "53" not in b_text
    message = refusal[0].params["text"]
    assert "No group called 'CPA'" in message and "Nursing Board" in message
    assert "Certified Public Accountant" not in message  # another organization's group


def test_several_groups_count_a_shared_recipient_once(
    pg_db: Database, tmp_path: Path, standin: SlackStandIn
) -> None:
    """Two groups' unique recipients together, asked in Slack: each group's recipients less
    those the groups share in the range (the crossings), equal to a plain count over the rows."""
    creds = tmp_path / "c.csv"
    creds.write_text(
        "credential_id,group,recipient_email,issued_at\n"
        "A1,CPA,a@x.org,2026-07-05\nA2,CFA,a@x.org,2026-08-01\n"  # both groups, both in Q3
        "B1,CFA,b@x.org,2026-03-01\nB2,CPA,b@x.org,2026-07-10\n"  # CFA before the quarter
        "C1,CPA,c@x.org,2026-07-02\nC2,CPA,c@x.org,2026-09-01\n"  # one group, twice
        "D1,CPA,d@x.org,2026-09-29T23:00:00Z\nD2,CFA,d@x.org,2026-09-30T12:00:00Z\n"
        "E1,CFA,e@x.org,2026-10-01\n")  # after the quarter
    import_files(pg_db.engine, "Org A", creds, now=NOW)
    subprocess.run([CREDSTATS, "org", "link", "TA", "Org A", "--db", pg_db.url], check=True,
                   capture_output=True)
    with pg_db.engine.connect() as conn:
        plain = conn.execute(text(
            "SELECT count(*), count(DISTINCT recipient_id) FROM credentials "
            "WHERE issued_at >= '2026-07-01' AND issued_at < '2026-10-01'")).one()
    assert tuple(plain) == (7, 4)  # the groups' own counts add up to 4 + 2
    server = Server(pg_db.url, standin.api_url).start()
    try:
        server.command("recipients group:CPA group:CFA Q3 2026", team="TA", channel="CA",
                       response_url=f"{standin.url}/response/a")
        [post] = standin.wait_for(lambda s: s.named("chat.postMessage"))
    finally:
        server.stop()
    blocks = str(post.params["blocks"])
    assert "*7* issued" in blocks and "*4* unique recipients" in blocks


@pytest.fixture
def own_database(pg_admin: Engine) -> Iterator[tuple[str, str]]:
    """A database of its own, so that connections to it can be refused."""
    name = f"credstats_down_{uuid.uuid4().hex[:8]}"
    with pg_admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = normalize_url(PG_URL).rsplit("/", 1)[0] + f"/{name}"
    try:
        yield name, url
    finally:
        with pg_admin.connect() as conn:
            conn.execute(text(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true'))
            conn.execute(text(f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                              f"WHERE datname = '{name}'"))
            conn.execute(text(f'DROP DATABASE "{name}"'))


def test_database_outage_gets_an_apology_and_answers_resume(
    own_database: tuple[str, str], pg_admin: Engine, tmp_path: Path, standin: SlackStandIn
) -> None:
    name, url = own_database
    engine = make_engine(url)
    upgrade(engine)
    creds, events = seed_example.write_files(tmp_path)
    import_files(engine, "Org", creds, events, now=NOW)
    engine.dispose()
    server = Server(url, standin.api_url).start()
    try:
        with pg_admin.connect() as conn:
            conn.execute(text(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false'))
            conn.execute(text(f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                              f"WHERE datname = '{name}'"))
        status, _, seconds = server.command("issued Q3 2026",
                                            response_url=f"{standin.url}/response/down")
        assert status == 200 and seconds < 3
        started = time.monotonic()
        [apology] = standin.wait_for(lambda s: s.named("response_url"), timeout=10)
        assert time.monotonic() - started < 3
        assert apology.params["response_type"] == "ephemeral"
        assert "database is not answering" in apology.params["text"]
        assert server.get("/healthz")[0] == 503

        with pg_admin.connect() as conn:
            conn.execute(text(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true'))
        server.command("issued Q3 2026", response_url=f"{standin.url}/response/up")
        [answer] = standin.wait_for(lambda s: s.named("chat.postMessage"))
        assert "*53* issued" in str(answer.params["blocks"])
        assert server.get("/healthz")[0] == 200
    finally:
        server.stop()


def test_a_question_past_the_statement_timeout_gets_told_what_to_ask(
    pg_db: Database, tmp_path: Path, standin: SlackStandIn
) -> None:
    """A statement cut off by CREDSTATS_STATEMENT_TIMEOUT_MS (here: waiting on a lock another
    transaction holds on the events) gets a reply that says so and what to ask instead, not
    silence or "the database is not answering"."""
    creds, events = seed_example.write_files(tmp_path)
    import_files(pg_db.engine, "Org", creds, events, now=NOW)
    server = Server(pg_db.url, standin.api_url, CREDSTATS_STATEMENT_TIMEOUT_MS="300").start()
    try:
        with pg_db.engine.connect() as holder:
            holder.execute(text("LOCK TABLE engagement_events IN ACCESS EXCLUSIVE MODE"))
            server.command("engagement Q3 2026 basis:event",
                           response_url=f"{standin.url}/response/slow")
            [reply] = standin.wait_for(lambda s: s.named("response_url"), timeout=10)
            holder.rollback()
        message = reply.params["text"]
        assert reply.params["response_type"] == "ephemeral"
        assert "longer than the 0.3-second limit" in message
        assert "CREDSTATS_STATEMENT_TIMEOUT_MS" in message
        assert "/credstats engagement Q3 2026 ·" in message  # the same question by issue date
        server.command("engagement Q3 2026 basis:event",
                       response_url=f"{standin.url}/response/fast")
        [answer] = standin.wait_for(lambda s: s.named("chat.postMessage"))
        assert "6 of 53" in str(answer.params["blocks"])  # F01-F06 opened in Q3
    finally:
        server.stop()
