"""What one ticket costs Temporal: history events and Temporal Cloud actions, against the minimum.

`python -m bench.history_cost` (part of `make bench`). Runs two tickets on the time-skipping
test server with the default policy and no contacts (every role logged to the console):
- a Sev-3 lifecycle: open, acknowledge, respond, wait on customer, customer message, respond,
  resolve, CSAT, auto-close;
- 24 hours of a Sev-1: acknowledge, commander, page acknowledged, first response, a posted
  status update every 30 minutes (the cadence kept), resolve: 50 operator actions.

For each it prints history events (over every run, after continue-as-new), notifications sent
(notify activities scheduled), and actions counted from the history the way Temporal Cloud
bills them (docs.temporal.io/cloud/actions): one per run started, timer started, search
attribute upsert, signal, update accepted, activity attempt, and one per workflow task that ran
local activities. The minimum beside it is what any workflow needs to do the same: one start,
one per message, one per notification.
"""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
from collections import Counter
from dataclasses import dataclass
from datetime import timedelta

from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowHistory


@dataclass
class Cost:
    events: int = 0
    actions: int = 0
    messages: int = 0
    notifications: int = 0
    runs: int = 0
    by_type: Counter | None = None

    @property
    def minimum(self) -> int:
        return 1 + self.messages + self.notifications


async def histories(client: Client, workflow_id: str) -> list[WorkflowHistory]:
    """Every run of a workflow id, newest first, following continue-as-new back to the first."""
    runs, run_id = [], None
    while True:
        history = await client.get_workflow_handle(workflow_id, run_id=run_id).fetch_history()
        runs.append(history)
        run_id = history.events[0].workflow_execution_started_event_attributes.continued_execution_run_id
        if not run_id:
            return runs


def cost_of(runs: list[WorkflowHistory], notify_activity: str = "notify") -> Cost:
    cost = Cost(runs=len(runs), by_type=Counter())
    for history in runs:
        local_tasks = set()
        for event in history.events:
            cost.events += 1
            kind = EventType.Name(event.event_type).removeprefix("EVENT_TYPE_")
            cost.by_type[kind] += 1
            if kind in ("WORKFLOW_EXECUTION_STARTED", "TIMER_STARTED", "UPSERT_WORKFLOW_SEARCH_ATTRIBUTES"):
                cost.actions += 1
            elif kind in ("WORKFLOW_EXECUTION_SIGNALED", "WORKFLOW_EXECUTION_UPDATE_ACCEPTED"):
                cost.actions += 1
                cost.messages += 1
            elif kind == "ACTIVITY_TASK_STARTED":
                cost.actions += event.activity_task_started_event_attributes.attempt  # each retry is billed
            elif kind == "ACTIVITY_TASK_SCHEDULED":
                if event.activity_task_scheduled_event_attributes.activity_type.name == notify_activity:
                    cost.notifications += 1
            elif kind == "MARKER_RECORDED" and event.marker_recorded_event_attributes.marker_name == "core_local_activity":
                local_tasks.add(event.marker_recorded_event_attributes.workflow_task_completed_event_id)
        cost.actions += len(local_tasks)
    return cost


async def sev3_lifecycle(env, task_queue: str) -> str:
    from sla.messages import Acknowledge, Csat, CustomerMessage, Resolve, Respond, StatusChange
    from sla.ticket import TicketOpened
    from workflows.ticket import TicketWorkflow

    opened = TicketOpened(ticket_id="BENCH-sev3", customer="INITECH", title="Totals are off", severity="sev3",
                          channel="email", opened_at=await env.get_current_time())
    handle = await env.client.start_workflow(TicketWorkflow.run, opened, id=opened.ticket_id, task_queue=task_queue)
    await env.sleep(timedelta(hours=2))
    await handle.execute_update(TicketWorkflow.acknowledge, Acknowledge(by="carol"))
    await handle.execute_update(TicketWorkflow.respond, Respond(by="carol"))
    await handle.execute_update(TicketWorkflow.set_status, StatusChange(status="waiting_on_customer", by="carol"))
    await env.sleep(timedelta(hours=20))
    await handle.signal(TicketWorkflow.customer_message_received, CustomerMessage(message_id="reply-1"))
    await env.sleep(timedelta(hours=1))
    await handle.execute_update(TicketWorkflow.respond, Respond(by="carol"))
    await handle.execute_update(TicketWorkflow.resolve, Resolve(by="carol"))
    await handle.execute_update(TicketWorkflow.record_csat, Csat(score="5"))
    await handle.result()  # auto-close
    return opened.ticket_id


async def sev1_day(env, task_queue: str) -> str:
    from sla.messages import Acknowledge, AcknowledgePage, DesignateCommander, PostStatusUpdate, Resolve, Respond
    from sla.ticket import TicketOpened
    from workflows.ticket import TicketWorkflow

    t0 = await env.get_current_time()
    opened = TicketOpened(ticket_id="BENCH-sev1", customer="ACME", title="Checkout is down", severity="sev1", opened_at=t0)
    handle = await env.client.start_workflow(TicketWorkflow.run, opened, id=opened.ticket_id, task_queue=task_queue)
    await env.sleep(timedelta(minutes=2))
    await handle.execute_update(TicketWorkflow.acknowledge, Acknowledge(by="alice"))
    await handle.execute_update(TicketWorkflow.designate_commander, DesignateCommander(name="grace", by="alice"))
    await handle.execute_update(TicketWorkflow.acknowledge_page, AcknowledgePage(step="page_on_call", by="oncall"))
    await handle.execute_update(TicketWorkflow.respond, Respond(by="alice"))
    # 46 status updates, one every 30 minutes (a minute before each beat is due), then resolve at 23h.
    for k in range(46):
        await env.sleep(timedelta(minutes=29) if k == 0 else timedelta(minutes=30))
        await handle.execute_update(TicketWorkflow.post_status_update, PostStatusUpdate(by="grace", text=f"update {k + 1}"))
    await env.sleep(timedelta(minutes=17))
    await handle.execute_update(TicketWorkflow.resolve, Resolve(by="alice", resolution="failover"))
    elapsed = (await env.get_current_time()) - t0
    await env.sleep(timedelta(hours=24) - elapsed)  # the rest of the day: post-incident reminders are not due yet
    return opened.ticket_id


async def measure() -> dict[str, Cost]:
    from temporalio.contrib.pydantic import pydantic_data_converter
    from temporalio.testing import WorkflowEnvironment

    from store.ticket_store import TicketStore, upgrade
    from tests.conftest import binary, register_search_attributes
    from worker.main import build_worker

    costs = {}
    for name, scenario in (("Sev-3 lifecycle", sev3_lifecycle), ("Sev-1, 24 hours", sev1_day)):
        env = await WorkflowEnvironment.start_time_skipping(
            test_server_existing_path=binary("temporal-test-server"), data_converter=pydantic_data_converter)
        try:
            await register_search_attributes(env.client)
            url = f"sqlite:///{tempfile.mkdtemp()}/tickets.db"
            upgrade(url)
            store = TicketStore(url)
            async with build_worker(env.client, task_queue="bench", store=store):
                ticket_id = await scenario(env, "bench")
                costs[name] = cost_of(await histories(env.client, ticket_id))
            store.close()
        finally:
            await env.shutdown()
    return costs


def report(costs: dict[str, Cost], verbose: bool = False) -> None:
    print(f"history cost of one ticket (time-skipping test server, default policy; {os.cpu_count()} cores):")
    for name, c in costs.items():
        print(f"  {name:<16} events {c.events:>5} over {c.runs} run(s)   messages {c.messages:>3}   notifications {c.notifications:>3}"
              f"   actions {c.actions:>4}   minimum {c.minimum:>4}   ratio {c.actions / c.minimum:.2f}x"
              f"   events per message+notification {c.events / max(1, c.messages + c.notifications):.2f}")
    if verbose:
        for name, c in costs.items():
            print(f"  {name}: " + ", ".join(f"{k.lower()} {n}" for k, n in c.by_type.most_common()))


def main() -> None:
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-v", "--verbose", action="store_true", help="also print the events of each ticket by type")
    args = parser.parse_args()
    report(asyncio.run(measure()), args.verbose)


if __name__ == "__main__":
    main()
    sys.stdout.flush()
    os._exit(0)  # skip finalization: temporalio/sdk-python issue 300 aborts it at random
