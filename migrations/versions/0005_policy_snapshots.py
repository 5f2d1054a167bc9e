"""Policy snapshots: the policy each ticket opened with, for `escalator simulate`'s baseline.

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "policy_snapshots",
        sa.Column("snapshot_id", sa.String(80), primary_key=True),
        sa.Column("digest", sa.String(64), nullable=False),
        sa.Column("source", sa.String(500), nullable=False),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("version", sa.String(128), nullable=False),
        sa.Column("body", sa.JSON, nullable=False),
        sa.Column("first_seen", sa.DateTime(timezone=True), nullable=False),
    )
    # Tickets opened before this revision have none: simulate says so and skips them, unless --baseline is given.
    op.add_column("tickets", sa.Column("policy_snapshot", sa.String(80)))


def downgrade() -> None:
    op.drop_column("tickets", "policy_snapshot")
    op.drop_table("policy_snapshots")
