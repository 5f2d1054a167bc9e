"""The lifecycle, durable: scenarios on the time-skipping test server."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from policies import DEFAULT_POLICY
from sla.messages import Acknowledge, CustomerMessage, Reopen, Resolve, Respond, SeverityPlanChange, StatusChange
from sla.planner import ObligationKind
from sla.ticket import ClockName, TicketStatus
from starter.client import TicketClient, TicketError
from tests.test_ticket_workflow import RecordingNotifier, open_ticket, state_after_snapshot
from worker.main import build_worker
from workflows import search_attributes as sa
from workflows.ticket import TicketWorkflow

BERLIN = ZoneInfo("Europe/Berlin")


def policy_file(tmp_path: Path, **lifecycle: str | int) -> Path:
    text = DEFAULT_POLICY.read_text()
    for key, value in lifecycle.items():
        old = next(line for line in text.splitlines() if line.startswith(f"{key} ="))
        text = text.replace(old, f"{key} = {value!r}".replace("'", '"'))
    path = tmp_path / "policy.toml"
    path.write_text(text)
    return path


async def move_clock_to(env: WorkflowEnvironment, instant: datetime) -> None:
    """The test server starts at the real time: move it to a scenario's date."""
    now = await env.get_current_time()
    assert instant > now, "pick a scenario instant in the future"
    await env.sleep(instant - now)


def next_friday_9am_berlin(now: datetime) -> datetime:
    day = now.astimezone(BERLIN).date() + timedelta(days=1)
    while day.weekday() != 4:
        day += timedelta(days=1)
    return datetime(day.year, day.month, day.day, 9, 0, tzinfo=BERLIN)


async def test_pause_over_a_weekend_moves_resolution_by_business_time(store, ts_env: WorkflowEnvironment) -> None:
    friday = next_friday_9am_berlin(await ts_env.get_current_time())
    await move_clock_to(ts_env, friday)
    async with build_worker(ts_env.client, task_queue="tq", store=store):
        opened, handle = await open_ticket(ts_env, "tq", severity="sev2")
        await state_after_snapshot(handle)
        await ts_env.sleep(friday + timedelta(hours=8) - await ts_env.get_current_time())  # Friday 17:00
        await handle.execute_update(TicketWorkflow.set_status, StatusChange(status="waiting_on_customer", by="alice"))
        monday_10 = friday + timedelta(days=3, hours=1)
        await ts_env.sleep(monday_10 - await ts_env.get_current_time())
        await handle.execute_update(TicketWorkflow.customer_message, CustomerMessage(message_id="m-1"))
        view = await handle.query(TicketWorkflow.state)
    resolution = next(t for t in view.targets if t.clock is ClockName.RESOLUTION)
    # 30 business hours from Friday 09:00 end Wednesday 09:00; paused 1h Friday + 2h Monday.
    # (The updates land a few real seconds after the instants the test aims at.)
    wednesday_noon = friday + timedelta(days=5, hours=3)
    assert abs(resolution.due - wednesday_noon) < timedelta(seconds=10)
    pause = view.state.clocks[ClockName.RESOLUTION].pauses[0]
    assert pause.ended_at - pause.started_at > timedelta(days=2, hours=16)
    assert view.state.status is TicketStatus.PENDING
    follow_ups = [f for f in view.state.fired if f.kind == "follow_up"]
    assert len(follow_ups) == 1  # Sunday 17:00, 48h into the wait


@pytest.mark.parametrize(
    ("every", "follow_ups", "solved_after"),
    [
        ("48h", 3, timedelta(days=7)),        # the default: 7 days comes first
        ("24h", 3, timedelta(hours=96)),      # one interval after the 3rd unanswered follow-up
    ],
)
async def test_unanswered_follow_ups_solve_then_close_the_ticket(store, ts_env, tmp_path, every, follow_ups, solved_after) -> None:
    notifier = RecordingNotifier(store)
    async with build_worker(ts_env.client, task_queue="tq", store=store, policy_path=policy_file(tmp_path, follow_up_every=every), notify=notifier.notify):
        opened, handle = await open_ticket(ts_env, "tq", severity="sev3")
        await state_after_snapshot(handle)
        state = await handle.execute_update(TicketWorkflow.set_status, StatusChange(status="waiting_on_customer", by="alice"))
        waiting_since = state.waiting_since
        final = await handle.result()
    assert [n.kind for n in notifier.sent if n.kind in ("follow_up", "auto_solve")] == ["follow_up"] * follow_ups + ["auto_solve"]
    assert final.solved_at == waiting_since + solved_after
    assert final.status is TicketStatus.CLOSED and final.closed_at == final.solved_at + timedelta(days=3)


async def test_a_customer_reply_inside_the_window_reopens_and_after_closed_it_does_not(store, ts_env: WorkflowEnvironment) -> None:
    async with build_worker(ts_env.client, task_queue="tq", store=store):
        opened, handle = await open_ticket(ts_env, "tq", severity="sev3")
        await state_after_snapshot(handle)
        await handle.execute_update(TicketWorkflow.respond, Respond(by="alice"))
        await handle.execute_update(TicketWorkflow.resolve, Resolve(by="alice"))
        await ts_env.sleep(timedelta(days=2))
        state = await handle.execute_update(TicketWorkflow.customer_message, CustomerMessage())
        assert state.status is TicketStatus.PENDING and state.reopen_count == 1
        assert state.clocks[ClockName.RESOLUTION].met_at is None  # the resolution clock runs again
        assert ClockName.NEXT_RESPONSE in state.clocks

        await handle.execute_update(TicketWorkflow.resolve, Resolve(by="alice"))
        final = await handle.result()
        assert final.status is TicketStatus.CLOSED and final.solve_count == 2

        client = TicketClient(ts_env.client)
        with pytest.raises(TicketError, match=f"ticket {opened.ticket_id} is closed: open a follow-up ticket"):
            await client.customer_message(opened.ticket_id, CustomerMessage())
        with pytest.raises(TicketError, match="is closed"):
            await client.reopen(opened.ticket_id, Reopen(by="alice", reason="customer wrote"))


async def test_raising_severity_replans_from_the_open_time(store, ts_env: WorkflowEnvironment) -> None:
    notifier = RecordingNotifier(store)
    async with build_worker(ts_env.client, task_queue="tq", store=store, notify=notifier.notify):
        opened, handle = await open_ticket(ts_env, "tq", severity="sev3")
        await state_after_snapshot(handle)
        await ts_env.sleep(timedelta(hours=3))
        state = await handle.execute_update(TicketWorkflow.change_severity, SeverityPlanChange(by="alice", severity="sev1", reason="all EU customers"))
        assert state.severity.value == "sev1" and state.severity_changes[0].severity_from.value == "sev3"
        await ts_env.sleep(timedelta(seconds=1))
        view = await handle.query(TicketWorkflow.state)
        attrs = (await handle.describe()).typed_search_attributes
    first = view.state.clocks[ClockName.FIRST_RESPONSE]
    # Sev-1's 2h from the original open time are already past: the breach is dated there and acted on at once.
    assert first.breached_at == opened.opened_at + timedelta(hours=2)
    breaches = [n for n in notifier.sent if n.kind == "breach"]
    assert [b.idempotency_key for b in breaches] == [f"{opened.ticket_id}/first_response/1/breach"]
    assert attrs.get(sa.SEVERITY) == "sev1" and attrs.get(sa.SLA_STATE) == "breached"
    resolution = next(t for t in view.targets if t.clock is ClockName.RESOLUTION)
    assert resolution.due == opened.opened_at + timedelta(hours=8)


async def test_a_warning_fires_once_across_worker_restarts(store, ts_env: WorkflowEnvironment) -> None:
    notifier = RecordingNotifier(store)
    address = ts_env.client.service_client.config.target_host

    async def fresh_client() -> Client:
        return await Client.connect(address, data_converter=pydantic_data_converter)

    # max_cached_workflows=0: a stopped worker must not strand cached workflows (TEMPORAL_NOTES.md).
    async with build_worker(await fresh_client(), task_queue="tq", store=store, notify=notifier.notify, max_cached_workflows=0):
        opened, handle = await open_ticket(ts_env, "tq", severity="sev1")
        await state_after_snapshot(handle)
        await ts_env.sleep(timedelta(minutes=80))
    async with build_worker(await fresh_client(), task_queue="tq", store=store, notify=notifier.notify, max_cached_workflows=0):
        await ts_env.sleep(timedelta(minutes=20))  # 75% warning at 90 minutes
    async with build_worker(await fresh_client(), task_queue="tq", store=store, notify=notifier.notify, max_cached_workflows=0):
        await ts_env.sleep(timedelta(minutes=40))  # breach at 120 minutes
        view = await handle.query(TicketWorkflow.state)
    keys = [n.idempotency_key for n in notifier.sent if n.clock is ClockName.FIRST_RESPONSE]
    assert keys == [f"{opened.ticket_id}/first_response/1/warn75", f"{opened.ticket_id}/first_response/1/breach"]
    assert len({f.id for f in view.state.fired}) == len(view.state.fired)
    all_keys = [n.idempotency_key for n in notifier.sent]
    assert len(all_keys) == len(set(all_keys))  # the cadence reminders too: none twice


async def test_continue_as_new_keeps_every_clock(store, ts_env: WorkflowEnvironment, tmp_path: Path) -> None:
    path = policy_file(tmp_path, continue_as_new_after_events=150)
    async with build_worker(ts_env.client, task_queue="tq", store=store, policy_path=path):
        opened, handle = await open_ticket(ts_env, "tq", severity="sev1")
        await state_after_snapshot(handle)
        await handle.execute_update(TicketWorkflow.respond, Respond(by="alice"))
        for i in range(1, 301):
            await handle.signal(TicketWorkflow.customer_message_received, CustomerMessage(message_id=f"m-{i}"))
            if i % 10 == 0:
                await ts_env.sleep(timedelta(minutes=5))
                await handle.execute_update(TicketWorkflow.respond, Respond(by="alice"))
        await handle.signal(TicketWorkflow.customer_message_received, CustomerMessage(message_id="last"))
        await ts_env.sleep(timedelta(seconds=1))
        view = await handle.query(TicketWorkflow.state)
        description = await handle.describe()
        now = await ts_env.get_current_time()
    state = view.state
    assert view.runs > 2  # several fresh histories
    assert description.history_length < 200
    assert state.customer_messages == 301 and state.responses == 31
    assert state.clocks[ClockName.FIRST_RESPONSE].met_at is not None
    nxt = state.clocks[ClockName.NEXT_RESPONSE]
    assert nxt.cycle == 31 and nxt.running
    breach = next(o for o in view.upcoming if o.clock is ClockName.NEXT_RESPONSE and o.kind is ObligationKind.BREACH)
    assert breach.due == nxt.started_at + timedelta(hours=1)
    assert abs(nxt.started_at - now) < timedelta(seconds=2)
    assert state.status is TicketStatus.PENDING and state.ticket.ticket_id == opened.ticket_id


async def test_the_timeline_reaches_the_store_and_the_cli_prints_it(store, ts_env: WorkflowEnvironment, tmp_path: Path) -> None:
    async with build_worker(ts_env.client, task_queue="tq", store=store):
        opened, handle = await open_ticket(ts_env, "tq", severity="sev1")
        await state_after_snapshot(handle)
        await handle.execute_update(TicketWorkflow.acknowledge, Acknowledge(by="alice"))
        await ts_env.sleep(timedelta(hours=2, minutes=1))
        await handle.execute_update(TicketWorkflow.respond, Respond(by="alice"))
        await handle.execute_update(TicketWorkflow.resolve, Resolve(by="alice"))
        await ts_env.sleep(timedelta(seconds=1))
    ticket, rows = store.timeline(opened.ticket_id)
    kinds = [r["kind"] for r in rows]
    # Deliveries are stamped with the real clock, events with the (skipped) workflow clock.
    events = [r["kind"] for r in rows if not r["kind"].startswith("delivery") and r["detail"].get("clock") != "status_update"
              and "/page_on_call/" not in (r["detail"].get("obligation") or "")]
    assert ticket["status"] == "solved" and ticket["severity"] == "sev1"
    assert events == ["opened", "acknowledged", "warning", "breach", "responded", "resolved", "post_incident_due", "post_incident_due"]
    assert "breach" in kinds and "responded" in kinds and "resolved" in kinds
    first_response = [r for r in rows if r["kind"] == "delivery_sent" and "/first_response/" in r["detail"]["obligation"]]
    assert len(first_response) == 3  # warning -> support_l1; breach -> support_l1 and support_manager
    breach = next(r for r in rows if r["kind"] == "breach" and r["detail"]["clock"] == "first_response")
    assert breach["at"] == opened.opened_at + timedelta(hours=2)

    import subprocess
    import sys

    url = str(store.engine.url)
    out = subprocess.run([sys.executable, "-m", "starter", "timeline", opened.ticket_id, "--database-url", url],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines()[0].startswith(f"{opened.ticket_id}  ACME  sev1  solved")
    assert "breach" in out.stdout and "delivery_sent" in out.stdout
