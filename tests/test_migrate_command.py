"""`escalator migrate` as a user runs it, against the real dev server and a real worker."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from temporalio.testing import WorkflowEnvironment

from policies import DEFAULT_POLICY
from sla.policy import digest
from sla.ticket import ClockName, TicketOpened
from starter.client import TicketClient
from worker.main import build_worker

pytestmark = pytest.mark.devserver
SEV2_FR = 'targets.first_response = { within = "4 business hours" }'


async def escalator(env: WorkflowEnvironment, *args: str, policy_env: str | None = None) -> tuple[int, str, str]:
    address = env.client.service_client.config.target_host
    environ = {k: v for k, v in os.environ.items() if k != "ESCALATOR_POLICY"} | ({"ESCALATOR_POLICY": policy_env} if policy_env else {})
    proc = await asyncio.create_subprocess_exec(sys.executable, "-m", "starter", *args, "--address", address, env=environ,
                                                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await proc.communicate()
    return proc.returncode, out.decode(), err.decode()


def sev2_first_response(tmp_path: Path, name: str, within: str) -> Path:
    """The default policy with Sev-2's first response `within` round the clock (so the arithmetic
    below holds whatever day the test runs)."""
    path = tmp_path / name
    path.write_text(DEFAULT_POLICY.read_text().replace(SEV2_FR, f'targets.first_response = {{ within = "{within}", calendar = "24x7" }}', 1))
    return path


async def test_migrate_dry_run_then_for_real_then_again(store, dev_env: WorkflowEnvironment, unique: str, tmp_path: Path) -> None:
    old, new = sev2_first_response(tmp_path, "old.toml", "4h"), sev2_first_response(tmp_path, "new.toml", "1h")
    customer = f"MIG-{unique}"
    client = TicketClient(dev_env.client)
    opened_at = datetime.now(UTC) - timedelta(minutes=10)
    ids = [f"T-{unique}-{n}" for n in (1, 2)]
    async with build_worker(dev_env.client, policy_path=old, store=store):
        for ticket_id in ids:
            await client.open(TicketOpened(ticket_id=ticket_id, customer=customer, title="slow checkout", severity="sev2", opened_at=opened_at))
        before = await client.view(ids[0], wait=10)
        assert before.policy_digest is not None and before.policy_digest != digest(new.read_text())
        query = f"Customer = '{customer}'"
        for _ in range(50):  # visibility is eventually consistent
            if len([w async for w in dev_env.client.list_workflows(query)]) == 2:
                break
            await asyncio.sleep(0.2)

        code, out, err = await escalator(dev_env, "migrate", "--policy", str(new), "--mode", "forward", "--tickets", query, "--dry-run")
        assert code == 0, err
        lines = out.splitlines()
        assert [line.split("  ")[:2] for line in lines[:2]] == [[ids[0], "would move"], [ids[1], "would move"]]
        # Forward: 10 minutes of 4 hours used, 50 of the new hour left from now; resolution is listed too.
        assert "first_response:" in lines[0] and "resolution:" in lines[0]
        assert lines[-1] == "2 tickets: 2 would move (forward), 0 already on it, 0 refused, 0 failed"
        assert err.startswith("warning: the workers' policy (") and "differs from the new one" in err
        assert (await client.view(ids[0], wait=10)).policy_digest == before.policy_digest  # a dry run sends nothing

        code, out, err = await escalator(dev_env, "migrate", "--policy", str(new), "--mode", "forward", "--tickets", query, "--json",
                                         "--by", "ops", policy_env=str(new))
        assert code == 0, err
        assert err == ""  # the workers' policy is the new one: no warning
        doc = json.loads(out)
        assert doc["moved"] == 2 and [t["outcome"] for t in doc["tickets"]] == ["moved", "moved"]
        after = await client.view(ids[0], wait=10)
        assert after.policy_digest == digest(new.read_text())
        due = next(t.due for t in after.targets if t.clock is ClockName.FIRST_RESPONSE)
        # 10 minutes were used before the change, so 50 are left from it (the change is a few seconds after `opened_at` + 10 min).
        assert opened_at + timedelta(minutes=60) <= due <= opened_at + timedelta(minutes=62)

        code, out, err = await escalator(dev_env, "migrate", "--policy", str(new), "--mode", "keep", "--ticket", ids[0], "--ticket", "T-nope",
                                         "--by", "ops")
        assert code == 1
        assert f"{ids[0]}  already: already runs under this policy" in out
        assert "T-nope  refused: " in out and "1 refused" in out.splitlines()[-1]

    _, events = store.timeline(ids[0])
    changed = [e for e in events if e["kind"] == "policy_changed"]
    assert len(changed) == 1 and changed[0]["detail"]["mode"] == "forward" and changed[0]["detail"]["by"] == "ops"
    assert changed[0]["detail"]["digest_from"] == before.policy_digest and changed[0]["detail"]["digest_to"] == digest(new.read_text())


async def test_migrate_refuses_a_bad_policy_before_connecting(tmp_path: Path, dev_env: WorkflowEnvironment) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text(DEFAULT_POLICY.read_text().replace(SEV2_FR, 'targets.first_response = { within = "soon" }', 1))
    code, out, err = await escalator(dev_env, "migrate", "--policy", str(bad), "--mode", "keep")
    assert code == 2 and out == ""
    assert err.startswith(f"escalator: error: {bad}: severities.sev2.targets.first_response.within")
    code, out, err = await escalator(dev_env, "migrate", "--policy", str(DEFAULT_POLICY), "--mode", "sideways")
    assert code == 2 and "argument --mode: invalid choice: 'sideways'" in err
    for by in ("", "root"):
        code, out, err = await escalator(dev_env, "migrate", "--policy", str(DEFAULT_POLICY), "--mode", "keep", "--by", by)
        assert code == 2 and out == "" and err.startswith("escalator: error: --by: ")
