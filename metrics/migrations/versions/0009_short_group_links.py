"""A group's short links by day: a by-group answer for a range of up to SHORT_LINK_DAYS reads
its groups' links rows of gaps under that bound only (a large group's recipients also come
back years later: most of a day's links rows are long).

Revision ID: 0009
Revises: 0008
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

SHORT_LINK_DAYS = 100  # metrics.schema.SHORT_LINK_DAYS when this revision was written


def upgrade() -> None:
    op.create_index("ix_credential_links_short", "credential_links",
                    ["organization_id", "group_id", "day"], postgresql_include=["gap", "links"],
                    postgresql_where=sa.text(f"gap < {SHORT_LINK_DAYS}"),
                    sqlite_where=sa.text(f"gap < {SHORT_LINK_DAYS}"))


def downgrade() -> None:
    op.drop_index("ix_credential_links_short", "credential_links")
