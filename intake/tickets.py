"""`/v1/tickets`: open a ticket, apply an event, read one ticket or a page of them (docs/intake.md)."""

from __future__ import annotations

import argparse
import base64
import binascii
import hashlib
import re
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Path, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field, TypeAdapter, ValidationError
from temporalio.service import RPCError

from intake.api_keys import ApiKey
from intake.apply import EventAnswer, Opened, derived_ticket_id, event_id_of, event_to_send, open_ticket, problem_of, remembered, send_event, ticket_to_open
from intake.auth import require
from intake.body import canonical, read_json
from intake.context import Intake
from intake.problems import PROBLEM_RESPONSES, Problem, invalid
from intake.wire import EVENT_BODIES, EventBody, OpenTicket
from sla.messages import TicketView
from sla.severity import Severity
from sla.ticket import ID_PATTERN, SlaState, TicketStatus
from starter.client import NoWorker, TicketError
from starter.list_command import query, ticket_row
from workflows import search_attributes as sa

router = APIRouter(prefix="/v1", responses=PROBLEM_RESPONSES)
EVENTS = TypeAdapter(EventBody)
KEY_HELP = "Your id of this request (1-128 letters, digits and . _ : -; a UUID will do): a retry with the same key and body gets the first answer."
TicketId = Annotated[str, Path(pattern=ID_PATTERN, description="The ticket id.")]


def _idempotency_key(value: str | None) -> str:
    if value is None:
        raise Problem(422, "invalid-field", "Idempotency-Key: header required (a UUID will do): it makes a retry safe")
    if not re.fullmatch(ID_PATTERN, value):
        raise Problem(422, "invalid-field", "Idempotency-Key: must be 1-128 letters, digits and . _ : -, starting with a letter or digit (a UUID will do)")
    return value


def _body_schema(name: str) -> dict[str, Any]:
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{name}"}}}}}


@router.post("/tickets", status_code=201, response_model=Opened, openapi_extra=_body_schema("OpenTicket"),
             summary="Open a ticket", responses={200: {"model": Opened, "description": "Already open (a repeat)"},
                                                 409: PROBLEM_RESPONSES[422] | {"description": "Closed, or open with other values, or the key was used for another body"}})
async def open_(request: Request, key: Annotated[ApiKey, Depends(require("write"))],
                idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key", description=KEY_HELP)] = None) -> JSONResponse:
    intake: Intake = request.app.state.intake
    idem = _idempotency_key(idempotency_key)
    _, value = await read_json(request, intake.max_body)
    try:
        body = OpenTicket.model_validate(value)
    except ValidationError as exc:
        raise invalid(exc) from None
    principal = f"api:{key.name}"
    ticket = ticket_to_open(intake, body, body.ticket_id or derived_ticket_id(principal, idem), principal, datetime.now(UTC))
    status, answer = await remembered(intake, principal, idem, "POST /v1/tickets", canonical(value), lambda: open_ticket(intake, ticket))
    return JSONResponse(answer, status_code=status)


@router.post("/tickets/{ticket_id}/events", response_model=EventAnswer, openapi_extra=_body_schema("Event"), summary="Apply one event",
             responses={202: {"model": EventAnswer, "description": "Queued: no worker answered in time"},
                        404: PROBLEM_RESPONSES[422] | {"description": "No such ticket"},
                        409: PROBLEM_RESPONSES[422] | {"description": "The ticket is closed (open a follow-up ticket), or the key was used for another body"}})
async def event(request: Request, ticket_id: TicketId, key: Annotated[ApiKey, Depends(require("write"))],
                idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key", description=KEY_HELP + " It becomes the event id.")] = None) -> JSONResponse:
    intake: Intake = request.app.state.intake
    idem = _idempotency_key(idempotency_key)
    _, value = await read_json(request, intake.max_body)
    try:
        body = EVENTS.validate_python(value)
    except ValidationError as exc:
        raise _event_problem(exc, value) from None
    principal = f"api:{key.name}"
    if len(f"{principal}:{idem}") > 128:  # the event id must stay an id; a hash of it could be sent literally
        room = 128 - len(principal) - 1
        raise Problem(422, "invalid-field", f"Idempotency-Key: at most {room} characters with key {key.name!r} (it becomes the event id {principal}:KEY)")
    update, message = event_to_send(body, event_id_of(principal, idem), principal)
    status, answer = await remembered(intake, principal, idem, f"POST /v1/tickets/{ticket_id}/events", canonical(value),
                                      lambda: send_event(intake, ticket_id, update, message))
    return JSONResponse(answer, status_code=status)


def _event_problem(exc: ValidationError, value: Any) -> Problem:
    """Field names without the union's tag (`respond.by` is `by`); an unknown `type` lists the known ones."""
    first = exc.errors(include_url=False)[0]
    if first["type"] in ("union_tag_invalid", "union_tag_not_found"):
        given = value.get("type") if isinstance(value, dict) else None
        what = "is required" if given is None else f"{given!r} is not an event type"
        return Problem(422, "invalid-field", f"type: {what} (one of {', '.join(EVENT_BODIES)})")
    if first["type"] in ("model_attributes_type", "model_type", "dict_type") and not first["loc"]:
        return Problem(422, "invalid-field", "body: must be a JSON object with a `type` (docs/intake.md)")
    problem = invalid(exc)
    tag = f"{value.get('type')}." if isinstance(value, dict) else ""
    for e in problem.errors or []:
        e.field = e.field.removeprefix(tag)
    problem.detail = "; ".join(f"{e.field}: {e.reason}" for e in (problem.errors or [])[:3])
    return problem


class TicketAnswer(BaseModel):
    """`GET /v1/tickets/{id}`: the ticket's view from its workflow, or (`stale`) what the server knows."""

    ticket_id: str
    ui_url: str
    stale: bool = Field(description="True: no worker answered in time; `view` is null and `summary` is the server's search attributes.")
    reason: str | None = None
    execution_status: str | None = Field(default=None, description="running, completed (closed), terminated, failed, ...")
    summary: dict[str, Any] = Field(default_factory=dict, description="Search attributes: TicketStatus, Severity, SlaState, NextDueAt, Owner, ...")
    view: TicketView | None = None


@router.get("/tickets/{ticket_id}", response_model=TicketAnswer, summary="Read one ticket",
            responses={404: PROBLEM_RESPONSES[422] | {"description": "No such ticket"}})
async def read(request: Request, ticket_id: TicketId, _: Annotated[ApiKey, Depends(require("read"))]) -> TicketAnswer:
    intake: Intake = request.app.state.intake
    client = intake.ticket_client()
    try:
        described = await client.describe(ticket_id)
        attrs = described.typed_search_attributes
        summary = {k.name: attrs.get(k) for k in sa.ALL if attrs.get(k) is not None}
        status = described.status.name.lower() if described.status else None
        try:
            view, stale, reason = await client.view(ticket_id, wait=intake.event_wait), False, None
        except NoWorker as exc:
            view, stale, reason = None, True, str(exc)
    except TicketError as exc:
        raise problem_of(exc) from None
    return TicketAnswer(ticket_id=ticket_id, ui_url=client.link(ticket_id), stale=stale, reason=reason, execution_status=status,
                        summary=summary, view=view)


LIST_PARAMETERS = {"severity", "status", "sla_state", "customer", "owner", "breached", "all", "limit", "cursor"}


class TicketRow(BaseModel):
    ticket_id: str
    severity: str | None
    status: str
    sla_state: str | None
    next_due: datetime | None
    owner: str | None
    customer: str | None
    escalation_level: int | None
    execution_status: str | None


class TicketPage(BaseModel):
    """A page of tickets, newest first (Temporal's visibility order); `cursor` fetches the next."""

    tickets: list[TicketRow]
    cursor: str | None = Field(description="Pass as ?cursor= for the next page; null on the last.")
    query: str = Field(description="The visibility query the filters made (usable in the Temporal UI).")


@router.get("/tickets", response_model=TicketPage, summary="List tickets (visibility, paginated)")
async def list_(request: Request, _: Annotated[ApiKey, Depends(require("read"))],
                severity: Severity | None = None, status: TicketStatus | None = None, sla_state: SlaState | None = None,
                customer: Annotated[str | None, Query(pattern=ID_PATTERN)] = None, owner: Annotated[str | None, Query(pattern=ID_PATTERN)] = None,
                breached: bool = False, all: Annotated[bool, Query(description="Also closed and ended tickets.")] = False,
                limit: Annotated[int, Query(ge=1, le=200)] = 50, cursor: Annotated[str | None, Query(max_length=4096)] = None) -> TicketPage:
    intake: Intake = request.app.state.intake
    unknown = sorted(set(request.query_params) - LIST_PARAMETERS)
    if unknown:  # a misspelt filter would otherwise list every ticket
        raise Problem(422, "invalid-field", f"{unknown[0]}: not a filter (have {', '.join(sorted(LIST_PARAMETERS))})")
    filters = argparse.Namespace(all=all, customer=customer, owner=owner, severity=severity, status=status.value if status else None,
                                 sla_state=sla_state.value if sla_state else None, breached=breached, due_within=None)
    text = query(filters, datetime.now(UTC))
    token = _token(cursor, text) if cursor else None
    pages = intake.ticket_client().client.list_workflows(text, page_size=limit, next_page_token=token, rpc_timeout=timedelta(seconds=10))
    try:
        await pages.fetch_next_page()
    except RPCError as exc:
        raise Problem(503, "unavailable", f"the ticket list cannot be read: {str(exc).splitlines()[0][:200]}") from None
    rows = [TicketRow(**ticket_row(execution)) for execution in pages.current_page]
    following = pages.next_page_token
    return TicketPage(tickets=rows, cursor=base64.urlsafe_b64encode(_filters_digest(text) + following).decode() if following else None, query=text)


def _filters_digest(text: str) -> bytes:
    return hashlib.sha256(text.encode()).digest()[:8]


def _token(cursor: str, text: str) -> bytes:
    """Temporal's page token from a cursor this API gave for the same filters; Problem 422 otherwise
    (a cursor from other filters would page through another query; garbage would reach Temporal)."""
    try:
        raw = base64.b64decode(cursor.encode(), altchars=b"-_", validate=True)
    except (binascii.Error, ValueError):
        raw = b""
    if len(raw) <= 8 or raw[:8] != _filters_digest(text):
        raise Problem(422, "invalid-field", "cursor: not a cursor this API gave for these filters (pass the filters of the first page again)")
    return raw[8:]
