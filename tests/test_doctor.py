"""`escalator doctor` on a real deployment: every check, one line each, and nothing sent to anyone."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path

import pytest
from temporalio.testing import WorkflowEnvironment

from tests.receivers import HttpReceiver, free_port
from worker.main import build_worker

pytestmark = pytest.mark.devserver


async def _doctor(env: dict[str, str], *args: str) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(sys.executable, "-m", "starter", "doctor", *args, env=env,
                                                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await proc.communicate()
    return proc.returncode, out.decode(), err.decode()


async def test_doctor_checks_a_deployment_end_to_end_and_sends_nothing(dev_env: WorkflowEnvironment, store, tmp_path: Path, unique: str) -> None:
    receiver, closed = HttpReceiver(), free_port()
    contacts = tmp_path / "contacts.toml"
    contacts.write_text(
        f'[[contacts]]\nrole = "support_l1"\nchannel = "webhook"\naddress = "{receiver.url("/l1")}"\nsecret_env = "HOOK_SECRET"\nreviewed_on = 2026-11-20\n\n'
        f'[[contacts]]\nrole = "support_manager"\nchannel = "webhook"\naddress = "http://127.0.0.1:{closed}/down"\nsecret_env = "HOOK_SECRET"\nreviewed_on = 2026-11-20\n\n'
        f'[[contacts]]\nrole = "support_on_call"\nchannel = "console"\naddress = "on-call"\nreviewed_on = 2026-11-20\n')
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("TEMPORAL_")},
           "HOOK_SECRET": "whsec_" + "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "ESCALATOR_ALLOW_PRIVATE_URLS": "true"}
    queue = f"tq-{unique}"
    args = ("--address", dev_env.client.service_client.config.target_host, "--task-queue", queue, "--contacts", str(contacts),
            "--database-url", store.url)
    try:
        async with build_worker(dev_env.client, queue, store=store):
            for _ in range(50):  # the worker's first poll registers it with the task queue
                code, out, err = await _doctor(env, *args, "--json")
                doc = json.loads(out)
                if any(c["check"] == "worker" and c["status"] == "ok" for c in doc["checks"]):
                    break
                await asyncio.sleep(0.2)
        status = {(c["check"], c["detail"].split(":")[0]): c["status"] for c in doc["checks"]}
        assert code == 1 and doc["ok"] is False, err
        for check in ("policy", "codec keys", "connection", "namespace", "search attributes", "worker", "ticket store"):
            assert [s for (name, _), s in status.items() if name == check] == ["ok"], (check, doc)
        channels = {c["detail"]: c["status"] for c in doc["checks"] if c["check"] == "channel"}
        port = receiver.server.server_address[1]
        assert channels[f"127.0.0.1:{port} for support_l1 (webhook): reachable (nothing sent)"] == "ok"
        [down] = [d for d in channels if d.startswith(f"127.0.0.1:{closed} for support_manager (webhook): ")]
        assert channels[down] == "FAIL" and "refused" in down.lower()
        assert receiver.requests == []  # it connected, and sent nothing

        # With no worker on the queue, the text form says so on its line.
        idle = f"idle-{unique}"
        code, out, _ = await _doctor(env, *args, "--task-queue", idle)
        lines = out.splitlines()
        assert code == 1 and f"FAIL  worker             no worker polls task queue {idle}: tickets wait (start one: python -m worker)" in lines
        assert lines[-1] == "2 check(s) failed"
    finally:
        receiver.close()
