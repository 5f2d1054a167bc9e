"""TicketWorkflow on the time-skipping test server: deadlines to the second, validators, queries."""

from __future__ import annotations

import asyncio
import uuid
from datetime import date, timedelta

import pytest
from temporalio import activity
from temporalio.client import WorkflowUpdateFailedError
from temporalio.testing import WorkflowEnvironment

from activities.notify import Notifier, NotifierSettings
from sla.messages import Acknowledge, CompleteObligation, Delivery, EventBatch, Notification, Recorded, RecordReview, Resolve, Respond
from starter.client import update_failure_reason
from sla.ticket import ClockName, SlaState, TicketOpened, TicketStatus
from worker.main import build_worker
from workflows import search_attributes as sa
from workflows.ticket import TicketWorkflow


class RecordingNotifier:
    """The real notifier (no contacts file: every role to the console), with a record of its calls."""

    def __init__(self, store) -> None:
        self.sent: list[Notification] = []
        self.real = Notifier(store, NotifierSettings())

    @activity.defn(name="notify")
    async def notify(self, note: Notification) -> Delivery:
        self.sent.append(note)
        return await self.real.notify(note)


async def open_ticket(env: WorkflowEnvironment, task_queue: str, severity: str = "sev1", **kw):
    opened = TicketOpened(
        ticket_id=f"T-{uuid.uuid4().hex[:8]}", customer="ACME", title="Checkout is down",
        severity=severity, opened_at=await env.get_current_time(), **kw,
    )
    handle = await env.client.start_workflow(TicketWorkflow.run, opened, id=opened.ticket_id, task_queue=task_queue)
    return opened, handle


async def state_after_snapshot(handle):
    """The state once the policy snapshot is in (the activity runs in real time)."""
    for _ in range(100):
        view = await handle.query(TicketWorkflow.state)
        if view.policy_digest:
            return view
        await asyncio.sleep(0.05)
    raise AssertionError("the policy snapshot never arrived")


async def test_breaches_at_exactly_its_target(store, ts_env: WorkflowEnvironment) -> None:
    notifier = RecordingNotifier(store)
    async with build_worker(ts_env.client, task_queue="tq", store=store, notify=notifier.notify):
        opened, handle = await open_ticket(ts_env, "tq")
        due = opened.opened_at + timedelta(hours=2)

        await ts_env.sleep(timedelta(hours=2) - timedelta(seconds=1))
        view = await handle.query(TicketWorkflow.state)
        assert view.state.clocks[ClockName.FIRST_RESPONSE].breached_at is None
        assert view.sla_state is SlaState.WARNING  # the 75% warning fired at 1h30
        first_response = [n for n in notifier.sent if n.clock is ClockName.FIRST_RESPONSE]
        assert [n.idempotency_key for n in first_response] == [f"{opened.ticket_id}/first_response/1/warn75"]

        await ts_env.sleep(timedelta(seconds=2))
        view = await handle.query(TicketWorkflow.state)
        first = view.state.clocks[ClockName.FIRST_RESPONSE]
        assert first.breached_at == due
        fired = {f.id: f for f in view.state.fired}
        breach = fired[f"{opened.ticket_id}/first_response/1/breach"]
        assert due <= breach.fired_at < due + timedelta(seconds=1)
        assert view.sla_state is SlaState.BREACHED
        first_response = [n for n in notifier.sent if n.clock is ClockName.FIRST_RESPONSE]
        assert [n.kind for n in first_response] == ["warning", "breach"]
        assert first_response[1].summary == "first response due: Sev-1, 2h"
        assert first_response[1].roles == ["support_l1", "support_manager"]

        description = await handle.describe()
        attrs = description.typed_search_attributes
        assert attrs.get(sa.SLA_STATE) == "breached"
        assert attrs.get(sa.SEVERITY) == "sev1"
        assert attrs.get(sa.CUSTOMER) == "ACME"
        assert attrs.get(sa.TICKET_STATUS) == "open"
        assert "Status" not in {pair.key.name for pair in attrs}  # a custom Status hides the execution status in the UI
        assert attrs.get(sa.NEXT_DUE_AT) == view.next_due.due
        # Level 1: the support on-call was paged when the Sev-1 opened (step page_on_call).
        assert attrs.get(sa.ESCALATION_LEVEL) == 1 and attrs.get(sa.COMMANDER_ASSIGNED) is False


async def test_a_ticket_answered_in_time_does_not_breach(store, ts_env: WorkflowEnvironment) -> None:
    notifier = RecordingNotifier(store)
    async with build_worker(ts_env.client, task_queue="tq", store=store, notify=notifier.notify):
        opened, handle = await open_ticket(ts_env, "tq")
        await ts_env.sleep(timedelta(minutes=11))  # not on a 5-minute mark: the on-call page repeats there
        state = await handle.execute_update(TicketWorkflow.acknowledge, Acknowledge(by="alice"))
        assert state.acknowledged_by == "alice" and state.status is TicketStatus.PENDING
        assert state.clocks[ClockName.FIRST_RESPONSE].met_at is None  # taking a ticket is not answering it
        state = await handle.execute_update(TicketWorkflow.respond, Respond(by="alice"))
        met = state.clocks[ClockName.FIRST_RESPONSE].met_at
        assert timedelta(minutes=11) <= met - opened.opened_at < timedelta(minutes=11, seconds=1)

        await ts_env.sleep(timedelta(hours=3))
        view = await handle.query(TicketWorkflow.state)
        assert view.state.clocks[ClockName.FIRST_RESPONSE].breached_at is None
        assert view.sla_state is SlaState.OK
        # Only the stakeholder beat and the on-call page (at 0, 5 and 10 minutes, until alice took the ticket).
        others = [n.idempotency_key.removeprefix(opened.ticket_id + "/") for n in notifier.sent if n.clock is not ClockName.STATUS_UPDATE]
        assert others == ["escalation/page_on_call/1", "escalation/page_on_call/2", "escalation/page_on_call/3"]
        assert any(o.clock is ClockName.RESOLUTION for o in view.upcoming)

        state = await handle.execute_update(TicketWorkflow.resolve, Resolve(by="alice"))
        assert state.status is TicketStatus.SOLVED
        assert [i.id for i in state.post_incident] == ["review", "rca"]  # a Sev-1 owes both
        await handle.execute_update(TicketWorkflow.record_review, RecordReview(by="alice", held_on=date(2026, 11, 24), attendees=["alice", "bob"]))
        await handle.execute_update(TicketWorkflow.complete_obligation, CompleteObligation(item="rca", by="alice", waive_reason="vendor outage, their RCA"))
        result = await handle.result()  # closes itself 3 days after Solved, its obligations met
        assert result.status is TicketStatus.CLOSED
        assert result.closed_at == result.solved_at + timedelta(days=3)
        assert result.clocks[ClockName.RESOLUTION].met_at is not None


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ({"by": "   "}, "by: must name who does it"),
        ({"by": ""}, "by: must not be empty"),
        ({}, "by: is required"),
    ],
)
async def test_acknowledge_rejects_bad_input_and_writes_nothing(store, ts_env: WorkflowEnvironment, payload: dict, message: str) -> None:
    async with build_worker(ts_env.client, task_queue="tq", store=store):
        _, handle = await open_ticket(ts_env, "tq")
        await handle.query(TicketWorkflow.state)
        with pytest.raises(WorkflowUpdateFailedError) as info:
            await handle.execute_update("acknowledge", payload)
        assert message in update_failure_reason(info.value)
        history = await handle.fetch_history()
        assert not [e for e in history.events if e.HasField("workflow_execution_update_accepted_event_attributes")]
        assert (await handle.query(TicketWorkflow.state)).state.acknowledged_by is None


async def test_acknowledging_twice_is_refused(store, ts_env: WorkflowEnvironment) -> None:
    async with build_worker(ts_env.client, task_queue="tq", store=store):
        _, handle = await open_ticket(ts_env, "tq", severity="sev3")
        await handle.execute_update(TicketWorkflow.acknowledge, Acknowledge(by="alice"))
        with pytest.raises(WorkflowUpdateFailedError) as info:
            await handle.execute_update(TicketWorkflow.acknowledge, Acknowledge(by="bob"))
        assert "already acknowledged by alice" in str(info.value.cause)
        assert (await handle.query(TicketWorkflow.state)).state.acknowledged_by == "alice"


async def test_business_hours_ticket_plans_from_its_own_open_instant(store, ts_env: WorkflowEnvironment) -> None:
    async with build_worker(ts_env.client, task_queue="tq", store=store):
        opened, handle = await open_ticket(ts_env, "tq", severity="sev2", plan="enterprise")
        view = await state_after_snapshot(handle)
        first = next(t for t in view.targets if t.clock is ClockName.FIRST_RESPONSE)
        assert first.rule == "plan enterprise"
        assert first.due is not None and first.due > opened.opened_at
        assert view.policy_digest and len(view.policy_digest) == 64


async def test_a_slow_store_write_does_not_make_deadlines_late(store, ts_env: WorkflowEnvironment) -> None:
    """Regression: the timer once ran from a `now` taken before the timeline write, so every
    deadline fired late by however long the store took."""
    from activities.timeline_store import TimelineWriter

    class SlowWriter(TimelineWriter):
        @activity.defn(name="record_ticket_events")
        async def record_ticket_events(self, batch: EventBatch) -> Recorded:  # annotated, or the SDK hands over a dict
            await asyncio.sleep(1.0)  # real time: the test server does not skip time during an activity
            return await super().record_ticket_events(batch)

    async with build_worker(ts_env.client, task_queue="tq", store=store, record_events=SlowWriter(store).record_ticket_events):
        opened, handle = await open_ticket(ts_env, "tq")
        await state_after_snapshot(handle)
        await ts_env.sleep(timedelta(hours=2, minutes=1))
        view = await handle.query(TicketWorkflow.state)
    fired = [f for f in view.state.fired if f.clock is ClockName.FIRST_RESPONSE]
    assert len(fired) == 2
    for f in fired:
        assert f.due <= f.fired_at < f.due + timedelta(milliseconds=500), f


async def test_the_ui_details_state_the_next_deadline_in_the_policy_zone_without_a_relative_time(store, ts_env: WorkflowEnvironment) -> None:
    import re

    from temporalio.api.sdk.v1 import WorkflowMetadata

    async with build_worker(ts_env.client, task_queue="tq", store=store):
        opened, handle = await open_ticket(ts_env, "tq", severity="sev2")
        await state_after_snapshot(handle)
        await ts_env.sleep(timedelta(seconds=1))
        metadata = await handle.query("__temporal_workflow_metadata", result_type=WorkflowMetadata)
    details = metadata.current_details
    assert re.search(r"Waiting for: .*, at \d{4}-\d\d-\d\d \d\d:\d\d [+-]\d\d:\d\d \(Europe/Berlin\)\.", details), details
    assert "(in " not in details
