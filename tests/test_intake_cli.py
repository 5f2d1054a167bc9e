"""`escalator api-key` and `escalator api` as a user runs them: keys shown once, settings refused
in one line each before listening, a real server process that answers and stops cleanly."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import stat
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from temporalio.testing import WorkflowEnvironment

from intake.hooks.mapping import SHIPPED
from tests.intake_server import free_port


def escalator(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "starter", *args], capture_output=True, text=True, timeout=60,
                          env={**os.environ, **(env or {})}, cwd=cwd)


def test_api_key_create_prints_the_key_once_and_keeps_only_its_hash(tmp_path: Path) -> None:
    keys = tmp_path / "keys.json"
    made = escalator("api-key", "create", "helpdesk", "--scope", "read,write", "--keys-file", str(keys))
    assert made.returncode == 0, made.stderr
    key = made.stdout.strip()
    assert made.stdout == key + "\n" and key.startswith("esk_")  # the key alone on stdout
    assert "shown this once" in made.stderr
    assert key not in keys.read_text() and stat.S_IMODE(keys.stat().st_mode) == 0o600
    assert escalator("api-key", "create", "admin-bot", "--scope", "admin", "--keys-file", str(keys)).returncode == 0
    listed = escalator("api-key", "list", "--keys-file", str(keys), "--json")
    assert [(k["name"], k["scopes"]) for k in json.loads(listed.stdout)["keys"]] == [("admin-bot", ["admin"]), ("helpdesk", ["read", "write"])]
    assert key not in listed.stdout

    for args, says in ((["helpdesk", "--scope", "read"], "already in"), (["x", "--scope", "read,delete"], "--scope: delete"),
                       (["bad name", "--scope", "read"], "NAME:"), (["y", "--scope", ""], "--scope: empty")):
        refused = escalator("api-key", "create", *args, "--keys-file", str(keys))
        assert refused.returncode == 2 and says in refused.stderr and refused.stdout == "", refused.stderr
    (tmp_path / "broken.json").write_text("{")
    refused = escalator("api-key", "create", "z", "--scope", "read", "--keys-file", str(tmp_path / "broken.json"))
    assert refused.returncode == 2 and "not a keys file" in refused.stderr


def test_api_refuses_bad_settings_in_one_line_each_before_listening(tmp_path: Path) -> None:
    hooks = tmp_path / "hooks"
    hooks.mkdir()
    (hooks / "zendesk.toml").write_text((SHIPPED / "zendesk.toml").read_text())  # its secret is not set
    (tmp_path / "keys.json").write_text('{"keys": [{"name": "a", "sha256": "short", "scopes": ["read"]}]}')
    env = {"ZENDESK_WEBHOOK_SECRET": "", "ESCALATOR_API_KEYS_FILE": ""}
    run = escalator("api", "--keys-file", str(tmp_path / "keys.json"), "--hooks-dir", str(hooks), "--policy", str(tmp_path / "none.toml"),
                    "--database-url", "mysql://x/y", "--port", str(free_port()), env=env)
    assert run.returncode == 2, run.stderr
    lines = run.stderr.strip().splitlines()
    assert any("--keys-file" in line and "keys[0].sha256" in line for line in lines), lines
    assert any("--hooks-dir: zendesk" in line and "ZENDESK_WEBHOOK_SECRET" in line for line in lines), lines
    assert any(line.startswith("escalator api: error: --policy: cannot read policy file") for line in lines), lines
    assert any("--database-url" in line and "mysql is not supported" in line for line in lines), lines
    missing = escalator("api", "--port", str(free_port()), env=env)
    assert missing.returncode == 2 and "--keys-file: required" in missing.stderr
    escalator("api-key", "create", "a", "--scope", "read", "--keys-file", str(tmp_path / "good.json"))
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        taken = busy.getsockname()[1]
        run = escalator("api", "--keys-file", str(tmp_path / "good.json"), "--hooks-dir", str(tmp_path / "no-such-folder"),
                        "--port", str(taken), "--database-url", f"sqlite:///{tmp_path / 's.db'}", env=env)
    assert run.returncode == 2, run.stderr
    assert "--hooks-dir: " in run.stderr and "no such folder" in run.stderr and "Traceback" not in run.stderr
    assert f"--port: cannot listen on 127.0.0.1:{taken}: in use" in run.stderr


@pytest.mark.devserver
async def test_api_serves_and_stops_on_sigterm(dev_env: WorkflowEnvironment, tmp_path: Path) -> None:
    keys = tmp_path / "keys.json"
    key = escalator("api-key", "create", "ops", "--scope", "read", "--keys-file", str(keys)).stdout.strip()
    port = free_port()
    address = dev_env.client.service_client.config.target_host
    proc = subprocess.Popen([sys.executable, "-m", "starter", "api", "--port", str(port), "--keys-file", str(keys), "--address", address, "--access-log",
                             "--database-url", f"sqlite:///{tmp_path / 'store.db'}"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        for _ in range(200):
            try:
                ready = json.loads(urllib.request.urlopen(f"http://127.0.0.1:{port}/v1/readyz", timeout=5).read())
                break
            except (urllib.error.URLError, ConnectionError):
                await asyncio.sleep(0.1)
        assert ready == {"ready": True, "checks": {"temporal": "ok", "ticket_store": "ok", "api_keys": "ok"}}
        request = urllib.request.Request(f"http://127.0.0.1:{port}/v1/tickets?limit=1", headers={"Authorization": f"Bearer {key}"})
        assert json.loads(urllib.request.urlopen(request, timeout=10).read())["tickets"] is not None
    finally:
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert f"serving http://127.0.0.1:{port}/v1" in err and key not in err
    assert '"GET /v1/tickets?limit=1 HTTP/1.1" 200' in out and key not in out  # --access-log: a line per request (uvicorn's, on stdout)
