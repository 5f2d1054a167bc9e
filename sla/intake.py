"""A ticket's start input, checked by the workflow itself: a bad start fails the ticket at once.

Another backend may start a `TicketWorkflow` with any JSON. Decoded by the SDK, a bad payload
would fail the workflow task again and again while the ticket shows Running and holds its id
(TEMPORAL_NOTES.md). So the workflow takes the raw payload and checks it here; what is wrong
fails the workflow with one line naming the field (docs/api.md, "Starting a ticket").
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sla.event_time import MAX_AHEAD
from sla.messages import TicketContinued
from sla.policy import Policy
from sla.severity import Severity
from sla.ticket import TicketOpened


def decode_start(value: object, workflow_id: str) -> TicketOpened | TicketContinued:
    """The start input from its decoded JSON; ValueError (a pydantic error is one) when it is not one."""
    if not isinstance(value, dict):
        raise ValueError(f"input: must be a JSON object of the documented shape (json/plain; docs/api.md), not {type(value).__name__}")
    if "state" in value and "snapshot" in value:
        return TicketContinued.model_validate(value)
    ticket = TicketOpened.model_validate(value)
    if ticket.ticket_id != workflow_id:
        raise ValueError(f"ticket_id: {ticket.ticket_id!r} differs from the workflow id {workflow_id!r} (they must be the same)")
    return ticket


def placeholder(workflow_id: str, now: datetime) -> TicketOpened:
    """A stand-in for a start that was refused, so the workflow can end cleanly (never validated)."""
    return TicketOpened.model_construct(ticket_id=workflow_id, customer="-", title="(refused start)", severity=Severity.SEV4,
                                        channel="api", opened_at=now, plan=None, category=None, follows=None)


def check_opened(policy: Policy, ticket: TicketOpened, now: datetime) -> None:
    """What only the policy and the clock can tell: a known plan and category, a sane opened_at."""
    if ticket.plan is not None and ticket.plan not in policy.plans:
        raise ValueError(f"plan: {ticket.plan!r} is not a plan of the policy (have {', '.join(sorted(policy.plans)) or 'none'})")
    if ticket.category is not None and ticket.category not in policy.categories:
        raise ValueError(f"category: {ticket.category!r} is not a category of the policy (have {', '.join(sorted(policy.categories)) or 'none'})")
    if ticket.opened_at > now + MAX_AHEAD:
        raise ValueError(f"opened_at: {ticket.opened_at.isoformat()} is in the future")
    oldest = now - timedelta(seconds=policy.lifecycle.max_backdate.seconds(0))
    if ticket.opened_at < oldest:
        raise ValueError(f"opened_at: {ticket.opened_at.isoformat()} is more than {policy.lifecycle.max_backdate} ago (lifecycle.max_backdate)")


def check_opened_anywhen(policy: Policy, ticket: TicketOpened, now: datetime, margin: timedelta = timedelta(hours=1)) -> None:
    """`check_opened` at both ends of [now - margin, now + margin]: when it passes, `check_opened`
    passes at any instant in between. The opening activity uses it to write a new ticket's
    opening with the policy snapshot, on its own clock, only when the workflow's own check (on
    the server's clock, moments apart) cannot refuse the ticket."""
    check_opened(policy, ticket, now - margin)
    check_opened(policy, ticket, now + margin)
