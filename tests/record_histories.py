"""Re-record the replay histories in tests/histories/: `make histories` (on purpose only).

Each scenario runs a real ticket on the time-skipping test server and saves its history as
JSON. A change to workflow code must keep the saved histories replaying (tests/test_replay.py);
re-recording them is a deliberate act that the commit doing it explains.
"""

from __future__ import annotations

import asyncio
import os
import sys
from datetime import timedelta
from pathlib import Path

from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from sla.messages import Acknowledge, Resolve
from sla.ticket import TicketOpened
from tests.conftest import binary, register_search_attributes
from worker.main import build_worker
from workflows.ticket import TicketWorkflow

HISTORIES = Path(__file__).parent / "histories"


async def sev1_breached_then_resolved(env: WorkflowEnvironment, task_queue: str):
    opened = TicketOpened(ticket_id="T-replay-sev1", customer="ACME", title="Checkout is down",
                          severity="sev1", channel="phone", opened_at=await env.get_current_time())
    handle = await env.client.start_workflow(TicketWorkflow.run, opened, id=opened.ticket_id, task_queue=task_queue)
    await env.sleep(timedelta(hours=2, seconds=1))
    await handle.execute_update(TicketWorkflow.acknowledge, Acknowledge(by="alice"))
    await env.sleep(timedelta(hours=1))
    await handle.execute_update(TicketWorkflow.resolve, Resolve(by="alice", resolution="rolled back"))
    await handle.result()
    return handle


async def sev2_enterprise_acknowledged(env: WorkflowEnvironment, task_queue: str):
    opened = TicketOpened(ticket_id="T-replay-sev2", customer="GLOBEX", title="Exports are slow",
                          severity="sev2", plan="enterprise", opened_at=await env.get_current_time())
    handle = await env.client.start_workflow(TicketWorkflow.run, opened, id=opened.ticket_id, task_queue=task_queue)
    await env.sleep(timedelta(minutes=10))
    await handle.execute_update(TicketWorkflow.acknowledge, Acknowledge(by="bob"))
    await handle.execute_update(TicketWorkflow.resolve, Resolve(by="bob"))
    await handle.result()
    return handle


SCENARIOS = {"sev1_breached_then_resolved": sev1_breached_then_resolved, "sev2_enterprise_acknowledged": sev2_enterprise_acknowledged}


async def main() -> None:
    HISTORIES.mkdir(exist_ok=True)
    for name, scenario in SCENARIOS.items():
        env = await WorkflowEnvironment.start_time_skipping(
            test_server_existing_path=binary("temporal-test-server"), data_converter=pydantic_data_converter
        )
        try:
            await register_search_attributes(env.client)
            async with build_worker(env.client, task_queue="record"):
                handle = await scenario(env, "record")
                history = await handle.fetch_history()
            path = HISTORIES / f"{name}.json"
            path.write_text(history.to_json())
            print(f"recorded {path} ({len(history.events)} events)")
        finally:
            await env.shutdown()


if __name__ == "__main__":
    asyncio.run(main())
    sys.stdout.flush()
    os._exit(0)  # skip finalization: temporalio/sdk-python issue 300 aborts it at random
