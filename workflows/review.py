"""A scheduled review (docs/reports.md): started by a Temporal Schedule (`escalator schedule`),
it asks one activity to build the review from the ticket store and send it to its roles.

Only names and counts cross Temporal: the report is built and sent inside the activity, since a
payload lands in the history and is limited to 2 MB. The period follows from the instant the
workflow started (a schedule's action time, or a trigger's), and is part of every delivery's
idempotency key: a retried activity, a second trigger or an overlapping run sends nothing twice.
"""

from __future__ import annotations

from datetime import timedelta

from pydantic import BaseModel, Field
from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from sla.messages import ReviewOrder, ReviewSent
    from workflows import contract

WORKFLOW_REVIEW = "ScheduledReview"
# A receiver that is down is tried again for a day, then the run fails visibly in the UI.
SEND_RETRY = RetryPolicy(initial_interval=timedelta(seconds=30), backoff_coefficient=2, maximum_interval=timedelta(minutes=30))


class ReviewRequest(BaseModel):
    """A schedule's action: which review, to which roles."""

    kind: str = Field(description="monthly-report | weekly-review | open-post-incident")
    to: list[str] = Field(min_length=1)
    tz: str = Field(default="UTC", description="the zone the schedule's cron reads in: the period's days are that zone's")


@workflow.defn(name=WORKFLOW_REVIEW)
class ScheduledReviewWorkflow:
    @workflow.run
    async def run(self, request: ReviewRequest) -> ReviewSent:
        order = ReviewOrder(kind=request.kind, to=request.to, made_at=workflow.now(), tz=request.tz)
        return await workflow.execute_activity(
            contract.ACTIVITY_SEND_REVIEW, order, result_type=ReviewSent, schedule_to_close_timeout=timedelta(days=1),
            start_to_close_timeout=timedelta(minutes=10), retry_policy=SEND_RETRY, summary=f"{request.kind} to {', '.join(request.to)}",
        )
