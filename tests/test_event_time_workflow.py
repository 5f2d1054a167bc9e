"""Event time on the time-skipping server: late messages, withdrawn breaches, event ids, queued messages."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from temporalio.client import WorkflowUpdateFailedError
from temporalio.testing import WorkflowEnvironment

from sla.messages import Acknowledge, CustomerMessage, QueuedMessage, Respond
from sla.ticket import ClockName, SlaState
from starter.client import update_failure_reason
from tests.test_escalation_workflow import walk_to
from tests.test_lifecycle_workflow import policy_file
from tests.test_ticket_workflow import RecordingNotifier, open_ticket, state_after_snapshot
from worker.main import build_worker
from workflows import contract
from workflows.ticket import TicketWorkflow


async def refusal(handle, update, request) -> str:
    with pytest.raises(WorkflowUpdateFailedError) as caught:
        await handle.execute_update(update, request)
    return update_failure_reason(caught.value)


async def test_a_response_reported_after_its_breach_is_met_when_given_and_the_breach_withdrawn(store, ts_env: WorkflowEnvironment) -> None:
    notifier = RecordingNotifier(store)
    async with build_worker(ts_env.client, task_queue="tq", store=store, notify=notifier.notify):
        opened, handle = await open_ticket(ts_env, "tq", severity="sev1")
        await state_after_snapshot(handle)
        t0, tid = opened.opened_at, opened.ticket_id
        await walk_to(ts_env, t0, timedelta(hours=2, minutes=5))
        assert (await handle.query(TicketWorkflow.state)).sla_state is SlaState.BREACHED

        given = t0 + timedelta(hours=1, minutes=59)
        state = await handle.execute_update(TicketWorkflow.respond, Respond(by="alice", occurred_at=given, event_id="E-late"))
        first = state.clocks[ClockName.FIRST_RESPONSE]
        assert first.met_at == given and first.breached_at is None
        fired = {f.id: f for f in state.fired}
        breach = fired[f"{tid}/first_response/1/breach"]
        assert breach.withdrawn and breach.roles == ["support_l1", "support_manager"]
        assert state.sla_state is SlaState.OK
        await ts_env.sleep(timedelta(seconds=2))
    corrections = [n for n in notifier.sent if n.kind == "correction"]
    assert [c.idempotency_key for c in corrections] == [f"{tid}/first_response/1/breach/withdrawn"]
    assert corrections[0].roles == ["support_l1", "support_manager"]
    local = given.astimezone(__import__("zoneinfo").ZoneInfo("Europe/Berlin"))
    assert corrections[0].summary.startswith(f"breach withdrawn: responded by alice {local.isoformat(sep=' ', timespec='seconds')}, reported ")
    _, rows = store.timeline(tid)
    responded = next(r for r in rows if r["kind"] == "responded")
    assert responded["at"] == given and responded["recorded_at"] >= t0 + timedelta(hours=2, minutes=5)
    assert responded["detail"]["event"] == "E-late"
    assert [r["detail"]["obligation"] for r in rows if r["kind"] == "withdrawn"] == [f"{tid}/first_response/1/breach"]
    assert any(r["kind"] == "correction_sent" for r in rows)


async def test_occurred_at_bounds_are_refused_over_the_wire_naming_the_field(store, ts_env: WorkflowEnvironment) -> None:
    async with build_worker(ts_env.client, task_queue="tq", store=store):
        opened, handle = await open_ticket(ts_env, "tq", severity="sev2")
        await state_after_snapshot(handle)
        t0 = opened.opened_at
        await ts_env.sleep(timedelta(minutes=30))
        now = await ts_env.get_current_time()
        reason = await refusal(handle, TicketWorkflow.respond, Respond(by="a", occurred_at=now + timedelta(minutes=5)))
        assert reason.startswith("occurred_at: ") and "more than 2 minutes ahead" in reason
        reason = await refusal(handle, TicketWorkflow.respond, Respond(by="a", occurred_at=t0 - timedelta(minutes=3)))
        assert reason.startswith("occurred_at: ") and "before the ticket was opened" in reason
        await handle.execute_update(TicketWorkflow.acknowledge, Acknowledge(by="alice", occurred_at=t0 + timedelta(minutes=20), event_id="E-ack"))
        reason = await refusal(handle, TicketWorkflow.respond, Respond(by="a", occurred_at=t0 + timedelta(minutes=10)))
        assert "would precede the last message applied to the ticket (acknowledged by alice (event E-ack)" in reason
        view = await handle.query(TicketWorkflow.state)
    assert view.state.responses == 0 and view.state.acknowledged_at == t0 + timedelta(minutes=20)


async def test_an_event_id_applies_once_also_across_continue_as_new(store, ts_env: WorkflowEnvironment, tmp_path: Path) -> None:
    path = policy_file(tmp_path, continue_as_new_after_events=100)
    async with build_worker(ts_env.client, task_queue="tq", store=store, policy_path=path):
        opened, handle = await open_ticket(ts_env, "tq", severity="sev2")
        await state_after_snapshot(handle)
        await handle.execute_update(TicketWorkflow.acknowledge, Acknowledge(by="alice", event_id="E-ack"))
        # The same event again is answered with the state, not refused as "already acknowledged".
        again = await handle.execute_update(TicketWorkflow.acknowledge, Acknowledge(by="alice", event_id="E-ack"))
        assert again.acknowledged_by == "alice"
        await handle.execute_update(TicketWorkflow.respond, Respond(by="alice", event_id="E-r1"))
        for i in range(40):  # enough history for a fresh run
            await handle.signal(TicketWorkflow.customer_message_received, CustomerMessage(message_id=f"m-{i}", event_id=f"E-m{i}"))
            await handle.execute_update(TicketWorkflow.respond, Respond(by="alice", event_id=f"E-r{i + 2}"))
            if i % 10 == 9:
                await ts_env.sleep(timedelta(minutes=5))  # an idle loop continues as new
        view = await handle.query(TicketWorkflow.state)
        assert view.runs >= 2
        await handle.execute_update(TicketWorkflow.respond, Respond(by="alice", event_id="E-r1"))
        await handle.signal(TicketWorkflow.customer_message_received, CustomerMessage(event_id="E-m0"))
        await ts_env.sleep(timedelta(seconds=1))
        view = await handle.query(TicketWorkflow.state)
    assert view.state.responses == 41 and view.state.customer_messages == 40


async def test_a_queued_message_applies_at_its_time_and_a_refused_one_is_recorded(store, ts_env: WorkflowEnvironment) -> None:
    async with build_worker(ts_env.client, task_queue="tq", store=store):
        opened, handle = await open_ticket(ts_env, "tq", severity="sev1")
        await state_after_snapshot(handle)
        t0, tid = opened.opened_at, opened.ticket_id
        await walk_to(ts_env, t0, timedelta(minutes=20))
        given = t0 + timedelta(minutes=12, seconds=28)
        queued = Respond(by="alice", occurred_at=given, event_id="E-q1").model_dump(mode="json")
        await handle.signal(contract.SIGNAL_QUEUED_MESSAGE, QueuedMessage(update="respond", request=queued))
        await handle.signal(contract.SIGNAL_QUEUED_MESSAGE, QueuedMessage(update="respond", request=queued))  # the pair applies once
        await handle.signal(contract.SIGNAL_QUEUED_MESSAGE, QueuedMessage(update="respond", request={"by": "", "event_id": "E-q2"}))
        await handle.signal(contract.SIGNAL_QUEUED_MESSAGE, QueuedMessage(update="launch", request={"by": "x"}))
        late = Respond(by="bo", occurred_at=t0 + timedelta(minutes=5), event_id="E-q3").model_dump(mode="json")
        await handle.signal(contract.SIGNAL_QUEUED_MESSAGE, QueuedMessage(update="respond", request=late))
        await ts_env.sleep(timedelta(seconds=2))
        view = await handle.query(TicketWorkflow.state)
    assert view.state.responses == 1 and view.state.clocks[ClockName.FIRST_RESPONSE].met_at == given
    _, rows = store.timeline(tid)
    refused = [r["detail"] for r in rows if r["kind"] == "refused"]
    assert [(d["event"], d["reason"].split(":")[0]) for d in refused] == [("E-q2", "by"), (None, "update"), ("E-q3", "occurred_at")]
    assert "would precede the last message" in refused[2]["reason"]


async def test_messages_queued_before_any_worker_apply_in_order_before_anything_is_acted_on(store, ts_env: WorkflowEnvironment) -> None:
    """A ticket opened, and answered, while no worker ran: the response queued before the breach
    fell due prevents it (no breach, no correction); an update that waited for the worker and
    would now precede a message already applied is refused, never applied out of order."""
    import asyncio

    from sla.ticket import TicketOpened

    now = await ts_env.get_current_time()
    # A Sev-1 opened 2h01m ago: its first response (2h) fell due a minute ago.
    opened = TicketOpened(ticket_id="T-early", customer="ACME", title="t", severity="sev1", opened_at=now - timedelta(hours=2, minutes=1))
    handle = await ts_env.client.start_workflow(TicketWorkflow.run, opened, id=opened.ticket_id, task_queue="tq")
    answered = now - timedelta(minutes=2)
    queued = Respond(by="alice", occurred_at=answered, event_id="E-r").model_dump(mode="json")
    await handle.signal(contract.SIGNAL_QUEUED_MESSAGE, QueuedMessage(update="respond", request=queued))
    late_ack = asyncio.create_task(handle.execute_update(TicketWorkflow.acknowledge, Acknowledge(by="bob", occurred_at=now - timedelta(minutes=3))))
    await asyncio.sleep(0.5)
    notifier = RecordingNotifier(store)
    async with build_worker(ts_env.client, task_queue="tq", store=store, notify=notifier.notify):
        try:
            await late_ack
            refused = None
        except WorkflowUpdateFailedError as err:
            refused = update_failure_reason(err)
        await ts_env.sleep(timedelta(seconds=2))
        view = await handle.query(TicketWorkflow.state)
    state = view.state
    assert state.responses == 1 and state.clocks[ClockName.FIRST_RESPONSE].met_at == answered
    if refused is None:  # the update reached the ticket first: applied at 3 minutes ago, before the response
        assert state.acknowledged_at == now - timedelta(minutes=3)
    else:
        assert "would precede the last message applied to the ticket (responded by alice (event E-r)" in refused
        assert state.acknowledged_by is None
    assert not [f for f in state.fired if f.id.endswith("/first_response/1/breach")]
    assert not [n for n in notifier.sent if n.kind == "correction" or "first_response/1/breach" in n.summary]
