"""Re-record the replay histories in tests/histories/: `make histories` (on purpose only).

`python -m tests.record_histories NAME...` records only the named scenarios; add new ones
that way rather than re-recording the old, which prove that tickets started under older
code still replay.

Each scenario runs a real ticket on the time-skipping test server and saves its history as
JSON. A change to workflow code must keep the saved histories replaying (tests/test_replay.py);
re-recording them is a deliberate act that the commit doing it explains.
"""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
from datetime import date, timedelta
from pathlib import Path

from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from sla.messages import (
    Acknowledge, AcknowledgePage, AddAction, CompleteObligation, Csat, CustomerMessage, DesignateCommander,
    EscalateToManagement, HandOff, JumpToStep, PostStatusUpdate, RecordRca, RecordReview, Resolve, Respond,
    SeverityPlanChange, StatusChange,
)
from sla.messages import EventBatch, Recorded
from sla.ticket import TicketOpened
from tests.conftest import binary, register_search_attributes
from store.ticket_store import TicketStore, upgrade
from worker.main import build_worker
from workflows.ticket import TicketWorkflow

HISTORIES = Path(__file__).parent / "histories"


async def waive_post_incident(handle) -> None:
    """A resolved Sev-1 owes a review and an RCA: its workflow ends once they are done or waived."""
    for item in ("review", "rca"):
        await handle.execute_update(TicketWorkflow.complete_obligation, CompleteObligation(item=item, by="kim", waive_reason="replay scenario"))


async def sev1_breached_then_resolved(env: WorkflowEnvironment, task_queue: str):
    opened = TicketOpened(ticket_id="T-replay-sev1", customer="ACME", title="Checkout is down",
                          severity="sev1", channel="phone", opened_at=await env.get_current_time())
    handle = await env.client.start_workflow(TicketWorkflow.run, opened, id=opened.ticket_id, task_queue=task_queue)
    await env.sleep(timedelta(hours=2, seconds=1))
    await handle.execute_update(TicketWorkflow.acknowledge, Acknowledge(by="alice"))
    await env.sleep(timedelta(hours=1))
    await handle.execute_update(TicketWorkflow.resolve, Resolve(by="alice", resolution="rolled back"))
    await waive_post_incident(handle)
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


async def sev3_full_lifecycle(env: WorkflowEnvironment, task_queue: str):
    """open -> first response -> wait on customer (a follow-up) -> reply -> resolve -> auto-close."""
    opened = TicketOpened(ticket_id="T-replay-sev3", customer="INITECH", title="Report totals are off",
                          severity="sev3", channel="email", opened_at=await env.get_current_time())
    handle = await env.client.start_workflow(TicketWorkflow.run, opened, id=opened.ticket_id, task_queue=task_queue)
    await env.sleep(timedelta(hours=2))
    await handle.execute_update(TicketWorkflow.acknowledge, Acknowledge(by="carol"))
    await handle.execute_update(TicketWorkflow.respond, Respond(by="carol"))
    await handle.execute_update(TicketWorkflow.set_status, StatusChange(status="waiting_on_customer", by="carol"))
    await env.sleep(timedelta(hours=50))
    await handle.signal(TicketWorkflow.customer_message_received, CustomerMessage(message_id="reply-1"))
    await env.sleep(timedelta(hours=1))
    await handle.execute_update(TicketWorkflow.respond, Respond(by="carol"))
    await handle.execute_update(TicketWorkflow.resolve, Resolve(by="carol"))
    await handle.execute_update(TicketWorkflow.record_csat, Csat(score="5"))
    await handle.result()
    return handle


async def sev2_raised_to_sev1_reopened(env: WorkflowEnvironment, task_queue: str):
    opened = TicketOpened(ticket_id="T-replay-raise", customer="ACME", title="Slow checkout", severity="sev2",
                          plan="premium", opened_at=await env.get_current_time())
    handle = await env.client.start_workflow(TicketWorkflow.run, opened, id=opened.ticket_id, task_queue=task_queue)
    await env.sleep(timedelta(hours=3))
    await handle.execute_update(TicketWorkflow.change_severity, SeverityPlanChange(by="dave", severity="sev1", reason="outage"))
    await handle.execute_update(TicketWorkflow.respond, Respond(by="dave"))
    await handle.execute_update(TicketWorkflow.resolve, Resolve(by="dave"))
    await env.sleep(timedelta(days=1))
    await handle.execute_update(TicketWorkflow.customer_message, CustomerMessage(message_id="still-broken"))
    await handle.execute_update(TicketWorkflow.resolve, Resolve(by="dave"))
    await waive_post_incident(handle)
    await handle.result()
    return handle


async def sev1_with_timeline(env: WorkflowEnvironment, task_queue: str):
    """A ticket whose timeline goes to the ticket store (recorded after the store patch)."""
    opened = TicketOpened(ticket_id="T-replay-store", customer="ACME", title="Payments failing", severity="sev1",
                          channel="phone", opened_at=await env.get_current_time())
    handle = await env.client.start_workflow(TicketWorkflow.run, opened, id=opened.ticket_id, task_queue=task_queue)
    await env.sleep(timedelta(minutes=30))
    await handle.execute_update(TicketWorkflow.acknowledge, Acknowledge(by="erin"))
    await env.sleep(timedelta(hours=2))
    await handle.execute_update(TicketWorkflow.respond, Respond(by="erin"))
    await handle.execute_update(TicketWorkflow.resolve, Resolve(by="erin"))
    await waive_post_incident(handle)
    await handle.result()
    return handle


async def sev1_escalation_matrix(env: WorkflowEnvironment, task_queue: str):
    """The Sev-1 matrix: internal escalation, a commander, a page acknowledged, status updates."""
    opened = TicketOpened(ticket_id="T-replay-escalation", customer="ACME", title="Checkout is down", severity="sev1",
                          channel="phone", opened_at=await env.get_current_time())
    handle = await env.client.start_workflow(TicketWorkflow.run, opened, id=opened.ticket_id, task_queue=task_queue)
    await env.sleep(timedelta(minutes=20))
    await handle.execute_update(TicketWorkflow.post_status_update, PostStatusUpdate(by="frank", text="Investigating"))
    await env.sleep(timedelta(hours=4))
    await handle.execute_update(TicketWorkflow.designate_commander, DesignateCommander(name="Grace", by="frank"))
    await env.sleep(timedelta(hours=2, minutes=5))
    await handle.execute_update(TicketWorkflow.acknowledge_page, AcknowledgePage(step="engineering", by="oncall"))
    await handle.execute_update(TicketWorkflow.respond, Respond(by="Grace"))
    await handle.execute_update(TicketWorkflow.resolve, Resolve(by="Grace"))
    await waive_post_incident(handle)
    await handle.result()
    return handle


async def handoffs_digest_post_incident(env: WorkflowEnvironment, task_queue: str):
    """Handoffs, management, a severity raise found late (digest), a jumped step, post-incident work."""
    opened = TicketOpened(ticket_id="T-replay-post-incident", customer="ACME", title="Payments fail", severity="sev4",
                          channel="email", opened_at=await env.get_current_time())
    handle = await env.client.start_workflow(TicketWorkflow.run, opened, id=opened.ticket_id, task_queue=task_queue)
    await env.sleep(timedelta(minutes=10))
    await handle.execute_update(TicketWorkflow.acknowledge, Acknowledge(by="lee"))
    await handle.execute_update(TicketWorkflow.hand_off, HandOff(to="l2", note="card declines; logs attached", by="lee"))
    await env.sleep(timedelta(minutes=17))
    await handle.execute_update(TicketWorkflow.acknowledge, Acknowledge(by="kim"))
    await handle.execute_update(TicketWorkflow.escalate_to_management, EscalateToManagement(reason="top customer", by="kim"))
    await env.sleep(timedelta(hours=5, minutes=3))
    await handle.execute_update(TicketWorkflow.change_severity, SeverityPlanChange(by="kim", severity="sev1", reason="all payments"))
    await env.sleep(timedelta(minutes=7))
    await handle.execute_update(TicketWorkflow.jump_to_step, JumpToStep(step="engineering", reason="card processor down", by="kim"))
    await handle.execute_update(TicketWorkflow.post_status_update, PostStatusUpdate(by="kim", text="Failing over"))
    await handle.execute_update(TicketWorkflow.respond, Respond(by="kim"))
    await env.sleep(timedelta(minutes=9))
    await handle.execute_update(TicketWorkflow.resolve, Resolve(by="kim"))
    state = await handle.execute_update(TicketWorkflow.add_action, AddAction(
        by="kim", title="Alert on decline rate", owner="bo", due=(await env.get_current_time()) + timedelta(days=4, minutes=7)))
    await env.sleep(timedelta(hours=50, minutes=11))
    await handle.execute_update(TicketWorkflow.record_review, RecordReview(by="kim", held_on=date(2026, 11, 25), attendees=["kim", "bo"]))
    await handle.execute_update(TicketWorkflow.record_rca, RecordRca(by="kim", link="https://wiki.example.com/rca/42"))
    await env.sleep(timedelta(hours=13, minutes=3))
    await handle.execute_update(TicketWorkflow.complete_obligation, CompleteObligation(item="action-1", by="bo"))
    assert state.post_incident
    await handle.result()
    return handle


async def sev1_event_time_and_beat(env: WorkflowEnvironment, task_queue: str):
    """A late response withdrawing its breach (a correction), a queued message, a duplicate event
    id, the on-call page, and the stakeholder beat with nobody posting for 3 hours."""
    from sla.messages import QueuedMessage
    from workflows import contract

    t0 = await env.get_current_time()
    opened = TicketOpened(ticket_id="T-replay-event-time", customer="ACME", title="Payments fail", severity="sev1", opened_at=t0)
    handle = await env.client.start_workflow(TicketWorkflow.run, opened, id=opened.ticket_id, task_queue=task_queue)
    await env.sleep(timedelta(hours=2, minutes=5))
    await handle.execute_update(TicketWorkflow.respond, Respond(by="alice", occurred_at=t0 + timedelta(hours=1, minutes=59), event_id="E-1"))
    await handle.execute_update(TicketWorkflow.respond, Respond(by="alice", event_id="E-1"))  # the same event: applied once
    queued = Acknowledge(by="alice", occurred_at=t0 + timedelta(hours=2, minutes=6), event_id="E-2").model_dump(mode="json")
    await env.sleep(timedelta(minutes=2))
    await handle.signal(contract.SIGNAL_QUEUED_MESSAGE, QueuedMessage(update="acknowledge", request=queued))
    await env.sleep(timedelta(hours=1, minutes=2))
    await handle.execute_update(TicketWorkflow.resolve, Resolve(by="alice", resolution="card processor failover"))
    await handle.execute_update(TicketWorkflow.complete_obligation, CompleteObligation(item="review", by="kim", waive_reason="vendor"))
    await handle.execute_update(TicketWorkflow.complete_obligation, CompleteObligation(item="rca", by="kim", waive_reason="vendor"))
    await handle.result()
    return handle


async def sev1_outbox(env: WorkflowEnvironment, task_queue: str):
    """Deliveries beside the loop (the outbox): the matrix to 6h20, a page acknowledged (its
    PagerDuty follow-up), a posted update, a late response, resolution (pages resolved), close."""
    t0 = await env.get_current_time()
    opened = TicketOpened(ticket_id="T-replay-outbox", customer="ACME", title="Checkout is down", severity="sev1", opened_at=t0)
    handle = await env.client.start_workflow(TicketWorkflow.run, opened, id=opened.ticket_id, task_queue=task_queue)
    await env.sleep(timedelta(hours=6, minutes=22))
    await handle.execute_update(TicketWorkflow.respond, Respond(by="alice", occurred_at=t0 + timedelta(hours=6, minutes=21)))
    await handle.execute_update(TicketWorkflow.acknowledge_page, AcknowledgePage(step="engineering", by="oncall-eng"))
    await handle.execute_update(TicketWorkflow.post_status_update, PostStatusUpdate(by="grace", text="Failing over"))
    await env.sleep(timedelta(minutes=3))
    await handle.execute_update(TicketWorkflow.resolve, Resolve(by="alice", resolution="failover"))
    await handle.execute_update(TicketWorkflow.complete_obligation, CompleteObligation(item="review", by="kim", waive_reason="vendor"))
    await handle.execute_update(TicketWorkflow.complete_obligation, CompleteObligation(item="rca", by="kim", waive_reason="vendor"))
    await handle.result()
    return handle


class SlowTimelineWriter:
    """A store that takes 0.5 s per timeline write: longer than the inline write may hold a
    workflow task (workflows/timeline.py), so the write goes beside the loop."""

    def __init__(self, store: TicketStore) -> None:
        from activities.timeline_store import TimelineWriter

        self.writer = TimelineWriter(store)

    def activity(self):
        from temporalio import activity

        @activity.defn(name="record_ticket_events")
        async def record_ticket_events(batch: EventBatch) -> Recorded:
            await asyncio.sleep(0.5)
            return await self.writer.record_ticket_events(batch)

        return record_ticket_events


async def sev3_slow_store(env: WorkflowEnvironment, task_queue: str):
    """Timeline writes that outlast the inline write: each goes by an ordinary activity instead."""
    opened = TicketOpened(ticket_id="T-replay-slow-store", customer="INITECH", title="Totals are off", severity="sev3",
                          opened_at=await env.get_current_time())
    handle = await env.client.start_workflow(TicketWorkflow.run, opened, id=opened.ticket_id, task_queue=task_queue)
    await env.sleep(timedelta(hours=1))
    await handle.execute_update(TicketWorkflow.acknowledge, Acknowledge(by="carol"))
    await handle.execute_update(TicketWorkflow.respond, Respond(by="carol"))
    await handle.execute_update(TicketWorkflow.resolve, Resolve(by="carol"))
    await handle.result()
    return handle


async def sev1_continued_as_new(env: WorkflowEnvironment, task_queue: str):
    """A Sev-1 whose history passes the (lowered) limit: the first run, ending in continue-as-new."""
    t0 = await env.get_current_time()
    opened = TicketOpened(ticket_id="T-replay-continued", customer="ACME", title="Checkout is down", severity="sev1", opened_at=t0)
    handle = await env.client.start_workflow(TicketWorkflow.run, opened, id=opened.ticket_id, task_queue=task_queue)
    await env.sleep(timedelta(minutes=2))
    for n in range(30):
        await handle.execute_update(TicketWorkflow.post_status_update, PostStatusUpdate(by="grace", text=f"update {n}"))
    await handle.execute_update(TicketWorkflow.resolve, Resolve(by="alice", resolution="failover"))
    return env.client.get_workflow_handle(opened.ticket_id, run_id=handle.first_execution_run_id or handle.run_id)


# Worker setups other than the default: a slow store, a policy with a low continue-as-new limit.
async def sev2_measured_reopened(env: WorkflowEnvironment, task_queue: str):
    """Under the report-measures patch: the first response, a wait on the customer, a solve, a reopen
    and the last solve each record their clock's measure (docs/reports.md)."""
    opened = TicketOpened(ticket_id="T-replay-measured", customer="ACME", title="Exports fail", severity="sev2",
                          opened_at=await env.get_current_time())
    handle = await env.client.start_workflow(TicketWorkflow.run, opened, id=opened.ticket_id, task_queue=task_queue)
    await env.sleep(timedelta(hours=1))
    await handle.execute_update(TicketWorkflow.respond, Respond(by="erin"))
    await handle.execute_update(TicketWorkflow.set_status, StatusChange(status="waiting_on_customer", by="erin"))
    await env.sleep(timedelta(hours=3))
    await handle.execute_update(TicketWorkflow.customer_message, CustomerMessage(message_id="logs"))
    await env.sleep(timedelta(hours=1))
    await handle.execute_update(TicketWorkflow.resolve, Resolve(by="erin"))
    await env.sleep(timedelta(hours=2))
    await handle.execute_update(TicketWorkflow.customer_message, CustomerMessage(message_id="again"))
    await env.sleep(timedelta(hours=1))
    await handle.execute_update(TicketWorkflow.resolve, Resolve(by="erin"))
    await handle.execute_update(TicketWorkflow.record_csat, Csat(score="4"))
    await handle.result()
    return handle


def _low_limit_policy() -> Path:
    from policies import DEFAULT_POLICY

    path = Path(tempfile.mkdtemp()) / "policy.toml"
    path.write_text(DEFAULT_POLICY.read_text().replace("continue_as_new_after_events = 2000", "continue_as_new_after_events = 150"))
    return path


SETUPS = {
    "sev3_slow_store": lambda store: {"record_events": SlowTimelineWriter(store).activity()},
    "sev1_continued_as_new": lambda store: {"policy_path": _low_limit_policy()},
}

SCENARIOS = {
    "sev1_breached_then_resolved": sev1_breached_then_resolved,
    "sev2_enterprise_acknowledged": sev2_enterprise_acknowledged,
    "sev3_full_lifecycle": sev3_full_lifecycle,
    "sev2_raised_to_sev1_reopened": sev2_raised_to_sev1_reopened,
    "sev1_with_timeline": sev1_with_timeline,
    "sev1_escalation_matrix": sev1_escalation_matrix,
    "handoffs_digest_post_incident": handoffs_digest_post_incident,
    "sev1_event_time_and_beat": sev1_event_time_and_beat,
    "sev1_outbox": sev1_outbox,
    "sev3_slow_store": sev3_slow_store,
    "sev1_continued_as_new": sev1_continued_as_new,
    "sev2_measured_reopened": sev2_measured_reopened,
}


async def main(names: list[str]) -> None:
    HISTORIES.mkdir(exist_ok=True)
    unknown = set(names) - set(SCENARIOS)
    if unknown:
        raise SystemExit(f"unknown scenario(s) {', '.join(sorted(unknown))}: have {', '.join(SCENARIOS)}")
    for name, scenario in SCENARIOS.items():
        if names and name not in names:
            continue
        env = await WorkflowEnvironment.start_time_skipping(
            test_server_existing_path=binary("temporal-test-server"), data_converter=pydantic_data_converter
        )
        try:
            await register_search_attributes(env.client)
            url = f"sqlite:///{tempfile.mkdtemp()}/tickets.db"
            upgrade(url)
            store = TicketStore(url)
            options = SETUPS[name](store) if name in SETUPS else {}
            async with build_worker(env.client, task_queue="record", store=store, **options):
                handle = await scenario(env, "record")
                history = await handle.fetch_history()
            path = HISTORIES / f"{name}.json"
            path.write_text(history.to_json())
            print(f"recorded {path} ({len(history.events)} events)")
        finally:
            await env.shutdown()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1:]))
    sys.stdout.flush()
    os._exit(0)  # skip finalization: temporalio/sdk-python issue 300 aborts it at random
