"""The timeline's hash chain and `escalator evidence`, on the real dev server with a real worker."""

from __future__ import annotations

import asyncio
import hashlib
import io
import json
import sys
import zipfile
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from temporalio.testing import WorkflowEnvironment

from sla import evidence
from sla.messages import Acknowledge, Respond
from sla.ticket import TicketOpened
from starter.client import TicketClient
from worker.main import build_worker

pytestmark = pytest.mark.devserver


def test_the_chain_catches_a_changed_a_missing_and_a_reordered_event() -> None:
    at = datetime.fromisoformat("2026-11-30T09:00:00+01:00")
    rows, head = [], evidence.GENESIS
    for seq, kind in enumerate(["opened", "acknowledged", "responded"], start=1):
        content = evidence.content_hash(f"T-1/{seq}", seq, at, at, kind, {"by": "alice"})
        head = evidence.chained(head, content)
        rows.append({"event_id": f"T-1/{seq}", "seq": seq, "at": at, "recorded_at": at, "kind": kind, "detail": {"by": "alice"},
                     "content_sha256": content, "chain_sha256": head})
    assert evidence.check_chain(rows) == (head, [])
    changed = [dict(r) for r in rows]
    changed[1]["detail"] = {"by": "mallory"}
    assert evidence.check_chain(changed)[1] == ["event 2 (acknowledged): its content does not match its hash (changed after it was recorded)"]
    assert evidence.check_chain([rows[0], rows[2]])[1] == [
        "event 2: missing (the next stored event is 3)", "event 3 (responded): its chain hash does not follow from the event before it"]
    # The same instant written with another offset is the same content (stores give UTC back).
    assert evidence.content_hash("T-1/1", 1, at, at, "opened", {}) == evidence.content_hash("T-1/1", 1, at.astimezone(), at, "opened", {})


async def escalator(env: WorkflowEnvironment, *args: str) -> tuple[int, str, str]:
    address = env.client.service_client.config.target_host
    proc = await asyncio.create_subprocess_exec(sys.executable, "-m", "starter", *args, "--address", address,
                                                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await proc.communicate()
    return proc.returncode, out.decode(), err.decode()


def _rezip(src: Path, dst: Path, change) -> None:
    """Copy a pack, passing each member's bytes through change(name, data)."""
    with zipfile.ZipFile(src) as old, zipfile.ZipFile(dst, "w") as new:
        for name in old.namelist():
            new.writestr(name, change(name, old.read(name)))


async def test_pack_verify_and_tampering(store, dev_env: WorkflowEnvironment, unique: str, tmp_path: Path) -> None:
    ticket_id = f"T-{unique}"
    client = TicketClient(dev_env.client)
    async with build_worker(dev_env.client, store=store):
        await client.open(TicketOpened(ticket_id=ticket_id, customer="ACME", title="slow checkout", severity="sev3",
                                       opened_at=datetime.now().astimezone() - timedelta(minutes=5)))
        await client.acknowledge(ticket_id, Acknowledge(by="alice"))
        state = await client.respond(ticket_id, Respond(by="alice"))
        for _ in range(50):  # the last events reach the store beside the loop
            _, events = store.timeline(ticket_id)
            if sum(1 for e in events if not e["kind"].startswith("delivery")) >= state.event_seq:
                break
            await asyncio.sleep(0.1)
    pack = tmp_path / "pack.zip"
    code, out, err = await escalator(dev_env, "evidence", ticket_id, "--out", str(pack), "--database-url", store.url)
    assert code == 0, err
    assert f"{pack}: {state.event_seq} timeline events ({state.event_seq} in the hash chain)" in out
    with zipfile.ZipFile(pack) as z:
        names = z.namelist()
        manifest = json.loads(z.read("manifest.json"))
    assert {"ticket.json", "timeline.json", "deliveries.json", "policy.json", "manifest.json"} <= set(names)
    assert any(n.startswith("history/01-") for n in names)
    assert manifest["chain"]["head"] == state.chain_head and manifest["chain"]["problems"] == []
    code, out, err = await escalator(dev_env, "evidence", "verify", str(pack), "--against-server")
    assert code == 0, out + err
    assert out.splitlines()[-1] == f"ok: every file matches the manifest and the chain is whole; the history agrees up to event {state.event_seq}"
    assert f"the last at event {state.event_seq}" in out
    assert "note: deliveries.json (the store's delivery log: recipients, answers) is covered by the manifest only" in out

    # One byte changed: caught by the manifest.
    flipped = tmp_path / "flipped.zip"
    _rezip(pack, flipped, lambda name, data: data.replace(b'"alice"', b'"alicf"', 1) if name == "timeline.json" else data)
    code, out, _ = await escalator(dev_env, "evidence", "verify", str(flipped))
    assert code == 1
    assert "FAIL timeline.json: changed (its SHA-256 is not the manifest's)" in out
    assert "FAIL timeline.json: event 2 (acknowledged): its content does not match its hash (changed after it was recorded)" in out

    # A rebuilt pack: the event changed, its hashes and the chain recomputed, the manifest rebuilt.
    with zipfile.ZipFile(pack) as z:
        files = {n: z.read(n) for n in z.namelist()}
    timeline = json.loads(files["timeline.json"])
    timeline[1]["detail"]["by"] = "mallory"
    head = evidence.GENESIS
    for e in timeline:
        at = datetime.fromisoformat(e["at"])
        recorded = datetime.fromisoformat(e["recorded_at"])
        e["content_sha256"] = evidence.content_hash(e["event_id"], e["seq"], at, recorded, e["kind"], e["detail"])
        e["chain_sha256"] = head = evidence.chained(head, e["content_sha256"])
    files["timeline.json"] = (json.dumps(timeline, indent=2, sort_keys=True) + "\n").encode()
    forged = json.loads(files["manifest.json"])
    forged["files"]["timeline.json"] = hashlib.sha256(files["timeline.json"]).hexdigest()
    forged["chain"]["head"] = head
    files["manifest.json"] = json.dumps(forged).encode()
    rebuilt = tmp_path / "rebuilt.zip"
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as z:
        for name, data in files.items():
            z.writestr(name, data)
    rebuilt.write_bytes(buffer.getvalue())
    code, out, _ = await escalator(dev_env, "evidence", "verify", str(rebuilt))
    assert code == 0, out  # consistent in itself
    code, out, _ = await escalator(dev_env, "evidence", "verify", str(rebuilt), "--against-server")
    assert code == 1
    assert f"FAIL server: event {state.event_seq} (responded): the history witnessed chain hash {state.chain_head[:16]}..." in out

    # The tail cut off, the rest rebuilt: the history witnessed the last event before the pack was made.
    with zipfile.ZipFile(pack) as z:
        files = {n: z.read(n) for n in z.namelist()}
    kept = json.loads(files["timeline.json"])[:1]
    files["timeline.json"] = (json.dumps(kept) + "\n").encode()
    cut = json.loads(files["manifest.json"])
    cut["files"]["timeline.json"] = hashlib.sha256(files["timeline.json"]).hexdigest()
    cut["chain"]["head"] = kept[0]["chain_sha256"]
    files["manifest.json"] = json.dumps(cut).encode()
    truncated = tmp_path / "truncated.zip"
    with zipfile.ZipFile(truncated, "w") as z:
        for name, data in files.items():
            z.writestr(name, data)
    code, out, _ = await escalator(dev_env, "evidence", "verify", str(truncated), "--against-server")
    assert code == 1
    assert "before the pack was made, and the pack ends at event 1: events were removed" in out
    assert "come after the last head" not in out and "went on after the pack" not in out

    # A malformed pack is refused as one (exit 2), not judged.
    malformed = tmp_path / "malformed.zip"
    _rezip(pack, malformed, lambda name, data: b"[]" if name == "manifest.json" else data)
    code, out, err = await escalator(dev_env, "evidence", "verify", str(malformed))
    assert code == 2 and err.strip() == (f"escalator: error: {malformed}: not an evidence pack "
                                         "(manifest.json needs files and chain objects, timeline.json a list of events)")


async def test_bad_evidence_input_is_one_line(dev_env: WorkflowEnvironment, tmp_path: Path, store) -> None:
    code, out, err = await escalator(dev_env, "evidence", "T-nope", "--out", str(tmp_path / "p.zip"), "--database-url", store.url)
    assert (code, out) == (2, "") and err.strip() == f"escalator: error: no ticket 'T-nope' in the ticket store at {store.url}"
    (tmp_path / "exists.zip").write_bytes(b"x")
    code, _, err = await escalator(dev_env, "evidence", "T-1", "--out", str(tmp_path / "exists.zip"))
    assert code == 2 and "exists (an evidence pack is never overwritten)" in err
    code, _, err = await escalator(dev_env, "evidence", "verify", str(tmp_path / "exists.zip"))
    assert code == 2 and "cannot read it as a zip file" in err
    code, _, err = await escalator(dev_env, "evidence", "T-1")
    assert code == 2 and "--out: give the pack's file" in err
