"""Events of every type in one rollup row per day or hour: touch_days and touch_hours gain a
count per event type, event_days and event_hours (a row per type: about one row per event at
the hourly grain) go; credentials get an index of those issued within 100 days of the
recipient's previous one. The rollups are emptied here and rebuilt from the stored rows once the
schema is current (metrics.db.upgrade).

Revision ID: 0008
Revises: 0007
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TYPES = ("view", "pdf_download", "image_download", "linkedin_share", "linkedin_profile_add",
         "twitter_share", "facebook_share", "other_share", "referral_click", "wallet_add")
WIDE = ("touch_days", "touch_hours")
ROLLUPS = ("credential_days", "credential_links", "touch_days", "touch_links",
           "credential_hours", "credential_hour_links", "touch_hours", "touch_hour_links",
           "rollup_state")
SHORT_LINK = {
    "postgresql": "issued_at - org_prev_at < INTERVAL '100 days'",
    "sqlite": "julianday(issued_at) - julianday(org_prev_at) < 100",
}


def _empty(tables: tuple[str, ...]) -> None:
    """Empty the rollups: an organization without a rollup_state row is answered from its raw
    rows until its rollups are rebuilt."""
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"TRUNCATE {', '.join(tables)}")
    else:
        for table in tables:
            op.execute(f"DELETE FROM {table}")


def upgrade() -> None:
    # the credentials whose previous one is recent: a range's first partial day reads only those
    op.create_index("ix_credentials_short_org_links", "credentials",
                    ["organization_id", "org_prev_at"], postgresql_include=["issued_at"],
                    postgresql_where=sa.text(SHORT_LINK["postgresql"]),
                    sqlite_where=sa.text(SHORT_LINK["sqlite"]))
    _empty(("event_days", "event_hours", *ROLLUPS))
    op.drop_table("event_days")
    op.drop_table("event_hours")
    for table in WIDE:
        for name in TYPES:
            op.add_column(table, sa.Column(name, sa.Integer, nullable=False,
                                           server_default=sa.text("0")))
    if op.get_bind().dialect.name == "postgresql":  # answers read the counts index-only
        for table, grain in (("touch_days", "day"), ("touch_hours", "hour")):
            op.execute(f"ALTER TABLE {table} DROP CONSTRAINT pk_{table}, ADD CONSTRAINT "
                       f"pk_{table} PRIMARY KEY (organization_id, group_id, {grain}) "
                       f"INCLUDE (events, firsts, {', '.join(TYPES)})")


def downgrade() -> None:
    op.drop_index("ix_credentials_short_org_links", "credentials")
    _empty(ROLLUPS)
    if op.get_bind().dialect.name == "postgresql":
        for table, grain in (("touch_days", "day"), ("touch_hours", "hour")):
            op.execute(f"ALTER TABLE {table} DROP CONSTRAINT pk_{table}, ADD CONSTRAINT "
                       f"pk_{table} PRIMARY KEY (organization_id, group_id, {grain}) "
                       "INCLUDE (events, firsts)")
    for table in WIDE:
        with op.batch_alter_table(table) as batch:
            for name in TYPES:
                batch.drop_column(name)
    for table, grain in (("event_days", "day"), ("event_hours", "hour")):
        op.create_table(
            table,
            sa.Column("organization_id", Id, nullable=False),
            sa.Column("group_id", Id, nullable=False),
            sa.Column(grain, sa.Integer, nullable=False),
            sa.Column("event_type", sa.String(40), nullable=False),
            sa.Column("events", sa.Integer, nullable=False),
            sa.PrimaryKeyConstraint("organization_id", "group_id", grain, "event_type",
                                    name=f"pk_{table}", postgresql_include=["events"]),
        )
