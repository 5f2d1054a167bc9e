"""The dry run is the workflow's loop without the waiting: the same obligations at the same instants."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from temporalio.testing import WorkflowEnvironment

from policies import DEFAULT_POLICY
from sla.policy import parse_policy, take_snapshot
from sla.ticket import TicketOpened
from sla.timeline import DryRunAction, timeline
from tests.test_escalation_workflow import walk_to
from tests.test_plan_command import run
from tests.test_ticket_workflow import open_ticket, state_after_snapshot
from worker.main import build_worker
from workflows.ticket import TicketWorkflow

# A step anchored on a breach, one at half the resolution target, and an ack timeout.
EXTRA_STEPS = '''
[[escalation.sev1]]
id = "after_breach"
label = "first response missed: head of support"
from = "breach:first_response"
after = "30m"
roles = ["head_of_support"]
repeat_every = "20m"
repeat_limit = 1

[[escalation.sev1]]
id = "half_time"
label = "half the resolution time gone"
from = "resolution@50%"
after = "0m"
roles = ["support_manager"]
'''


def policy_text() -> str:
    return DEFAULT_POLICY.read_text() + EXTRA_STEPS


async def test_the_dry_run_and_the_workflow_act_on_the_same_obligations_at_the_same_instants(
        store, ts_env: WorkflowEnvironment, tmp_path: Path) -> None:
    path = tmp_path / "policy.toml"
    path.write_text(policy_text())
    async with build_worker(ts_env.client, task_queue="tq", store=store, policy_path=path):
        opened, handle = await open_ticket(ts_env, "tq", severity="sev1")
        await state_after_snapshot(handle)
        t0 = opened.opened_at
        for hours in range(1, 9):
            await walk_to(ts_env, t0, timedelta(hours=hours, minutes=5))
        view = await handle.query(TicketWorkflow.state)
    horizon = t0 + timedelta(hours=8, minutes=5)
    acted = {(f.id.removeprefix(f"{opened.ticket_id}/"), f.due) for f in view.state.fired}
    policy = take_snapshot(parse_policy(path.read_text(), str(path)), str(path), "-", t0).policy
    dry = timeline(policy, opened.model_copy(update={"ticket_id": opened.ticket_id}), t0, horizon=horizon)
    planned = {(e.obligation.id.removeprefix(f"{opened.ticket_id}/"), e.obligation.due) for e in dry.entries}
    assert planned == acted
    ids = {i for i, _ in planned}
    assert {"escalation/after_breach/1", "escalation/after_breach/2", "escalation/half_time/1"} <= ids
    due = dict(planned)
    assert due["escalation/after_breach/1"] == t0 + timedelta(hours=2, minutes=30)  # 30 minutes after the 2h breach
    assert due["escalation/half_time/1"] == t0 + timedelta(hours=4)  # half of the 8h resolution target


def test_plan_shows_steps_anchored_on_breaches_and_acts_when_told(capsys, tmp_path: Path) -> None:
    path = tmp_path / "policy.toml"
    path.write_text(policy_text())
    base = ["plan", "--policy", str(path), "--severity", "sev1", "--opened", "2026-11-27T18:00:00+01:00", "--json"]  # a Friday evening
    code, out, err = run(capsys, *base)
    import json

    ids = [o["id"].removeprefix("PLAN/") for o in json.loads(out)]
    assert code == 0 and "escalation/after_breach/1" in ids and "escalation/after_breach/2" in ids
    # Responding at 19:59 meets the first response: no breach, so no step anchored on it.
    code, out, err = run(capsys, *base, "--respond-at", "2026-11-27T19:59:00+01:00")
    ids = [o["id"].removeprefix("PLAN/") for o in json.loads(out)]
    assert code == 0 and "first_response/1/breach" not in ids and not [i for i in ids if "after_breach" in i]
    # Acknowledging the on-call page at 18:07 stops its repeats after the second.
    code, out, err = run(capsys, *base, "--ack-page", "page_on_call@2026-11-27T18:07:00+01:00")
    pages = [o["due"] for o in json.loads(out) if "page_on_call" in o["id"]]
    assert pages == ["2026-11-27T18:00:00+01:00", "2026-11-27T18:05:00+01:00"]
    code, _, err = run(capsys, *base, "--ack-page", "nosuch@2026-11-27T18:07:00+01:00")
    assert code == 1 and "--ack-page: 'nosuch' is not an escalation step of this severity" in err


def test_a_dry_run_resolution_brings_the_post_incident_obligations() -> None:
    from datetime import datetime
    from zoneinfo import ZoneInfo

    berlin = ZoneInfo("Europe/Berlin")
    policy = take_snapshot(parse_policy(policy_text(), "p"), "p", "-", datetime(2026, 11, 1, tzinfo=berlin)).policy
    ticket = TicketOpened(ticket_id="PLAN", customer="PLAN", title="t", severity="sev1", opened_at=datetime(2026, 11, 26, 15, 0, tzinfo=berlin))
    resolved = datetime(2026, 11, 26, 17, 0, tzinfo=berlin)
    dry = timeline(policy, ticket, ticket.opened_at, horizon=resolved + timedelta(days=14),
                   actions=[DryRunAction(at=resolved, kind="resolve")])
    due = {e.obligation.id.removeprefix("PLAN/"): e.obligation.due for e in dry.entries}
    assert due["post_incident/review/missed"] == resolved + timedelta(hours=72)
    assert "post_incident/rca/missed" in due and not [i for i in due if i.startswith("escalation/engineering")]
