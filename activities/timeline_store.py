"""The activity that writes a ticket's timeline events to the store."""

from __future__ import annotations

import asyncio

from temporalio import activity

from store.ticket_store import TicketStore
from sla.messages import EventBatch


class TimelineWriter:
    def __init__(self, store: TicketStore) -> None:
        self.store = store

    @activity.defn(name="record_ticket_events")
    async def record_ticket_events(self, batch: EventBatch) -> int:
        """Idempotent by event id: a retry writes nothing twice. Returns how many were new."""
        return await asyncio.to_thread(self.store.record_events, batch)
