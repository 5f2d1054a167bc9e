"""The worker's operations port: `/metrics`, `/healthz`, `/readyz`, and the SDK's runtime.

Metrics: the SDK's Rust core exports its own metrics and everything emitted on its metric
meter (the product's, from workflows/measure.py and the notifier) through its Prometheus
exporter, which answers only `/metrics` on a port of its own. It listens on a loopback port
chosen here and `/metrics` on the operations port relays it unchanged, so one port serves
metrics and health. Core's own log lines are forwarded to the `temporalio.core` logger, so they
come out through structlog like everything else.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import Awaitable, Callable
from datetime import timedelta

import httpx
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from temporalio.runtime import LogForwardingConfig, LoggingConfig, PrometheusConfig, Runtime, TelemetryConfig, TelemetryFilter

from workflows.measure import LAG, LAG_BUCKETS

PROMETHEUS_TEXT = "text/plain; version=0.0.4; charset=utf-8"


def _loopback_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def worker_runtime(with_metrics: bool) -> tuple[Runtime, str | None]:
    """A Runtime whose core logs go through Python logging, and, `with_metrics`, whose Prometheus
    exporter listens on a loopback port; returns it and that exporter's URL (None without)."""
    logging_config = LoggingConfig(filter=TelemetryFilter(core_level="WARN", other_level="WARN"),
                                   forwarding=LogForwardingConfig(logger=logging.getLogger("temporalio.core")))
    if not with_metrics:
        return Runtime(telemetry=TelemetryConfig(logging=logging_config)), None
    port = _loopback_port()
    metrics = PrometheusConfig(bind_address=f"127.0.0.1:{port}", counters_total_suffix=True, durations_as_seconds=True,
                               histogram_bucket_overrides={LAG: list(LAG_BUCKETS)})
    return Runtime(telemetry=TelemetryConfig(logging=logging_config, metrics=metrics)), f"http://127.0.0.1:{port}/metrics"


def operations_app(exporter_url: str, ready: Callable[[], Awaitable[str | None]]) -> Starlette:
    """`ready()` returns None when ready, else why not (answered with 503)."""
    async def metrics(request: Request) -> Response:
        try:
            async with httpx.AsyncClient(timeout=5) as http:  # a scrape every 15 s or so: no pool needed
                answer = await http.get(exporter_url)
        except httpx.HTTPError as exc:
            return Response(f"the SDK's metrics exporter did not answer: {exc}\n", status_code=503)
        return Response(answer.content, status_code=answer.status_code, media_type=PROMETHEUS_TEXT)

    async def healthz(request: Request) -> Response:
        return JSONResponse({"ok": True})

    async def readyz(request: Request) -> Response:
        why = await ready()
        return JSONResponse({"ready": why is None, **({"why": why} if why else {})}, status_code=200 if why is None else 503)

    return Starlette(routes=[Route("/metrics", metrics), Route("/healthz", healthz), Route("/readyz", readyz)])


def readiness(client, worker, stopping: asyncio.Event) -> Callable[[], Awaitable[str | None]]:
    """Ready: the worker is polling (started, not stopping) and Temporal answers a health check."""
    async def ready() -> str | None:
        if stopping.is_set():
            return "the worker is stopping"
        if not worker.is_running:
            return "the worker is not polling"
        try:
            healthy = await client.service_client.check_health(timeout=timedelta(seconds=2))
        except Exception as exc:  # the core's RPC errors
            return f"Temporal does not answer: {str(exc)[:160]}"
        return None if healthy else "Temporal says it is not serving"
    return ready


async def serve(app: Starlette, bind: str, port: int) -> tuple[uvicorn.Server, asyncio.Task]:
    """Serve `app` in this event loop; the caller sets `server.should_exit` and awaits the task.
    Raises OSError (one line) when the address cannot be bound."""
    with socket.socket() as probe:  # uvicorn would print its own error and exit the process
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((bind, port))
        except OSError as exc:
            raise OSError(f"cannot listen on {bind}:{port}: {exc.strerror} (choose another with --metrics-port / --metrics-bind)") from None
    server = uvicorn.Server(uvicorn.Config(app, host=bind, port=port, log_level="warning", access_log=False))
    server.capture_signals = contextlib.nullcontext  # the worker owns SIGTERM and SIGINT
    task = asyncio.create_task(server.serve())
    while not server.started and not task.done():
        await asyncio.sleep(0.02)
    if task.done():
        task.result()  # the port is taken, say: raise it
        raise OSError(f"the operations port {bind}:{port} did not start")
    return server, task
