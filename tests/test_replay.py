"""Every recorded history must replay against today's workflow code (determinism guard)."""

import json
from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer

from workflows.sandbox import workflow_runner
from workflows.ticket import TicketWorkflow

HISTORIES = sorted((Path(__file__).parent / "histories").glob("*.json"))


def test_there_are_histories_to_replay() -> None:
    assert len(HISTORIES) >= 2


@pytest.mark.parametrize("path", HISTORIES, ids=[p.stem for p in HISTORIES])
async def test_history_replays(path: Path) -> None:
    replayer = Replayer(workflows=[TicketWorkflow], data_converter=pydantic_data_converter, workflow_runner=workflow_runner())
    # Replayed under the workflow id it ran with (the ticket id in its start input): the workflow
    # refuses a start whose ticket_id differs from its id.
    started = WorkflowHistory.from_json("probe", path.read_text()).events[0].workflow_execution_started_event_attributes
    ticket = json.loads(started.input.payloads[0].data)
    history = WorkflowHistory.from_json(ticket["ticket_id"], path.read_text())
    result = await replayer.replay_workflow(history, raise_on_replay_failure=False)
    assert result.replay_failure is None, f"{path.name} no longer replays: {result.replay_failure}"


def test_escalator_replay_gates_a_deploy(tmp_path: Path) -> None:
    """`escalator replay --dir`: one line per history, a total, exit 0; a history the code no
    longer produces (a timer where the code records something else) fails with the event id."""
    import subprocess
    import sys

    def replay(folder: Path) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "starter", "replay", "--dir", str(folder)], capture_output=True, text=True, timeout=180)

    good = replay(Path(__file__).parent / "histories")
    assert good.returncode == 0, good.stderr
    lines = good.stdout.strip().splitlines()
    assert [line.split()[0] for line in lines[:-1]] == [p.name for p in HISTORIES] and all(line.endswith("  ok") for line in lines[:-1])
    assert lines[-1].startswith(f"{len(HISTORIES)} histories, ") and lines[-1].endswith("all replay") and "events/s" in lines[-1]

    doc = json.loads(HISTORIES[0].read_text())
    timer = next(e for e in doc["events"] if e["eventType"] == "EVENT_TYPE_TIMER_STARTED")
    timer["eventType"] = "EVENT_TYPE_MARKER_RECORDED"
    timer["markerRecordedEventAttributes"] = {"markerName": "changed", "details": {},
                                              "workflowTaskCompletedEventId": timer.pop("timerStartedEventAttributes")["workflowTaskCompletedEventId"]}
    (tmp_path / "changed.json").write_text(json.dumps(doc))
    bad = replay(tmp_path)
    assert bad.returncode == 1
    assert bad.stdout.splitlines()[0].startswith("changed.json  FAIL: [TMPRL1100] Nondeterminism error") and f"id: {timer['eventId']}" in bad.stdout
    assert bad.stdout.strip().endswith("1 FAILED")


@pytest.mark.devserver
async def test_escalator_replay_fetches_running_tickets_from_the_server(store, dev_env, unique: str) -> None:
    import asyncio
    import sys
    from datetime import UTC, datetime

    from sla.messages import Acknowledge
    from sla.severity import Severity
    from sla.ticket import TicketOpened
    from starter.client import TicketClient
    from worker.main import build_worker

    client = TicketClient(dev_env.client)
    customer = f"REPLAY-{unique}"
    async with build_worker(dev_env.client, store=store):
        for n in range(2):
            await client.open(TicketOpened(ticket_id=f"T-rp{n}-{unique}", customer=customer, title="t", severity=Severity.SEV2,
                                           opened_at=datetime.now(UTC)))
            await client.acknowledge(f"T-rp{n}-{unique}", Acknowledge(by="alice"))
    address = dev_env.client.service_client.config.target_host

    async def replay(*args: str) -> tuple[int, str]:
        proc = await asyncio.create_subprocess_exec(sys.executable, "-m", "starter", "replay", "--address", address, *args,
                                                    stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        out, _ = await proc.communicate()
        return proc.returncode, out.decode()

    code, out = await replay("--ticket", f"T-rp0-{unique}")
    assert code == 0 and out.splitlines()[0] == f"T-rp0-{unique}  ok", out
    for _ in range(50):  # visibility lags a little
        code, out = await replay("--query", f"Customer = '{customer}'", "--json")
        if json.loads(out)["replayed"] == 2:
            break
        await asyncio.sleep(0.2)
    doc = json.loads(out)
    assert code == 0 and doc["failed"] == 0 and sorted(h["history"] for h in doc["histories"]) == [f"T-rp0-{unique}", f"T-rp1-{unique}"]
    code, _ = await replay("--ticket", f"T-none-{unique}")
    assert code == 2


def test_nothing_to_replay_fails_unless_allowed(tmp_path) -> None:
    import subprocess
    import sys

    def replay(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "starter", "replay", "--dir", str(tmp_path), *args], capture_output=True, text=True)

    done = replay()
    assert done.returncode == 1 and done.stdout.strip() == "no history found: nothing was replayed (--allow-empty accepts that)"
    assert replay("--allow-empty").returncode == 0
    done = replay("--limit", "0")
    assert done.returncode == 2 and done.stderr.strip() == "escalator: error: --limit: 0 is not 1 or more"
