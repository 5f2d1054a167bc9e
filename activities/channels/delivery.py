"""What every channel sends and how it fails: permanently (4xx: do not retry) or for now (retry)."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel


class PermanentDeliveryError(Exception):
    """The receiver refused the message (4xx, a redirect, a refused address): retrying cannot help."""


class TransientDeliveryError(Exception):
    """A 5xx, a timeout or a network error: the activity retries with backoff."""


class OutboundMessage(BaseModel):
    """One notification as channels render it."""

    obligation_id: str
    ticket_id: str
    customer: str
    severity: str
    kind: str
    clock: str | None
    due: datetime
    summary: str
    ticket_url: str
