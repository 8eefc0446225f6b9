"""The events' (organization, occurred_at) index covers the actor too: engagement by event date
(an owner's view opens a credential, a guest's does not) reads it index-only instead of
reading every event of a range from the table (at 10M credentials, a quarter of the largest
organization was a sequential scan of all 50 million events). The index is rebuilt in the
upgrade's transaction (about 30 s at 50 million events on 2 cores), the events table locked
meanwhile.

Revision ID: 0012
Revises: 0011
"""

from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

INDEX = "ix_engagement_events_organization_id_occurred_at"
COLUMNS = ["organization_id", "occurred_at"]


def upgrade() -> None:
    op.drop_index(INDEX, "engagement_events")
    op.create_index(INDEX, "engagement_events", COLUMNS, postgresql_include=[
        "event_type", "actor", "credential_id", "prev_at", "group_id"])


def downgrade() -> None:
    op.drop_index(INDEX, "engagement_events")
    op.create_index(INDEX, "engagement_events", COLUMNS, postgresql_include=[
        "event_type", "credential_id", "prev_at", "group_id"])
