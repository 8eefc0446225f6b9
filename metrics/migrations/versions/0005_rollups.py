"""Pre-aggregates: per-credential facts, credential_days, credential_links, event_days,
rollup_state; filled from the stored rows after the upgrade (metrics.db.upgrade).

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
Instant = sa.DateTime(timezone=True)
STEPS = ("opened", "downloaded", "linkedin_shared", "linkedin_profile_added", "shared",
         "referral_clicked", "wallet_added")


def upgrade() -> None:
    op.add_column("credentials", sa.Column("steps", sa.SmallInteger, nullable=False,
                                           server_default=sa.text("0")))
    op.add_column("credentials", sa.Column("org_prev_at", Instant, nullable=True))
    op.add_column("credentials", sa.Column("group_prev_at", Instant, nullable=True))
    # the issue-date indexes also carry the facts, so edges of ranges are index-only scans
    op.drop_index("ix_credentials_organization_id_issued_at", table_name="credentials")
    op.create_index("ix_credentials_organization_id_issued_at", "credentials",
                    ["organization_id", "issued_at"],
                    postgresql_include=["group_id", "steps", "org_prev_at", "group_prev_at"])
    op.drop_index("ix_credentials_organization_id_group_id_issued_at", table_name="credentials")
    op.create_index("ix_credentials_organization_id_group_id_issued_at", "credentials",
                    ["organization_id", "group_id", "issued_at"],
                    postgresql_include=["steps", "group_prev_at", "recipient_id"])
    op.create_index("ix_credentials_organization_id_org_prev_at", "credentials",
                    ["organization_id", "org_prev_at"], postgresql_include=["issued_at"])
    op.create_index("ix_credentials_organization_id_group_id_group_prev_at", "credentials",
                    ["organization_id", "group_id", "group_prev_at"],
                    postgresql_include=["issued_at"])
    op.create_index("ix_credentials_recipient_id_issued_at", "credentials",
                    ["recipient_id", "issued_at"])
    op.create_table(
        "credential_days",
        sa.Column("organization_id", Id, nullable=False),
        sa.Column("group_id", Id, nullable=False),
        sa.Column("day", sa.Integer, nullable=False),
        sa.Column("issued", sa.Integer, nullable=False),
        sa.Column("firsts", sa.Integer, nullable=False),
        *(sa.Column(step, sa.Integer, nullable=False) for step in STEPS),
        sa.PrimaryKeyConstraint("organization_id", "group_id", "day",
                                name="pk_credential_days",
                                postgresql_include=["issued", "firsts", *STEPS]),
    )
    op.create_index("ix_credential_days_group_id_day", "credential_days", ["group_id", "day"])
    op.create_table(
        "credential_links",
        sa.Column("organization_id", Id, nullable=False),
        sa.Column("group_id", Id, nullable=False),
        sa.Column("gap", sa.Integer, nullable=False),
        sa.Column("day", sa.Integer, nullable=False),
        sa.Column("links", sa.Integer, nullable=False),
        sa.PrimaryKeyConstraint("organization_id", "group_id", "gap", "day",
                                name="pk_credential_links", postgresql_include=["links"]),
    )
    op.create_table(
        "event_days",
        sa.Column("organization_id", Id, nullable=False),
        sa.Column("group_id", Id, nullable=False),
        sa.Column("day", sa.Integer, nullable=False),
        sa.Column("event_type", sa.String(40), nullable=False),
        sa.Column("events", sa.Integer, nullable=False),
        sa.PrimaryKeyConstraint("organization_id", "group_id", "day", "event_type",
                                name="pk_event_days", postgresql_include=["events"]),
    )
    op.add_column("engagement_events", sa.Column("prev_at", Instant, nullable=True))
    op.add_column("engagement_events", sa.Column("group_id", Id, nullable=True))
    op.drop_index("ix_engagement_events_organization_id_occurred_at",
                  table_name="engagement_events")
    op.create_index("ix_engagement_events_organization_id_occurred_at", "engagement_events",
                    ["organization_id", "occurred_at"],
                    postgresql_include=["event_type", "credential_id", "prev_at", "group_id"])
    op.create_index("ix_engagement_events_organization_id_prev_at", "engagement_events",
                    ["organization_id", "prev_at"], postgresql_include=["occurred_at", "group_id"])
    for table in ("touch_days", "touch_links"):
        op.create_table(
            table,
            sa.Column("organization_id", Id, nullable=False),
            sa.Column("group_id", Id, nullable=False),
            *((sa.Column("day", sa.Integer, nullable=False),
               sa.Column("events", sa.Integer, nullable=False),
               sa.Column("firsts", sa.Integer, nullable=False))
              if table == "touch_days" else
              (sa.Column("gap", sa.Integer, nullable=False),
               sa.Column("day", sa.Integer, nullable=False),
               sa.Column("links", sa.Integer, nullable=False))),
            sa.PrimaryKeyConstraint(
                "organization_id", "group_id",
                *(("day",) if table == "touch_days" else ("gap", "day")), name=f"pk_{table}",
                postgresql_include=["events", "firsts"] if table == "touch_days" else ["links"]),
        )
    op.create_table(
        "rollup_state",
        sa.Column("organization_id", Id, autoincrement=False),
        sa.Column("last_event_at", Instant, nullable=True),
        sa.PrimaryKeyConstraint("organization_id", name="pk_rollup_state"),
    )
    # the facts and rollups are computed from the stored rows once the schema is current
    # (metrics.db.upgrade rebuilds every organization without a rollup_state row)


def downgrade() -> None:
    for table in ("rollup_state", "touch_links", "touch_days", "event_days", "credential_links",
                  "credential_days"):
        op.drop_table(table)
    op.drop_index("ix_engagement_events_organization_id_prev_at",
                  table_name="engagement_events")
    op.drop_index("ix_engagement_events_organization_id_occurred_at",
                  table_name="engagement_events")
    op.create_index("ix_engagement_events_organization_id_occurred_at", "engagement_events",
                    ["organization_id", "occurred_at"])
    with op.batch_alter_table("engagement_events") as batch:
        batch.drop_column("group_id")
        batch.drop_column("prev_at")
    for name, columns in (("ix_credentials_organization_id_issued_at",
                           ["organization_id", "issued_at"]),
                          ("ix_credentials_organization_id_group_id_issued_at",
                           ["organization_id", "group_id", "issued_at"])):
        op.drop_index(name, table_name="credentials")
        op.create_index(name, "credentials", columns)
    for index in ("ix_credentials_recipient_id_issued_at",
                  "ix_credentials_organization_id_group_id_group_prev_at",
                  "ix_credentials_organization_id_org_prev_at"):
        op.drop_index(index, table_name="credentials")
    with op.batch_alter_table("credentials") as batch:
        for column in ("group_prev_at", "org_prev_at", "steps"):
            batch.drop_column(column)
