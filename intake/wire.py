"""The HTTP intake's request bodies, made from the wire contract's own models (docs/api.md).

One source of truth: each event type's body is its update's pydantic model (`sla.messages`)
with a `type` discriminator, without `event_id` (the `Idempotency-Key` header is the event id)
and without `via` (the server sets it from the acting key or hook source). Unknown fields are
refused, so a misspelt `occured_at` is an error, never silently dropped. The OpenAPI document
is generated from these same models.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal, Union

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, create_model

from sla.messages import (
    Acknowledge, AcknowledgePage, AddAction, CompleteObligation, Csat, CustomerMessage, DesignateCommander,
    EscalateToManagement, HandOff, JumpToStep, LogTime, PostStatusUpdate, RecordRca, RecordReview, Reopen, Resolve, Respond,
    SeverityPlanChange, StatusChange, TicketMessage,
)
from sla.severity import Severity
from sla.ticket import ID_PATTERN, TicketOpened
from workflows import contract

EVENT_MODELS: dict[str, type[TicketMessage]] = {
    contract.UPDATE_ACKNOWLEDGE: Acknowledge,
    contract.UPDATE_RESPOND: Respond,
    contract.UPDATE_SET_STATUS: StatusChange,
    contract.UPDATE_CUSTOMER_MESSAGE: CustomerMessage,
    contract.UPDATE_RESOLVE: Resolve,
    contract.UPDATE_REOPEN: Reopen,
    contract.UPDATE_RECORD_CSAT: Csat,
    contract.UPDATE_CHANGE_SEVERITY: SeverityPlanChange,
    contract.UPDATE_POST_STATUS: PostStatusUpdate,
    contract.UPDATE_COMMANDER: DesignateCommander,
    contract.UPDATE_ACK_PAGE: AcknowledgePage,
    contract.UPDATE_HAND_OFF: HandOff,
    contract.UPDATE_ESCALATE_MANAGEMENT: EscalateToManagement,
    contract.UPDATE_JUMP_TO_STEP: JumpToStep,
    contract.UPDATE_RECORD_REVIEW: RecordReview,
    contract.UPDATE_RECORD_RCA: RecordRca,
    contract.UPDATE_ADD_ACTION: AddAction,
    contract.UPDATE_COMPLETE_OBLIGATION: CompleteObligation,
    contract.UPDATE_LOG_TIME: LogTime,
}
"""Every event a ticket takes over HTTP: its `type` (the update's name in docs/api.md) -> its model."""

SET_BY_SERVER = ("event_id", "via")
STRICT = ConfigDict(extra="forbid")


def _body_model(type_name: str, model: type[TicketMessage]) -> type[BaseModel]:
    fields: dict[str, Any] = {"type": (Literal[type_name], Field(description=f"`{type_name}` (docs/api.md, Updates)"))}
    fields.update({name: (info.annotation, info) for name, info in model.model_fields.items() if name not in SET_BY_SERVER})
    name = "".join(part.title() for part in type_name.split("_")) + "Event"
    return create_model(name, __config__=STRICT, __doc__=model.__doc__, **fields)


EVENT_BODIES: dict[str, type[BaseModel]] = {name: _body_model(name, model) for name, model in EVENT_MODELS.items()}

EventBody = Annotated[Union[tuple(EVENT_BODIES.values())], Field(discriminator="type")]  # type: ignore[valid-type]
"""`POST /v1/tickets/{id}/events`: one event, chosen by its `type`."""


class OpenTicket(BaseModel):
    """`POST /v1/tickets`: the wire contract's `TicketOpened`, with `ticket_id` and `opened_at` optional."""

    model_config = STRICT

    ticket_id: str | None = Field(default=None, pattern=ID_PATTERN, description="Default: one made from the Idempotency-Key, so a retry opens the same ticket.")
    customer: str = TicketOpened.model_fields["customer"]
    title: str = TicketOpened.model_fields["title"]
    severity: Severity
    channel: str = TicketOpened.model_fields["channel"]
    opened_at: AwareDatetime | None = Field(default=None, description="When it was reported, with an offset (default: when the API received it).")
    plan: str | None = TicketOpened.model_fields["plan"]
    category: str | None = TicketOpened.model_fields["category"]
    follows: str | None = TicketOpened.model_fields["follows"]

    def ticket(self, ticket_id: str, received_at: datetime, via: str) -> TicketOpened:
        """The contract's TicketOpened; pydantic's ValidationError for what only it checks."""
        given = self.model_dump(exclude={"ticket_id", "opened_at"})
        return TicketOpened.model_validate({**given, "ticket_id": ticket_id, "opened_at": self.opened_at or received_at.astimezone(UTC), "via": via})


def message(body: BaseModel, event_id: str, via: str) -> tuple[str, TicketMessage]:
    """(update name, the contract's message) for an event body; pydantic's ValidationError for
    what only the contract model checks (e.g. add_action's `due` or `due_on`)."""
    name = body.type  # type: ignore[attr-defined]
    fields = body.model_dump(exclude={"type"}, exclude_unset=True)
    return name, EVENT_MODELS[name].model_validate({**fields, "event_id": event_id, "via": via})
