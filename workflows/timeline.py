"""How a ticket's timeline reaches the ticket store: batched, and in a task that runs anyway.

Every state change queues a `TicketEvent` (`_event`). Once per pass of the loop, what is queued
is written:
- with a notification, when one starts in the same pass: the notifier writes the batch after
  sending (activities/notify.py), so an obligation's own events cost nothing extra;
- otherwise through a *local* activity, in the workflow task that made the events: one marker
  event in history instead of a scheduled activity and a second workflow task. A local
  activity holds its task, and a timer set in that task starts when the task completes: the
  inline write gets `INLINE_TIMEOUT`, and a store slower than that is written by an ordinary
  activity beside the loop instead, so no deadline is ever later than that (docs/performance.md).
Writes are idempotent by event id: a worker that dies first leaves the events to be made again
by replay and written again. A store that is down delays nothing: the events stay queued, in
order (carried across continue-as-new), and the loop tries again `RETRY_AFTER` later. A closing
ticket's workflow ends only once its timeline is in the store.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, FailureError

with workflow.unsafe.imports_passed_through():
    from sla import evidence
    from sla.messages import EventBatch, Recorded, TicketEvent
    from workflows import contract

INLINE_TIMEOUT = timedelta(milliseconds=300)
INLINE_RETRY = RetryPolicy(maximum_attempts=1)
BESIDE_RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_attempts=2)
RETRY_AFTER = timedelta(minutes=1)  # a write that failed is tried again this much later
GIVE_UP_AFTER = timedelta(days=7)  # a closed ticket waits this long for its store, then its workflow ends anyway


class TicketTimeline:
    """Mixed into TicketWorkflow: `_event` queues, the loop calls `_start_flush`."""

    def _event(self, kind: str, at: datetime | None = None, **detail) -> None:
        """Queue a timeline event for the store, dated when it happened (`at`) and recorded now;
        its id (ticket id + sequence) makes the write idempotent."""
        self._state.event_seq += 1
        seq = self._state.event_seq
        if self._source_event:
            detail["event"] = self._source_event
        if self._source_via:  # only when set: older histories' activity inputs stay as they were
            detail["via"] = self._source_via
        now = workflow.now()
        event = TicketEvent(event_id=f"{self._state.ticket.ticket_id}/{seq}", seq=seq, at=at or now, recorded_at=now, kind=kind, detail=detail)
        # The hash chain (sla/evidence.py): the head stays in the state, the history's own witness of the timeline.
        event.content_sha256 = evidence.content_hash(event.event_id, seq, event.at, now, kind, event.detail)
        event.chain_sha256 = self._state.chain_head = evidence.chained(self._state.chain_head or evidence.GENESIS, event.content_sha256)
        self._events.append(event)

    def _take_timeline(self, even_empty: bool = False) -> EventBatch | None:
        """The queued events as one batch for the store (the queue empties); None when there are
        none, unless `even_empty` (a batch that only carries the ticket's row and delivery lines)."""
        if not self._events and not even_empty:
            return None
        batch, self._events = self._events, []
        state = self._state
        return EventBatch(ticket=state.ticket, status=state.status, severity=state.severity, plan=state.plan, events=batch,
                          policy_snapshot=self._snapshot.key if self._snapshot is not None else None)

    def _put_back(self, batch: EventBatch) -> None:
        """A batch that did not reach the store goes back in front of the queue, in order, for the
        next write (writes are idempotent by event id, so one written after all does no harm)."""
        self._events = batch.events + self._events
        self._delivery_log = batch.deliveries + self._delivery_log

    async def _write_timeline(self) -> bool:
        """Write the queued events (and delivery log lines the notifier could not write); True when written."""
        if not self._events and not self._delivery_log:
            return True
        batch = self._take_timeline(even_empty=True)
        batch.deliveries, self._delivery_log = self._delivery_log, []
        try:
            recorded = await workflow.execute_local_activity(
                contract.ACTIVITY_RECORD_EVENTS, batch, result_type=Recorded, start_to_close_timeout=INLINE_TIMEOUT,
                retry_policy=INLINE_RETRY, summary=f"record {len(batch.events)} timeline event(s)",
            )
            self._heard_clock(recorded.answered_at)
            self._announce_hours(recorded.hours_crossed)
            return True
        except FailureError:  # a local activity's own failure or timeout, not wrapped in an ActivityError
            pass  # slow or down: beside the loop, where it holds back nothing
        try:
            recorded = await workflow.execute_activity(
                contract.ACTIVITY_RECORD_EVENTS, batch, result_type=Recorded, start_to_close_timeout=timedelta(seconds=30),
                retry_policy=BESIDE_RETRY, summary=f"record {len(batch.events)} timeline event(s)",
            )
            self._announce_hours(recorded.hours_crossed)
            return True
        except ActivityError as err:
            # The store is down: keep the events, in order, and try again later; the clocks go on.
            self._put_back(batch)
            workflow.logger.error("timeline not recorded yet", extra={"events": len(batch.events), "error": str(err.cause)})
            return False

    def _start_flush(self) -> None:
        """Write beside the loop, unless a write is running or a failed one waits for its retry instant."""
        due = self._flush_retry_at is None or workflow.now() >= self._flush_retry_at
        if self._flushing or not due or not (self._events or self._delivery_log):
            return
        self._flushing = True

        async def flush() -> None:
            written = False
            try:
                written = await self._write_timeline()
                self._flush_retry_at = None if written else workflow.now() + RETRY_AFTER
            finally:
                self._flushing = False
                if not written or self._events or self._delivery_log:
                    self._changed = True  # the loop sets the retry's wake-up, or writes what came meanwhile

        asyncio.create_task(flush())

    def _next_flush_at(self) -> datetime | None:
        return None if self._flushing else self._flush_retry_at

    async def _flush_before_leaving(self, closing: bool) -> None:
        """Before continue-as-new, one more write (what fails travels on). Before the workflow
        ends, writes until the store has it all (for `GIVE_UP_AFTER` at most)."""
        await workflow.wait_condition(lambda: not self._flushing)
        until = workflow.now() + GIVE_UP_AFTER
        while not await self._write_timeline() and closing:
            if workflow.now() >= until:
                workflow.logger.error("timeline left unwritten: the store was down too long", extra={"events": len(self._events)})
                return
            await workflow.sleep(RETRY_AFTER, summary="retry the timeline write")
