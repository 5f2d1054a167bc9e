"""A 3-day Sev-1 incident with 144 stakeholder updates keeps each history small (continue-as-new)."""

from __future__ import annotations

from datetime import timedelta

from temporalio.testing import WorkflowEnvironment

from sla.messages import AcknowledgePage, DesignateCommander, PostStatusUpdate, Resolve
from sla.ticket import ClockName, TicketStatus
from tests.test_escalation_workflow import walk_to
from tests.test_ticket_workflow import RecordingNotifier, open_ticket, state_after_snapshot
from worker.main import build_worker
from workflows.ticket import TicketWorkflow

UPDATES = 144  # every 30 minutes for 3 days
EVENT_LIMIT = 2000  # the default policy's lifecycle.continue_as_new_after_events


async def histories(env: WorkflowEnvironment, ticket_id: str, run_id: str | None) -> list[tuple[int, int]]:
    """(events, bytes) of every run of a ticket, newest first, following each run back to the one it continued."""
    found = []
    while run_id:
        history = await env.client.get_workflow_handle(ticket_id, run_id=run_id).fetch_history()
        found.append((len(history.events), sum(e.ByteSize() for e in history.events)))
        run_id = history.events[0].workflow_execution_started_event_attributes.continued_execution_run_id or None
    return found


async def test_a_three_day_sev1_with_144_status_updates_continues_as_new(store, ts_env: WorkflowEnvironment) -> None:
    notifier = RecordingNotifier(store)
    async with build_worker(ts_env.client, task_queue="tq", store=store, notify=notifier.notify):
        opened, handle = await open_ticket(ts_env, "tq", severity="sev1")
        await state_after_snapshot(handle)
        t0 = opened.opened_at
        state = await handle.execute_update(TicketWorkflow.designate_commander, DesignateCommander(name="Grace", by="dana"))
        for n in range(1, UPDATES + 1):
            # A minute before each update is due, counted from the last one posted (not from t0: the
            # test server mishandles an update that lands within milliseconds of a timer firing).
            await walk_to(ts_env, state.clocks[ClockName.STATUS_UPDATE].started_at, timedelta(minutes=29))
            if n == 13:  # engineering was paged at 6h; it answers
                await handle.execute_update(TicketWorkflow.acknowledge_page, AcknowledgePage(step="engineering", by="oncall"))
            state = await handle.execute_update(TicketWorkflow.post_status_update, PostStatusUpdate(by="Grace", text=f"update {n}: still mitigating"))
        state = await handle.execute_update(TicketWorkflow.resolve, Resolve(by="Grace"))
        view = await handle.query(TicketWorkflow.state)
        runs = await histories(ts_env, opened.ticket_id, (await handle.describe()).run_id)
    assert state.status is TicketStatus.SOLVED and state.status_updates_posted == UPDATES
    posted = [n for n in notifier.sent if n.idempotency_key.endswith("/posted")]
    assert len(posted) == UPDATES and len({n.idempotency_key for n in posted}) == UPDATES
    # Every update came a minute before it was due: no reminder, no escalation of the cadence.
    assert not [n for n in notifier.sent if n.clock is ClockName.STATUS_UPDATE and not n.idempotency_key.endswith("/posted")]
    assert view.runs == len(runs) >= 2
    largest_events, largest_bytes = max(runs)
    print(f"\n3-day Sev-1, {UPDATES} updates: {len(runs)} runs; events and bytes per run, newest first: {runs}")
    assert largest_events < EVENT_LIMIT + 100  # continue-as-new waits for running handlers, hence a margin
    assert max(b for _, b in runs) < 2_000_000


async def test_a_steady_stream_of_1000_updates_continues_as_new_within_10_percent_of_the_threshold(
        store, ts_env: WorkflowEnvironment, tmp_path) -> None:
    """Continue-as-new is checked after every message, not only when the loop is idle: updates sent
    back to back, as fast as the test server takes them, must not grow one history past its limit."""
    from policies import DEFAULT_POLICY

    limit = 1000  # the overshoot is absolute (updates landing while deliveries in flight finish): 10% of 1,000 is ample
    policy = tmp_path / "policy.toml"
    policy.write_text(DEFAULT_POLICY.read_text().replace(f"continue_as_new_after_events = {EVENT_LIMIT}", f"continue_as_new_after_events = {limit}"))
    notifier = RecordingNotifier(store)
    count = 1000
    async with build_worker(ts_env.client, task_queue="tq", store=store, notify=notifier.notify, policy_path=policy):
        opened, handle = await open_ticket(ts_env, "tq", severity="sev1")
        await state_after_snapshot(handle)
        for n in range(count):
            state = await handle.execute_update(TicketWorkflow.post_status_update, PostStatusUpdate(by="Grace", text=f"update {n}"))
        runs = await histories(ts_env, opened.ticket_id, (await handle.describe()).run_id)
    assert state.status_updates_posted == count
    posted = {n.idempotency_key for n in notifier.sent if n.idempotency_key.endswith("/posted")}
    assert len(posted) == count
    print(f"\n{count} updates back to back, limit {limit}: {len(runs)} runs; events per run, newest first: {[e for e, _ in runs]}")
    assert len(runs) >= count * 4 // limit
    assert max(e for e, _ in runs) <= limit * 1.1
