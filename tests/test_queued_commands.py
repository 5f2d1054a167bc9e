"""Commands never hang: with no worker, a change is queued durably and applied at its time later (dev server)."""

from __future__ import annotations

import asyncio
import json
import time
from datetime import datetime, timedelta

from temporalio.testing import WorkflowEnvironment

from tests.test_cli_devserver import escalator
from worker.main import build_worker
from workflows.ticket import TicketWorkflow


async def test_with_no_worker_a_change_is_queued_then_applied_at_its_time(store, dev_env: WorkflowEnvironment, unique: str) -> None:
    tid = f"T-q-{unique}"
    async with build_worker(dev_env.client, store=store):
        code, _, err = await escalator(dev_env, "open", "--customer", "ACME", "--severity", "sev2", "--title", "Slow search", "--id", tid)
        assert code == 0, err
        handle = dev_env.client.get_workflow_handle_for(TicketWorkflow.run, tid)
        for _ in range(100):  # the first timeline write reaches the store
            if store.timeline(tid)[0] is not None:
                break
            await asyncio.sleep(0.1)

    # No worker polls now: the command answers within its --wait, saying it is queued.
    started = time.monotonic()
    code, out, err = await escalator(dev_env, "respond", tid, "--by", "alice", "--wait", "2", "--json")
    took = time.monotonic() - started
    assert code == 0, err
    queued = json.loads(out)
    assert queued["queued"] is True and queued["update"] == "respond" and queued["event_id"].startswith("E-")
    assert queued["reason"].startswith("no worker")
    assert took < 10, f"the command took {took:.1f} s"
    code, out, err = await escalator(dev_env, "status", tid, "waiting_on_customer", "--by", "alice", "--wait", "1")
    assert code == 0 and out.startswith("queued: no worker") and "when one starts" in out, (out, err)

    code, out, err = await escalator(dev_env, "show", tid, "--wait", "2", "--database-url", store.url)
    assert code == 0, err
    assert "possibly stale" in out
    assert "TicketStatus      open" in out and "opened" in out  # search attributes and the stored timeline
    code, out, _ = await escalator(dev_env, "show", tid, "--wait", "2", "--database-url", store.url, "--json")
    stale = json.loads(out)
    assert stale["stale"] is True and stale["search_attributes"]["Severity"] == "sev2" and stale["timeline"][0]["kind"] == "opened"

    await asyncio.sleep(1.5)  # the worker comes back well after the commands were given
    async with build_worker(dev_env.client, store=store):
        for _ in range(100):
            view = await handle.query(TicketWorkflow.state)
            if view.state.status.value == "waiting_on_customer":
                break
            await asyncio.sleep(0.1)
        code, out, err = await escalator(dev_env, "respond", tid, "--by", "alice", "--at",
                                         (datetime.fromisoformat(queued["occurred_at"]) + timedelta(seconds=0.5)).isoformat())
    state = view.state
    assert state.responses == 1 and state.status.value == "waiting_on_customer"
    assert state.clocks["first_response"].met_at == datetime.fromisoformat(queued["occurred_at"])  # when it was said, not applied
    assert queued["event_id"] in state.applied_events
    # Out of order: refused, naming the field and the message it would precede.
    assert code == 1 and "occurred_at:" in err and "would precede the last message applied to the ticket (status set to" in err


async def test_a_terminated_ticket_shows_as_terminated_never_with_running_clocks(store, dev_env: WorkflowEnvironment, unique: str) -> None:
    tid = f"T-term-{unique}"
    async with build_worker(dev_env.client, store=store):
        code, _, err = await escalator(dev_env, "open", "--customer", "ACME", "--severity", "sev2", "--title", "Slow search", "--id", tid)
        assert code == 0, err
        handle = dev_env.client.get_workflow_handle_for(TicketWorkflow.run, tid)
        await handle.query(TicketWorkflow.state)
        await handle.terminate(reason="opened by mistake")
        code, out, err = await escalator(dev_env, "show", tid, "--database-url", store.url)
        code_json, out_json, _ = await escalator(dev_env, "show", tid, "--database-url", store.url, "--json")
    assert code == 0, err
    assert out.splitlines()[0].startswith(f"{tid}  (TERMINATED: the ticket's workflow was terminated: it acts on nothing any more")
    assert "running, due" not in out and "upcoming" not in out
    assert code_json == 0 and json.loads(out_json)["ended"] == "terminated"


async def test_show_and_timeline_print_local_times_with_their_offset(store, dev_env: WorkflowEnvironment, unique: str) -> None:
    tid = f"T-tz-{unique}"
    async with build_worker(dev_env.client, store=store):
        code, _, err = await escalator(dev_env, "open", "--customer", "ACME", "--severity", "sev2", "--title", "t", "--id", tid,
                                       "--opened-at", "2026-11-23T09:00:00Z")
        assert code == 0, err
        await dev_env.client.get_workflow_handle_for(TicketWorkflow.run, tid).query(TicketWorkflow.state)
        _, berlin, _ = await escalator(dev_env, "show", tid)  # the policy's calendar zone
        _, tokyo, _ = await escalator(dev_env, "show", tid, "--tz", "Asia/Tokyo")
    assert "opened:   2026-11-23 10:00:00+01:00" in berlin and "opened:   2026-11-23 18:00:00+09:00" in tokyo
    for _ in range(50):
        if store.timeline(tid)[0] is not None:
            break
        await asyncio.sleep(0.1)
    code, out, err = await escalator(dev_env, "timeline", tid, "--database-url", store.url, "--tz", "UTC")
    assert code == 0 and "2026-11-23 09:00:00+00:00  opened" in out, (out, err)
    code, out, err = await escalator(dev_env, "timeline", tid, "--database-url", store.url, "--json")
    doc = json.loads(out)
    assert doc["ticket"]["opened_at"] == "2026-11-23T09:00:00+00:00" and doc["timeline"][0]["at"] == "2026-11-23T09:00:00+00:00"
