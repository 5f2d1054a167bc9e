"""`escalator dev` as a user runs it: everything comes up, Ctrl-C leaves nothing behind."""

from __future__ import annotations

import asyncio
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


async def test_dev_runner_brings_up_server_ui_worker_and_stops_them(tmp_path: Path) -> None:
    port, ui_port = free_port(), free_port()
    address = f"127.0.0.1:{port}"
    stderr = open(tmp_path / "dev.stderr", "wb")
    env = {**os.environ, "XDG_STATE_HOME": str(tmp_path / "state")}  # where dev records its data folder
    env.pop("DATABASE_URL", None)
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "starter", "dev", "--port", str(port), "--ui-port", str(ui_port), "--data-dir", str(tmp_path / "data"),
        stdout=asyncio.subprocess.PIPE, stderr=stderr, env=env,
    )
    banner = ""
    try:
        while "Ctrl-C stops" not in banner:
            line = await asyncio.wait_for(proc.stdout.readline(), timeout=90)
            assert line, f"escalator dev exited early: {(tmp_path / 'dev.stderr').read_text()}"
            banner += line.decode()
        server_pid = int(re.search(r"Dev server:\s+pid (\d+)", banner).group(1))
        worker_pid = int(re.search(r"Worker:\s+pid (\d+)", banner).group(1))
        assert f"http://localhost:{ui_port}/namespaces/default/workflows" in banner

        status = await asyncio.to_thread(lambda: urllib.request.urlopen(f"http://127.0.0.1:{ui_port}/", timeout=10).status)
        assert status == 200

        client = await Client.connect(address)
        ns = await client.workflow_service.describe_namespace(DescribeNamespaceRequest(namespace="default"))
        assert ns.config.workflow_execution_retention_ttl.ToTimedelta() == timedelta(days=30)

        code, out = await run_cli("open", "--address", address, "--customer", "ACME", "--severity", "sev2", "--title", "t", "--id", "T-dev")
        assert code == 0, out
        assert f"next: escalator show --address {address} T-dev" in out  # the hint carries the address it was given
        code, out = await run_cli("show", "--address", address, "T-dev")
        assert code == 0 and "Sev-2" in out, out
        assert (tmp_path / "data" / "temporal.db").exists()
        elsewhere = tmp_path / "elsewhere"
        elsewhere.mkdir()
        for _ in range(50):  # from another folder, timeline finds the store dev uses
            code, out = await run_cli("timeline", "T-dev", env=env, cwd=elsewhere)
            if code == 0:
                break
            await asyncio.sleep(0.2)
        assert code == 0 and "opened" in out, out
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGINT)
        rc = await asyncio.wait_for(proc.wait(), timeout=60)
        stderr.close()
    assert rc == 0
    assert not alive(server_pid) and not alive(worker_pid)
    for p in (port, ui_port):
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
