"""The database schema (SQLAlchemy Core), identical on SQLite and PostgreSQL.

Indexes follow the queries in metrics/sql.py:
- credentials (organization_id, issued_at): every cohort and issuance count is a range scan of
  one organization's credentials by issue date; (organization_id, group_id, issued_at) serves
  group filters, breakdowns and comparisons.
- engagement_events (credential_id, event_type, actor, occurred_at): the cohort funnel reads
  each cohort credential's events from this index alone (an index-only scan).
- engagement_events (organization_id, occurred_at): activity by event date.
- the two large tables, credentials and engagement_events, carry no foreign keys: PostgreSQL
  checks a foreign key with one query per inserted row, which halved import throughput, and
  their only writer (metrics/importer.py) inserts ids it has just joined from the stored rows,
  in the same transaction. Smaller tables keep theirs.
- unique keys double as the import's match keys: credentials by (organization_id, external_id),
  events by (organization_id, external_id) or, without one, by (credential_id, event_type,
  occurred_at, actor).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    DateTime,
    Dialect,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    SmallInteger,
    String,
    Table,
    UniqueConstraint,
    text,
)
from sqlalchemy.types import TypeDecorator

from metrics.definitions import ENGAGEMENT_STEPS, Actor, CredentialKind, EventType

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = MetaData(naming_convention=NAMING)

# SQLite only aliases rowid for INTEGER PRIMARY KEY, so big ids use INTEGER there.
Id = BigInteger().with_variant(Integer(), "sqlite")


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware instant, stored in UTC; naive datetimes are refused, not guessed."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if not isinstance(value, datetime) or value.tzinfo is None:
            raise ValueError(f"timestamps must be timezone-aware datetimes, got {value!r}")
        utc: datetime = value.astimezone(UTC)
        return utc.replace(tzinfo=None) if dialect.name == "sqlite" else utc

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        assert isinstance(value, datetime)
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def _enum_check(column: str, values: type[Any]) -> CheckConstraint:
    allowed = ", ".join(f"'{v.value}'" for v in values)
    return CheckConstraint(f"{column} IN ({allowed})", name=f"{column}_known")


organizations = Table(
    "organizations",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("name", String(200), nullable=False, unique=True),
    Column("industry", String(100), nullable=True),
    Column("created_at", UTCDateTime(), nullable=False),
)

groups = Table(
    "groups",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("organization_id", Id, ForeignKey("organizations.id"), nullable=False),
    Column("name", String(200), nullable=False),
    Column("code", String(50), nullable=True),
    UniqueConstraint("organization_id", "name"),
    UniqueConstraint("organization_id", "code"),
)

recipients = Table(
    "recipients",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("organization_id", Id, ForeignKey("organizations.id"), nullable=False),
    Column("email", String(320), nullable=False),
    Column("name", String(200), nullable=True),
    UniqueConstraint("organization_id", "email"),
)

SHORT_LINK_DAYS = 100  # a short link: a credential issued within this many days of the previous
SHORT_LINK = {  # the predicate, as each backend writes it (a query must repeat it as it is)
    "postgresql": f"issued_at - org_prev_at < INTERVAL '{SHORT_LINK_DAYS} days'",
    "sqlite": f"julianday(issued_at) - julianday(org_prev_at) < {SHORT_LINK_DAYS}",
}

credentials = Table(
    "credentials",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("organization_id", Id, nullable=False),
    Column("external_id", String(200), nullable=False),
    Column("group_id", Id, nullable=False),
    Column("recipient_id", Id, nullable=False),
    Column("issued_at", UTCDateTime(), nullable=False),
    Column("expires_at", UTCDateTime(), nullable=True),
    Column("kind", String(20), nullable=False, server_default=text("'certificate'")),
    # facts kept by metrics/rollups.py in the same transaction as every write:
    # the steps of ENGAGEMENT_STEPS it reached (bit i for step i, any date), and the issue
    # time of the same recipient's previous credential in the organization / in the group
    Column("steps", SmallInteger, nullable=False, server_default=text("0")),
    Column("org_prev_at", UTCDateTime(), nullable=True),
    Column("group_prev_at", UTCDateTime(), nullable=True),
    UniqueConstraint("organization_id", "external_id"),
    _enum_check("kind", CredentialKind),
    # PostgreSQL answers the partial days at a range's edges from these alone (index-only)
    Index(None, "organization_id", "issued_at",
          postgresql_include=["group_id", "steps", "org_prev_at", "group_prev_at"]),
    Index(None, "organization_id", "group_id", "issued_at",
          postgresql_include=["steps", "group_prev_at", "recipient_id"]),
    Index(None, "organization_id", "org_prev_at", postgresql_include=["issued_at"]),
    # the same for credentials within SHORT_LINK_DAYS of the previous one: a range of up to
    # 92 days counts only those (a recipient's previous credential is mostly years earlier)
    Index("ix_credentials_short_org_links", "organization_id", "org_prev_at",
          postgresql_include=["issued_at"], postgresql_where=text(SHORT_LINK["postgresql"]),
          sqlite_where=text(SHORT_LINK["sqlite"])),
    Index(None, "organization_id", "group_id", "group_prev_at", postgresql_include=["issued_at"]),
    Index(None, "recipient_id", "issued_at"),
)

engagement_events = Table(
    "engagement_events",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("organization_id", Id, nullable=False),
    Column("credential_id", Id, nullable=False),
    Column("event_type", String(40), nullable=False),
    Column("actor", String(10), nullable=False, server_default=text("'owner'")),
    Column("occurred_at", UTCDateTime(), nullable=False),
    Column("external_id", String(200), nullable=True),
    # kept by metrics/rollups.py: the previous event of the same credential (any type), and
    # the credential's group
    Column("prev_at", UTCDateTime(), nullable=True),
    Column("group_id", Id, nullable=True),
    UniqueConstraint("organization_id", "external_id"),
    _enum_check("event_type", EventType),
    _enum_check("actor", Actor),
    Index(None, "credential_id", "event_type", "actor", "occurred_at"),
    # (the actor too: engagement by event date reads a range's events index-only)
    Index(None, "organization_id", "occurred_at",
          postgresql_include=["event_type", "actor", "credential_id", "prev_at", "group_id"]),
    Index(None, "organization_id", "prev_at", postgresql_include=["occurred_at", "group_id"]),
    Index(
        "uq_engagement_events_natural",
        "credential_id", "event_type", "occurred_at", "actor",
        unique=True,
        sqlite_where=text("external_id IS NULL"),
        postgresql_where=text("external_id IS NULL"),
    ),
)

# -- pre-aggregates (metrics/rollups.py keeps them; metrics/fast.py reads them) ------------------
# Days are UTC day numbers (days since 1970-01-01); group_id 0 holds the whole organization,
# where "previous credential" means the recipient's previous one in the organization.

_STEP_COLUMNS = [Column(step.key, Integer, nullable=False) for step in ENGAGEMENT_STEPS]


def _event_type_columns() -> list[Column[int]]:
    """A count per event type, named by the type: one row of a day or hour holds every type
    (a row per type and hour was about one row per event)."""
    return [Column(t.value, Integer, nullable=False, server_default=text("0")) for t in EventType]

credential_days = Table(
    "credential_days",
    metadata,
    Column("organization_id", Id, nullable=False),
    Column("group_id", Id, nullable=False),
    Column("day", Integer, nullable=False),
    Column("issued", Integer, nullable=False),
    Column("firsts", Integer, nullable=False),  # credentials with no previous one
    *_STEP_COLUMNS,  # credentials that reached each engagement step
    # every rollup's key includes its values on PostgreSQL: answers read it index-only
    PrimaryKeyConstraint("organization_id", "group_id", "day", postgresql_include=[
        "issued", "firsts", *(step.key for step in ENGAGEMENT_STEPS)]),
    # every organization's totals (peer averages), index-only
    Index(None, "group_id", "day", postgresql_include=[
        "organization_id", "issued", "opened", "shared", "referral_clicked"]),
)

credential_links = Table(
    "credential_links",
    metadata,
    Column("organization_id", Id, nullable=False),
    Column("group_id", Id, nullable=False),
    Column("gap", Integer, nullable=False),  # day - day of the previous credential
    Column("day", Integer, nullable=False),
    Column("links", Integer, nullable=False),  # credentials issued on day with that gap
    # the links of the same day with a gap up to this one: a day's credentials whose previous
    # one is at most `gap` days back are one row's `upto`
    Column("upto", Integer, nullable=False, server_default=text("0")),
    # across a platform, the organizations' links in a range: one index range per gap
    PrimaryKeyConstraint("organization_id", "group_id", "gap", "day",
                         postgresql_include=["links"]),
    # an organization's: per day of the range, the row of the largest gap in the range (its
    # `upto`); a group's: its few links rows of the range's days, filtered by gap
    Index(None, "organization_id", "group_id", "day", "gap",
          postgresql_include=["links", "upto"]),
    # the same for ranges of up to SHORT_LINK_DAYS: their links are short; a large group's
    # recipients also come back years later (at 10M, 17 links rows of 18 in a quarter)
    Index("ix_credential_links_short", "organization_id", "group_id", "day",
          postgresql_include=["gap", "links"],
          postgresql_where=text(f"gap < {SHORT_LINK_DAYS}"),
          sqlite_where=text(f"gap < {SHORT_LINK_DAYS}")),
)

# Unique recipients across several groups: a credential counts as a new recipient of groups S in
# [a, b) when the recipient's previous credential in S is before a. Its previous one in its own
# group is a fact (credentials.group_prev_at); a crossing is a later one in another group. One
# row per credential and other group B whose previous credential in B (`other_prev_at`) is more
# recent than the previous one in the credential's own group (`prev_at`, null: none): the
# credential is not new to {its group, B} in [a, b) when prev_at < a <= other_prev_at. Kept by
# metrics/rollups.py per recipient, in the same transaction as every write.
credential_crossings = Table(
    "credential_crossings",
    metadata,
    Column("organization_id", Id, nullable=False),
    Column("recipient_id", Id, nullable=False),
    Column("credential_id", Id, nullable=False),
    Column("group_id", Id, nullable=False),
    Column("issued_at", UTCDateTime(), nullable=False),
    Column("prev_at", UTCDateTime(), nullable=True),
    Column("other_group_id", Id, nullable=False),
    Column("other_prev_at", UTCDateTime(), nullable=False),
    # a range's crossings of some groups: other_prev_at in the range (index-only)
    Index("ix_credential_crossings_range", "organization_id", "other_group_id", "group_id",
          "other_prev_at",
          postgresql_include=["issued_at", "prev_at", "credential_id"]),
    # a recipient's rows, rewritten after a write of their credentials
    PrimaryKeyConstraint("recipient_id", "credential_id", "other_group_id"),
)

touch_days = Table(  # events per day: in all, their credential's firsts, and of each type
    "touch_days",
    metadata,
    Column("organization_id", Id, nullable=False),
    Column("group_id", Id, nullable=False),
    Column("day", Integer, nullable=False),
    Column("events", Integer, nullable=False),
    Column("firsts", Integer, nullable=False),
    *_event_type_columns(),
    PrimaryKeyConstraint("organization_id", "group_id", "day",
                         postgresql_include=["events", "firsts", *(t.value for t in EventType)]),
)

touch_links = Table(  # events by day and days since their credential's previous event
    "touch_links",
    metadata,
    Column("organization_id", Id, nullable=False),
    Column("group_id", Id, nullable=False),
    Column("gap", Integer, nullable=False),
    Column("day", Integer, nullable=False),
    Column("links", Integer, nullable=False),
    PrimaryKeyConstraint("organization_id", "group_id", "gap", "day",
                         postgresql_include=["links"]),
    Index(None, "organization_id", "group_id", "day", postgresql_include=["gap", "links"]),
)

# The same by UTC hour (hour = days since 1970-01-01 * 24 + hour of the day): the partial days
# at a range's edges (local midnights) read whole hours from these, not raw rows.

credential_hours = Table(
    "credential_hours",
    metadata,
    Column("organization_id", Id, nullable=False),
    Column("group_id", Id, nullable=False),
    Column("hour", Integer, nullable=False),
    Column("issued", Integer, nullable=False),
    Column("firsts", Integer, nullable=False),
    *(Column(step.key, Integer, nullable=False) for step in ENGAGEMENT_STEPS),
    PrimaryKeyConstraint("organization_id", "group_id", "hour", postgresql_include=[
        "issued", "firsts", *(step.key for step in ENGAGEMENT_STEPS)]),
)

credential_hour_links = Table(  # gap: in days, from the previous credential's UTC day
    "credential_hour_links",
    metadata,
    Column("organization_id", Id, nullable=False),
    Column("group_id", Id, nullable=False),
    Column("hour", Integer, nullable=False),
    Column("gap", Integer, nullable=False),
    Column("links", Integer, nullable=False),
    PrimaryKeyConstraint("organization_id", "group_id", "hour", "gap",
                         postgresql_include=["links"]),
)

touch_hours = Table(
    "touch_hours",
    metadata,
    Column("organization_id", Id, nullable=False),
    Column("group_id", Id, nullable=False),
    Column("hour", Integer, nullable=False),
    Column("events", Integer, nullable=False),
    Column("firsts", Integer, nullable=False),
    *_event_type_columns(),
    PrimaryKeyConstraint("organization_id", "group_id", "hour",
                         postgresql_include=["events", "firsts", *(t.value for t in EventType)]),
)

touch_hour_links = Table(
    "touch_hour_links",
    metadata,
    Column("organization_id", Id, nullable=False),
    Column("group_id", Id, nullable=False),
    Column("hour", Integer, nullable=False),
    Column("gap", Integer, nullable=False),
    Column("links", Integer, nullable=False),
    PrimaryKeyConstraint("organization_id", "group_id", "hour", "gap",
                         postgresql_include=["links"]),
)

rollup_state = Table(
    "rollup_state",
    metadata,
    Column("organization_id", Id, primary_key=True, autoincrement=False),
    Column("last_event_at", UTCDateTime(), nullable=True),
)

# -- conversation state for chat interfaces (no chat-platform specifics) ----------------------

conversation_threads = Table(
    "conversation_threads",
    metadata,
    Column("thread_key", String(200), primary_key=True),
    Column("query_text", String(2000), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
)

handled_events = Table(
    "handled_events",
    metadata,
    Column("event_id", String(200), primary_key=True),
    Column("received_at", UTCDateTime(), nullable=False),
)

team_organizations = Table(
    "team_organizations",
    metadata,
    Column("team_id", String(50), primary_key=True),
    Column("organization_id", Id, ForeignKey("organizations.id"), nullable=False),
)

# -- scheduled digests --------------------------------------------------------------------------

digest_subscriptions = Table(
    "digest_subscriptions",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("team_id", String(50), nullable=False),
    Column("channel_id", String(50), nullable=False),
    Column("organization_id", Id, ForeignKey("organizations.id"), nullable=False),
    Column("created_by", String(50), nullable=False),
    Column("frequency", String(10), nullable=False),
    Column("weekday", Integer, nullable=True),  # weekly: 0 = Monday
    Column("at_minute", Integer, nullable=False),  # minutes after local midnight
    Column("timezone", String(64), nullable=False),
    Column("groups", String(2000), nullable=False, server_default=text("''")),
    Column("skip_empty", Integer, nullable=False, server_default=text("0")),
    Column("paused", Integer, nullable=False, server_default=text("0")),
    Column("created_at", UTCDateTime(), nullable=False),
    CheckConstraint("frequency IN ('daily', 'weekly', 'monthly')", name="frequency_known"),
    Index(None, "team_id", "channel_id"),
)

digest_runs = Table(
    "digest_runs",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("subscription_id", Id, ForeignKey("digest_subscriptions.id"), nullable=False),
    Column("period_start", UTCDateTime(), nullable=False),
    Column("scheduled_for", UTCDateTime(), nullable=False),
    Column("state", String(10), nullable=False),
    Column("attempts", Integer, nullable=False, server_default=text("0")),
    Column("updated_at", UTCDateTime(), nullable=False),
    Column("message_ts", String(50), nullable=True),
    Column("error", String(500), nullable=True),
    UniqueConstraint("subscription_id", "period_start"),
    CheckConstraint(
        "state IN ('claimed', 'posting', 'posted', 'failed', 'skipped', 'unknown')",
        name="state_known"),
    Index(None, "state", "updated_at"),
)
