"""The support-hours ledger: an entry per solved conversation that charged, and the thresholds told.

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "support_hours_entries",
        sa.Column("entry_id", sa.String(200), primary_key=True),
        sa.Column("customer", sa.String(128), nullable=False),
        sa.Column("contract_year", sa.Integer, nullable=False),
        sa.Column("ticket_id", sa.String(128), nullable=False),
        sa.Column("plan", sa.String(64)),
        sa.Column("minutes", sa.Integer, nullable=False),
        sa.Column("logged_minutes", sa.Integer, nullable=False),
        sa.Column("contracted_minutes", sa.Integer, nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_support_hours_customer_year", "support_hours_entries", ["customer", "contract_year"])
    op.create_table(
        "support_hours_alerts",
        sa.Column("customer", sa.String(128), primary_key=True),
        sa.Column("contract_year", sa.Integer, primary_key=True),
        sa.Column("threshold", sa.Integer, primary_key=True),
        sa.Column("ticket_id", sa.String(128), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("support_hours_alerts")
    op.drop_index("ix_support_hours_customer_year", "support_hours_entries")
    op.drop_table("support_hours_entries")
