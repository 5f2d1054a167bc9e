"""How long the planner takes, against bare Temporal measured in the same run.

`make bench` (or `python -m bench.plan_speed`). Prints microseconds per `plan()` for a Sev-4
ticket (the longest business-time targets: 2 and 20 business days, with 75% warnings) on a
calendar carrying every holiday of a German state with the most of them (Bavaria) for three
years, and the time of one bare workflow execution (a workflow that returns at once) on the
Temporal dev server, so the ratio says what the planner adds to a workflow task.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
import uuid
from datetime import UTC, datetime

from temporalio import workflow

TARGET_MICROSECONDS = 200


@workflow.defn(name="BareWorkflow")
class BareWorkflow:
    @workflow.run
    async def run(self) -> str:
        return "done"


def plan_microseconds(rounds: int) -> tuple[float, int]:
    from policies import DEFAULT_POLICY
    from sla.planner import plan
    from sla.policy import parse_policy, take_snapshot
    from sla.ticket import TicketOpened, TicketState

    text = DEFAULT_POLICY.read_text().replace('holiday_country = "DE"', 'holiday_country = "DE"\nholiday_subdivision = "BY"')
    opened = datetime(2026, 12, 23, 14, 0, tzinfo=UTC)  # Christmas and New Year inside the targets
    policy = take_snapshot(parse_policy(text, "bench"), "bench", "-", opened).policy
    holidays = len(policy.calendars["business"].holidays)
    state = TicketState.opened(TicketOpened(ticket_id="T-bench", customer="ACME", title="bench", severity="sev4", opened_at=opened))
    cold_start = time.perf_counter()
    plan(policy, state, opened)  # the first plan on a fresh snapshot fills the calendar's day cache
    cold = (time.perf_counter() - cold_start) * 1e6
    print(f"plan() sev4, first call on a fresh snapshot (cold day cache): {cold:8.1f} us")
    samples = []
    for _ in range(5):
        start = time.perf_counter()
        for _ in range(rounds):
            plan(policy, state, opened)
        samples.append((time.perf_counter() - start) / rounds * 1e6)
    return statistics.median(samples), holidays


async def bare_workflow_microseconds(count: int) -> float:
    from temporalio.testing import WorkflowEnvironment
    from temporalio.worker import Worker

    from starter.dev import local_binary

    server = local_binary("temporal")
    async with await WorkflowEnvironment.start_local(dev_server_existing_path=server, dev_server_log_level="error") as env:
        async with Worker(env.client, task_queue="bench", workflows=[BareWorkflow]):
            await env.client.execute_workflow(BareWorkflow.run, id=f"warm-{uuid.uuid4()}", task_queue="bench")
            start = time.perf_counter()
            for _ in range(count):
                await env.client.execute_workflow(BareWorkflow.run, id=f"bare-{uuid.uuid4()}", task_queue="bench")
            return (time.perf_counter() - start) / count * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2000, help="plan() calls per sample (5 samples; the median is reported)")
    parser.add_argument("--workflows", type=int, default=50, help="bare workflow executions to time")
    args = parser.parse_args()
    per_plan, holidays = plan_microseconds(args.rounds)
    per_workflow = asyncio.run(bare_workflow_microseconds(args.workflows))
    verdict = "within" if per_plan < TARGET_MICROSECONDS else "OVER"
    print(f"plan() sev4, {holidays} holidays, as a worker re-plans: {per_plan:8.1f} us  ({verdict} the {TARGET_MICROSECONDS} us target)")
    print(f"bare Temporal workflow (start -> result, dev server): {per_workflow:8.1f} us")
    print(f"ratio plan() / bare workflow: {per_plan / per_workflow:.4f}  ({per_plan / per_workflow * 100:.2f}%)")


if __name__ == "__main__":
    import os
    import sys

    main()
    sys.stdout.flush()
    os._exit(0)  # skip finalization: temporalio/sdk-python issue 300 aborts it at random
