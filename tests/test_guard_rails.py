"""Guard rails of the request path: a statement timeout on PostgreSQL, and figures read from a
replica when CREDSTATS_READ_DATABASE_URL is set."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import pytest
from sqlalchemy import event, text
from sqlalchemy.exc import OperationalError

from metrics import rollups
from metrics.catalog import list_groups, list_organizations, resolve_organization
from metrics.db import make_engine
from metrics.importer import import_files
from metrics.parse import parse
from metrics.run import run
from metrics.seed import SeedPlan, seed
from tests import seed_example
from tests.conftest import Database
from tests.slack_client import Server
from tests.slack_standin import SlackStandIn
from tests.test_charts import NOW
from tests.test_rollups import NOW as SEED_NOW


@pytest.mark.postgres
def test_request_path_statements_are_cut_off(pg_db: Database) -> None:
    bounded = make_engine(pg_db.url, statement_timeout_ms=100)
    try:
        with bounded.connect() as conn:
            with pytest.raises(OperationalError, match="statement timeout"):
                conn.execute(text("SELECT pg_sleep(2)"))
        with bounded.connect() as conn:  # the same schema (search_path) is still in force
            assert conn.execute(text("SELECT count(*) FROM organizations")).scalar() == 0
    finally:
        bounded.dispose()


def test_figures_come_from_the_read_replica(sqlite_db: Database, tmp_path: Path,
                                            standin: SlackStandIn) -> None:
    creds, events = seed_example.write_files(tmp_path)
    import_files(sqlite_db.engine, "Seed Org", creds, events, now=NOW)
    sqlite_db.engine.dispose()
    primary = Path(sqlite_db.url.removeprefix("sqlite:///"))
    replica = tmp_path / "replica.sqlite3"
    shutil.copy(primary, replica)
    with sqlite3.connect(replica) as conn:  # the replica lags: it lacks the CFA credentials
        conn.execute("DELETE FROM credentials WHERE external_id LIKE 'F%'")
    lagging = make_engine(f"sqlite:///{replica}")
    with lagging.begin() as conn:  # as it was before they were imported, rollups included
        rollups.rebuild(conn, [org.id for org in list_organizations(conn)])
    lagging.dispose()
    server = Server(sqlite_db.url, standin.api_url,
                    CREDSTATS_READ_DATABASE_URL=f"sqlite:///{replica}").start()
    try:
        server.command("issued Q3 2026", response_url=f"{standin.url}/response/r")
        [answer] = standin.wait_for(lambda s: s.named("chat.postMessage"))
    finally:
        server.stop()
    assert "*43* issued" in str(answer.params["blocks"])  # 53 on the primary


PLAN_QUESTIONS = (
    "summary", "issued last quarter", "recipients all time", "recipients last 30 days",
    "engagement last quarter", "groups last quarter", "compare P01 vs P02 last quarter",
    "issued last 12 weeks by:week", "activity last quarter", "engagement this year by:month",
    "engagement kind:badge last quarter", "issued group:P01 group:P02 this year",
    "engagement last quarter basis:event", "groups last quarter basis:event",
    "engagement group:P01 last 12 weeks by:week basis:event",
    "engagement kind:badge last quarter basis:event",
)


@pytest.mark.postgres
def test_no_request_path_plan_scans_the_big_tables(pg_db: Database) -> None:
    """Every statement an answer runs, explained with its parameters on an analyzed database
    whose organizations are small parts of the big tables: none reads credentials,
    engagement_events or the crossings sequentially."""
    seed(pg_db.engine, SeedPlan(60_000, 12, 3.0, 5), SEED_NOW)
    with pg_db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM ANALYZE engagement_events"))  # as autovacuum leaves it
    seen: list[tuple[str, object]] = []

    def record(conn: object, cursor: object, statement: str, parameters: object,
               context: object, executemany: bool) -> None:
        if statement.lstrip().upper().startswith(("SELECT", "WITH")):
            seen.append((statement, parameters))

    with pg_db.engine.connect() as conn:
        org = resolve_organization(conn, "Seed Org 0001")
        catalog = list_groups(conn, org)
        event.listen(conn, "before_cursor_execute", record)
        for question in PLAN_QUESTIONS:
            for tz in ("UTC", "America/New_York"):
                run(conn, org, parse(question, now=SEED_NOW, tz=tz, catalog=catalog), SEED_NOW)
        event.remove(conn, "before_cursor_execute", record)
        assert len(seen) > 50
        assert any("credential_crossings" in statement for statement, _ in seen)
        by_event_date = 0
        for statement, parameters in seen:
            plan = "\n".join(r[0] for r in conn.exec_driver_sql(
                f"EXPLAIN {statement}", parameters))  # type: ignore[arg-type]
            for table in ("credentials", "engagement_events", "credential_crossings"):
                assert f"Seq Scan on {table}" not in plan, f"{statement}\n{plan}"
            if "count(DISTINCT CASE WHEN" in statement and "JOIN credentials" not in statement:
                # engagement by event date: the range's events, from their index alone
                by_event_date += 1
                assert "Index Only Scan using ix_engagement_events_organization_id_occurred_at" \
                    in plan, f"{statement}\n{plan}"
        assert by_event_date >= 6
