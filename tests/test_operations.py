"""Operating a worker: its metrics scraped and parsed as Prometheus would, health, readiness, a graceful stop."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families
from temporalio.testing import WorkflowEnvironment

from sla.severity import Severity
from sla.ticket import TicketOpened
from starter.client import TicketClient
from tests.receivers import free_port
from worker.health import readiness
from worker.main import build_worker

pytestmark = pytest.mark.devserver


def _samples(text: str) -> dict[str, list]:
    """Family name -> its samples, through prometheus_client's own parser (it fails on bad text)."""
    return {family.name: family.samples for family in text_string_to_metric_families(text)}


async def test_a_running_worker_serves_metrics_health_and_readiness_then_stops_gracefully(
        dev_env: WorkflowEnvironment, store, tmp_path: Path, unique: str) -> None:
    port, queue = free_port(), f"tq-{unique}"
    log = tmp_path / "worker.log"
    worker = subprocess.Popen(
        [sys.executable, "-m", "worker", "--address", dev_env.client.service_client.config.target_host, "--task-queue", queue,
         "--database-url", store.url, "--metrics-port", str(port), "--grace-period", "5"],
        stdout=subprocess.DEVNULL, stderr=open(log, "wb"), cwd=Path(__file__).parent.parent, env=dict(os.environ),
    )
    base = f"http://127.0.0.1:{port}"
    try:
        async with httpx.AsyncClient(timeout=5) as http:
            for _ in range(300):
                try:
                    if (await http.get(f"{base}/readyz")).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                assert worker.poll() is None, log.read_text()
                await asyncio.sleep(0.1)
            assert (await http.get(f"{base}/healthz")).json() == {"ok": True}
            assert (await http.get(f"{base}/readyz")).json() == {"ready": True}

            # A Sev-1 pages the on-call at once: an obligation acted on, a notification sent.
            await TicketClient(dev_env.client, task_queue=queue).open(TicketOpened(
                ticket_id=f"T-{unique}", customer="ACME", title="t", severity=Severity.SEV1, opened_at=datetime.now(UTC)))
            for _ in range(100):
                answer = await http.get(f"{base}/metrics")
                families = _samples(answer.text)
                if "escalator_notifications" in families and "escalator_obligations_acted" in families:
                    break
                await asyncio.sleep(0.2)
            assert answer.headers["content-type"].startswith("text/plain")
            acted = {s.labels["kind"]: s.value for s in families["escalator_obligations_acted"] if s.name.endswith("_total")}
            assert acted.get("escalation", 0) >= 1 and all(s.labels["severity"] == "sev1" for s in families["escalator_obligations_acted"])
            sent = [s for s in families["escalator_notifications"] if s.labels.get("channel") == "console" and s.labels.get("outcome") == "sent"]
            assert sent and sent[0].value >= 1
            lag = [s for s in families["escalator_due_to_acted_lag_seconds"] if s.name.endswith("_count")]
            assert lag and lag[0].value >= 1
            # The SDK's own metrics come through the same port: each one the dashboard and the alert rules use.
            for name in _charted("temporal_"):
                assert name.removesuffix("_bucket") in families, (name, sorted(n for n in families if n.startswith("temporal_")))
        worker.send_signal(signal.SIGTERM)
        assert await asyncio.to_thread(worker.wait, 30) == 0
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait(10)
    text = log.read_text()
    assert "worker stopping" in text and "worker stopped" in text


def _charted(prefix: str) -> set[str]:
    """Metric names the Grafana dashboard and the Prometheus alert rules use."""
    root = Path(__file__).parent.parent / "deploy"
    dashboard = json.loads((root / "grafana" / "escalator.json").read_text())
    exprs = [t["expr"] for p in dashboard["panels"] for t in p["targets"]]
    exprs += [r["expr"] for g in yaml.safe_load((root / "prometheus" / "alerts.yml").read_text())["groups"] for r in g["rules"]]
    return {name for expr in exprs for name in re.findall(rf"\b{prefix}[a-z_]+", expr)}


def test_the_dashboard_and_alert_rules_chart_only_what_is_exported() -> None:
    from activities.notify import FALLBACKS, NOTIFICATIONS
    from worker.watchdog import LATE
    from workflows.measure import ACTED, BREACHES, LAG, RETRIES

    exported = {f"{ACTED}_total", f"{BREACHES}_total", f"{LAG}_bucket", f"{RETRIES}_total", f"{NOTIFICATIONS}_total",
                f"{FALLBACKS}_total", LATE}
    assert _charted("escalator_") == exported  # nothing charted that is not exported, nothing exported left uncharted


async def test_readiness_says_why_not(dev_env: WorkflowEnvironment, store, unique: str) -> None:
    stopping = asyncio.Event()
    worker = build_worker(dev_env.client, f"tq-{unique}", store=store)
    ready = readiness(dev_env.client, worker, stopping)
    assert await ready() == "the worker is not polling"
    async with worker:
        for _ in range(50):  # the worker's task starts polling just after the block is entered
            if await ready() is None:
                break
            await asyncio.sleep(0.05)
        assert await ready() is None
        stopping.set()
        assert await ready() == "the worker is stopping"


async def test_sigterm_lets_a_delivery_in_flight_finish_within_the_grace_period(
        dev_env: WorkflowEnvironment, store, tmp_path: Path, unique: str) -> None:
    from tests.receivers import HttpReceiver

    receiver = HttpReceiver(hold=lambda r: True, answer_held=True)  # a slow receiver: it answers when released
    contacts = tmp_path / "contacts.toml"
    contacts.write_text(f'[[contacts]]\nrole = "support_on_call"\nchannel = "webhook"\naddress = "{receiver.url("/oncall")}"\n'
                        f'secret_env = "HOOK_SECRET"\nreviewed_on = 2026-11-01\n')
    queue, log = f"tq-{unique}", tmp_path / "worker.log"
    worker = subprocess.Popen(
        [sys.executable, "-m", "worker", "--address", dev_env.client.service_client.config.target_host, "--task-queue", queue,
         "--database-url", store.url, "--contacts", str(contacts), "--grace-period", "20"],
        env={**os.environ, "HOOK_SECRET": "whsec_" + "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "ESCALATOR_ALLOW_PRIVATE_URLS": "true"},
        stdout=subprocess.DEVNULL, stderr=open(log, "wb"), cwd=Path(__file__).parent.parent,
    )
    try:
        for _ in range(300):
            if b"worker started" in log.read_bytes() or worker.poll() is not None:
                break
            await asyncio.sleep(0.05)
        assert b"worker started" in log.read_bytes(), log.read_text()
        # A Sev-1 pages the on-call at once; the receiver holds that request: a delivery in flight.
        await TicketClient(dev_env.client, task_queue=queue).open(TicketOpened(
            ticket_id=f"T-{unique}", customer="ACME", title="t", severity=Severity.SEV1, opened_at=datetime.now(UTC)))
        assert await asyncio.to_thread(receiver.held.wait, 30), log.read_text()
        worker.send_signal(signal.SIGTERM)
        await asyncio.sleep(2)  # stopping: it takes no new task, and waits for this one
        assert worker.poll() is None, log.read_text()
        receiver.release.set()
        assert await asyncio.to_thread(worker.wait, 30) == 0
    finally:
        receiver.release.set()
        if worker.poll() is None:
            worker.kill()
            worker.wait(10)
        receiver.close()
    # The attempt finished inside the grace period: answered, and written to the delivery log.
    [(_, obligation)] = store.sent_to(f"T-{unique}", "webhook")
    assert obligation.startswith(f"T-{unique}/escalation/page_on_call/")
