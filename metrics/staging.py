"""Temporary staging tables for the import, the bulk path into them, and the checks run on them.

PostgreSQL gets rows through COPY; SQLite through batched inserts. The tables are temporary and
created inside the import's transaction, so a refused import leaves nothing behind.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    ColumnElement,
    Connection,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    case,
    func,
    insert,
    or_,
    select,
    text,
)

from metrics.schema import UTCDateTime, credentials, engagement_events, groups, recipients
from metrics.sql import AnySelect

stage_metadata = MetaData()

stage_credentials = Table(
    "stage_credentials",
    stage_metadata,
    Column("line", Integer, nullable=False),
    Column("external_id", String, nullable=False),
    Column("group_name", String, nullable=False),
    Column("group_code", String),
    Column("email", String, nullable=False),
    Column("name", String),
    Column("issued_at", UTCDateTime(), nullable=False),
    Column("expires_at", UTCDateTime()),
    Column("kind", String, nullable=False),
    prefixes=["TEMPORARY"],
    postgresql_on_commit="DROP",
)

stage_events = Table(
    "stage_events",
    stage_metadata,
    Column("line", Integer, nullable=False),
    Column("credential_external_id", String, nullable=False),
    Column("event_type", String, nullable=False),
    Column("occurred_at", UTCDateTime(), nullable=False),
    Column("actor", String, nullable=False),
    Column("external_id", String),
    prefixes=["TEMPORARY"],
    postgresql_on_commit="DROP",
)

# Staged rows resolved to stored ids, with the id of the stored row they match (if any): the
# merge then is a plain UPDATE ... FROM and INSERT ... SELECT over indexed, analyzed rows.
resolved_credentials = Table(
    "stage_resolved_credentials",
    stage_metadata,
    Column("external_id", String, nullable=False),
    Column("group_id", BigInteger, nullable=False),
    Column("recipient_id", BigInteger, nullable=False),
    Column("issued_at", UTCDateTime(), nullable=False),
    Column("expires_at", UTCDateTime()),
    Column("kind", String, nullable=False),
    Column("existing_id", BigInteger, index=True),
    Column("new_id", BigInteger),  # a new credential's id, drawn before it is written
    prefixes=["TEMPORARY"],
    postgresql_on_commit="DROP",
)

resolved_recipients = Table(
    "stage_resolved_recipients",
    stage_metadata,
    Column("email", String, nullable=False),
    Column("name", String),
    Column("existing_id", BigInteger, index=True),
    prefixes=["TEMPORARY"],
    postgresql_on_commit="DROP",
)

resolved_events = Table(
    "stage_resolved_events",
    stage_metadata,
    Column("credential_id", BigInteger, nullable=False),
    Column("event_type", String, nullable=False),
    Column("occurred_at", UTCDateTime(), nullable=False),
    Column("actor", String, nullable=False),
    Column("external_id", String),
    Column("existing_id", BigInteger, index=True),
    Column("new_id", BigInteger),  # a new event's id, drawn before it is written
    prefixes=["TEMPORARY"],
    postgresql_on_commit="DROP",
)

# Created with the tables: the checks and the merge join on these columns.
_INDEXES = (
    Index("stage_credentials_external_id", stage_credentials.c.external_id),
    Index("stage_credentials_email", stage_credentials.c.email),
    Index("stage_events_credential", stage_events.c.credential_external_id),
    Index("stage_events_external_id", stage_events.c.external_id),
)
BATCH = 5000


STAGING_TABLES = (stage_credentials, stage_events, resolved_recipients, resolved_credentials,
                  resolved_events)


def create(conn: Connection) -> None:
    for table in STAGING_TABLES:
        table.drop(conn, checkfirst=True)
        table.create(conn)


def drop(conn: Connection) -> None:
    """Drop the staging tables before a successful commit (PostgreSQL drops them at commit
    anyway; a rollback undoes their creation on both backends)."""
    for table in STAGING_TABLES:
        table.drop(conn, checkfirst=True)


def analyze(conn: Connection, *tables: Table) -> None:
    """Give the planner statistics on loaded rows (temp tables get no autovacuum)."""
    for table in tables or (stage_credentials, stage_events):
        conn.execute(text(f"ANALYZE {table.name}"))


class Sink:
    """Collects staging rows (tuples in table column order) and writes them in bulk."""

    def __init__(self, conn: Connection, table: Table) -> None:
        self.conn = conn
        self.table = table
        self.columns = [c.name for c in table.columns]
        self.rows: list[tuple[Any, ...]] = []
        self.count = 0

    def add(self, row: tuple[Any, ...]) -> None:
        self.rows.append(row)
        if len(self.rows) >= BATCH:
            self.flush()

    def flush(self) -> None:
        if self.rows:
            self.write(self.rows)
            self.count += len(self.rows)
            self.rows = []

    def write(self, rows: list[tuple[Any, ...]]) -> None:
        batch = [dict(zip(self.columns, row, strict=True)) for row in rows]
        self.conn.execute(insert(self.table), batch)


class CopySink(Sink):
    """PostgreSQL: the same rows through one COPY ... FROM STDIN."""

    def __init__(self, conn: Connection, table: Table, copy: Any) -> None:
        super().__init__(conn, table)
        self.copy = copy

    def add(self, row: tuple[Any, ...]) -> None:
        self.copy.write_row(row)
        self.count += 1

    def flush(self) -> None:
        pass


@contextmanager
def sink(conn: Connection, table: Table) -> Iterator[Sink]:
    if conn.dialect.name != "postgresql":
        out = Sink(conn, table)
        yield out
        out.flush()
        return
    raw = conn.connection.driver_connection
    assert raw is not None
    columns = ", ".join(c.name for c in table.columns)
    with raw.cursor() as cursor, cursor.copy(f"COPY {table.name} ({columns}) FROM STDIN") as copy:
        yield CopySink(conn, table, copy)


# -- checks between rows ----------------------------------------------------------------------

def _repeated_with_other_data(table: Table, key: str, data: list[str]) -> AnySelect:
    """Rows whose `key` appeared on an earlier line with different data, with that line."""
    k = table.c[key]
    first_line = select(k.label("k"), func.min(table.c.line).label("line")).where(
        k.is_not(None)).group_by(k).subquery()
    first = table.alias("first_row")
    return (
        select(table.c.line, k, first.c.line)
        .join(first_line, first_line.c.k == k)
        .join(first, (first.c[key] == k) & (first.c.line == first_line.c.line))
        .where(or_(*(table.c[n].is_distinct_from(first.c[n]) for n in data)))
        .order_by(table.c.line)
    )


def conflicting_credentials() -> AnySelect:
    return _repeated_with_other_data(
        stage_credentials, "external_id",
        ["group_name", "group_code", "email", "name", "issued_at", "expires_at", "kind"],
    )


def conflicting_events() -> AnySelect:
    return _repeated_with_other_data(
        stage_events, "external_id",
        ["credential_external_id", "event_type", "occurred_at", "actor"],
    )


def unknown_event_credentials(org_id: int) -> AnySelect:
    se, sc, cr = stage_events.c, stage_credentials.c, credentials.c
    in_file = select(sc.line).where(sc.external_id == se.credential_external_id).exists()
    stored = select(cr.id).where(
        cr.organization_id == org_id, cr.external_id == se.credential_external_id
    ).exists()
    return select(se.line, se.credential_external_id).where(~in_file, ~stored).order_by(se.line)


def conflicting_group_codes(conn: Connection, org_id: int) -> list[tuple[int, str, str]]:
    """A group given two codes, a code given to two groups, or a code another stored group has."""
    sc, g = stage_credentials.c, groups.c
    pairs = conn.execute(
        select(sc.group_name, sc.group_code, func.min(sc.line))
        .where(sc.group_code.is_not(None))
        .group_by(sc.group_name, sc.group_code)
        .order_by(func.min(sc.line))
    ).all()
    problems: list[tuple[int, str, str]] = []
    codes_of: dict[str, list[str]] = {}
    names_of: dict[str, list[str]] = {}
    for name, code, _line in pairs:
        codes_of.setdefault(name, []).append(code)
        names_of.setdefault(code.lower(), []).append(name)
    for name, code, line in pairs:
        if len(codes_of[name]) > 1:
            problems.append((line, name, f"given several codes ({', '.join(codes_of[name])})"))
        elif len(names_of[code.lower()]) > 1:
            others = ", ".join(n for n in names_of[code.lower()] if n != name)
            problems.append((line, name, f"code {code!r} is also given to {others}"))
    taken = conn.execute(
        select(sc.group_name, sc.group_code, func.min(sc.line), g.name)
        .join(groups, (g.organization_id == org_id) & (g.name != sc.group_name)
              & (func.lower(g.code) == func.lower(sc.group_code)))
        .group_by(sc.group_name, sc.group_code, g.name)
    ).all()
    for name, code, line, owner in taken:
        problems.append((line, name, f"code {code!r} already belongs to group {owner!r}"))
    return sorted(problems)


# -- staged rows resolved to stored ids ------------------------------------------------------

def resolve_recipients(conn: Connection, org_id: int) -> None:
    """Fill stage_resolved_recipients: one row per e-mail, the name from the last row that
    gives one, and the stored recipient it matches."""
    sc, r = stage_credentials.c, recipients.c
    ranked = select(
        sc.email, sc.name,
        func.row_number().over(partition_by=sc.email,
                               order_by=(sc.name.is_(None), sc.line.desc())).label("rank"),
    ).subquery()
    latest = select(ranked.c.email, ranked.c.name).where(ranked.c.rank == 1).subquery()
    rows = select(latest.c.email, latest.c.name, r.id).select_from(
        latest.outerjoin(recipients, (r.organization_id == org_id) & (r.email == latest.c.email))
    )
    conn.execute(
        insert(resolved_recipients).from_select([c.name for c in resolved_recipients.c], rows)
    )


def has_repeats(conn: Connection, table: Table, key: str) -> bool:
    """Whether any non-null `key` occurs twice (cheap; the detailed check runs only then)."""
    k = table.c[key]
    repeated = select(k).where(k.is_not(None)).group_by(k).having(func.count() > 1).limit(1)
    return conn.execute(repeated).first() is not None


def resolve_credentials(conn: Connection, org_id: int) -> int:
    """Fill stage_resolved_credentials: one row per distinct staged credential, with ids."""
    sc, g, r = stage_credentials.c, groups.c, recipients.c
    distinct = (
        select(sc.external_id, g.id.label("group_id"), r.id.label("recipient_id"), sc.issued_at,
               sc.expires_at, sc.kind)
        .distinct()
        .join(groups, (g.organization_id == org_id) & (g.name == sc.group_name))
        .join(recipients, (r.organization_id == org_id) & (r.email == sc.email))
        .subquery()
    )
    cr = credentials.c
    rows = select(*distinct.c, cr.id, _new_id(conn, credentials, cr.id.is_(None),
                                              distinct.c.issued_at)).select_from(
        distinct.outerjoin(credentials, (cr.organization_id == org_id)
                           & (cr.external_id == distinct.c.external_id))
    ).order_by(distinct.c.issued_at)
    count = conn.execute(
        insert(resolved_credentials).from_select([c.name for c in resolved_credentials.c], rows)
    ).rowcount
    analyze(conn, resolved_credentials)
    return count


def _new_id(conn: Connection, table: Table, new: ColumnElement[bool],
            order: ColumnElement[Any]) -> ColumnElement[Any]:
    """The id a new row (`new`) of `table` will be written with, drawn in the order of
    `order` (the statement's ORDER BY; new rows are written in that order, so that the
    time-keyed indexes grow at their right edge): from the table's sequence on PostgreSQL,
    after the largest stored id on SQLite (the import holds the organization's lock, and
    SQLite has one writer)."""
    if conn.dialect.name == "postgresql":  # evaluated after the sort
        drawn: Any = func.nextval(func.pg_get_serial_sequence(table.name, "id"))
    else:
        drawn = select(func.coalesce(func.max(table.c.id), 0)).scalar_subquery() + \
            func.row_number().over(partition_by=new, order_by=order)
    return case((new, drawn))


def resolve_events(conn: Connection, org_id: int) -> int:
    """Fill stage_resolved_events: one row per distinct staged event, with the stored event it
    matches by event_id, or without one by (credential, type, time, actor)."""
    se, cr = stage_events.c, credentials.c
    distinct = (
        select(cr.id.label("credential_id"), se.event_type, se.occurred_at, se.actor,
               se.external_id)
        .distinct()
        .join(credentials, (cr.organization_id == org_id)
              & (cr.external_id == se.credential_external_id))
        .subquery()
    )
    by_id = engagement_events.alias("by_id")
    by_key = engagement_events.alias("by_key")
    existing = func.coalesce(by_id.c.id, by_key.c.id)
    rows = select(*distinct.c, existing, _new_id(conn, engagement_events, existing.is_(None),
                                                 distinct.c.occurred_at)).select_from(
        distinct.outerjoin(by_id, (by_id.c.organization_id == org_id)
                           & (by_id.c.external_id == distinct.c.external_id))
        .outerjoin(by_key, distinct.c.external_id.is_(None)
                   & (by_key.c.credential_id == distinct.c.credential_id)
                   & (by_key.c.event_type == distinct.c.event_type)
                   & (by_key.c.occurred_at == distinct.c.occurred_at)
                   & (by_key.c.actor == distinct.c.actor)
                   & by_key.c.external_id.is_(None))
    ).order_by(distinct.c.occurred_at)
    count = conn.execute(
        insert(resolved_events).from_select([c.name for c in resolved_events.c], rows)
    ).rowcount
    analyze(conn, resolved_events)
    return count
