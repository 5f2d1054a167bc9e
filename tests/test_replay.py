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
