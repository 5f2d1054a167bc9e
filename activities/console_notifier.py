"""The console/log notifier: the embedded default, one structured log line per notification."""

from __future__ import annotations

from datetime import UTC, datetime

import structlog
from temporalio import activity

from sla.messages import Delivery, Notification

log = structlog.get_logger("escalator.notify")


@activity.defn(name="notify")
async def notify_console(note: Notification) -> Delivery:
    """Log the notification; the idempotency key lets a reader spot a retried duplicate."""
    info = activity.info()
    log.warning(
        "notification", idempotency_key=note.idempotency_key, ticket_id=note.ticket_id,
        customer=note.customer, severity=note.severity.value, kind=note.kind, clock=note.clock.value if note.clock else None,
        due=note.due.isoformat(), summary=note.summary, attempt=info.attempt,
    )
    return Delivery(idempotency_key=note.idempotency_key, channel="console", delivered_at=datetime.now(UTC))
