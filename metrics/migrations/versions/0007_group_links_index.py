"""A group's links by day (a by-group answer reads the few links rows of its range's days
instead of probing one index range per day and group), and the peer averages' index covering
what they read.

Revision ID: 0007
Revises: 0006
"""

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

LINKS = ("credential_links", "touch_links")
PEERS = ["organization_id", "issued", "opened", "shared", "referral_clicked"]


def upgrade() -> None:
    for table in LINKS:
        op.create_index(f"ix_{table}_organization_id_group_id_day", table,
                        ["organization_id", "group_id", "day"],
                        postgresql_include=["gap", "links"])
    op.drop_index("ix_credential_days_group_id_day", "credential_days")
    op.create_index("ix_credential_days_group_id_day", "credential_days", ["group_id", "day"],
                    postgresql_include=PEERS)


def downgrade() -> None:
    op.drop_index("ix_credential_days_group_id_day", "credential_days")
    op.create_index("ix_credential_days_group_id_day", "credential_days", ["group_id", "day"])
    for table in LINKS:
        op.drop_index(f"ix_{table}_organization_id_group_id_day", table)
