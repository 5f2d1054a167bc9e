"""The HTTP intake served by uvicorn on a free port, in the test's event loop, for real HTTP clients."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator
from pathlib import Path

import uvicorn
from temporalio.client import Client

from intake.api_keys import KeyRing, create_key
from intake.app import create_app
from intake.context import Intake
from intake.rate_limit import RateLimit
from policies import DEFAULT_POLICY
from sla.policy import parse_policy
from starter.client import TicketClient
from store.idempotency import IdempotencyRecords
from store.ticket_store import upgrade


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def make_keys(folder: Path) -> tuple[Path, dict[str, str]]:
    """A keys file with a key per scope set: {"rw": key, "read": key, "write": key, "admin": key}."""
    path = folder / "api-keys.json"
    keys = {name: create_key(path, name, scopes) for name, scopes in
            (("rw", ["read", "write"]), ("read", ["read"]), ("write", ["write"]), ("admin", ["admin"]))}
    return path, keys


def make_intake(client: Client, folder: Path, keys_file: Path, database_url: str | None = None, **kwargs) -> Intake:
    url = database_url or f"sqlite:///{folder / 'intake.db'}"
    upgrade(url)

    async def connect() -> TicketClient:
        return TicketClient(client)

    return Intake(keys=KeyRing(keys_file), policy=parse_policy(DEFAULT_POLICY.read_text(), "default.toml"),
                  records=IdempotencyRecords(url), rate_limit=kwargs.pop("rate_limit", RateLimit(1000)), connect=connect, **kwargs)


@contextlib.asynccontextmanager
async def serving(intake: Intake) -> AsyncIterator[str]:
    """Serve the app until the block ends; yields its base URL (`http://127.0.0.1:PORT`)."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(intake), host="127.0.0.1", port=port, log_level="warning", lifespan="on"))
    task = asyncio.create_task(server.serve())
    for _ in range(200):
        if server.started and intake.client is not None:
            break
        await asyncio.sleep(0.02)
    assert server.started, "the API did not start"
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task
