"""Wires the ticket workflow and its activities into a Temporal worker."""

from __future__ import annotations

import argparse
import asyncio
import signal
from datetime import timedelta
from pathlib import Path

import structlog
from temporalio.client import Client
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

from activities.notify import Notifier, NotifierSettings
from connection.client import CannotConnect, Settings as ConnectionSettings, connect, flags_of
from connection.client import add_arguments as add_temporal_arguments
from connection.client import load as load_connection
from connection.profile import ConnectionFlags
from activities.policy_snapshot import PolicySnapshots
from activities.reviews import ReviewSender
from store.ticket_store import TicketStore, engine_url, revisions, upgrade
from activities.timeline_store import TimelineWriter
from policies import DEFAULT_POLICY
from workflows.contract import TASK_QUEUE
from workflows.sandbox import workflow_runner
from workflows.review import ScheduledReviewWorkflow
from workflows.ticket import TicketWorkflow
from worker.health import operations_app, readiness, serve, worker_runtime
from worker.logs import configure_logging
from worker.settings import ConfigError, WorkerSettings, setting_problems

log = structlog.get_logger("escalator.worker")


def build_worker(
    client: Client, task_queue: str = TASK_QUEUE, policy_path: Path | None = None, *,
    store: TicketStore, notifier: NotifierSettings | None = None, notify=None, record_events=None, sandboxed: bool = True, **options,
) -> Worker:
    """A worker for ticket workflows; `notify` and `record_events` replace those activities
    (tests wrap them), `options` go to temporalio's Worker (tests set caching).

    `sandboxed` (the default, and how every test runs) executes the workflow in temporalio's
    sandbox, which refuses non-deterministic calls such as datetime.now(). `python -m worker`
    turns it off unless ESCALATOR_WORKFLOW_SANDBOX is set: the sandbox builds a fresh module
    namespace for every ticket it starts or replays, which made a burst of openings 1.6x slower
    (docs/performance.md), and the workflow code it would guard is exercised sandboxed by the
    whole test suite and the replay tests."""
    writer = TimelineWriter(store)
    snapshots = PolicySnapshots(policy_path or Path(str(DEFAULT_POLICY)), writer)
    snapshots.warm()
    notify = notify or Notifier(store, notifier or NotifierSettings(), timeline=writer).notify
    record_events = record_events or writer.record_ticket_events
    # Scheduled reviews (workflows/review.py) read the store and the same policy and contacts.
    reviews = ReviewSender(store, policy_path or Path(str(DEFAULT_POLICY)), notifier or NotifierSettings())
    return Worker(
        client,
        task_queue=task_queue,
        workflows=[TicketWorkflow, ScheduledReviewWorkflow],
        activities=[snapshots.snapshot_policy, notify, record_events, reviews.send_review],
        workflow_runner=workflow_runner() if sandboxed else UnsandboxedWorkflowRunner(),
        **options,
    )


async def open_store(database_url: str) -> TicketStore | None:
    """The ticket store, migrated when it is the embedded SQLite default; None (logged) when it
    cannot be used: a shared database is migrated on purpose (`escalator db upgrade`)."""
    try:
        if engine_url(database_url).startswith("sqlite"):
            # The embedded default migrates itself; a shared database is migrated on purpose.
            before, after = await asyncio.to_thread(upgrade, database_url)
            if before != after:
                log.info("ticket store migrated", database=database_url, revision=after)
        else:
            current, head = await asyncio.to_thread(revisions, database_url)
            if current != head:
                log.error("the ticket store's schema is not current: run `escalator db upgrade` first", revision=current, needed=head)
                return None
    except Exception as exc:  # the database is down, or refuses us
        log.error("cannot open the ticket store", database=engine_url(database_url).split("@")[-1], error=str(exc).splitlines()[0])
        return None
    return TicketStore(database_url)


async def connect_instrumented(temporal: ConnectionSettings, with_metrics: bool):
    """(client, runtime, metrics exporter URL or None) on a runtime of our own (core logs through
    structlog; metrics when asked); None, logged, when Temporal cannot be reached."""
    runtime, exporter = worker_runtime(with_metrics=with_metrics)
    try:
        return await connect(temporal, runtime=runtime), runtime, exporter
    except CannotConnect as exc:
        log.error("cannot connect to Temporal", error=str(exc))
        return None


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m worker", description="Run a ticket worker. Every flag has an environment variable.")
    flag = parser.add_argument
    add_temporal_arguments(parser)
    flag("--task-queue", dest="task_queue", help=f"task queue (ESCALATOR_TASK_QUEUE; default {TASK_QUEUE})")
    flag("--database-url", dest="database_url", help="ticket store (DATABASE_URL; default sqlite:///.escalator/tickets.db)")
    flag("--policy", dest="policy", help="policy TOML (ESCALATOR_POLICY; default the bundled policy)")
    flag("--contacts", dest="contacts", help="contacts TOML (ESCALATOR_CONTACTS; default none: every role is logged to the console)")
    flag("--ui-url", dest="ui_url", help="Temporal UI base URL for links in notifications (ESCALATOR_UI_URL)")
    flag("--log-level", dest="log_level", help="ESCALATOR_LOG_LEVEL (default INFO)")
    flag("--workflow-sandbox", dest="workflow_sandbox", action="store_const", const=True,
         help="run ticket workflows in temporalio's sandbox (ESCALATOR_WORKFLOW_SANDBOX; default off: docs/performance.md)")
    flag("--max-cached-workflows", dest="max_cached_workflows", type=int,
         help="tickets kept in memory between tasks (ESCALATOR_MAX_CACHED_WORKFLOWS; default temporalio's; 0: none)")
    flag("--metrics-port", dest="metrics_port", type=int,
         help="serve /metrics (Prometheus), /healthz and /readyz on this port (ESCALATOR_METRICS_PORT; default off)")
    flag("--metrics-bind", dest="metrics_bind", help="address of that port (ESCALATOR_METRICS_BIND; default 127.0.0.1)")
    flag("--grace-period", dest="grace_period", type=float, metavar="SECONDS",
         help="on SIGTERM, stop polling and let running deliveries finish this long before cancelling them (ESCALATOR_GRACE_PERIOD; default 30)")
    return parser.parse_args(argv)


def load_settings(argv: list[str] | None = None) -> tuple[WorkerSettings, ConnectionFlags, str | None]:
    """The worker's settings, the connection flags and the keys file flag (both read by `connection`)."""
    args = _arguments(argv)
    return WorkerSettings.from_args(args), *flags_of(args)


async def main(argv: list[str] | None = None) -> int:
    try:
        settings, flags, keys_file = load_settings(argv)
    except Exception as exc:  # pydantic-settings: a bad environment value or flag
        configure_logging("INFO")
        log.error("the worker's configuration is not valid", problems=setting_problems(exc))
        return 2
    configure_logging(settings.log_level)
    problems: list[str] = []
    try:
        _, warnings = settings.check()
    except ConfigError as exc:
        problems += str(exc).splitlines()
    try:
        temporal: ConnectionSettings = load_connection(flags, keys_file)
    except CannotConnect as exc:
        problems += str(exc).splitlines()
    if problems:
        log.error("the worker will not start", problems=problems)
        return 2
    for warning in warnings:
        log.warning("contacts", warning=warning)
    store = await open_store(settings.database_url)
    if store is None:
        return 2
    connected = await connect_instrumented(temporal, with_metrics=settings.metrics_port is not None)
    if connected is None:
        return 2
    client, _, exporter = connected
    cache = {} if settings.max_cached_workflows is None else {"max_cached_workflows": settings.max_cached_workflows}
    worker = build_worker(client, settings.task_queue, settings.policy_path, store=store, notifier=settings.notifier(temporal.connection.namespace),
                          sandboxed=settings.workflow_sandbox, graceful_shutdown_timeout=timedelta(seconds=settings.grace_period), **cache)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    operations = None
    if exporter:
        try:
            operations = await serve(operations_app(exporter, readiness(client, worker, stop)), settings.metrics_bind, settings.metrics_port)
        except OSError as exc:
            log.error("cannot serve the operations port", error=str(exc))
            return 2
    log.info("worker started", temporal=temporal.connection.where,
             payloads=temporal.keys.describe() if temporal.keys else "not encrypted",
             task_queue=settings.task_queue, policy=str(settings.policy_path), contacts=str(settings.contacts or "-"),
             database=engine_url(settings.database_url).split("@")[-1])
    async with worker:
        if operations:
            log.info("operations port", url=f"http://{settings.metrics_bind}:{settings.metrics_port}", paths="/metrics /healthz /readyz")
        await stop.wait()
        # Leaving the block stops polling at once and waits up to the grace period for running
        # activities (deliveries in flight) before cancelling them; /readyz says 503 meanwhile.
        log.info("worker stopping", grace_period_s=settings.grace_period)
    if operations:
        operations[0].should_exit = True
        await operations[1]
    store.close()
    log.info("worker stopped")
    return 0
