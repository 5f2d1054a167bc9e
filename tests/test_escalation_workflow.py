"""The default Sev-1 escalation matrix and stakeholder cadence, walked on the time-skipping server."""

from __future__ import annotations

from datetime import timedelta

import pytest
from temporalio.client import WorkflowUpdateFailedError
from temporalio.testing import WorkflowEnvironment

from sla.messages import AcknowledgePage, DesignateCommander, PostStatusUpdate, Resolve, SeverityPlanChange
from sla.ticket import ClockName
from tests.test_ticket_workflow import RecordingNotifier, open_ticket, state_after_snapshot
from worker.main import build_worker
from workflows import search_attributes as sa
from workflows.ticket import TicketWorkflow


async def walk_to(env: WorkflowEnvironment, opened_at, offset: timedelta) -> None:
    await env.sleep(opened_at + offset - await env.get_current_time())


def steps(notifier: RecordingNotifier, on_call: bool = False) -> list[tuple[str, list[str]]]:
    """(step/firing, roles) of each escalation step sent; the on-call page at open only when asked
    (it has its own test: the other tests follow the matrix after it)."""
    return [(n.idempotency_key.split("/escalation/")[1], n.roles) for n in notifier.sent
            if "/escalation/" in n.idempotency_key and n.page_action == "trigger"
            and (on_call or "/escalation/page_on_call/" not in n.idempotency_key)]


async def test_the_default_sev1_timeline(store, ts_env: WorkflowEnvironment) -> None:
    notifier = RecordingNotifier(store)
    async with build_worker(ts_env.client, task_queue="tq", store=store, notify=notifier.notify):
        opened, handle = await open_ticket(ts_env, "tq", severity="sev1")
        await state_after_snapshot(handle)
        t0 = opened.opened_at

        await walk_to(ts_env, t0, timedelta(hours=3, minutes=59))
        assert steps(notifier) == []
        await walk_to(ts_env, t0, timedelta(hours=4, minutes=1))
        assert steps(notifier) == [("internal/1", ["support_l2", "support_manager"])]
        assert (await handle.describe()).typed_search_attributes.get(sa.ESCALATION_LEVEL) == 2  # the on-call page, then this
        await walk_to(ts_env, t0, timedelta(hours=5, minutes=1))
        assert steps(notifier)[-1] == ("commander_missing/1", ["support_manager"])
        await walk_to(ts_env, t0, timedelta(hours=6, minutes=1))
        assert steps(notifier)[-1] == ("engineering/1", ["engineering_oncall"])
        await walk_to(ts_env, t0, timedelta(hours=7, minutes=1))
        view = await handle.query(TicketWorkflow.state)
    sent = {n.idempotency_key: n for n in notifier.sent}
    assert [k for k, _ in steps(notifier)] == ["internal/1", "commander_missing/1", "engineering/1", "engineering/2",
                                                "engineering/3", "engineering/4", "account_manager/1"]
    fired = {f.id: f for f in view.state.fired}
    for step, hours in (("internal/1", 4), ("commander_missing/1", 5), ("engineering/1", 6), ("account_manager/1", 7)):
        f = fired[f"{opened.ticket_id}/escalation/{step}"]
        assert f.due == t0 + timedelta(hours=hours)
        assert f.due <= f.fired_at < f.due + timedelta(seconds=1)
    assert view.state.escalation_level == 5  # the on-call page at open and these four
    # The stakeholder cadence, with nobody posting: reminded at 30 minutes, escalated 15 minutes later.
    assert sent[f"{opened.ticket_id}/status_update/1/breach"].roles == ["incident_commander"]
    assert sent[f"{opened.ticket_id}/status_update/1/escalate"].roles == ["support_manager"]
    assert fired[f"{opened.ticket_id}/status_update/1/escalate"].due == t0 + timedelta(minutes=45)


async def test_acknowledging_a_page_stops_its_repeats_and_a_commander_skips_a_step(store, ts_env: WorkflowEnvironment) -> None:
    notifier = RecordingNotifier(store)
    async with build_worker(ts_env.client, task_queue="tq", store=store, notify=notifier.notify):
        opened, handle = await open_ticket(ts_env, "tq", severity="sev1")
        await state_after_snapshot(handle)
        t0 = opened.opened_at
        with pytest.raises(WorkflowUpdateFailedError):
            await handle.execute_update(TicketWorkflow.acknowledge_page, AcknowledgePage(step="engineering", by="dana"))
        await walk_to(ts_env, t0, timedelta(hours=4, minutes=32))
        state = await handle.execute_update(TicketWorkflow.designate_commander, DesignateCommander(name="Grace", by="dana"))
        assert state.commander == "Grace"
        await walk_to(ts_env, t0, timedelta(hours=6, minutes=5))
        state = await handle.execute_update(TicketWorkflow.acknowledge_page, AcknowledgePage(step="engineering", by="oncall-eng"))
        assert state.escalations["engineering"].acked_by == "oncall-eng"
        await walk_to(ts_env, t0, timedelta(hours=6, minutes=20))
        # Action within the ack timeout (30m): the acknowledgement holds.
        await handle.execute_update(TicketWorkflow.post_status_update, PostStatusUpdate(by="Grace", text="Engineering on it"))
        await walk_to(ts_env, t0, timedelta(hours=8))
        attrs = (await handle.describe()).typed_search_attributes
    assert [k for k, _ in steps(notifier)] == ["internal/1", "engineering/1", "account_manager/1"]
    assert attrs.get(sa.COMMANDER_ASSIGNED) is True


async def test_status_updates_keep_the_cadence_and_reach_the_stakeholders(store, ts_env: WorkflowEnvironment) -> None:
    notifier = RecordingNotifier(store)
    async with build_worker(ts_env.client, task_queue="tq", store=store, notify=notifier.notify):
        opened, handle = await open_ticket(ts_env, "tq", severity="sev2")
        await state_after_snapshot(handle)
        t0 = opened.opened_at
        assert ClockName.STATUS_UPDATE not in (await handle.query(TicketWorkflow.state)).state.clocks  # Sev-2: no cadence
        await walk_to(ts_env, t0, timedelta(minutes=10))
        await handle.execute_update(TicketWorkflow.change_severity, SeverityPlanChange(by="dana", severity="sev1"))
        await walk_to(ts_env, t0, timedelta(minutes=35))
        await handle.execute_update(TicketWorkflow.post_status_update, PostStatusUpdate(by="Grace", text="Rolling back 4.2.1"))
        await walk_to(ts_env, t0, timedelta(minutes=36))
        view = await handle.query(TicketWorkflow.state)
        cadence = view.state.clocks[ClockName.STATUS_UPDATE]
        await handle.execute_update(TicketWorkflow.resolve, Resolve(by="Grace"))
        await walk_to(ts_env, t0, timedelta(hours=5))
    keys = [n.idempotency_key.removeprefix(f"{opened.ticket_id}/") for n in notifier.sent if n.clock is ClockName.STATUS_UPDATE]
    # Sev-1 since minute 10: first update due at 40, posted at 35; then due at 65, but the ticket was solved.
    assert keys == ["status_update/1/posted"]
    posted = next(n for n in notifier.sent if n.idempotency_key.endswith("/posted"))
    assert posted.roles == ["stakeholders"] and posted.summary == "status update by Grace: Rolling back 4.2.1"
    assert cadence.cycle == 2 and timedelta(minutes=35) <= cadence.started_at - t0 < timedelta(minutes=35, seconds=2)
    assert view.state.status_updates_posted == 1
    assert steps(notifier) == []  # solved before the 4-hour internal escalation


async def test_a_sev1_pages_the_on_call_at_once_until_someone_takes_it(store, ts_env: WorkflowEnvironment) -> None:
    from sla.messages import Acknowledge

    notifier = RecordingNotifier(store)
    async with build_worker(ts_env.client, task_queue="tq", store=store, notify=notifier.notify):
        alone, alone_handle = await open_ticket(ts_env, "tq", severity="sev1")
        taken, taken_handle = await open_ticket(ts_env, "tq", severity="sev1")
        await state_after_snapshot(alone_handle)
        await state_after_snapshot(taken_handle)
        await walk_to(ts_env, taken.opened_at, timedelta(minutes=7))
        await taken_handle.execute_update(TicketWorkflow.acknowledge, Acknowledge(by="alice"))
        await walk_to(ts_env, alone.opened_at, timedelta(minutes=40))
        view = await alone_handle.query(TicketWorkflow.state)

    def pages(ticket) -> list[tuple[int, list[str]]]:
        return [(int((n.due - ticket.opened_at).total_seconds() // 60), n.roles) for n in notifier.sent
                if n.idempotency_key.startswith(f"{ticket.ticket_id}/escalation/page_on_call/")]

    # Paged when it opened, then every 5 minutes, at most 3 more times.
    assert pages(alone) == [(m, ["support_on_call"]) for m in (0, 5, 10, 15)]
    assert pages(taken) == [(0, ["support_on_call"]), (5, ["support_on_call"])]  # alice took it at 7 minutes
    first = next(f for f in view.state.fired if f.id.endswith("/page_on_call/1"))
    assert first.due == alone.opened_at and first.fired_at < first.due + timedelta(seconds=1)
