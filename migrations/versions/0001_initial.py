"""The first ticket store: tickets, their timeline of events, and the delivery log.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "tickets",
        sa.Column("ticket_id", sa.String(128), primary_key=True),
        sa.Column("customer", sa.String(128), nullable=False),
        sa.Column("title", sa.String(300), nullable=False),
        sa.Column("severity", sa.String(8), nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("plan", sa.String(64)),
        sa.Column("category", sa.String(64)),
        sa.Column("follows", sa.String(128)),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_tickets_customer", "tickets", ["customer"])
    op.create_table(
        "ticket_events",
        sa.Column("event_id", sa.String(200), primary_key=True),
        sa.Column("ticket_id", sa.String(128), nullable=False),
        sa.Column("seq", sa.Integer, nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("kind", sa.String(48), nullable=False),
        sa.Column("detail", sa.JSON, nullable=False),
    )
    op.create_index("ix_ticket_events_ticket_seq", "ticket_events", ["ticket_id", "seq"])
    op.create_table(
        "deliveries",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("idempotency_key", sa.String(600), nullable=False, unique=True),
        sa.Column("ticket_id", sa.String(128), nullable=False),
        sa.Column("obligation_id", sa.String(300), nullable=False),
        sa.Column("role", sa.String(64), nullable=False),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("recipient", sa.String(300), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("detail", sa.Text),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_deliveries_ticket_id", "deliveries", ["ticket_id"])


def downgrade() -> None:
    op.drop_table("deliveries")
    op.drop_table("ticket_events")
    op.drop_table("tickets")
