"""The escalator CLI as a user runs it, against the real dev server and a real worker."""

from __future__ import annotations

import asyncio
import json
import os
import sys

import pytest
from temporalio.testing import WorkflowEnvironment

from worker.main import build_worker

pytestmark = pytest.mark.devserver


async def escalator(env: WorkflowEnvironment, *args: str) -> tuple[int, str, str]:
    address = env.client.service_client.config.target_host
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "starter", *args, "--address", address,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    out, err = await proc.communicate()
    return proc.returncode, out.decode(), err.decode()


async def test_open_ack_show_and_find_by_search_attributes(store, dev_env: WorkflowEnvironment, unique: str) -> None:
    customer = f"ACME-{unique}"
    async with build_worker(dev_env.client, store=store):
        code, out, err = await escalator(dev_env, "open", "--customer", customer, "--severity", "critical",
                                         "--title", "Checkout is down", "--id", f"T-{unique}", "--json")
        assert code == 0, err
        doc = json.loads(out)  # exactly one JSON document on stdout
        assert doc["ticket_id"] == f"T-{unique}" and doc["created"] is True
        assert doc["ui_url"].endswith(f"/namespaces/default/workflows/T-{unique}")

        # Opening the same id again returns the running ticket, not a second run.
        code, out, _ = await escalator(dev_env, "open", "--customer", customer, "--severity", "sev1",
                                       "--title", "Checkout is down", "--id", f"T-{unique}", "--json")
        again = json.loads(out)
        assert code == 0 and again["created"] is False and again["run_id"] == doc["run_id"]

        code, out, err = await escalator(dev_env, "ack", f"T-{unique}", "--by", "alice")
        assert code == 0, err
        assert "owner alice" in out and "pending" in out
        code, out, err = await escalator(dev_env, "respond", f"T-{unique}", "--by", "alice")
        assert code == 0, err
        code, out, err = await escalator(dev_env, "commander", f"T-{unique}", "Grace Hopper", "--by", "alice")
        assert code == 0, err
        code, out, err = await escalator(dev_env, "status-update", f"T-{unique}", "--text", "Rolling back", "--by", "Grace Hopper")
        assert code == 0, err
        code, out, err = await escalator(dev_env, "ack", f"T-{unique}", "--page", "engineering", "--by", "bob")
        assert code == 1 and err.strip() == f"escalator: error: ticket T-{unique}: step: engineering has not paged anyone yet"

        code, out, err = await escalator(dev_env, "show", f"T-{unique}")
        assert code == 0, err
        assert "Sev-1" in out and "first response" in out and "met" in out and "upcoming:" in out
        assert "commander Grace Hopper" in out and "1 status update(s) posted" in out

        query = f"Severity = 'sev1' AND Customer = '{customer}'"
        for _ in range(50):
            found = [w.id async for w in dev_env.client.list_workflows(query)]
            if found:
                break
            await asyncio.sleep(0.2)
        assert found == [f"T-{unique}"]

        code, out, err = await escalator(dev_env, "ack", f"T-{unique}", "--by", "bob")
        assert code == 1 and out == ""
        assert err.strip() == f"escalator: error: ticket T-{unique}: already acknowledged by alice at " + err.strip()[-20:]


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["show", "T-does-not-exist"], "escalator: error: no ticket T-does-not-exist"),
        (["open", "--customer", "ACME", "--severity", "sev9", "--title", "x"], "unknown severity 'sev9'"),
        (["open", "--customer", "ACME Corp", "--severity", "sev2", "--title", "x"], "customer: must be an id: 1-128 letters, digits and . _ : -"),
        (["ack", "T-x", "--by", ""], "by: must not be empty"),
    ],
)
async def test_errors_are_one_clear_line(dev_env: WorkflowEnvironment, args: list[str], expected: str) -> None:
    code, out, err = await escalator(dev_env, *args)
    assert code != 0 and out == ""
    assert expected in err


async def test_unreachable_server_is_one_line() -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "starter", "show", "T-1", "--address", "127.0.0.1:1",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    out, err = await proc.communicate()
    assert proc.returncode == 1 and out == b""
    assert err.decode().strip().splitlines() == [
        "escalator: error: cannot reach Temporal at 127.0.0.1:1: connection refused (is `make dev` running? is it host:port?)"
    ]


async def test_escalations_and_post_incident_work_from_the_command_line(store, dev_env: WorkflowEnvironment, unique: str) -> None:
    tid = f"T-pi-{unique}"
    async with build_worker(dev_env.client, store=store):
        code, _, err = await escalator(dev_env, "open", "--customer", "ACME", "--severity", "sev1", "--title", "Payments fail", "--id", tid)
        assert code == 0, err
        code, out, err = await escalator(dev_env, "escalate", tid, "--to", "L2", "--note", "restarts tried", "--by", "lee")
        assert code == 0 and "tier l2" in out, err
        code, _, err = await escalator(dev_env, "deescalate", tid, "--to", "l3", "--note", "n", "--by", "lee")
        assert code == 1 and err.strip() == f"escalator: error: ticket {tid}: to: l3 is above l2; cannot de-escalate to it"
        code, _, err = await escalator(dev_env, "escalate", tid, "--management", "--reason", "top account", "--by", "lee")
        assert code == 0, err
        code, _, err = await escalator(dev_env, "resolve", tid, "--by", "kim")
        assert code == 0, err
        code, out, err = await escalator(dev_env, "pir", tid, "--held-on", "2026-11-24", "--attendees", "kim, bo", "--by", "kim")
        assert code == 0 and "post-incident open: rca" in out, err
        code, _, err = await escalator(dev_env, "action", tid, "--title", "Alert on declines", "--owner", "bo", "--due", "2099-01-01T00:00:00Z", "--by", "kim")
        assert code == 0, err
        code, _, err = await escalator(dev_env, "done", tid, "rca", "--by", "kim")
        assert code == 1 and "record the rca with its own command" in err
        code, out, err = await escalator(dev_env, "waive", tid, "rca", "--reason", "vendor RCA", "--by", "kim")
        assert code == 0 and "post-incident open: action-1" in out, err
        code, out, err = await escalator(dev_env, "show", tid)
    assert code == 0, err
    assert "escalated l1 -> l2 by lee" in out and "level 1 (support_manager) by lee: top account" in out
    assert "review" in out and "met by kim" in out and "waived by kim" in out and "action-1   Alert on declines [owner bo]: open, due 2099-01-01" in out


@pytest.mark.parametrize(("args", "message"), [
    (["escalate", "T-1", "--to", "l2", "--by", "a"], "--note: a handoff to another tier needs a note"),
    (["escalate", "T-1", "--step", "engineering", "--by", "a"], "--reason: say why (--step needs one)"),
    (["rca", "T-1", "--link", "ftp://x", "--by", "a"], "link: must be an http:// or https:// link"),
    (["waive", "T-1", "rca", "--reason", "r", "--by", ""], "by: must not be empty"),
])
async def test_bad_input_is_refused_before_connecting(args: list[str], message: str) -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "starter", *args, "--address", "127.0.0.1:1",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    out, err = await proc.communicate()
    assert proc.returncode == 1 and out == b""
    assert err.decode().startswith(f"escalator: error: {message}")


async def test_a_reader_that_stops_early_gets_no_traceback() -> None:
    # `escalator plan ... | head -c 10`: stdout closes before the output is written.
    read_end, write_end = os.pipe()
    os.close(read_end)
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", "from starter.cli import run; run()", "plan", "--severity", "sev4", "--opened", "2026-11-23T09:00:00+01:00", "--json",
        stdout=write_end, stderr=asyncio.subprocess.PIPE,
    )
    os.close(write_end)
    _, err = await proc.communicate()
    assert proc.returncode == 1 and b"Traceback" not in err
