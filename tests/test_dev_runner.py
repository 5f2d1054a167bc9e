"""`escalator dev` as a user runs it: everything comes up, Ctrl-C leaves nothing behind."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import socket
import sys
import urllib.request
from datetime import timedelta
from pathlib import Path

from temporalio.api.workflowservice.v1 import DescribeNamespaceRequest
from temporalio.client import Client


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


async def run_cli(*args: str, env: dict | None = None, cwd: Path | None = None) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(sys.executable, "-m", "starter", *args, stdout=asyncio.subprocess.PIPE,
                                                stderr=asyncio.subprocess.STDOUT, env=env, cwd=cwd)
    out, _ = await proc.communicate()
    return proc.returncode, out.decode()


async def start_dev(tmp_path: Path, env: dict[str, str], *args: str) -> tuple[asyncio.subprocess.Process, str]:
    """`escalator dev ARGS` with its data in tmp_path/data, once its banner is printed."""
    stderr = open(tmp_path / "dev.stderr", "wb")
    proc = await asyncio.create_subprocess_exec(sys.executable, "-m", "starter", "dev", *args, "--data-dir", str(tmp_path / "data"),
                                                stdout=asyncio.subprocess.PIPE, stderr=stderr, env=env)
    stderr.close()
    banner = ""
    while "Ctrl-C stops" not in banner:
        line = await asyncio.wait_for(proc.stdout.readline(), timeout=90)
        if not line:
            raise AssertionError(f"escalator dev exited early: {(tmp_path / 'dev.stderr').read_text()}")
        banner += line.decode()
    return proc, banner


async def stop_dev(proc: asyncio.subprocess.Process) -> int:
    if proc.returncode is None:
        proc.send_signal(signal.SIGINT)
    return await asyncio.wait_for(proc.wait(), timeout=60)


async def test_dev_runner_brings_up_server_ui_worker_and_stops_them(tmp_path: Path) -> None:
    port, ui_port, metrics_port, api_port = free_port(), free_port(), free_port(), free_port()
    address = f"127.0.0.1:{port}"
    env = {**os.environ, "XDG_STATE_HOME": str(tmp_path / "state")}  # where dev records its data folder
    env.pop("DATABASE_URL", None)
    proc, banner = await start_dev(tmp_path, env, "--port", str(port), "--ui-port", str(ui_port), "--metrics-port", str(metrics_port),
                                   "--api-port", str(api_port))
    try:
        server_pid = int(re.search(r"Dev server:\s+pid (\d+)", banner).group(1))
        worker_pid = int(re.search(r"Worker:\s+pid (\d+)", banner).group(1))
        api_pid = int(re.search(r"HTTP intake:.*pid (\d+)", banner).group(1))
        key = re.search(r"API key:\s+(esk_\S+)", banner).group(1)
        assert key == (tmp_path / "data" / "api-key").read_text().strip() and key not in (tmp_path / "data" / "api-keys.json").read_text()
        assert f"curl -s http://localhost:{api_port}/v1/tickets -H 'Authorization: Bearer {key}'" in banner
        assert f"http://localhost:{ui_port}/namespaces/default/workflows" in banner

        status = await asyncio.to_thread(lambda: urllib.request.urlopen(f"http://127.0.0.1:{ui_port}/", timeout=10).status)
        assert status == 200
        assert f"Metrics:      http://localhost:{metrics_port}/metrics" in banner
        for _ in range(100):  # the worker serves its operations port once it has connected
            try:
                metrics = await asyncio.to_thread(lambda: urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=10).read())
                break
            except OSError:
                await asyncio.sleep(0.1)
        assert b"temporal_" in metrics

        client = await Client.connect(address)
        ns = await client.workflow_service.describe_namespace(DescribeNamespaceRequest(namespace="default"))
        assert ns.config.workflow_execution_retention_ttl.ToTimedelta() == timedelta(days=30)

        code, out = await run_cli("open", "--address", address, "--customer", "ACME", "--severity", "sev2", "--title", "t", "--id", "T-dev")
        assert code == 0, out
        assert f"next: escalator show --address {address} T-dev" in out  # the hint carries the address it was given
        code, out = await run_cli("show", "--address", address, "T-dev")
        assert code == 0 and "Sev-2" in out, out
        # The HTTP intake, as the banner shows it: a ticket opened and read with the printed key.
        request = urllib.request.Request(f"http://127.0.0.1:{api_port}/v1/tickets", method="POST", data=b'{"customer": "ACME", "severity": "sev3", "title": "t"}',
                                         headers={"Authorization": f"Bearer {key}", "Idempotency-Key": "first-ticket", "Content-Type": "application/json"})
        opened = json.loads(await asyncio.to_thread(lambda: urllib.request.urlopen(request, timeout=30).read()))
        assert opened["created"] is True and opened["ticket_id"].startswith("T-")
        assert (tmp_path / "data" / "temporal.db").exists()
        elsewhere = tmp_path / "elsewhere"
        elsewhere.mkdir()
        for _ in range(50):  # from another folder, timeline finds the store dev uses
            code, out = await run_cli("timeline", "T-dev", env=env, cwd=elsewhere)
            if code == 0:
                break
            await asyncio.sleep(0.2)
        assert code == 0 and "opened" in out, out
        # The doctor, from another folder, finds the same store and the dev worker: every check passes.
        code, out = await run_cli("doctor", "--address", address, env=env, cwd=elsewhere)
        assert code == 0 and out.splitlines()[-1] == "all checks passed", out
        assert f"ok    ticket store       sqlite:///{(tmp_path / 'data' / 'tickets.db').resolve()}: schema " in out, out
    finally:
        rc = await stop_dev(proc)
    assert rc == 0
    assert not alive(server_pid) and not alive(worker_pid) and not alive(api_pid)
    for p in (port, ui_port, api_port):
        with socket.socket() as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # TIME_WAIT is fine; a listener is not
            s.bind(("127.0.0.1", p))


async def test_dev_runner_refuses_a_port_in_use(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        code, out = await run_cli("dev", "--port", str(port), "--ui-port", str(free_port()), "--data-dir", str(tmp_path))
    assert code == 1
    assert f"port {port} on 127.0.0.1 is in use" in out and "--port" in out


async def test_dev_runner_with_keys_encrypts_and_wires_the_codec_server_to_the_ui(tmp_path: Path) -> None:
    from connection.keys import new_key

    port, ui_port, codec_port = free_port(), free_port(), free_port()
    data = tmp_path / "data"
    # Settings meant for another server must not reach the dev worker: it reads only its own profile.
    env = {**os.environ, "XDG_STATE_HOME": str(tmp_path / "state"), "ESCALATOR_CODEC_KEYS": new_key("dev1"),
           "TEMPORAL_PROFILE": "cloud", "TEMPORAL_API_KEY": "not-for-the-dev-server"}
    env.pop("DATABASE_URL", None)
    proc, banner = await start_dev(tmp_path, env, "--port", str(port), "--ui-port", str(ui_port), "--codec-port", str(codec_port),
                                   "--metrics-port", str(free_port()), "--api-port", str(free_port()))
    try:
        pids = [int(re.search(rf"{name}:.*pid (\d+)", banner).group(1)) for name in ("Dev server", "Worker", "Codec server")]
        assert "Payloads:     encrypted, 1 key(s) from ESCALATOR_CODEC_KEYS; new payloads under 'dev1'" in banner
        settings = await asyncio.to_thread(lambda: urllib.request.urlopen(f"http://127.0.0.1:{ui_port}/api/v1/settings", timeout=10).read())
        assert f"http://localhost:{codec_port}" in settings.decode()  # the UI calls the codec server
        for origin in (f"http://localhost:{ui_port}", f"http://127.0.0.1:{ui_port}"):
            preflight = urllib.request.Request(f"http://127.0.0.1:{codec_port}/decode", method="OPTIONS", headers={
                "Origin": origin, "Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "content-type,x-namespace"})
            answer = await asyncio.to_thread(lambda: urllib.request.urlopen(preflight, timeout=10))
            assert answer.headers["access-control-allow-origin"] == origin

        cli_env = {k: v for k, v in env.items() if not k.startswith("TEMPORAL_")}
        profile = str(data / "temporal.toml")
        code, out = await run_cli("open", "--config-file", profile, "--customer", "ACME", "--severity", "sev2",
                                  "--title", "Secret outage at Zebulon", "--id", "T-enc", env=cli_env)
        assert code == 0, out
        code, out = await run_cli("show", "--config-file", profile, "T-enc", env=cli_env)
        assert code == 0 and "Secret outage at Zebulon" in out, out
        started = await anext(aiter((await Client.connect(f"127.0.0.1:{port}")).get_workflow_handle("T-enc").fetch_history_events()))
        payload = started.workflow_execution_started_event_attributes.input.payloads[0]
        assert payload.metadata["encoding"] == b"binary/encrypted" and b"Zebulon" not in payload.data
    finally:
        rc = await stop_dev(proc)
    assert rc == 0
    assert not any(alive(pid) for pid in pids)
