"""A worker killed in the middle of an escalation step, replaced by another with its own connection.

Worker A is a real `python -m worker` process; it is SIGKILLed while its webhook request for
the 4-hour internal escalation is in flight (the receiver holds the request). Worker B, in
this process with its own client, takes over. Nothing due may be missed, and the delivery log
may hold nothing twice; the one message sent twice is the one in flight at the kill, and the
receiver recognises it by its `webhook-id` (Standard Webhooks).
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections import Counter
from datetime import timedelta
from pathlib import Path

from sqlalchemy import select
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from activities.notify import NotifierSettings
from store.schema import deliveries
from tests.receivers import HttpReceiver
from tests.test_escalation_workflow import walk_to
from tests.test_ticket_workflow import open_ticket, state_after_snapshot
from worker.main import build_worker
from workflows.ticket import TicketWorkflow

SECRET = "whsec_" + "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
ROLES = ("support_l1", "support_l2", "support_manager", "incident_commander", "engineering_oncall", "account_manager", "stakeholders")


async def test_a_worker_killed_mid_step_misses_nothing_and_logs_nothing_twice(store, ts_env: WorkflowEnvironment, tmp_path: Path, monkeypatch) -> None:
    receiver = HttpReceiver(hold=lambda r: r.headers.get("webhook-id", "").endswith("/escalation/internal/1"))
    contacts = tmp_path / "contacts.toml"
    contacts.write_text("".join(
        f'[[contacts]]\nrole = "{role}"\nchannel = "webhook"\naddress = "{receiver.url("/" + role)}"\n'
        f'secret_env = "HOOK_SECRET"\nreviewed_on = 2026-11-01\n' + ('customer = "ACME"\n\n' if role == "account_manager" else "\n")
        for role in ROLES
    ))
    monkeypatch.setenv("HOOK_SECRET", SECRET)
    address = ts_env.client.service_client.config.target_host
    log_path = tmp_path / "worker-a.log"
    worker_a = subprocess.Popen(
        [sys.executable, "-m", "worker", "--address", address, "--task-queue", "tq", "--database-url", store.url,
         "--contacts", str(contacts), "--max-cached-workflows", "0"],
        env={**os.environ, "ESCALATOR_ALLOW_PRIVATE_URLS": "true"},
        stdout=subprocess.DEVNULL, stderr=open(log_path, "wb"), cwd=Path(__file__).parent.parent,
    )
    try:
        for _ in range(200):
            if b"worker started" in log_path.read_bytes() or worker_a.poll() is not None:
                break
            await asyncio.sleep(0.05)
        assert b"worker started" in log_path.read_bytes(), log_path.read_text()
        opened, handle = await open_ticket(ts_env, "tq", severity="sev1")
        await state_after_snapshot(handle)
        t0 = opened.opened_at
        await walk_to(ts_env, t0, timedelta(hours=3, minutes=59, seconds=59))
        # From here the server's clock runs in real time: the 4-hour step fires within a second or two.
        assert await asyncio.to_thread(receiver.held.wait, 30), "worker A never sent the internal escalation"
        worker_a.send_signal(signal.SIGKILL)
        worker_a.wait(10)
    finally:
        if worker_a.poll() is None:
            worker_a.kill()
            worker_a.wait(10)
    receiver.release.set()
    receiver.hold = None

    client_b = await Client.connect(address, data_converter=pydantic_data_converter)
    settings = NotifierSettings(contacts_path=contacts, allow_private_urls=True)
    async with build_worker(client_b, task_queue="tq", store=store, notifier=settings, max_cached_workflows=0):
        # The killed attempt runs out its start-to-close timeout (30 s: time does not skip while an
        # activity is in flight), then B retries it. Only then may the clock skip again.
        for _ in range(120):
            if await asyncio.to_thread(store.delivered, f"{opened.ticket_id}/escalation/internal/1|support_manager|webhook|{receiver.url('/support_manager')}"):
                break
            await asyncio.sleep(0.5)
        else:
            raise AssertionError("worker B never retried the internal escalation")
        await walk_to(ts_env, t0, timedelta(hours=7, minutes=30))
        view = await handle.query(TicketWorkflow.state)

    fired = [f.id.removeprefix(f"{opened.ticket_id}/") for f in view.state.fired]
    assert len(fired) == len(set(fired))
    for expected in ("escalation/internal/1", "escalation/commander_missing/1", "escalation/engineering/1",
                     "escalation/engineering/4", "escalation/account_manager/1", "first_response/1/breach"):
        assert expected in fired, expected
    with store.engine.connect() as conn:
        logged = conn.execute(select(deliveries.c.obligation_id, deliveries.c.role, deliveries.c.status)).all()
    assert all(status == "sent" for *_, status in logged)
    assert not [k for k, n in Counter((o, r) for o, r, _ in logged).items() if n > 1]
    sent_twice = {k for k, n in Counter(r.headers["webhook-id"] + r.path for r in receiver.requests).items() if n > 1}
    assert sent_twice == {f"{opened.ticket_id}/escalation/internal/1/support_l2"}  # the request in flight at the kill
    assert {r.headers["webhook-id"] for r in receiver.requests} == {o for o, _, _ in logged}
    receiver.close()
