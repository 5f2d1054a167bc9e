"""The HTTP intake as an ASGI app (FastAPI): routes, health, the OpenAPI document, and its lifespan.

`create_app(intake)` is all a server needs (`escalator api` runs it on uvicorn). The lifespan
connects to Temporal in the background, trying again every 2 s, so the API starts (and says
it is not ready on /v1/readyz) while Temporal is still coming up; it prunes stored answers
older than 48 h once an hour.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from datetime import timedelta
from importlib.metadata import version
from typing import Any

import structlog
from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse
from pydantic import TypeAdapter
from temporalio.api.workflowservice.v1 import GetSystemInfoRequest

from intake import hooks_route, tickets
from intake.context import Intake
from intake.problems import HANDLERS
from intake.wire import EventBody, OpenTicket
from sla.ticket import ID_PATTERN
from starter.client import TicketError

log = structlog.get_logger("escalator.api")
RECONNECT_EVERY = 2.0
PRUNE_EVERY = 3600.0


async def _connect(intake: Intake) -> None:
    said = False
    while intake.client is None:
        try:
            intake.client = await intake.connect()
            log.info("connected to Temporal", namespace=intake.client.client.namespace)
        except TicketError as exc:
            if not said:
                log.warning("cannot reach Temporal yet; trying every 2 s", reason=str(exc))
                said = True
            await asyncio.sleep(RECONNECT_EVERY)


async def _prune(intake: Intake) -> None:
    while True:
        try:
            removed = await asyncio.to_thread(intake.records.prune)
            if removed:
                log.info("pruned stored answers older than 48 h", removed=removed)
        except Exception as exc:  # the store may be down for a while; the next round tries again
            log.warning("pruning stored answers failed", reason=str(exc).splitlines()[0][:200])
        await asyncio.sleep(PRUNE_EVERY)


def create_app(intake: Intake) -> FastAPI:
    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        tasks = [asyncio.create_task(_connect(intake)), asyncio.create_task(_prune(intake))]
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            intake.records.close()

    app = FastAPI(title="Escalation orchestrator: HTTP intake", version=version("escalation-orchestrator"),
                  description="Open and drive tickets over HTTP, and take signed webhooks from helpdesks (docs/intake.md).",
                  openapi_url="/v1/openapi.json", docs_url=None, redoc_url=None, lifespan=lifespan,
                  redirect_slashes=False,  # /v1/tickets/ is a 404 problem document, not a bare 307
                  exception_handlers=HANDLERS)  # type: ignore[arg-type]
    app.state.intake = intake
    app.include_router(tickets.router)
    app.include_router(hooks_route.router)

    @app.get("/v1/healthz", summary="The process answers", tags=["health"])
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/v1/readyz", summary="Temporal and the ticket store answer; the keys file is good", tags=["health"],
             responses={503: {"description": "Not ready: `checks` says why"}})
    async def readyz() -> JSONResponse:
        checks = await readiness(intake)
        ready = all(v == "ok" for v in checks.values())
        return JSONResponse({"ready": ready, "checks": checks}, status_code=200 if ready else 503)

    app.openapi = lambda: _openapi(app)  # type: ignore[method-assign]
    return app


async def readiness(intake: Intake) -> dict[str, str]:
    checks: dict[str, str] = {}
    if intake.client is None:
        checks["temporal"] = "not connected yet"
    else:
        try:
            await intake.client.client.workflow_service.get_system_info(GetSystemInfoRequest(), timeout=timedelta(seconds=2))
            checks["temporal"] = "ok"
        except Exception as exc:
            checks["temporal"] = f"unreachable: {str(exc).splitlines()[0][:200]}"
    try:
        await asyncio.to_thread(intake.records.ping)
        checks["ticket_store"] = "ok"
    except Exception as exc:
        checks["ticket_store"] = f"unreachable: {str(exc).splitlines()[0][:200]} (escalator db upgrade creates the tables)"
    intake.keys.refresh()
    checks["api_keys"] = intake.keys.problem or "ok"
    return checks


def _openapi(app: FastAPI) -> dict[str, Any]:
    """FastAPI's document, plus the request bodies the routes read themselves (so they can check
    size, media type and JSON before the fields), from the same pydantic models."""
    if app.openapi_schema:
        return app.openapi_schema
    schema = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    for name, adapter in (("OpenTicket", TypeAdapter(OpenTicket)), ("Event", TypeAdapter(EventBody))):
        body = adapter.json_schema(ref_template="#/components/schemas/{model}")
        components.update(body.pop("$defs", {}))
        components[name] = body
    schema["components"]["securitySchemes"] = {
        "apiKey": {"type": "http", "scheme": "bearer", "description": "An API key (escalator api-key create): read, write or admin."},
        "webhookSignature": {"type": "apiKey", "in": "header", "name": "webhook-signature",
                             "description": "Webhooks carry their helpdesk's signature instead (webhook-signature, X-Zendesk-Webhook-Signature, "
                                            "X-Hub-Signature or a shared-secret header, as the source's mapping file says; docs/intake.md)."}}
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            for status, response in operation.get("responses", {}).items():
                content = response.get("content", {})
                if status[0] in "45" and "application/json" in content:  # problems are sent as problem+json
                    content["application/problem+json"] = content.pop("application/json")
            for parameter in operation.get("parameters", []):
                if parameter["name"] == "Idempotency-Key":  # checked by the route itself, for its own problem document
                    parameter["required"] = True
                    parameter["schema"] = {"type": "string", "pattern": ID_PATTERN, "maxLength": 128}
            if method == "get":
                for status in ("413", "415"):
                    operation["responses"].pop(status, None)
            if path.startswith("/v1/tickets"):
                operation["security"] = [{"apiKey": []}]
            elif path.startswith("/v1/hooks"):
                operation["security"] = [{"webhookSignature": []}]
                operation["responses"].pop("403", None)
    app.openapi_schema = schema
    return schema
