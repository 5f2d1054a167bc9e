"""Opening tickets and applying events for the HTTP intake, once per Idempotency-Key.

Both doors (`/v1/tickets...` with an API key, `/v1/hooks/{source}` with a signature) end here.
An answer is remembered in the ticket store when it is final: a success, or the ticket's own
refusal (422) or closed state (409). A request that did not reach a ticket (Temporal or the
store unavailable, an unknown ticket, a `follows` not yet closed) is forgotten, so it may be
sent again with the same key.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, Field, ValidationError

from intake.context import Intake
from intake.problems import Problem, invalid
from intake.wire import OpenTicket, message
from sla import intake as start_rules
from sla.ticket import ID_PATTERN, TicketState
from starter.client import (
    BadOpening, NoWorker, OpenConflict, Refused, TicketClosed, TicketError, Unavailable, UnknownTicket,
)


class Opened(BaseModel):
    """`POST /v1/tickets`: 201 when opened now, 200 for a ticket already open (a repeat)."""

    ticket_id: str
    created: bool = Field(description="False: the ticket was already open with these values.")
    ui_url: str = Field(description="The ticket in the Temporal UI.")


class EventAnswer(BaseModel):
    """`POST /v1/tickets/{id}/events`: 200 with the new state, or 202 when queued (`state` null)."""

    ticket_id: str
    event_id: str
    queued: bool = Field(description="True: no worker answered in time; the event is recorded and applies at its occurred_at when one runs.")
    reason: str | None = Field(default=None, description="Why it was queued.")
    state: TicketState | None = None


REMEMBERED = (Refused, TicketClosed)
"""Final answers from a ticket, given again to a repeat; any other failure is forgotten."""


def event_id_of(principal: str, key: str, suffix: str = "") -> str:
    """The event id of a request: `<principal>:<key><suffix>` (`api:helpdesk:7f3e...`,
    `hook:zendesk:sha256:...:2`), so two keys, or a key and a webhook source, can never take
    each other's event ids; hashed when that would pass the id pattern's 128 characters."""
    candidate = f"{principal}:{key}{suffix}"
    if re.fullmatch(ID_PATTERN, candidate):
        return candidate
    return f"{principal}:sha256-{hashlib.sha256(key.encode()).hexdigest()[:32]}{suffix}"


def derived_ticket_id(principal: str, key: str) -> str:
    """A ticket id made from who sent it and the Idempotency-Key: a retry opens the same ticket,
    even after the stored answer is pruned. 64 bits, so ids do not collide in practice."""
    return "T-" + hashlib.sha256(f"{principal}\n{key}".encode()).hexdigest()[:16]


def problem_of(exc: TicketError) -> Problem:
    reason = str(exc)
    if isinstance(exc, UnknownTicket):
        return Problem(404, "unknown-ticket", reason)
    if isinstance(exc, TicketClosed):
        return Problem(409, "ticket-closed", reason.replace(" (escalator open --follows", " (POST /v1/tickets with \"follows\"; or escalator open --follows"))
    if isinstance(exc, OpenConflict):
        return Problem(409, "ticket-conflict", reason)
    if isinstance(exc, (Refused, BadOpening)):
        return Problem(422, "refused", reason)
    if isinstance(exc, (Unavailable, NoWorker)):
        return Problem(503, "unavailable", reason)
    return Problem(502, "temporal-error", reason)


async def remembered(intake: Intake, principal: str, key: str, request: str, body: bytes,
                     act: Callable[[], Awaitable[tuple[int, BaseModel]]]) -> tuple[int, Any]:
    """(status, JSON answer) of `act`, done at most once per (principal, key); Problem otherwise.

    A repeat with the same body gets the first answer (a 201 comes back as 200: nothing new was
    made); the same key with another body or for another request is a 409."""
    claim = await intake.claim(principal, key, request, body, datetime.now(UTC))
    if claim.outcome == "conflict":
        raise Problem(409, "idempotency-conflict", f"Idempotency-Key: {key!r} was used for another request ({claim.request}, or another body): use a new key")
    if claim.outcome == "repeat":
        if claim.status_code >= 400:
            raise Problem(claim.status_code, claim.response.get("kind", "refused"), claim.response.get("detail", ""))
        if claim.status_code == 201:  # made by the first request: this one made nothing
            return 200, {**claim.response, "created": False}
        return claim.status_code, claim.response
    try:
        status, answer = await act()
    except TicketError as exc:
        problem = problem_of(exc)
        if isinstance(exc, REMEMBERED):
            await intake.store(intake.records.answer, principal, key, problem.status, {"kind": problem.kind, "detail": problem.detail})
        else:
            await intake.store(intake.records.release, principal, key)
        raise problem from None
    except BaseException:
        await intake.store(intake.records.release, principal, key)
        raise
    document = answer.model_dump(mode="json")
    await intake.store(intake.records.answer, principal, key, status, document)
    return status, document


def ticket_to_open(intake: Intake, body: OpenTicket, ticket_id: str, via: str, received_at: datetime):
    """The contract's TicketOpened, checked against the policy as the workflow will check it;
    Problem 422 naming the field (nothing is started)."""
    try:
        ticket = body.ticket(ticket_id, received_at, via)
    except ValidationError as exc:
        raise invalid(exc) from None
    try:
        start_rules.check_opened(intake.policy, ticket, received_at)
    except ValueError as exc:
        raise Problem(422, "invalid-field", str(exc)) from None
    return ticket


async def open_ticket(intake: Intake, ticket) -> tuple[int, Opened]:
    opened = await intake.ticket_client().open(ticket)
    return (201 if opened.created else 200), Opened(ticket_id=opened.ticket_id, created=opened.created, ui_url=opened.ui_url)


def event_to_send(body: BaseModel, event_id: str, via: str):
    """(update name, the contract's message); Problem 422 for what only the contract model checks."""
    try:
        return message(body, event_id, via)
    except ValidationError as exc:
        raise invalid(exc) from None


async def send_event(intake: Intake, ticket_id: str, update: str, request) -> tuple[int, EventAnswer]:
    sent = await intake.ticket_client().send(ticket_id, update, request, wait=intake.event_wait)
    if sent.queued:
        return 202, EventAnswer(ticket_id=ticket_id, event_id=request.event_id, queued=True, reason=sent.why)
    return 200, EventAnswer(ticket_id=ticket_id, event_id=request.event_id, queued=False, state=sent.state)
