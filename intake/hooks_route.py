"""`POST /v1/hooks/{source}`: a signed webhook from a helpdesk, mapped to events and applied once.

In order: the source must be configured (404), the body JSON (415) within the size limit (413),
signed by one of its secrets with a fresh timestamp where the scheme has one (401), the source
within its rate (429, counted after the signature so unsigned requests cannot use it up); then
the body must be JSON (400) that its mapping file can turn into valid events (422). Every
event is checked before the first is applied. The delivery id (the sender's, kept across its
retries) is the idempotency key: a replayed delivery gets the first answer and applies nothing.
Each event's id is `hook:<source>:<delivery id or the payload's own event id>[:<n>]`, so a
delivery retried after half its events applied applies the rest only.

A delivery the ticket refuses in part (a status it already has, a closed ticket) is answered
200 with each event's outcome and logged: the helpdesk's retry could not change it. A
delivery that did not reach its ticket (an unknown ticket, Temporal unavailable) is answered
with a problem and not remembered, so the helpdesk's retry applies it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any

import structlog
from fastapi import APIRouter, Path, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field, ValidationError

from intake.apply import event_id_of, event_to_send, open_ticket, remembered, send_event, ticket_to_open
from intake.auth import limited
from intake.body import parse_json, read_body
from intake.context import Intake
from intake.hooks.mapping import HookSource, PayloadError
from intake.hooks.verify import DeliveryRefused, Verifier
from intake.problems import PROBLEM_RESPONSES, Problem, invalid
from intake.wire import EVENT_BODIES, OpenTicket
from starter.client import OpenConflict, Refused, TicketClosed

log = structlog.get_logger("escalator.api")
router = APIRouter(prefix="/v1", responses=PROBLEM_RESPONSES)


@dataclass(frozen=True)
class HookDoor:
    """A configured source: its mapping and the verifier holding its secrets."""

    source: HookSource
    verifier: Verifier


class HookOutcome(BaseModel):
    ticket_id: str
    type: str = Field(description="open, or an event type")
    event_id: str
    outcome: str = Field(description="opened | already_open | applied | queued | refused | closed | conflict")
    reason: str | None = None


class HookAnswer(BaseModel):
    """What became of a delivery: one outcome per event its mapping made (none: `ignored` says why)."""

    source: str
    delivery_id: str
    events: list[HookOutcome]
    ignored: str | None = None


def _event_ids(principal: str, key: str, count: int) -> list[str]:
    return [event_id_of(principal, key)] if count == 1 else [event_id_of(principal, key, f":{n}") for n in range(1, count + 1)]


@router.post("/hooks/{source}", response_model=HookAnswer, summary="A signed webhook from a helpdesk",
             openapi_extra={"requestBody": {"required": True, "content": {"application/json": {"schema": {
                 "type": "object", "description": "The helpdesk's own payload; the source's mapping file turns it into events."}}}}},
             responses={404: PROBLEM_RESPONSES[422] | {"description": "No such source configured"}})
async def hook(request: Request, source: Annotated[str, Path(pattern=r"^[a-z][a-z0-9_-]{0,31}$")]) -> JSONResponse:
    intake: Intake = request.app.state.intake
    door: HookDoor | None = intake.hooks.get(source)
    if door is None:
        known = ", ".join(sorted(intake.hooks)) or "none configured (--hooks-dir)"
        raise Problem(404, "unknown-hook-source", f"source: {source!r} is not a configured webhook source (have {known})")
    principal = f"hook:{source}"
    raw = await read_body(request, intake.max_body)
    now = datetime.now(UTC)
    try:
        delivery = door.verifier.verify(request.headers, raw, now)
    except DeliveryRefused as exc:
        log.warning("webhook refused", source=source, reason=str(exc))
        raise Problem(401, "bad-signature", str(exc)) from None
    # After the signature: unsigned requests must not use up the source's budget and delay real deliveries.
    limited(intake.rate_limit, principal, f"source {source!r}")
    payload = parse_json(raw)
    try:
        mapped = door.source.map(payload)
    except PayloadError as exc:
        raise Problem(422, "unmappable-payload", str(exc)) from None
    ids = _event_ids(principal, mapped.event_key or delivery, len(mapped.events))
    planned = [_planned(intake, m, event_id, principal, now) for m, event_id in zip(mapped.events, ids)]

    async def act() -> tuple[int, HookAnswer]:
        outcomes = [await _apply(intake, step) for step in planned]
        for o in outcomes:
            if o.outcome in ("refused", "closed", "conflict"):
                # Info, not warning: a helpdesk often tells one change twice (a requester's reply to a
                # pending ticket is a comment and a status change), and the second is refused.
                log.info("webhook event not applied", source=source, delivery=delivery, ticket=o.ticket_id, type=o.type,
                            outcome=o.outcome, reason=o.reason)
        return 200, HookAnswer(source=source, delivery_id=delivery, events=outcomes, ignored=mapped.ignored)

    if not planned:
        log.info("webhook ignored", source=source, delivery=delivery, reason=mapped.ignored)
    status, answer = await remembered(intake, principal, delivery, f"POST /v1/hooks/{source}", raw, act)
    return JSONResponse(answer, status_code=status)


def _planned(intake: Intake, mapped, event_id: str, via: str, now: datetime) -> tuple[str, str, str, Any]:
    """(ticket id, type, event id, the contract's TicketOpened or (update, message)); Problem 422."""
    if mapped.type == "open":
        try:
            body = OpenTicket.model_validate({**mapped.fields, "ticket_id": mapped.ticket_id})
        except ValidationError as exc:
            raise invalid(exc, prefix=f"rules[{mapped.rule}].fields.") from None
        return mapped.ticket_id, "open", event_id, ticket_to_open(intake, body, mapped.ticket_id, via, now)
    try:
        body = EVENT_BODIES[mapped.type].model_validate({**mapped.fields, "type": mapped.type})
    except ValidationError as exc:
        raise invalid(exc, prefix=f"rules[{mapped.rule}].fields.") from None
    return mapped.ticket_id, mapped.type, event_id, event_to_send(body, event_id, via)


async def _apply(intake: Intake, step: tuple[str, str, str, Any]) -> HookOutcome:
    ticket_id, kind, event_id, what = step
    try:
        if kind == "open":
            status, opened = await open_ticket(intake, what)
            return HookOutcome(ticket_id=ticket_id, type=kind, event_id=event_id, outcome="opened" if status == 201 else "already_open")
        update, message = what
        status, answer = await send_event(intake, ticket_id, update, message)
        return HookOutcome(ticket_id=ticket_id, type=kind, event_id=event_id, outcome="queued" if answer.queued else "applied", reason=answer.reason)
    except (Refused, TicketClosed, OpenConflict) as exc:
        outcome = {Refused: "refused", TicketClosed: "closed", OpenConflict: "conflict"}[type(exc)]
        return HookOutcome(ticket_id=ticket_id, type=kind, event_id=event_id, outcome=outcome, reason=str(exc))
    # Any other TicketError (unknown ticket, Temporal unavailable) propagates: not remembered, so a retry applies it.
