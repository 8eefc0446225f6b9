"""Hourly pre-aggregates: the partial days at a range's edges (local midnights are rarely UTC
midnights) read whole hours from these rather than raw rows; filled from the stored rows after
the upgrade (metrics.db.upgrade).

Revision ID: 0006
Revises: 0005
"""

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
STEPS = ("opened", "downloaded", "linkedin_shared", "linkedin_profile_added", "shared",
         "referral_clicked", "wallet_added")
TABLES = ("touch_hour_links", "touch_hours", "event_hours", "credential_hour_links",
          "credential_hours")


def upgrade() -> None:
    hourly: dict[str, tuple[list[sa.Column[Any]], list[str], list[str]]] = {
        "credential_hours": ([sa.Column("issued", sa.Integer, nullable=False),
                              sa.Column("firsts", sa.Integer, nullable=False),
                              *(sa.Column(step, sa.Integer, nullable=False) for step in STEPS)],
                             ["hour"], ["issued", "firsts", *STEPS]),
        "credential_hour_links": ([sa.Column("gap", sa.Integer, nullable=False),
                                   sa.Column("links", sa.Integer, nullable=False)],
                                  ["hour", "gap"], ["links"]),
        "event_hours": ([sa.Column("event_type", sa.String(40), nullable=False),
                         sa.Column("events", sa.Integer, nullable=False)],
                        ["hour", "event_type"], ["events"]),
        "touch_hours": ([sa.Column("events", sa.Integer, nullable=False),
                         sa.Column("firsts", sa.Integer, nullable=False)],
                        ["hour"], ["events", "firsts"]),
        "touch_hour_links": ([sa.Column("gap", sa.Integer, nullable=False),
                              sa.Column("links", sa.Integer, nullable=False)],
                             ["hour", "gap"], ["links"]),
    }
    for table, (columns, key, include) in hourly.items():
        op.create_table(
            table,
            sa.Column("organization_id", Id, nullable=False),
            sa.Column("group_id", Id, nullable=False),
            sa.Column("hour", sa.Integer, nullable=False),
            *columns,
            sa.PrimaryKeyConstraint("organization_id", "group_id", *key, name=f"pk_{table}",
                                    postgresql_include=include),
        )
    # every rollup, hours included, is rebuilt from the stored rows once the schema is current
    # (metrics.db.upgrade rebuilds every organization without a rollup_state row)
    op.execute("DELETE FROM rollup_state")


def downgrade() -> None:
    for table in TABLES:
        op.drop_table(table)
