"""The Sev-1 stakeholder beat on the time-skipping server, delivered to a real local webhook receiver."""

from __future__ import annotations

import json
from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path

from temporalio.testing import WorkflowEnvironment

from activities.notify import NotifierSettings
from sla.messages import PostStatusUpdate
from tests.receivers import HttpReceiver
from tests.test_escalation_workflow import walk_to
from tests.test_ticket_workflow import open_ticket, state_after_snapshot
from worker.main import build_worker
from workflows.ticket import TicketWorkflow

ROLES = ("incident_commander", "support_manager")


def webhook_contacts(tmp_path: Path, receiver: HttpReceiver, monkeypatch) -> NotifierSettings:
    path = tmp_path / "contacts.toml"
    path.write_text("".join(
        f'[[contacts]]\nrole = "{role}"\nchannel = "webhook"\naddress = "{receiver.url("/" + role)}"\n'
        f'secret_env = "BEAT_HOOK_SECRET"\nreviewed_on = 2026-11-01\n\n'
        for role in ROLES
    ))
    monkeypatch.setenv("BEAT_HOOK_SECRET", "whsec_" + "c2VjcmV0LXNlY3JldC1zZWNyZXQ=")
    return NotifierSettings(contacts_path=path, allow_private_urls=True)


def beat(receiver: HttpReceiver, tid: str, opened_at) -> Counter:
    """(role, obligation kind, minutes after open) of each status-update message the receiver got."""
    seen = Counter()
    for r in receiver.requests:
        body = json.loads(r.body)
        key = r.headers["webhook-id"]
        if "/status_update/" in key:
            due = datetime.fromisoformat(body["due"])
            seen[(r.path.strip("/"), body["type"], int((due - opened_at).total_seconds() // 60))] += 1
    return seen


async def test_a_sev1_left_alone_is_reminded_every_30_minutes_and_escalated_15_later(store, ts_env: WorkflowEnvironment, tmp_path: Path, monkeypatch) -> None:
    receiver = HttpReceiver()
    try:
        async with build_worker(ts_env.client, task_queue="tq", store=store, notifier=webhook_contacts(tmp_path, receiver, monkeypatch)):
            opened, handle = await open_ticket(ts_env, "tq", severity="sev1")
            await state_after_snapshot(handle)
            t0 = opened.opened_at
            await walk_to(ts_env, t0, timedelta(hours=8, minutes=5))
            view = await handle.query(TicketWorkflow.state)
    finally:
        receiver.close()
    seen = beat(receiver, opened.ticket_id, t0)
    reminders = sorted(m for (role, kind, m) in seen if role == "incident_commander")
    escalations = sorted(m for (role, kind, m) in seen if role == "support_manager")
    assert reminders == list(range(30, 8 * 60 + 1, 30))  # 30, 60, ... 480: 16 reminders
    assert escalations == list(range(45, 8 * 60 + 5, 30))  # 45, 75, ... 465
    assert set(seen.values()) == {1}  # each exactly once
    fired = {f.id: f for f in view.state.fired if "/status_update/" in f.id}
    for f in fired.values():
        assert f.due <= f.fired_at < f.due + timedelta(seconds=1)  # to the second
    assert view.next_due is not None


async def test_a_posted_update_restarts_the_beat_from_the_posting(store, ts_env: WorkflowEnvironment, tmp_path: Path, monkeypatch) -> None:
    receiver = HttpReceiver()
    try:
        async with build_worker(ts_env.client, task_queue="tq", store=store, notifier=webhook_contacts(tmp_path, receiver, monkeypatch)):
            opened, handle = await open_ticket(ts_env, "tq", severity="sev1")
            await state_after_snapshot(handle)
            t0 = opened.opened_at
            await walk_to(ts_env, t0, timedelta(hours=1, minutes=10))
            await handle.execute_update(TicketWorkflow.post_status_update, PostStatusUpdate(by="grace", text="Mitigating"))
            await walk_to(ts_env, t0, timedelta(hours=2, minutes=30))
    finally:
        receiver.close()
    seen = beat(receiver, opened.ticket_id, t0)
    assert sorted(m for (role, _, m) in seen if role == "incident_commander") == [30, 60, 100, 130]
    # The 1h15 escalation of the missed beat never went out: the update at 1h10 answered it.
    assert sorted(m for (role, _, m) in seen if role == "support_manager") == [45, 115, 145]
