"""Where the data lives: database URLs, engines, and keeping the schema migrated.

`--db`, else CREDSTATS_DATABASE_URL, else the embedded SQLite file (created, migrated and seeded
with demo data on first use by the CLI). Alembic is imported only when a migration must run, so
answering a question stays quick.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import (
    Connection,
    Constraint,
    Engine,
    ForeignKeyConstraint,
    Index,
    PrimaryKeyConstraint,
    Table,
    UniqueConstraint,
    create_engine,
    event,
    inspect,
    text,
)
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError
from sqlalchemy.schema import AddConstraint, DropConstraint

from metrics.errors import UserError

# The newest migration in metrics/migrations/versions (a test keeps the two in step).
HEAD_REVISION = "0012"


def embedded_path() -> Path:
    """The embedded database file: $CREDSTATS_HOME, else $XDG_DATA_HOME/credstats, else
    ~/.local/share/credstats."""
    home = os.environ.get("CREDSTATS_HOME")
    if home:
        base = Path(home)
    else:
        base = Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share")
        base = base / "credstats"
    return base / "credstats.sqlite3"


@dataclass(frozen=True)
class DatabaseTarget:
    url: str
    embedded: bool

    @property
    def display(self) -> str:
        """The URL without its password, safe to print."""
        return make_url(self.url).render_as_string(hide_password=True)


def database_target(url: str | None = None) -> DatabaseTarget:
    url = url or os.environ.get("CREDSTATS_DATABASE_URL") or None
    if url is None:
        return DatabaseTarget(f"sqlite:///{embedded_path()}", embedded=True)
    return DatabaseTarget(normalize_url(url), embedded=False)


def normalize_url(url: str) -> str:
    """postgresql:// and postgres:// URLs use psycopg 3; anything unsupported is refused."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            url = "postgresql+psycopg://" + url[len(prefix):]
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise UserError(
            f"Not a database URL: {url!r}.",
            ["postgresql://user@host:5432/dbname", "sqlite:///path/to/credstats.sqlite3"],
        ) from None
    if parsed.get_backend_name() not in ("sqlite", "postgresql"):
        raise UserError(
            f"credstats runs on PostgreSQL or SQLite, not {parsed.get_backend_name()}.",
            ["postgresql://user@host:5432/dbname", "sqlite:///credstats.sqlite3"],
        )
    if parsed.get_backend_name() == "postgresql" and parsed.get_driver_name() != "psycopg":
        url = parsed.set(drivername="postgresql+psycopg").render_as_string(hide_password=False)
    return url


def make_engine(url: str, *, connect_timeout: int | None = None,
                statement_timeout_ms: int | None = None, **kwargs: Any) -> Engine:
    """An engine for `url`; SQLite files get their folder, foreign keys and a busy timeout.
    `connect_timeout` (seconds) bounds how long a server that is down can keep a caller;
    `statement_timeout_ms` bounds every statement on PostgreSQL (the request path)."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": 30}, **kwargs)
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    connect_args = {"connect_timeout": connect_timeout} if connect_timeout else {}
    engine = create_engine(url, pool_pre_ping=True, connect_args=connect_args, **kwargs)

    def configure(dbapi_connection: Any, _record: Any) -> None:
        with dbapi_connection.cursor() as cursor:
            # psycopg prepares a statement run five times; PostgreSQL would then settle on a
            # generic plan, blind to how narrow a range's edges are: plan with the values
            cursor.execute("SET plan_cache_mode = force_custom_plan")
            # answers are many small index scans; compiling them (JIT) costs more than running
            cursor.execute("SET jit = off")
            if statement_timeout_ms:
                cursor.execute(f"SET statement_timeout = {int(statement_timeout_ms)}")
        dbapi_connection.commit()

    event.listen(engine, "connect", configure)
    return engine


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys = ON")
    cursor.execute("PRAGMA journal_mode = WAL")
    cursor.close()


def ping(engine: Engine) -> bool:
    """Whether the database answers a trivial query now."""
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        return True
    except Exception:  # any failure to reach or use the database means "no"
        return False


def current_revision(conn: Connection) -> str | None:
    if not inspect(conn).has_table("alembic_version"):
        return None
    return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()


def upgrade(engine: Engine, revision: str = "head") -> list[int]:
    """Run the Alembic migrations up to `revision`; at the head revision, also rebuild the
    rollups a migration emptied (in the same transaction: nobody sees them missing). Returns
    the organizations whose rollups were rebuilt."""
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", "metrics:migrations")
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, revision)
        if current_revision(conn) != HEAD_REVISION:
            return []
        from metrics import rollups

        return rollups.rebuild_missing(conn)


BULK_MIN = 100_000  # from this many rows, PostgreSQL loads a table before it indexes it


@contextmanager
def indexes_after(conn: Connection, tables: tuple[Table, ...], *, bulk: bool = True
                  ) -> Iterator[None]:
    """Load `tables` without their indexes (primary and unique keys included) and foreign keys,
    and build them again at the end of the block, in the caller's transaction (nobody sees the
    tables without them): rows written in another order than a key's would land all over its
    B-tree; built after the load, each index is one sort. A foreign key is checked by a trigger
    per inserted row (the 10M seed's 7 million recipients: three quarters of its credentials'
    time); added after the load, it is checked by one query. With `bulk` False, the block runs
    as it is."""
    if not bulk:
        yield
        return
    dropped: list[Index | Constraint] = []
    for table in tables:
        keys: list[Constraint] = [
            k for k in table.constraints  # (a table without a primary key has an empty one)
            if isinstance(k, PrimaryKeyConstraint | UniqueConstraint) and k.columns]
        keys += [k for k in table.constraints if isinstance(k, ForeignKeyConstraint)]
        for ix in table.indexes:
            ix.drop(conn)
        for key in keys:
            conn.execute(DropConstraint(key))
        dropped += [*keys, *table.indexes]
    yield
    conn.execute(text("SET LOCAL max_parallel_maintenance_workers = 2"))
    conn.execute(text("SET LOCAL maintenance_work_mem = '1GB'"))
    for item in dropped:  # keys first: they are what the indexes' tables are looked up by
        # (and a foreign key after the keys of its table)
        if isinstance(item, Index):
            item.create(conn)
        else:
            # (not isolated from the table: a later create_all must still create it inline)
            conn.execute(AddConstraint(item, isolate_from_table=False))


def ensure_schema(engine: Engine, target: DatabaseTarget) -> bool:
    """Make sure the schema is current; returns True when it was just created.

    An empty database is created; the embedded one is also upgraded. A server database behind
    the code is refused with the command that upgrades it, rather than migrated as a side effect
    of a question.
    """
    with engine.connect() as conn:
        revision = current_revision(conn)
        has_tables = inspect(conn).has_table("organizations")
    if revision == HEAD_REVISION:
        return False
    if revision is None and not has_tables:
        upgrade(engine)
        return True
    if target.embedded:
        upgrade(engine)
        return False
    raise UserError(
        f"The database at {target.display} is at schema revision {revision or 'unknown'}, "
        f"this credstats needs {HEAD_REVISION}.",
        [f"credstats db upgrade --db {target.display}"],
    )
