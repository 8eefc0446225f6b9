"""Digest subscriptions and their runs (one per subscription and period).

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
Instant = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "digest_subscriptions",
        sa.Column("id", Id, autoincrement=True),
        sa.Column("team_id", sa.String(50), nullable=False),
        sa.Column("channel_id", sa.String(50), nullable=False),
        sa.Column("organization_id", Id, nullable=False),
        sa.Column("created_by", sa.String(50), nullable=False),
        sa.Column("frequency", sa.String(10), nullable=False),
        sa.Column("weekday", sa.Integer, nullable=True),
        sa.Column("at_minute", sa.Integer, nullable=False),
        sa.Column("timezone", sa.String(64), nullable=False),
        sa.Column("groups", sa.String(2000), nullable=False, server_default=sa.text("''")),
        sa.Column("skip_empty", sa.Integer, nullable=False, server_default=sa.text("0")),
        sa.Column("paused", sa.Integer, nullable=False, server_default=sa.text("0")),
        sa.Column("created_at", Instant, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_digest_subscriptions"),
        sa.ForeignKeyConstraint(["organization_id"], ["organizations.id"],
                                name="fk_digest_subscriptions_organization_id_organizations"),
        sa.CheckConstraint("frequency IN ('daily', 'weekly', 'monthly')",
                           name="ck_digest_subscriptions_frequency_known"),
    )
    op.create_index("ix_digest_subscriptions_team_id_channel_id", "digest_subscriptions",
                    ["team_id", "channel_id"])
    op.create_table(
        "digest_runs",
        sa.Column("id", Id, autoincrement=True),
        sa.Column("subscription_id", Id, nullable=False),
        sa.Column("period_start", Instant, nullable=False),
        sa.Column("scheduled_for", Instant, nullable=False),
        sa.Column("state", sa.String(10), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False, server_default=sa.text("0")),
        sa.Column("updated_at", Instant, nullable=False),
        sa.Column("message_ts", sa.String(50), nullable=True),
        sa.Column("error", sa.String(500), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_digest_runs"),
        sa.ForeignKeyConstraint(["subscription_id"], ["digest_subscriptions.id"],
                                name="fk_digest_runs_subscription_id_digest_subscriptions"),
        sa.UniqueConstraint("subscription_id", "period_start",
                            name="uq_digest_runs_subscription_id_period_start"),
        sa.CheckConstraint(
            "state IN ('claimed', 'posting', 'posted', 'failed', 'skipped', 'unknown')",
            name="ck_digest_runs_state_known"),
    )
    op.create_index("ix_digest_runs_state_updated_at", "digest_runs", ["state", "updated_at"])


def downgrade() -> None:
    op.drop_table("digest_runs")
    op.drop_table("digest_subscriptions")
