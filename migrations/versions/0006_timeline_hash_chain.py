"""The timeline's hash chain: each event's content hash and chain hash (sla/evidence.py).

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Events recorded before this revision keep nulls: `escalator evidence` says they are not covered.
    op.add_column("ticket_events", sa.Column("content_sha256", sa.String(64)))
    op.add_column("ticket_events", sa.Column("chain_sha256", sa.String(64)))


def downgrade() -> None:
    op.drop_column("ticket_events", "chain_sha256")
    op.drop_column("ticket_events", "content_sha256")
