"""The arguments of the ticket's updates, queries and activities: one pydantic model each."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from sla.planner import EffectiveTarget, Obligation
from sla.severity import Severity
from sla.ticket import ClockName, SlaState, TicketState


class Acknowledge(BaseModel):
    """An agent takes the ticket."""

    by: str = Field(min_length=1, max_length=200, description="Who takes the ticket (agent id or name).")
    note: str | None = Field(default=None, max_length=2000)


class Resolve(BaseModel):
    """The fix is in: the ticket becomes Solved and its clocks stop."""

    by: str = Field(min_length=1, max_length=200)
    resolution: str | None = Field(default=None, max_length=2000)


class TicketView(BaseModel):
    """What the `state` query returns: the state, the upcoming plan and the targets in force."""

    state: TicketState
    sla_state: SlaState
    upcoming: list[Obligation]
    targets: list[EffectiveTarget]
    next_due: Obligation | None
    policy_digest: str | None = None


class SnapshotRequest(BaseModel):
    ticket_id: str
    opened_at: datetime


class Notification(BaseModel):
    """One obligation to announce; `idempotency_key` is the obligation id."""

    idempotency_key: str
    ticket_id: str
    customer: str
    severity: Severity
    kind: str
    clock: ClockName
    due: datetime
    summary: str


class Delivery(BaseModel):
    idempotency_key: str
    channel: str
    delivered_at: datetime
