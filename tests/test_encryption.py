"""Payload encryption: keys, rotation, an encrypted history, a worker without the key, the codec server."""

from __future__ import annotations

import asyncio
import contextlib
import base64
import json
import os
import subprocess
import sys
from contextlib import asynccontextmanager
from datetime import UTC, datetime

import httpx
import pytest
import uvicorn
from temporalio.api.common.v1 import Payload
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.testing import WorkflowEnvironment

from connection.codec import ENCODING, KEY_ID, EncryptionCodec, UndecryptablePayload
from connection.client import connect, load
from connection.keys import CodecKeyError, load_keys, new_key, parse_keys
from connection.profile import ConnectionFlags
from sla.messages import Acknowledge, DesignateCommander, HandOff
from sla.severity import Severity
from sla.ticket import TicketOpened
from starter.client import TicketClient, TicketError
from starter.codec_server import codec_app
from tests.conftest import binary
from worker.main import build_worker

K1, K2 = new_key("k1"), new_key("k2")
TITLE = "Checkout rejects cards for Octavia Brightwater"
NOTE = "Tried the vault rotation; Octavia's tokens still fail at the gateway"
COMMANDER = "Ignatius Pemberton"


def _keys(*pairs: str):
    return parse_keys(list(pairs), "test")


# ---- keys and the codec, no server ------------------------------------------------------------

@pytest.mark.parametrize(("pairs", "message"), [
    (["k1"], "test: key 1: expected KEYID:BASE64KEY (no ':' found)"),
    (["k 1:AAAA"], "test: key 1: key id 'k 1' must be 1-64 letters, digits, '.', '_' or '-'"),
    ([K1, K1], "test: key 2: key id 'k1' is given twice"),
    (["k1:not base64!"], "test: key 1 (k1): the key is not valid base64"),
    ([f"k1:{base64.b64encode(b'x' * 16).decode()}"], "test: key 1 (k1): the key is 16 bytes; AES-256 needs 32"),
])
def test_malformed_keys_are_refused_without_showing_them(pairs, message) -> None:
    with pytest.raises(CodecKeyError) as refused:
        parse_keys(pairs, "test")
    assert str(refused.value).startswith(message)
    assert K1.split(":")[1] not in str(refused.value)


def test_keys_come_from_a_file_or_the_environment(tmp_path) -> None:
    assert load_keys(environ={}) is None
    keys = load_keys(environ={"ESCALATOR_CODEC_KEYS": f"{K1},{K2}"})
    assert list(keys.keys) == ["k1", "k2"] and keys.current == "k2"
    file = tmp_path / "keys"
    file.write_text(f"# retired\n{K1}\n\n{K2}\n")
    assert load_keys(str(file), environ={"ESCALATOR_CODEC_KEYS": K1}).current == "k2"  # the flag wins
    with pytest.raises(CodecKeyError, match="ESCALATOR_CODEC_KEYS_FILE and ESCALATOR_CODEC_KEYS are both set: keep one"):
        load_keys(environ={"ESCALATOR_CODEC_KEYS": K1, "ESCALATOR_CODEC_KEYS_FILE": str(file)})
    with pytest.raises(CodecKeyError, match="--codec-keys-file: cannot read /nonexistent: No such file or directory"):
        load_keys("/nonexistent", environ={})


async def test_rotation_old_payloads_decode_new_ones_use_the_newest_key() -> None:
    plain = Payload(metadata={"encoding": b"json/plain"}, data=TITLE.encode())
    [under_k1] = await EncryptionCodec(_keys(K1)).encode([plain])
    assert under_k1.metadata[KEY_ID] == b"k1" and under_k1.metadata["encoding"] == ENCODING and TITLE.encode() not in under_k1.data
    rotated = EncryptionCodec(_keys(K1, K2))
    [under_k2] = await rotated.encode([plain])
    assert under_k2.metadata[KEY_ID] == b"k2"
    assert await rotated.decode([under_k1, under_k2, plain]) == [plain, plain, plain]  # plaintext passes through
    with pytest.raises(UndecryptablePayload, match=r"encrypted under key 'k1', which is not among the loaded keys \(k2\)"):
        await EncryptionCodec(_keys(K2)).decode([under_k1])
    other_k1 = new_key("k1")
    with pytest.raises(UndecryptablePayload, match="does not decrypt with the key loaded as 'k1'"):
        await EncryptionCodec(_keys(other_k1)).decode([under_k1])


# ---- a ticket on the dev server -----------------------------------------------------------

def _address(env: WorkflowEnvironment) -> str:
    return env.client.service_client.config.target_host


async def _client(env: WorkflowEnvironment, *pairs: str) -> Client:
    environ = {"ESCALATOR_CODEC_KEYS": ",".join(pairs)} if pairs else {}
    return await connect(load(ConnectionFlags(address=_address(env)), environ=environ))


def _payload_texts(history_json: str) -> list[bytes]:
    """Every payload's data in the exported history, base64-decoded."""
    out: list[bytes] = []

    def walk(node) -> None:
        if isinstance(node, dict):
            if "data" in node and isinstance(node["data"], str) and "metadata" in node:
                out.append(base64.b64decode(node["data"]))
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(json.loads(history_json))
    return out


async def _open_and_work(client: Client, ticket_id: str, task_queue: str) -> TicketClient:
    tickets = TicketClient(client, task_queue=task_queue)
    await tickets.open(TicketOpened(ticket_id=ticket_id, customer="ACME", title=TITLE, severity=Severity.SEV2,
                                    plan="premium", opened_at=datetime.now(UTC)))
    await tickets.acknowledge(ticket_id, Acknowledge(by="ipemberton"))
    await tickets.hand_off(ticket_id, HandOff(to="l2", note=NOTE, by="ipemberton"))
    await tickets.designate_commander(ticket_id, DesignateCommander(name=COMMANDER, by="ipemberton"))
    return tickets


@pytest.mark.devserver
async def test_an_encrypted_history_holds_no_plaintext(dev_env: WorkflowEnvironment, store, unique: str) -> None:
    client = await _client(dev_env, K1)
    async with build_worker(client, f"tq-{unique}", store=store):
        tickets = await _open_and_work(client, f"T-{unique}", f"tq-{unique}")
        view = await tickets.view(f"T-{unique}")
        assert view.state.ticket.title == TITLE and view.state.commander == COMMANDER  # with the key, all reads back
        # A refusal's reason travels encrypted too (this one quotes a name) and reads back whole.
        with pytest.raises(TicketError, match=f"^ticket T-{unique}: name: {COMMANDER} is already the incident commander$"):
            await tickets.designate_commander(f"T-{unique}", DesignateCommander(name=COMMANDER, by="ipemberton"))
    history = (await client.get_workflow_handle(f"T-{unique}").fetch_history()).to_json()
    texts = _payload_texts(history)
    assert len(texts) > 5
    for secret in (TITLE, NOTE, COMMANDER, "Octavia"):
        assert secret not in history, secret
        assert not any(secret.encode() in t for t in texts), secret
    assert base64.b64encode(ENCODING).decode() in history
    # The search attributes stay readable ids and enums: lists and filters still work.
    assert (await client.count_workflows(f"TicketId = 'T-{unique}' AND Owner = 'ipemberton'")).count == 1


@pytest.mark.devserver
async def test_a_worker_without_the_key_retries_and_never_fails_the_ticket(dev_env: WorkflowEnvironment, store, unique: str) -> None:
    queue, ticket_id = f"tq-{unique}", f"T-{unique}"
    with_k1 = await _client(dev_env, K1)
    async with build_worker(with_k1, queue, store=store):
        await _open_and_work(with_k1, ticket_id, queue)
    only_k2 = await _client(dev_env, K2)
    tickets = TicketClient(with_k1, task_queue=queue)
    async with build_worker(only_k2, queue, store=store):
        sent = await tickets.send(ticket_id, "acknowledge", Acknowledge(by="second-shift"), wait=3)
        assert sent.queued
        for _ in range(100):
            events = [e async for e in with_k1.get_workflow_handle(ticket_id).fetch_history_events()]
            failed = [e for e in events if e.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED]
            if failed:
                break
            await asyncio.sleep(0.2)
        assert failed, "the worker without the key never tried the task"
        assert (await with_k1.get_workflow_handle(ticket_id).describe()).status == WorkflowExecutionStatus.RUNNING
    # A worker given the retired key and the new one picks the ticket up where it waited.
    rotated = await _client(dev_env, K1, K2)
    async with build_worker(rotated, queue, store=store):
        for _ in range(150):
            view = await TicketClient(rotated, task_queue=queue).view(ticket_id)
            if view.state.owner == "second-shift":
                break
            await asyncio.sleep(0.2)
        assert view.state.owner == "second-shift" and view.state.ticket.title == TITLE
        await TicketClient(rotated, task_queue=queue).hand_off(ticket_id, HandOff(to="l3", note="vendor engaged", by="second-shift"))
    events = [e async for e in rotated.get_workflow_handle(ticket_id).fetch_history_events()]
    completed = [e for e in events if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED]
    assert completed[-1].activity_task_scheduled_event_attributes.input.payloads[0].metadata[KEY_ID] == b"k2"


@pytest.mark.devserver
async def test_the_cli_without_keys_refuses_in_one_line_and_sends_nothing(dev_env: WorkflowEnvironment, store, unique: str) -> None:
    client = await _client(dev_env, K1)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TEMPORAL_", "ESCALATOR_CODEC"))}

    async def cli(*args: str) -> tuple[int, str, str]:
        proc = await asyncio.create_subprocess_exec(sys.executable, "-m", "starter", *args, "--address", _address(dev_env), env=env,
                                                    stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        out, err = await proc.communicate()
        return proc.returncode, out.decode(), err.decode().strip()

    no_keys = "the ticket's payloads are encrypted and no codec keys are loaded: set ESCALATOR_CODEC_KEYS or --codec-keys-file"
    async with build_worker(client, f"tq-{unique}", store=store):
        tickets = await _open_and_work(client, f"T-{unique}", f"tq-{unique}")
        assert await cli("show", f"T-{unique}") == (1, "", f"escalator: error: {no_keys}")
        # A change would go in plaintext and its answer could not be read: refused before sending.
        assert await cli("status-update", f"T-{unique}", "--text", "PLAINLEAK", "--by", "bob") == (
            1, "", f"escalator: error: ticket T-{unique}: {no_keys}; nothing was sent")
        # Opening the running id again compares with its start input, which it cannot read.
        assert await cli("open", "--id", f"T-{unique}", "--customer", "ACME", "--severity", "sev2", "--title", "x") == (
            1, "", f"escalator: error: {no_keys}")
        assert (await tickets.view(f"T-{unique}")).state.status_updates_posted == 0
    history = (await client.get_workflow_handle(f"T-{unique}").fetch_history()).to_json()
    assert not any(b"PLAINLEAK" in t for t in _payload_texts(history))


def test_the_codec_server_refuses_an_origin_with_a_path(capsys) -> None:
    from starter.cli import main

    os.environ["ESCALATOR_CODEC_KEYS"] = K1
    try:
        assert main(["codec-server", "--cors-origin", "http://localhost:8233/"]) == 2
    finally:
        del os.environ["ESCALATOR_CODEC_KEYS"]
    assert "--cors-origin: 'http://localhost:8233/' is not an origin like" in capsys.readouterr().err


def test_a_worker_with_malformed_keys_refuses_to_start() -> None:
    env = {**os.environ, "ESCALATOR_CODEC_KEYS": "k1:c2hvcnQ="}
    proc = subprocess.run([sys.executable, "-m", "worker", "--address", "127.0.0.1:1"], env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert "the worker will not start" in proc.stderr
    assert "ESCALATOR_CODEC_KEYS: key 1 (k1): the key is 5 bytes; AES-256 needs 32" in proc.stderr


# ---- the codec server ------------------------------------------------------------------------

@asynccontextmanager
async def _served(app):
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="off"))
    server.capture_signals = contextlib.nullcontext  # pytest owns the signals
    task = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{server.servers[0].sockets[0].getsockname()[1]}"
    finally:
        server.should_exit = True
        await task


async def test_the_codec_server_round_trips_and_guards_its_door() -> None:
    body = {"payloads": [{"metadata": {"encoding": base64.b64encode(b"json/plain").decode()}, "data": base64.b64encode(TITLE.encode()).decode()}]}
    async with _served(codec_app(_keys(K1, K2), ["http://localhost:8233"], token="s3cret")) as url, httpx.AsyncClient() as http:
        auth = {"Authorization": "Bearer s3cret", "X-Namespace": "default"}
        encoded = (await http.post(f"{url}/encode", json=body, headers=auth)).json()
        assert base64.b64decode(encoded["payloads"][0]["metadata"][KEY_ID]) == b"k2"
        assert TITLE.encode() not in base64.b64decode(encoded["payloads"][0]["data"])
        decoded = (await http.post(f"{url}/decode", json=encoded, headers=auth)).json()
        assert decoded == body
        assert (await http.post(f"{url}/decode", json=encoded)).status_code == 401
        assert (await http.post(f"{url}/decode", json=encoded, headers={"Authorization": "Bearer wrong"})).status_code == 401
        bad = await http.post(f"{url}/decode", content=b"{nope", headers=auth)
        assert bad.status_code == 400 and "protobuf JSON" in bad.json()["detail"]
        # The UI calls from the browser: the preflight from its origin is allowed, others are not.
        preflight = {"Origin": "http://localhost:8233", "Access-Control-Request-Method": "POST",
                     "Access-Control-Request-Headers": "content-type,x-namespace,authorization"}
        allowed = await http.options(f"{url}/decode", headers=preflight)
        assert allowed.status_code == 200 and allowed.headers["access-control-allow-origin"] == "http://localhost:8233"
        refused = await http.options(f"{url}/decode", headers={**preflight, "Origin": "http://evil.example"})
        assert "access-control-allow-origin" not in refused.headers
    # A payload under a key this server lacks comes back as it was, not as an error for the page.
    async with _served(codec_app(_keys(new_key("k9")), ["http://localhost:8233"])) as url, httpx.AsyncClient() as http:
        assert (await http.post(f"{url}/decode", json=encoded)).json() == encoded


@pytest.mark.devserver
async def test_temporal_workflow_show_prints_ciphertext_and_plaintext_through_the_codec_server(
        dev_env: WorkflowEnvironment, store, unique: str) -> None:
    client = await _client(dev_env, K1)
    async with build_worker(client, f"tq-{unique}", store=store):
        await _open_and_work(client, f"T-{unique}", f"tq-{unique}")
    show = [binary("temporal"), "workflow", "show", "--address", _address(dev_env), "-w", f"T-{unique}", "--output", "json"]
    plain_env = {k: v for k, v in os.environ.items() if not k.startswith("TEMPORAL_")}
    async with _served(codec_app(_keys(K1), ["http://localhost:8233"])) as url:
        without = await asyncio.to_thread(subprocess.run, show, capture_output=True, text=True, env=plain_env, timeout=60)
        through = await asyncio.to_thread(subprocess.run, show + ["--codec-endpoint", url], capture_output=True, text=True, env=plain_env, timeout=60)
    assert without.returncode == 0 and through.returncode == 0, without.stderr + through.stderr
    assert TITLE not in without.stdout and NOTE not in without.stdout and base64.b64encode(ENCODING).decode() in without.stdout
    shown = b"\n".join(_payload_texts(through.stdout))
    assert not any(TITLE.encode() in t for t in _payload_texts(without.stdout))
    assert TITLE.encode() in shown and NOTE.encode() in shown and COMMANDER.encode() in shown


def test_the_worker_log_keeps_one_line_for_a_missing_key() -> None:
    import logging
    import sys as _sys

    from worker.logs import CollapseUndecryptable

    try:
        raise RuntimeError("Failed decoding") from UndecryptablePayload("a payload is encrypted under key 'k1', which is not among the loaded keys (k2)")
    except RuntimeError:
        record = logging.LogRecord("temporalio.worker._workflow", logging.ERROR, __file__, 1,
                                   "Failed handling activation on workflow with run ID %s", ("r-1",), _sys.exc_info())
    assert CollapseUndecryptable().filter(record) and record.exc_info is None
    assert record.getMessage() == ("Failed handling activation on workflow with run ID r-1: "
                                   "a payload is encrypted under key 'k1', which is not among the loaded keys (k2)")
