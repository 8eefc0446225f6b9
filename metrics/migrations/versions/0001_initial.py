"""Initial schema: organizations, groups, recipients, credentials, engagement events.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
Instant = sa.DateTime(timezone=True)
EVENT_TYPES = (
    "view", "pdf_download", "image_download", "linkedin_share", "linkedin_profile_add",
    "twitter_share", "facebook_share", "other_share", "referral_click", "wallet_add",
)


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


def upgrade() -> None:
    # credentials and engagement_events have no foreign keys on purpose (see metrics/schema.py)
    op.create_table(
        "organizations",
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("industry", sa.String(100), nullable=True),
        sa.Column("created_at", Instant, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_organizations"),
        sa.UniqueConstraint("name", name="uq_organizations_name"),
    )
    op.create_table(
        "groups",
        sa.Column("id", Id, autoincrement=True),
        sa.Column("organization_id", Id, nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("code", sa.String(50), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_groups"),
        sa.ForeignKeyConstraint(["organization_id"], ["organizations.id"],
                                name="fk_groups_organization_id_organizations"),
        sa.UniqueConstraint("organization_id", "name", name="uq_groups_organization_id_name"),
        sa.UniqueConstraint("organization_id", "code", name="uq_groups_organization_id_code"),
    )
    op.create_table(
        "recipients",
        sa.Column("id", Id, autoincrement=True),
        sa.Column("organization_id", Id, nullable=False),
        sa.Column("email", sa.String(320), nullable=False),
        sa.Column("name", sa.String(200), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_recipients"),
        sa.ForeignKeyConstraint(["organization_id"], ["organizations.id"],
                                name="fk_recipients_organization_id_organizations"),
        sa.UniqueConstraint("organization_id", "email",
                            name="uq_recipients_organization_id_email"),
    )
    op.create_table(
        "credentials",
        sa.Column("id", Id, autoincrement=True),
        sa.Column("organization_id", Id, nullable=False),
        sa.Column("external_id", sa.String(200), nullable=False),
        sa.Column("group_id", Id, nullable=False),
        sa.Column("recipient_id", Id, nullable=False),
        sa.Column("issued_at", Instant, nullable=False),
        sa.Column("expires_at", Instant, nullable=True),
        sa.Column("kind", sa.String(20), nullable=False, server_default=sa.text("'certificate'")),
        sa.PrimaryKeyConstraint("id", name="pk_credentials"),
        sa.UniqueConstraint("organization_id", "external_id",
                            name="uq_credentials_organization_id_external_id"),
        sa.CheckConstraint(_in("kind", ("certificate", "badge")),
                           name="ck_credentials_kind_known"),
    )
    op.create_index("ix_credentials_organization_id_issued_at", "credentials",
                    ["organization_id", "issued_at"])
    op.create_index("ix_credentials_organization_id_group_id_issued_at", "credentials",
                    ["organization_id", "group_id", "issued_at"])
    op.create_table(
        "engagement_events",
        sa.Column("id", Id, autoincrement=True),
        sa.Column("organization_id", Id, nullable=False),
        sa.Column("credential_id", Id, nullable=False),
        sa.Column("event_type", sa.String(40), nullable=False),
        sa.Column("actor", sa.String(10), nullable=False, server_default=sa.text("'owner'")),
        sa.Column("occurred_at", Instant, nullable=False),
        sa.Column("external_id", sa.String(200), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_engagement_events"),
        sa.UniqueConstraint("organization_id", "external_id",
                            name="uq_engagement_events_organization_id_external_id"),
        sa.CheckConstraint(_in("event_type", EVENT_TYPES),
                           name="ck_engagement_events_event_type_known"),
        sa.CheckConstraint(_in("actor", ("owner", "guest")),
                           name="ck_engagement_events_actor_known"),
    )
    op.create_index("ix_engagement_events_credential_id_event_type_actor_occurred_at",
                    "engagement_events", ["credential_id", "event_type", "actor", "occurred_at"])
    op.create_index("ix_engagement_events_organization_id_occurred_at", "engagement_events",
                    ["organization_id", "occurred_at"])
    op.create_index("uq_engagement_events_natural", "engagement_events",
                    ["credential_id", "event_type", "occurred_at", "actor"], unique=True,
                    sqlite_where=sa.text("external_id IS NULL"),
                    postgresql_where=sa.text("external_id IS NULL"))


def downgrade() -> None:
    for table in ("engagement_events", "credentials", "recipients", "groups", "organizations"):
        op.drop_table(table)
