"""A day's links up to a gap: `credential_links.upto`, the links of the same organization, group
and day with a gap up to the row's. An organization's links in a range are then one row per day
(the row of the largest gap inside the range), however many gaps a day has; the index by day
gains the gap as a key and `upto`.

Revision ID: 0010
Revises: 0009
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

KEY = ("organization_id", "group_id", "gap", "day")
OLD_INDEX = "ix_credential_links_organization_id_group_id_day"
NEW_INDEX = "ix_credential_links_organization_id_group_id_day_gap"


def upgrade() -> None:
    op.add_column("credential_links", sa.Column("upto", sa.Integer, nullable=False,
                                                server_default=sa.text("0")))
    matches = " AND ".join(f"credential_links.{k} = w.{k}" for k in KEY)
    op.execute(
        "UPDATE credential_links SET upto = w.upto FROM (SELECT organization_id, group_id, gap, "
        "day, sum(links) OVER (PARTITION BY organization_id, group_id, day ORDER BY gap) "
        f"AS upto FROM credential_links) AS w WHERE {matches}")
    op.drop_index(OLD_INDEX, "credential_links")
    op.create_index(NEW_INDEX, "credential_links", ["organization_id", "group_id", "day", "gap"],
                    postgresql_include=["links", "upto"])


def downgrade() -> None:
    op.drop_index(NEW_INDEX, "credential_links")
    op.create_index(OLD_INDEX, "credential_links", ["organization_id", "group_id", "day"],
                    postgresql_include=["gap", "links"])
    with op.batch_alter_table("credential_links") as batch:
        batch.drop_column("upto")
