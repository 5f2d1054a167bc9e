"""Wires the ticket workflow and its activities into a Temporal worker."""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
from pathlib import Path

import structlog
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Worker

from activities.console_notifier import notify_console
from activities.policy_snapshot import PolicySnapshots
from policies import DEFAULT_POLICY
from sla.policy import PolicyError, parse_policy
from workflows.contract import TASK_QUEUE
from workflows.sandbox import workflow_runner
from workflows.ticket import TicketWorkflow
from worker.logs import configure_logging

log = structlog.get_logger("escalator.worker")


def build_worker(
    client: Client, task_queue: str = TASK_QUEUE, policy_path: Path | None = None, notify=notify_console, **options
) -> Worker:
    """A worker for ticket workflows; `options` go to temporalio's Worker (tests set caching)."""
    snapshots = PolicySnapshots(policy_path or Path(str(DEFAULT_POLICY)))
    return Worker(
        client,
        task_queue=task_queue,
        workflows=[TicketWorkflow],
        activities=[snapshots.snapshot_policy, notify],
        workflow_runner=workflow_runner(),
        **options,
    )


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m worker", description="Run a ticket worker.")
    parser.add_argument("--address", default=os.environ.get("TEMPORAL_ADDRESS", "localhost:7233"), help="Temporal frontend (env TEMPORAL_ADDRESS)")
    parser.add_argument("--namespace", default=os.environ.get("TEMPORAL_NAMESPACE", "default"), help="Temporal namespace (env TEMPORAL_NAMESPACE)")
    parser.add_argument("--task-queue", default=os.environ.get("ESCALATOR_TASK_QUEUE", TASK_QUEUE), help="task queue (env ESCALATOR_TASK_QUEUE)")
    parser.add_argument("--policy", type=Path, default=os.environ.get("ESCALATOR_POLICY"), help="policy TOML file (env ESCALATOR_POLICY; default: the bundled default policy)")
    parser.add_argument("--log-level", default=os.environ.get("ESCALATOR_LOG_LEVEL", "INFO"))
    return parser.parse_args(argv)


async def main(argv: list[str] | None = None) -> int:
    args = _arguments(argv)
    configure_logging(args.log_level)
    policy_path = args.policy or Path(str(DEFAULT_POLICY))
    try:
        parse_policy(policy_path.read_text(encoding="utf-8"), str(policy_path))
    except OSError as exc:
        log.error("cannot read the policy file", path=str(policy_path), error=exc.strerror)
        return 2
    except PolicyError as exc:
        log.error("the policy file is not valid", errors=str(exc).splitlines())
        return 2
    try:
        client = await Client.connect(args.address, namespace=args.namespace, data_converter=pydantic_data_converter)
    except RuntimeError as exc:
        log.error("cannot connect to Temporal", address=args.address, error=str(exc))
        return 2
    worker = build_worker(client, args.task_queue, policy_path)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    log.info("worker started", address=args.address, namespace=args.namespace, task_queue=args.task_queue, policy=str(policy_path))
    async with worker:
        await stop.wait()
        log.info("worker stopping")
    return 0
