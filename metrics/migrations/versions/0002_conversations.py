"""Conversation state: a thread's last question, delivered event ids, team → organization.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
Instant = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "conversation_threads",
        sa.Column("thread_key", sa.String(200), nullable=False),
        sa.Column("query_text", sa.String(2000), nullable=False),
        sa.Column("updated_at", Instant, nullable=False),
        sa.PrimaryKeyConstraint("thread_key", name="pk_conversation_threads"),
    )
    op.create_table(
        "handled_events",
        sa.Column("event_id", sa.String(200), nullable=False),
        sa.Column("received_at", Instant, nullable=False),
        sa.PrimaryKeyConstraint("event_id", name="pk_handled_events"),
    )
    op.create_table(
        "team_organizations",
        sa.Column("team_id", sa.String(50), nullable=False),
        sa.Column("organization_id", Id, nullable=False),
        sa.PrimaryKeyConstraint("team_id", name="pk_team_organizations"),
        sa.ForeignKeyConstraint(["organization_id"], ["organizations.id"],
                                name="fk_team_organizations_organization_id_organizations"),
    )


def downgrade() -> None:
    for table in ("team_organizations", "handled_events", "conversation_threads"):
        op.drop_table(table)
