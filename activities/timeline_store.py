"""The activity that writes tickets' timeline events to the store, a group commit at a time.

Many tickets write at once (a burst of openings, an outage's deadlines falling due together):
batches that arrive while a write is running are written together in the next transaction,
so a hundred tickets cost a few commits, not a hundred (docs/performance.md). Each caller
still learns whether its own batch is in the store. Writes are idempotent by event id.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from temporalio import activity

from sla.messages import EventBatch, Recorded
from store.ticket_store import TicketStore, Written


class TimelineWriter:
    def __init__(self, store: TicketStore) -> None:
        self.store = store
        self._waiting: list[tuple[EventBatch, asyncio.Future]] = []
        self._writing = False

    @activity.defn(name="record_ticket_events")
    async def record_ticket_events(self, batch: EventBatch) -> Recorded:
        """How many of the batch's events were new, and when; raises the store's error when it is down."""
        written = await self.write(batch)
        return Recorded(new=written.new, answered_at=datetime.now(UTC), hours_crossed=written.crossed)

    async def write(self, batch: EventBatch) -> Written:
        done = asyncio.get_running_loop().create_future()
        self._waiting.append((batch, done))
        if not self._writing:
            self._writing = True
            asyncio.get_running_loop().create_task(self._write_waiting())
        return await asyncio.shield(done)  # a caller that gives up (timeout) leaves the group's write alone

    async def _write_waiting(self) -> None:
        try:
            while self._waiting:
                group, self._waiting = self._waiting, []
                try:
                    results = await asyncio.to_thread(self.store.record_batches, [batch for batch, _ in group])
                except Exception as exc:  # noqa: BLE001 (the store's error goes to each caller)
                    if len(group) == 1:
                        _settle(group[0][1], error=exc)
                        continue
                    # One bad batch must not fail the others: each on its own.
                    for batch, done in group:
                        try:
                            _settle(done, (await asyncio.to_thread(self.store.record_batches, [batch]))[0])
                        except Exception as one:  # noqa: BLE001
                            _settle(done, error=one)
                    continue
                for (_, done), written in zip(group, results):
                    _settle(done, written)
        finally:
            self._writing = False


def _settle(done: asyncio.Future, result: Written | None = None, error: BaseException | None = None) -> None:
    if done.done():
        return
    if error is not None:
        done.set_exception(error)
    else:
        done.set_result(result)
