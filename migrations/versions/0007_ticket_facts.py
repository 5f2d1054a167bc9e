"""Each ticket's facts for reports (sla/ticket_facts.py), and its post-incident items.

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

CLOCKS = ("first_response", "next_response", "status_update", "resolution", "tier_response")
COUNTS = [f"breaches_{c}" for c in CLOCKS] + [f"withdrawn_{c}" for c in CLOCKS] + [
    "warnings", "reopens", "escalations_automatic", "escalations_functional", "escalations_hierarchical", "escalations_manual"]
MEASURED = ("first_response", "resolution")


def upgrade() -> None:
    # Filled from the existing timelines by `escalator db upgrade` right after (store/facts.py rebuild).
    for clock in MEASURED:
        op.add_column("tickets", sa.Column(f"{clock}_seq", sa.Integer))
        op.add_column("tickets", sa.Column(f"{clock}_at", sa.DateTime(timezone=True)))
        for part in ("elapsed_s", "business_s", "paused_s"):
            op.add_column("tickets", sa.Column(f"{clock}_{part}", sa.Integer))
    op.add_column("tickets", sa.Column("auto_solved", sa.Boolean))
    op.add_column("tickets", sa.Column("csat_seq", sa.Integer))
    op.add_column("tickets", sa.Column("csat_score", sa.String(8)))
    for name in COUNTS:
        op.add_column("tickets", sa.Column(name, sa.Integer, nullable=False, server_default="0"))
    op.create_index("ix_tickets_opened_at", "tickets", ["opened_at"])
    op.create_table(
        "post_incident_items",
        sa.Column("ticket_id", sa.String(128), primary_key=True),
        sa.Column("item", sa.String(64), primary_key=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("title", sa.String(300)),
        sa.Column("owner", sa.String(128)),
        sa.Column("due", sa.DateTime(timezone=True)),
        sa.Column("done_at", sa.DateTime(timezone=True)),
        sa.Column("waived", sa.Boolean, nullable=False, server_default=sa.false()),
    )
    op.create_index("ix_post_incident_items_due", "post_incident_items", ["due"])


def downgrade() -> None:
    op.drop_table("post_incident_items")
    op.drop_index("ix_tickets_opened_at", "tickets")
    for name in ["auto_solved", "csat_seq", "csat_score", *COUNTS] + [
            f"{c}_{p}" for c in MEASURED for p in ("seq", "at", "elapsed_s", "business_s", "paused_s")]:
        op.drop_column("tickets", name)
