"""State that chat interfaces keep in the database, so any replica can answer: a thread's last
question (for follow-ups), event ids already handled (for retried deliveries), and which
organization a workspace (team) answers for."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import Connection, Insert, Table, delete, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite

from metrics.catalog import Organization, resolve_organization
from metrics.schema import (
    conversation_threads,
    handled_events,
    organizations,
    team_organizations,
)

KEEP_EVENTS = timedelta(days=2)


def _insert_ignoring_duplicates(conn: Connection, table: Table, **values: object) -> bool:
    """INSERT ... ON CONFLICT DO NOTHING; True when the row was new."""
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    stmt: Insert = dialect.insert(table).values(**values).on_conflict_do_nothing()
    return bool(conn.execute(stmt.execution_options(preserve_rowcount=True)).rowcount)


def first_delivery(conn: Connection, event_id: str, now: datetime) -> bool:
    """Record `event_id`; False when it was handled before (a retried delivery)."""
    conn.execute(delete(handled_events).where(handled_events.c.received_at < now - KEEP_EVENTS))
    return _insert_ignoring_duplicates(conn, handled_events, event_id=event_id, received_at=now)


def remember_thread(conn: Connection, thread_key: str, query_text: str, now: datetime) -> None:
    t = conversation_threads.c
    changed = conn.execute(
        update(conversation_threads).where(t.thread_key == thread_key)
        .values(query_text=query_text[:2000], updated_at=now)
    ).rowcount
    if not changed:
        _insert_ignoring_duplicates(conn, conversation_threads, thread_key=thread_key,
                                    query_text=query_text[:2000], updated_at=now)


def last_thread_query(conn: Connection, thread_key: str) -> str | None:
    t = conversation_threads.c
    return conn.execute(select(t.query_text).where(t.thread_key == thread_key)).scalar()


def link_team(conn: Connection, team_id: str, org_name: str) -> Organization:
    org = resolve_organization(conn, org_name)
    t = team_organizations.c
    conn.execute(delete(team_organizations).where(t.team_id == team_id))
    conn.execute(insert(team_organizations).values(team_id=team_id, organization_id=org.id))
    return org


def organization_for_team(conn: Connection, team_id: str) -> Organization | None:
    t, o = team_organizations.c, organizations.c
    row = conn.execute(
        select(o.id, o.name, o.industry).join(team_organizations, t.organization_id == o.id)
        .where(t.team_id == team_id)
    ).first()
    return None if row is None else Organization(row.id, row.name, row.industry)


def has_team_links(conn: Connection) -> bool:
    return conn.execute(select(team_organizations.c.team_id).limit(1)).first() is not None
