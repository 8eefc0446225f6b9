"""Shared fixtures: a fresh database on each backend, and CSV fixtures written to tmp_path.

PostgreSQL tests use $CREDSTATS_TEST_POSTGRES_URL (default: the local `test` database) and a
fresh schema per test. Without a reachable server they skip with the reason, except when CI=true:
then they fail, so CI can never pass without running them.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, text

from metrics.db import make_engine, normalize_url, upgrade
from metrics.seed import SeedPlan, seed
from tests.slack_standin import SlackStandIn

PG_URL = os.environ.get(
    "CREDSTATS_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
)


@dataclass
class Database:
    backend: str
    url: str
    engine: Engine

    def indexes_and_keys(self) -> list[object]:
        """Every index and key (primary, unique, foreign) of its schema (PostgreSQL), with
        its definition."""
        with self.engine.connect() as conn:
            return sorted(conn.execute(text(
                "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = current_schema()"
            )).all()) + sorted(conn.execute(text(
                "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
                "WHERE connamespace = current_schema()::regnamespace")).all())


def _postgres_admin() -> Engine:
    engine = create_engine(normalize_url(PG_URL), isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception as exc:  # any failure to connect is the reason to skip (or fail in CI)
        engine.dispose()
        reason = f"PostgreSQL at {PG_URL} is not reachable: {str(exc).splitlines()[0]}"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{reason} (CI=true: PostgreSQL tests are required)")
        pytest.skip(reason)
    return engine


@pytest.fixture(scope="session")
def pg_admin() -> Iterator[Engine]:
    engine = _postgres_admin()
    yield engine
    engine.dispose()


def _fresh(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Database]:
    if backend == "sqlite":
        url = f"sqlite:///{tmp_path / 'credstats.sqlite3'}"
        engine = make_engine(url)
        upgrade(engine)
        yield Database("sqlite", url, engine)
        engine.dispose()
        return
    admin: Engine = request.getfixturevalue("pg_admin")
    schema = f"t_{uuid.uuid4().hex[:12]}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    url = normalize_url(PG_URL) + f"?options=-csearch_path%3D{schema}"
    engine = make_engine(url)
    try:
        upgrade(engine)
        yield Database("postgresql", url, engine)
    finally:
        engine.dispose()
        with admin.connect() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    """A migrated, empty database on each backend."""
    yield from _fresh(request.param, tmp_path, request)


SEEDED_AT = datetime(2026, 11, 29, 15, 7, tzinfo=UTC)  # the "now" of the `synthetic` data


@pytest.fixture
def synthetic(db: Database) -> Database:
    """`credstats seed`'s data on each backend: 4,000 credentials in 7 organizations of very
    different sizes, 3 events per credential, generated as of SEEDED_AT."""
    seed(db.engine, SeedPlan(4000, 7, 3.0, 11), SEEDED_AT)
    return db


@pytest.fixture
def sqlite_db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    yield from _fresh("sqlite", tmp_path, request)


@pytest.fixture
def pg_db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    yield from _fresh("postgresql", tmp_path, request)


@pytest.fixture(autouse=True)
def _isolated_home(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Never touch the user's embedded database or environment settings."""
    monkeypatch.setenv("CREDSTATS_HOME", str(tmp_path_factory.mktemp("credstats-home")))
    monkeypatch.delenv("CREDSTATS_DATABASE_URL", raising=False)
    monkeypatch.delenv("CREDSTATS_TIMEZONE", raising=False)


@pytest.fixture
def standin() -> Iterator[SlackStandIn]:
    """A local Slack Web API stand-in (tests/slack_standin.py) for one test."""
    s = SlackStandIn().start()
    yield s
    s.stop()
