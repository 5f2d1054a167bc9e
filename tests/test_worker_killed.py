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
import time
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
        # The killed attempt stops heartbeating: after the heartbeat timeout B retries it under the
        # same keys. (The test server first offers the retry to A's dead poll, about 10 s; the dev
        # server does not: test_a_killed_delivery_is_retried_within_10_seconds.)
        for _ in range(600):
            if await asyncio.to_thread(store.delivered, f"{opened.ticket_id}/escalation/internal/1|support_manager|webhook|{receiver.url('/support_manager')}"):
                break
            await asyncio.sleep(0.05)
        else:
            raise AssertionError("worker B never retried the internal escalation")

        # In half-hour steps: each sleep is one call to the test server, which gives up on a long
        # one while it offers activity tasks to the dead worker's polls.
        for half_hours in range(9, 16):
            await walk_to(ts_env, t0, timedelta(minutes=30 * half_hours))
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
    # Only requests in flight at the kill went twice (the same webhook-id: the receiver dedupes): the
    # held one, the other role of the same notification (roles go side by side) and the
    # stakeholder reminder also due at 4h, sent beside it.
    in_flight = {f"{opened.ticket_id}/escalation/internal/1/support_l2", f"{opened.ticket_id}/escalation/internal/1/support_manager",
                 f"{opened.ticket_id}/status_update/1/breach8/incident_commander"}
    # The held request is whichever role's reached the receiver first (they go side by side).
    held = {f"{opened.ticket_id}/escalation/internal/1/support_l2", f"{opened.ticket_id}/escalation/internal/1/support_manager"}
    assert sent_twice & held and sent_twice <= in_flight
    assert {r.headers["webhook-id"] for r in receiver.requests} == {o for o, _, _ in logged}
    receiver.close()


def start_worker(address: str, task_queue: str, store_url: str, contacts: Path, log_path: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "worker", "--address", address, "--task-queue", task_queue, "--database-url", store_url,
         "--contacts", str(contacts), "--max-cached-workflows", "0"],
        env={**os.environ, "ESCALATOR_ALLOW_PRIVATE_URLS": "true"},
        stdout=subprocess.DEVNULL, stderr=open(log_path, "wb"), cwd=Path(__file__).parent.parent,
    )


async def test_a_killed_delivery_is_retried_within_10_seconds(store, dev_env: WorkflowEnvironment, tmp_path: Path, monkeypatch, unique: str) -> None:
    """On the dev server, in real time: a breach due 4 s after the start, its webhook held open
    by the receiver, the worker SIGKILLed; another worker sends it again under the same key."""
    from datetime import UTC, datetime

    from sla.ticket import TicketOpened

    receiver = HttpReceiver(hold=lambda r: r.headers.get("webhook-id", "").endswith("/first_response/1/breach") and r.path == "/support_l1")
    contacts = tmp_path / "contacts.toml"
    contacts.write_text("".join(
        f'[[contacts]]\nrole = "{role}"\nchannel = "webhook"\naddress = "{receiver.url("/" + role)}"\n'
        f'secret_env = "HOOK_SECRET"\nreviewed_on = 2026-11-01\n\n' for role in ("support_l1", "support_manager")
    ))
    monkeypatch.setenv("HOOK_SECRET", SECRET)
    address, queue = dev_env.client.service_client.config.target_host, f"tq-kill-{unique}"
    worker_a = start_worker(address, queue, store.url, contacts, tmp_path / "a.log")
    worker_b = None
    try:
        for _ in range(200):
            if b"worker started" in (tmp_path / "a.log").read_bytes():
                break
            await asyncio.sleep(0.05)
        opened = TicketOpened(ticket_id=f"T-kill-{unique}", customer="ACME", title="t", severity="sev1",
                              opened_at=datetime.now(UTC) - timedelta(hours=2) + timedelta(seconds=4))  # Sev-1: 2h first response
        await dev_env.client.start_workflow(TicketWorkflow.run, opened, id=opened.ticket_id, task_queue=queue)
        assert await asyncio.to_thread(receiver.held.wait, 30), "worker A never sent the breach"
        worker_a.send_signal(signal.SIGKILL)
        killed_at = time.monotonic()
        worker_a.wait(10)
        receiver.hold = None
        receiver.release.set()
        worker_b = start_worker(address, queue, store.url, contacts, tmp_path / "b.log")
        breach = f"{opened.ticket_id}/first_response/1/breach"
        for _ in range(400):
            again = [r for r in receiver.requests if r.path == "/support_l1" and r.headers["webhook-id"] == breach]
            if len(again) == 2:
                break
            await asyncio.sleep(0.05)
        retried_in = time.monotonic() - killed_at
    finally:
        for w in (worker_a, worker_b):
            if w is not None and w.poll() is None:
                w.kill()
                w.wait(10)
        receiver.close()
    assert len(again) == 2, "the killed delivery was never retried"
    assert retried_in < 10, f"retried {retried_in:.1f} s after the kill"
    assert again[0].headers["webhook-id"] == again[1].headers["webhook-id"]  # the same key: the receiver dedupes
