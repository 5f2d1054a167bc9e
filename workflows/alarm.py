"""The ticket's one timer: set for the next instant something is owed, re-armed only when it moves.

The loop waits for a message, a finished delivery or write, or the next wake-up instant: the
first obligation due, a notification's retry, a timeline write's retry. One timer runs per
instant. A timer whose instant is no longer the next one is cancelled (one history event,
where letting it fire costs a workflow task), unless it is due within `RACE_MARGIN`: cancelling
a timer that is firing at that moment fails the workflow task on the time-skipping test server
("invalid history builder state"), and one that fires needlessly only wakes the loop once more.

The server starts a timer when the workflow task that set it completes, and `workflow.now()` is
the task's start: a task held by a local activity (a ticket's opening in a burst of openings)
would set every timer late by as long as it was held. So a timer runs from the later of the
task's time and the clock a local activity answered with in this task. A worker clock ahead of
the server's can only make a timer fire early, and then the loop finds nothing due and waits
again for the rest. A task held longer than `CONGESTED` (its local activity waited behind a
burst of other tickets' tasks) also completes an unknown while after its activity answered:
its timer wakes the loop `PREWAKE` early, and the loop sets the exact timer in a task of its own.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from sla.planner import Obligation

RACE_MARGIN = timedelta(seconds=5)
# A local activity's answer tells the worker's clock (recorded in history, so replay reads the
# same); believed only this far ahead of the task's own time.
CLOCK_HINT_LIMIT = timedelta(seconds=10)
# A task held longer than CONGESTED by a local activity sets its timer PREWAKE early (see _arm).
CONGESTED = timedelta(milliseconds=25)
PREWAKE = timedelta(seconds=2)


class TicketAlarm:
    """Mixed into TicketWorkflow: `_wait(next_obligation)` from the loop."""

    async def _wait(self, nxt: Obligation | None) -> None:
        # The timer runs from this task's time: a `now` from before an await would make it late.
        wake, summary = (nxt.due, nxt.summary) if nxt else (None, None)
        for at, why in ((self._next_delivery_at(), "retry a notification"), (self._next_flush_at(), "retry the timeline write")):
            if at is not None and (wake is None or at < wake):
                wake, summary = at, why
        if wake is not None and wake <= workflow.now():
            return  # already due: the loop acts on it now, with no zero-length timer
        self._arm(wake, summary)
        await workflow.wait_condition(lambda: self._changed)

    def _heard_clock(self, answered_at: datetime | None) -> None:
        """Note the clock a local activity answered with, for the timers this task sets."""
        now = workflow.now()
        if answered_at is not None and now < answered_at <= now + CLOCK_HINT_LIMIT:
            self._clock_hint = (now, answered_at)

    def _timer_start(self) -> datetime:
        now = workflow.now()
        task_time, heard = self._clock_hint or (None, None)
        return heard if task_time == now else now  # a hint from an earlier task is stale

    def _arm(self, wake: datetime | None, summary: str | None) -> None:
        now = workflow.now()
        for at, (fires, timer) in list(self._wakes.items()):
            if at != wake and fires - now > RACE_MARGIN:
                timer.cancel()
                del self._wakes[at]
        if wake is None or wake in self._wakes:
            return
        start = self._timer_start()
        fires = wake
        if start - now > CONGESTED and wake - start > 2 * PREWAKE:
            # This task was held (a burst): it completes, and starts the timer, an unknown while
            # later. Wake early, in a task of its own, and set the exact timer from there.
            fires, summary = wake - PREWAKE, f"{summary} (early, to re-arm exactly)"

        def woke(task: asyncio.Task, at: datetime = wake) -> None:
            if self._wakes.get(at, (None, None))[1] is task:
                del self._wakes[at]
            if not task.cancelled():
                self._changed = True

        timer = asyncio.create_task(workflow.sleep(fires - start if fires > start else fires - now, summary=summary))
        timer.add_done_callback(woke)
        self._wakes[wake] = (fires, timer)
