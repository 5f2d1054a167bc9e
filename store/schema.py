"""The ticket store's tables (SQLAlchemy Core); migrations/ creates and evolves them."""

from sqlalchemy import JSON, Boolean, Column, DateTime, Index, Integer, MetaData, String, Table, Text, false

from sla.ticket_facts import COUNTED

MEASURED = ("first_response", "resolution")  # the clocks whose measure a ticket's facts keep

metadata = MetaData()

tickets = Table(
    "tickets", metadata,
    Column("ticket_id", String(128), primary_key=True),
    Column("customer", String(128), nullable=False, index=True),
    Column("title", String(300), nullable=False),
    Column("severity", String(8), nullable=False),
    Column("status", String(32), nullable=False),
    Column("plan", String(64)),
    Column("category", String(64)),
    Column("follows", String(128)),
    Column("opened_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("policy_snapshot", String(80)),  # the snapshot it opened with: policy_snapshots.snapshot_id (revision 0005)
    # Its facts for reports (sla/ticket_facts.py, revision 0007): the measured clocks ...
    *[Column(f"{clock}_{part}", DateTime(timezone=True) if part == "at" else Integer)
      for clock in MEASURED for part in ("seq", "at", "elapsed_s", "business_s", "paused_s")],
    Column("auto_solved", Boolean),
    Column("csat_seq", Integer),
    Column("csat_score", String(8)),
    # ... and what is counted (breaches and withdrawn breaches per clock, warnings, reopens, escalations by kind).
    *[Column(name, Integer, nullable=False, server_default="0") for name in COUNTED],
    Index("ix_tickets_opened_at", "opened_at"),
)

post_incident_items = Table(
    "post_incident_items", metadata,
    # A ticket's review, RCA and corrective actions as its timeline tells them (revision 0007).
    Column("ticket_id", String(128), primary_key=True),
    Column("item", String(64), primary_key=True),
    Column("kind", String(16), nullable=False),  # review | rca | action
    Column("title", String(300)),
    Column("owner", String(128)),
    Column("due", DateTime(timezone=True)),
    Column("done_at", DateTime(timezone=True)),
    Column("waived", Boolean, nullable=False, server_default=false()),
    Index("ix_post_incident_items_due", "due"),
)

policy_snapshots = Table(
    "policy_snapshots", metadata,
    # One row per policy file (its digest) and first holiday year: what `escalator simulate` replays
    # a ticket's baseline under (revision 0005).
    Column("snapshot_id", String(80), primary_key=True),
    Column("digest", String(64), nullable=False),
    Column("source", String(500), nullable=False),
    Column("name", String(128), nullable=False),
    Column("version", String(128), nullable=False),
    Column("body", JSON, nullable=False),
    Column("first_seen", DateTime(timezone=True), nullable=False),
)

ticket_events = Table(
    "ticket_events", metadata,
    # Deterministic ids from the workflow (ticket id + sequence): a retried write is a no-op.
    Column("event_id", String(200), primary_key=True),
    Column("ticket_id", String(128), nullable=False),
    Column("seq", Integer, nullable=False),
    Column("at", DateTime(timezone=True), nullable=False),  # when it happened (a message's occurred_at)
    Column("recorded_at", DateTime(timezone=True)),  # when the workflow recorded it (revision 0002)
    Column("kind", String(48), nullable=False),
    Column("detail", JSON, nullable=False),
    Column("content_sha256", String(64)),  # the hash chain (sla/evidence.py; revision 0006): null before it
    Column("chain_sha256", String(64)),
    Index("ix_ticket_events_ticket_seq", "ticket_id", "seq"),
)

deliveries = Table(
    "deliveries", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    # (obligation, role, channel, recipient): at most one delivery each.
    Column("idempotency_key", String(600), nullable=False, unique=True),
    Column("ticket_id", String(128), nullable=False, index=True),
    Column("obligation_id", String(300), nullable=False),
    Column("role", String(64), nullable=False),
    Column("channel", String(16), nullable=False),
    Column("recipient", String(300), nullable=False),
    Column("status", String(16), nullable=False),  # sent | failed
    Column("detail", Text),
    Column("at", DateTime(timezone=True), nullable=False),
)

idempotency_keys = Table(
    "idempotency_keys", metadata,
    # Who sent it (`api:<key name>`, `hook:<source>`) and their key: one answer per pair (revision 0003).
    Column("principal", String(80), primary_key=True),
    Column("idempotency_key", String(255), primary_key=True),
    Column("request", String(300), nullable=False),  # "POST /v1/tickets/T-1/events"
    Column("fingerprint", String(64), nullable=False),  # SHA-256 of the request body
    Column("status_code", Integer),  # null while the first request is being handled
    Column("response", JSON),
    Column("created_at", DateTime(timezone=True), nullable=False, index=True),
)

support_hours_entries = Table(
    "support_hours_entries", metadata,
    # One per solve that charged: the timeline event's id, so a retried write adds nothing (revision 0004).
    Column("entry_id", String(200), primary_key=True),
    Column("customer", String(128), nullable=False),
    Column("contract_year", Integer, nullable=False),
    Column("ticket_id", String(128), nullable=False),
    Column("plan", String(64)),
    Column("minutes", Integer, nullable=False),
    Column("logged_minutes", Integer, nullable=False),
    Column("contracted_minutes", Integer, nullable=False),
    Column("at", DateTime(timezone=True), nullable=False),
    Index("ix_support_hours_customer_year", "customer", "contract_year"),
)

support_hours_alerts = Table(
    "support_hours_alerts", metadata,
    # A threshold crossed is told once per customer and contract year: the first writer wins.
    Column("customer", String(128), primary_key=True),
    Column("contract_year", Integer, primary_key=True),
    Column("threshold", Integer, primary_key=True),
    Column("ticket_id", String(128), nullable=False),
    Column("at", DateTime(timezone=True), nullable=False),
)
