"""Functional, hierarchical and jumped escalations, ack timeouts, and overdue digests on the workflow."""

from __future__ import annotations

from datetime import timedelta

import pytest
from temporalio.client import WorkflowUpdateFailedError
from temporalio.testing import WorkflowEnvironment

from sla.messages import (
    Acknowledge, AcknowledgePage, EscalateToManagement, HandOff, JumpToStep, Respond, SeverityPlanChange,
)
from sla.ticket import ClockName, SlaState
from starter.client import update_failure_reason
from tests.test_escalation_workflow import steps, walk_to
from tests.test_ticket_workflow import RecordingNotifier, open_ticket, state_after_snapshot
from worker.main import build_worker
from workflows import search_attributes as sa
from workflows.ticket import TicketWorkflow


async def refused(handle, update, request) -> str:
    with pytest.raises(WorkflowUpdateFailedError) as err:
        await handle.execute_update(update, request)
    return update_failure_reason(err.value)


def sent_to(notifier: RecordingNotifier, ticket_id: str, part: str) -> list[tuple[str, list[str], str]]:
    return [(n.idempotency_key.removeprefix(f"{ticket_id}/"), n.roles, n.summary) for n in notifier.sent if part in n.idempotency_key]


async def test_a_handoff_to_l2_is_recorded_notified_and_starts_the_tiers_own_target(store, ts_env: WorkflowEnvironment) -> None:
    notifier = RecordingNotifier(store)
    async with build_worker(ts_env.client, task_queue="tq", store=store, notify=notifier.notify):
        opened, handle = await open_ticket(ts_env, "tq", severity="sev2")
        await state_after_snapshot(handle)
        tid = opened.ticket_id
        await handle.execute_update(TicketWorkflow.acknowledge, Acknowledge(by="lee"))
        assert await refused(handle, TicketWorkflow.hand_off, HandOff(to="l1", note="n", by="lee")) == "to: the ticket is already with l1"
        assert await refused(handle, TicketWorkflow.hand_off, HandOff(to="l9", note="n", by="lee")) == "to: no support tier 'l9' (have l1, l2, l3)"
        assert await refused(handle, TicketWorkflow.hand_off, HandOff(to="l2", note="  ", by="lee")) == "note: a handoff needs a note for the receiving tier"
        assert "cannot de-escalate" in await refused(handle, TicketWorkflow.hand_off, HandOff(to="l3", note="n", by="lee", direction="down"))

        state = await handle.execute_update(TicketWorkflow.hand_off, HandOff(to="L2", note="DB replica lag; restarts tried", by="lee"))
        assert state.tier == "l2" and state.handoffs[0].from_tier == "l1"
        tier_clock = state.clocks[ClockName.TIER_RESPONSE]
        await ts_env.sleep(timedelta(seconds=2))
        view = await handle.query(TicketWorkflow.state)
        target = next(t for t in view.targets if t.clock is ClockName.TIER_RESPONSE)
        assert (target.rule, str(target.within)) == ("tier l2", "2 business hours")
        attrs = (await handle.describe()).typed_search_attributes
        assert attrs.get(sa.SUPPORT_TIER) == "l2"
        # Nobody of L2 picks it up: its queue is warned, then the miss goes to management too.
        await ts_env.sleep(target.due - await ts_env.get_current_time() + timedelta(seconds=2))
        view = await handle.query(TicketWorkflow.state)
        assert view.state.clocks[ClockName.TIER_RESPONSE].breached_at == target.due
        assert view.sla_state is SlaState.OK  # an internal target: the customer's SLA is not breached by it
        state = await handle.execute_update(TicketWorkflow.acknowledge, Acknowledge(by="kim"))
        assert state.handoffs[0].picked_up_by == "kim"
        assert "already acknowledged by kim" in await refused(handle, TicketWorkflow.acknowledge, Acknowledge(by="lou"))
        state = await handle.execute_update(TicketWorkflow.hand_off, HandOff(to="l1", note="fixed the lag; customer comms left", by="kim", direction="down"))
        assert [(h.from_tier, h.to_tier, h.direction) for h in state.handoffs] == [("l1", "l2", "up"), ("l2", "l1", "down")]
        assert ClockName.TIER_RESPONSE not in {c for c, r in state.clocks.items() if r.running}  # l1 has no pick-up target
        await ts_env.sleep(timedelta(seconds=2))
    handoffs = sent_to(notifier, tid, "/handoff/")
    assert handoffs == [
        ("handoff/1", ["support_l2"], "escalated to l2 by lee: DB replica lag; restarts tried"),
        ("handoff/2", ["support_l1"], "de-escalated to l1 by kim: fixed the lag; customer comms left"),
    ]
    tier = sent_to(notifier, tid, "/tier_response/")
    assert [(k, r) for k, r, _ in tier] == [("tier_response/1/warn75", ["support_l2"]), ("tier_response/1/breach", ["support_l2", "support_manager"])]
    assert tier_clock.cycle == 1


async def test_management_escalations_climb_the_chain(store, ts_env: WorkflowEnvironment) -> None:
    notifier = RecordingNotifier(store)
    async with build_worker(ts_env.client, task_queue="tq", store=store, notify=notifier.notify):
        opened, handle = await open_ticket(ts_env, "tq", severity="sev3")
        await state_after_snapshot(handle)
        assert await refused(handle, TicketWorkflow.escalate_to_management, EscalateToManagement(reason=" ", by="lee")) == "reason: say why management is needed"
        for reason in ("customer threatens to churn", "CEO called", "still nothing"):
            state = await handle.execute_update(TicketWorkflow.escalate_to_management, EscalateToManagement(reason=reason, by="lee"))
        await ts_env.sleep(timedelta(seconds=2))
    assert [m.level for m in state.management_escalations] == [1, 2, 2]
    assert [(k, r) for k, r, _ in sent_to(notifier, opened.ticket_id, "/management/")] == [
        ("management/1", ["support_manager"]),
        ("management/2", ["support_manager", "head_of_support"]),
        ("management/3", ["support_manager", "head_of_support"]),
    ]


async def test_jumping_to_a_step_fires_it_now_and_later_steps_count_from_there(store, ts_env: WorkflowEnvironment) -> None:
    notifier = RecordingNotifier(store)
    async with build_worker(ts_env.client, task_queue="tq", store=store, notify=notifier.notify):
        opened, handle = await open_ticket(ts_env, "tq", severity="sev1")
        await state_after_snapshot(handle)
        t0 = opened.opened_at
        await walk_to(ts_env, t0, timedelta(minutes=31))  # off the 30-minute beat: an update racing a timer trips the test server
        assert "not an escalation step of sev1" in await refused(handle, TicketWorkflow.jump_to_step, JumpToStep(step="nope", reason="r", by="a"))
        state = await handle.execute_update(TicketWorkflow.jump_to_step, JumpToStep(step="internal", reason="whole region down", by="dana"))
        jumped_at = state.escalations["internal"].manual[0]
        assert "already fired" in await refused(handle, TicketWorkflow.jump_to_step, JumpToStep(step="internal", reason="r", by="a"))
        await walk_to(ts_env, t0, timedelta(hours=1, minutes=31, seconds=5))
        view = await handle.query(TicketWorkflow.state)
    fired = {f.id.split("/escalation/")[1]: f.due for f in view.state.fired if "/escalation/" in f.id and "/page_on_call/" not in f.id}
    assert steps(notifier)[0] == ("internal/1", ["support_l2", "support_manager"])
    assert "fired early by dana: whole region down" in notifier.sent[[n.idempotency_key for n in notifier.sent].index(f"{opened.ticket_id}/escalation/internal/1")].summary
    assert fired == {"commander_missing/1": jumped_at + timedelta(hours=1)}  # anchored on the jump, not on +4h
    assert view.state.escalation_level == 3  # the on-call page at open, the jump, commander missing


async def test_an_acknowledged_page_without_action_is_re_escalated(store, ts_env: WorkflowEnvironment) -> None:
    notifier = RecordingNotifier(store)
    async with build_worker(ts_env.client, task_queue="tq", store=store, notify=notifier.notify):
        opened, handle = await open_ticket(ts_env, "tq", severity="sev1")
        await state_after_snapshot(handle)
        t0 = opened.opened_at
        await handle.execute_update(TicketWorkflow.respond, Respond(by="lee"))
        await walk_to(ts_env, t0, timedelta(hours=6, minutes=5))
        state = await handle.execute_update(TicketWorkflow.acknowledge_page, AcknowledgePage(step="engineering", by="oncall-eng"))
        acked_at = state.escalations["engineering"].acked_at
        await walk_to(ts_env, t0, timedelta(hours=8, minutes=30))
        view = await handle.query(TicketWorkflow.state)
    engineering = [(k, r) for k, r in steps(notifier) if k.startswith("engineering")]
    # Paged at 6h, acknowledged at 6h05, nothing done by 6h35: paged again with the manager, then repeats
    # resume from there until the limit (1 + 3 firings).
    assert engineering == [
        ("engineering/1", ["engineering_oncall"]),
        ("engineering/ack_timeout1", ["engineering_oncall", "support_manager"]),
        ("engineering/3", ["engineering_oncall"]),
        ("engineering/4", ["engineering_oncall"]),
    ]
    record = view.state.escalations["engineering"]
    assert record.ack_timeouts == 1 and record.acked_by is None
    assert record.fired[1] == acked_at + timedelta(minutes=30)
    assert record.fired[2:] == [acked_at + timedelta(minutes=45), acked_at + timedelta(minutes=60)]


async def test_obligations_found_late_go_out_as_one_digest_per_recipient(store, ts_env: WorkflowEnvironment) -> None:
    notifier = RecordingNotifier(store)
    async with build_worker(ts_env.client, task_queue="tq", store=store, notify=notifier.notify):
        opened, handle = await open_ticket(ts_env, "tq", severity="sev4")
        await state_after_snapshot(handle)
        tid, t0 = opened.ticket_id, opened.opened_at
        await walk_to(ts_env, t0, timedelta(hours=5, minutes=30))
        before = len(notifier.sent)
        await handle.execute_update(TicketWorkflow.change_severity, SeverityPlanChange(by="dana", severity="sev1", reason="outage"))
        await ts_env.sleep(timedelta(seconds=5))
        view = await handle.query(TicketWorkflow.state)
    burst = [(n.idempotency_key.removeprefix(f"{tid}/"), n.kind, n.roles) for n in notifier.sent[before:]]
    digest = next(n for n in notifier.sent[before:] if n.kind == "digest" and n.roles == ["support_manager"])
    pages = next(n for n in notifier.sent[before:] if n.kind == "digest" and n.roles == ["support_on_call"])
    assert sorted(burst, key=str) == sorted([
        ("first_response/1/breach", "breach", ["support_l1"]),  # the warning is superseded by its breach
        (digest.idempotency_key.removeprefix(f"{tid}/"), "digest", ["support_manager"]),
        ("escalation/internal/1", "escalation", ["support_l2"]),
        (pages.idempotency_key.removeprefix(f"{tid}/"), "digest", ["support_on_call"]),  # the Sev-1 on-call page and its repeats
    ], key=str)
    assert pages.summary.startswith("4 overdue: escalation step 1: page the support on-call; ")
    assert digest.summary.startswith("3 overdue: first response due: Sev-1, 2h; escalation step 2: escalate internally; ")
    late = {f.id.removeprefix(f"{tid}/") for f in view.state.fired if f.due < t0 + timedelta(hours=5, minutes=29)}
    assert late == {"first_response/1/warn75", "first_response/1/breach", "escalation/internal/1", "escalation/commander_missing/1",
                    *(f"escalation/page_on_call/{n}" for n in range(1, 5))}
