"""`escalator list` on the dev server's visibility: filters, soonest deadline first, ended tickets as such."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta

from temporalio.testing import WorkflowEnvironment

from sla.messages import Acknowledge
from tests.test_cli_devserver import escalator
from worker.main import build_worker
from workflows.ticket import TicketWorkflow


async def listed(env: WorkflowEnvironment, *args: str, expect: int) -> list[dict]:
    """`escalator list --json ...`, polled until visibility shows `expect` rows (it lags a little)."""
    for _ in range(100):
        code, out, err = await escalator(env, "list", "--json", *args)
        assert code == 0, err
        rows = json.loads(out)
        if len(rows) == expect:
            return rows
        await asyncio.sleep(0.2)
    raise AssertionError(f"list {args} gave {rows}")


async def test_list_filters_sorts_by_deadline_and_shows_ended_tickets_as_such(store, dev_env: WorkflowEnvironment, unique: str) -> None:
    customer = f"ACME-{unique}"
    now = datetime.now(UTC)
    async with build_worker(dev_env.client, store=store):
        for tid, severity, opened in ((f"T-l1-{unique}", "sev1", now - timedelta(hours=3)), (f"T-l2-{unique}", "sev2", now),
                                      (f"T-l3-{unique}", "sev1", now), (f"T-l4-{unique}", "sev4", now)):
            code, _, err = await escalator(dev_env, "open", "--customer", customer, "--severity", severity, "--title", "t",
                                           "--id", tid, "--opened-at", opened.isoformat())
            assert code == 0, err
        await dev_env.client.get_workflow_handle_for(TicketWorkflow.run, f"T-l2-{unique}").execute_update(
            TicketWorkflow.acknowledge, Acknowledge(by="alice"))
        await dev_env.client.get_workflow_handle_for(TicketWorkflow.run, f"T-l4-{unique}").terminate(reason="opened by mistake")

        rows = await listed(dev_env, "--customer", customer, expect=3)
        dues = [r["next_due"] for r in rows]  # soonest first
        assert dues == sorted(dues)
        breached = await listed(dev_env, "--customer", customer, "--breached", expect=1)
        assert breached[0]["ticket_id"] == f"T-l1-{unique}" and breached[0]["sla_state"] == "breached"
        owned = await listed(dev_env, "--customer", customer, "--owner", "alice", expect=1)
        assert owned[0]["ticket_id"] == f"T-l2-{unique}" and owned[0]["status"] == "pending" and owned[0]["owner"] == "alice"
        assert {r["ticket_id"] for r in await listed(dev_env, "--customer", customer, "--severity", "critical", expect=2)} == {
            f"T-l1-{unique}", f"T-l3-{unique}"}
        every = await listed(dev_env, "--customer", customer, "--all", expect=4)
        ended = next(r for r in every if r["ticket_id"] == f"T-l4-{unique}")
        assert ended["status"] == "terminated" and ended["next_due"] is None
        within = await listed(dev_env, "--customer", customer, "--due-within", "10m", expect=1)  # the new Sev-1's next on-call page
        assert within[0]["ticket_id"] == f"T-l3-{unique}"
        code, out, _ = await escalator(dev_env, "list", "--customer", customer, "--tz", "UTC")
    assert code == 0 and out.splitlines()[0].startswith("TICKET") and f"T-l3-{unique}" in out.splitlines()[1]
    assert "+00:00" in out
