"""What-if: a stored ticket re-driven through the lifecycle and the planner under a policy.

`escalator simulate` asks what a policy would have done to past tickets. Each ticket's recorded
messages (the timeline's acknowledgements, responses, status and severity changes, customer
messages, resolutions, ...) are applied at their recorded instants through the same lifecycle
rules the workflow applies them with, and every obligation the planner finds due in between is
acted on at its due instant, as the workflow's loop does. Nothing is late in a simulation: no
outage, no overdue digest, every message on time. What the ticket's own obligations were (its
breaches, pages) is an outcome here, never an input.

Pure: the store and the policy files are read by the command (starter/simulate_command.py).
"""

from __future__ import annotations

from collections import Counter
from datetime import date, datetime
from typing import Any, Callable

from pydantic import BaseModel, Field

from sla import lifecycle
from sla.messages import (
    Acknowledge, AcknowledgePage, AddAction, CompleteObligation, Csat, CustomerMessage, DesignateCommander, EscalateToManagement,
    HandOff, JumpToStep, LogTime, PostStatusUpdate, RecordRca, RecordReview, Reopen, Resolve, Respond, SeverityPlanChange,
    StatusChange, TicketMessage,
)
from sla.planner import ObligationKind, plan
from sla.policy import Policy
from sla.ticket import FiredObligation, TicketOpened, TicketState, TicketStatus

MAX_STEPS = 20_000
"""Obligations and messages per ticket: a Sev-1 left open for a year at a 30-minute cadence is
cut there (and said so) rather than spinning."""


class Incomplete(ValueError):
    """The store lacks an input the simulation needs (the message says which)."""


class Outcome(BaseModel):
    """What a policy did to one ticket: counts per kind, pages per role."""

    breaches: dict[str, int] = Field(default_factory=dict, description="Per clock (first_response, resolution, ...).")
    warnings: int = 0
    escalations: int = 0
    pages: dict[str, int] = Field(default_factory=dict, description="Notifications per role (obligations and announcements).")
    post_incident_items: int = 0
    post_incident_missed: int = Field(default=0, description="Post-incident deadlines (review, RCA, actions) that passed undone.")
    refused: int = Field(default=0, description="Recorded messages this policy's rules refuse (e.g. a step it does not have).")
    status: str = "open"
    cut: bool = Field(default=False, description="Stopped at MAX_STEPS.")

    def key(self) -> tuple:
        """What is compared to say an outcome changed (status too: a ticket that no longer closes)."""
        return (sorted(self.breaches.items()), self.warnings, self.escalations, sorted(self.pages.items()),
                self.post_incident_items, self.post_incident_missed, self.refused, self.status)


def _split(text: str | None) -> list[str]:
    return [part.strip() for part in (text or "").split(",") if part.strip()]


# Stored event kind -> the message that made it, from the event's detail.
_BUILDERS: dict[str, Callable[[dict[str, Any]], TicketMessage]] = {
    "acknowledged": lambda d: Acknowledge(by=d["by"]),
    "responded": lambda d: Respond(by=d["by"], message_id=d.get("message_id")),
    "status_changed": lambda d: StatusChange(status=d["status"], by=d["by"], reason=d.get("reason")),
    "customer_message": lambda d: CustomerMessage(message_id=d.get("message_id")),
    "resolved": lambda d: Resolve(by=d["by"], resolution=d.get("resolution")),
    "reopened": lambda d: Reopen(by=d["by"], reason=d["reason"]),
    "csat": lambda d: Csat(score=d["score"], comment=d.get("comment")),
    "severity_changed": lambda d: SeverityPlanChange(
        by=d["by"], severity=d["severity_to"] if d["severity_to"] != d["severity_from"] else None,
        plan=d.get("plan_to") if d.get("plan_to") != d.get("plan_from") else None, reason=d.get("reason")),
    "status_update_posted": lambda d: PostStatusUpdate(by=d["by"], text=d["text"]),
    "commander_designated": lambda d: DesignateCommander(name=d["name"], by=d["by"]),
    "page_acknowledged": lambda d: AcknowledgePage(step=d["step"], by=d["by"]),
    "handed_off": lambda d: HandOff(to=d["to_tier"], note=d["note"], by=d["by"], direction=d.get("direction", "up")),
    "management_escalation": lambda d: EscalateToManagement(reason=d["reason"], by=d["by"]),
    "escalation_jumped": lambda d: JumpToStep(step=d["step"], reason=d["reason"], by=d["by"]),
    "review_recorded": lambda d: RecordReview(by=d["by"], held_on=date.fromisoformat(d["held_on"]), attendees=_split(d["attendees"])),
    "rca_recorded": lambda d: RecordRca(by=d["by"], link=d["link"]),
    "action_added": lambda d: AddAction(by=d["by"], title=d["title"], owner=d["owner"], due=datetime.fromisoformat(d["due"])),
    "action_done": lambda d: CompleteObligation(item=d["item"], by=d["by"]),
    "post_incident_waived": lambda d: CompleteObligation(item=d["item"], by=d["by"], waive_reason=d.get("reason") or "waived"),
    "time_logged": lambda d: LogTime(minutes=d["minutes"], by=d["by"]),
}
MESSAGE_KINDS = frozenset(_BUILDERS)
"""The stored event kinds that are messages into the ticket; every other kind is an outcome."""


def messages_of(events: list[dict[str, Any]]) -> list[tuple[datetime, TicketMessage]]:
    """The messages a ticket received, in the order applied, from its stored events (`kind`,
    `at`, `detail`, `seq`). Raises Incomplete naming the event when one lacks a field."""
    found = []
    for event in sorted(events, key=lambda e: e["seq"]):
        build = _BUILDERS.get(event["kind"])
        if build is None:
            continue
        try:
            found.append((event["at"], build(event["detail"] or {})))
        except (KeyError, ValueError) as exc:
            what = f"field {exc.args[0]!r}" if isinstance(exc, KeyError) else str(exc).splitlines()[0]
            raise Incomplete(f"event {event['seq']} ({event['kind']}) lacks {what}") from None
    return found


def simulate(policy: Policy, ticket: TicketOpened, messages: list[tuple[datetime, TicketMessage]], until: datetime) -> Outcome:
    """Re-drive one ticket under `policy` up to its close, or to `until` (ticket time).

    A message applies before an obligation due at the same instant (it happened by then). A
    message the policy's rules refuse is counted in `refused` and left out, as the workflow
    would refuse it.
    """
    state = TicketState.opened(ticket)
    outcome = Outcome()
    pages: Counter[str] = Counter()
    breaches: Counter[str] = Counter()
    to_apply = list(messages)
    cursor = ticket.opened_at
    for _ in range(MAX_STEPS):
        lifecycle.sync_cadence(policy, state, cursor)
        upcoming = plan(policy, state, cursor)
        nxt = upcoming[0] if upcoming else None
        if to_apply and to_apply[0][0] <= until and (nxt is None or to_apply[0][0] <= nxt.due):
            at, message = to_apply.pop(0)
            at = max(at, cursor)
            try:
                roles, escalation = _apply(policy, state, message, at)
            except ValueError:
                outcome.refused += 1
                continue
            pages.update(roles)
            outcome.escalations += escalation
            cursor = at
            continue
        if nxt is None or nxt.due > until:
            break
        roles = lifecycle.apply_obligation(policy, state, nxt)
        if nxt.kind is ObligationKind.AUTO_SOLVE:
            lifecycle.open_post_incident(policy, state, nxt.due)
        state.fired.append(FiredObligation(id=nxt.id, kind=nxt.kind.value, clock=nxt.clock, due=nxt.due, fired_at=nxt.due, roles=roles))
        pages.update(roles)
        if "/post_incident/" in nxt.id:  # reminders before a review, RCA or action is due, and its miss
            outcome.post_incident_missed += nxt.id.endswith("/missed")
        elif nxt.kind is ObligationKind.BREACH and nxt.clock is not None:
            breaches[nxt.clock.value] += 1
        elif nxt.kind is ObligationKind.WARNING:
            outcome.warnings += 1
        elif nxt.kind is ObligationKind.ESCALATION:
            outcome.escalations += 1
        cursor = max(cursor, nxt.due)
        if state.status is TicketStatus.CLOSED:
            break
    else:
        outcome.cut = True
    outcome.breaches = dict(sorted(breaches.items()))
    outcome.pages = dict(sorted(pages.items()))
    outcome.post_incident_items = len(state.post_incident)
    outcome.status = state.status.value
    return outcome


def _apply(policy: Policy, state: TicketState, m: TicketMessage, at: datetime) -> tuple[list[str], int]:
    """Check and apply one message as the workflow does (workflows/inbox.py); returns the roles it
    announces to and whether it is an escalation by hand. ValueError: refused."""
    if isinstance(m, Acknowledge):
        lifecycle.check_acknowledge(state, m)
        lifecycle.apply_acknowledge(policy, state, m, at)
    elif isinstance(m, Respond):
        lifecycle.check_respond(state, m)
        lifecycle.apply_respond(policy, state, m, at)
    elif isinstance(m, StatusChange):
        lifecycle.check_status_change(state, m)
        lifecycle.apply_status_change(policy, state, m, at)
    elif isinstance(m, CustomerMessage):
        lifecycle.check_customer_message(state, m)
        lifecycle.apply_customer_message(policy, state, m, at)
    elif isinstance(m, Resolve):
        lifecycle.check_resolve(state, m)
        lifecycle.apply_resolve(policy, state, at)
        lifecycle.open_post_incident(policy, state, at)
    elif isinstance(m, Reopen):
        lifecycle.check_reopen(state, m)
        lifecycle.apply_reopen(policy, state, at)
    elif isinstance(m, Csat):
        lifecycle.check_csat(state, m)
        lifecycle.apply_csat(state, m)
    elif isinstance(m, SeverityPlanChange):
        lifecycle.check_severity_change(policy, state, m)
        lifecycle.apply_severity_change(state, m, at)
    elif isinstance(m, PostStatusUpdate):
        lifecycle.check_status_update(state, m)
        lifecycle.apply_status_update(state, at)
        return list(policy.status_updates.post_to), 0
    elif isinstance(m, DesignateCommander):
        lifecycle.check_commander(state, m)
        lifecycle.apply_commander(state, m, at)
    elif isinstance(m, AcknowledgePage):
        lifecycle.check_page_ack(policy, state, m)
        lifecycle.apply_page_ack(state, m, at)
    elif isinstance(m, HandOff):
        lifecycle.check_handoff(policy, state, m)
        handoff = lifecycle.apply_handoff(policy, state, m, at)
        return [policy.tiers[handoff.to_tier].role], 1
    elif isinstance(m, EscalateToManagement):
        lifecycle.check_management(policy, state, m)
        return list(lifecycle.apply_management(policy, state, m, at).roles), 1
    elif isinstance(m, JumpToStep):
        lifecycle.check_jump(policy, state, m)
        lifecycle.apply_jump(state, m, at)
        step = next(s for s in policy.escalation[state.severity] if s.id == m.step)
        return list(step.roles), 1
    elif isinstance(m, RecordReview):
        lifecycle.check_review(state, m, at.astimezone(policy.calendar(None).zone).date())
        lifecycle.apply_review(state, m, at)
    elif isinstance(m, RecordRca):
        lifecycle.check_rca(state, m)
        lifecycle.apply_rca(state, m, at)
    elif isinstance(m, AddAction):
        lifecycle.check_add_action(policy, state, m, at)
        lifecycle.apply_add_action(policy, state, m, at)
    elif isinstance(m, CompleteObligation):
        lifecycle.check_complete(state, m)
        lifecycle.apply_complete(state, m, at)
    elif isinstance(m, LogTime):
        lifecycle.check_log_time(state, m)
        lifecycle.apply_log_time(state, m)
    return [], 0
