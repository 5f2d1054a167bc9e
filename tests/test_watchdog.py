"""The watchdog against a stopped worker: one alert when tickets sit overdue, one when it is over."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from temporalio.testing import WorkflowEnvironment

from activities.notify import NotifierSettings
from sla.severity import Severity
from sla.ticket import TicketOpened
from starter.client import TicketClient
from tests.receivers import HttpReceiver, free_port
from worker.main import build_worker
from worker.watchdog import seconds
from workflows.search_attributes import NEXT_DUE_AT

pytestmark = pytest.mark.devserver
SECRET = "whsec_" + "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


def _bodies(receiver: HttpReceiver) -> list[str]:
    return [json.loads(r.body).get("summary", "") for r in receiver.requests]


async def _until(predicate, seconds: float, what: str) -> None:
    for _ in range(int(seconds * 5)):
        if predicate():
            return
        await asyncio.sleep(0.2)
    raise AssertionError(f"not within {seconds} s: {what}")


def test_durations_on_the_command_line() -> None:
    assert [seconds(t) for t in ("90s", "2m", "1h", "45")] == [90, 120, 3600, 45]


async def test_a_stopped_worker_is_reported_once_and_again_when_it_is_over(
        dev_env: WorkflowEnvironment, store, tmp_path: Path, unique: str, monkeypatch) -> None:
    receiver = HttpReceiver()
    contacts = tmp_path / "contacts.toml"
    contacts.write_text(f'[[contacts]]\nrole = "support_manager"\nchannel = "webhook"\naddress = "{receiver.url("/manager")}"\n'
                        f'secret_env = "HOOK_SECRET"\nreviewed_on = 2026-11-01\n')
    monkeypatch.setenv("HOOK_SECRET", SECRET)
    queue, ticket_id = f"tq-{unique}", f"T-{unique}"
    notifier = NotifierSettings()  # the workers' own notifications go to the console here
    tickets = TicketClient(dev_env.client, task_queue=queue)
    # A Sev-1 opened 4m50s ago: its on-call page repeats at +5m, ten seconds from now.
    async with build_worker(dev_env.client, queue, store=store, notifier=notifier):
        await tickets.open(TicketOpened(ticket_id=ticket_id, customer="ACME", title="t", severity=Severity.SEV1,
                                        opened_at=datetime.now(UTC) - timedelta(minutes=4, seconds=50)))

        async def next_due() -> datetime | None:
            return (await dev_env.client.get_workflow_handle(ticket_id).describe()).typed_search_attributes.get(NEXT_DUE_AT)
        for _ in range(100):
            due = await next_due()
            if due and due > datetime.now(UTC):
                break
            await asyncio.sleep(0.1)
        assert due and due > datetime.now(UTC)
    # Every worker of the queue is gone now. The watchdog, a process of its own, notices.
    args = ["--address", dev_env.client.service_client.config.target_host, "--task-queue", queue, "--late-after", "3s",
            "--interval", "1s", "--contacts", str(contacts), "--database-url", store.url]
    env = {**os.environ, "ESCALATOR_ALLOW_PRIVATE_URLS": "true"}
    metrics_port = free_port()
    watchdog = _watchdog(args + ["--metrics-port", str(metrics_port)], env, tmp_path / "watchdog-1.log")
    try:
        await _until(lambda: any("no worker is acting" in b for b in _bodies(receiver)) or watchdog.poll() is not None, 60, "the outage alert")
        assert watchdog.poll() is None, (tmp_path / "watchdog-1.log").read_text()
        [alert] = [b for b in _bodies(receiver) if "no worker is acting" in b]
        assert alert.startswith(f"1 open ticket(s) overdue by more than 3 s: no worker is acting on them (oldest {ticket_id}, due ")
        async with httpx.AsyncClient() as http:
            text = (await http.get(f"http://127.0.0.1:{metrics_port}/metrics")).text
        late = {f.name: f.samples for f in text_string_to_metric_families(text)}["escalator_watchdog_late_tickets"]
        assert late[0].value == 1
        await asyncio.sleep(3)  # more checks, same outage: nobody is told twice
        assert sum("no worker is acting" in b for b in _bodies(receiver)) == 1
    finally:
        watchdog.terminate()
        assert watchdog.wait(20) == 0
    # The outage ends while no watchdog runs; the next one learns of the open outage from the
    # delivery log and tells its end.
    async with build_worker(dev_env.client, queue, store=store, notifier=notifier):
        for _ in range(100):
            due = await next_due()
            if due and due > datetime.now(UTC):
                break
            await asyncio.sleep(0.2)
        watchdog = _watchdog(args, env, tmp_path / "watchdog-2.log")
        try:
            await _until(lambda: any("the outage is over" in b for b in _bodies(receiver)), 60, "the all-clear")
            await asyncio.sleep(2)
        finally:
            watchdog.terminate()
            watchdog.wait(20)
            receiver.close()
    assert [("no worker is acting" in b, "the outage is over" in b) for b in _bodies(receiver)] == [(True, False), (False, True)]


def _watchdog(args: list[str], env: dict[str, str], log: Path, *extra: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "starter", "watchdog", *args, *extra], env=env,
                            stdout=subprocess.DEVNULL, stderr=open(log, "wb"))


async def test_a_ticket_opened_while_every_worker_is_down_counts_as_overdue(dev_env: WorkflowEnvironment, store, tmp_path: Path,
                                                                            unique: str) -> None:
    queue = f"tq-{unique}"
    # No worker ever ran it: it has no NextDueAt, only its start time.
    await TicketClient(dev_env.client, task_queue=queue).open(TicketOpened(
        ticket_id=f"T-{unique}", customer="ACME", title="t", severity=Severity.SEV1, opened_at=datetime.now(UTC)))
    # A scheduled review waiting on the same queue is not a ticket: it does not count.
    from workflows.review import WORKFLOW_REVIEW, ReviewRequest

    review = await dev_env.client.start_workflow(WORKFLOW_REVIEW, ReviewRequest(kind="weekly-review", to=["x"]), id=f"review-{unique}",
                                                 task_queue=queue)
    await asyncio.sleep(2.5)
    done = await asyncio.to_thread(subprocess.run, [
        sys.executable, "-m", "starter", "watchdog", "--once", "--address", dev_env.client.service_client.config.target_host,
        "--task-queue", queue, "--late-after", "1s", "--database-url", store.url], capture_output=True, text=True, timeout=60)
    assert done.returncode == 1, done.stderr
    assert f"1 open ticket(s) overdue by more than 1 s: no worker is acting on them (oldest T-{unique}" in done.stderr
    await review.terminate("test over")
