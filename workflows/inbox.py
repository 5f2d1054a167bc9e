"""What each message into a ticket checks and does, at the instant it happened.

The ticket's updates, its customer-message signal and the queued-message signal (an update
recorded while no worker answered) all go through one path: `TicketWorkflow._receive`. This
module holds the per-message part: `_check_<update>(request, now)` raises ValueError with a
reason (validators call it, so a refused update writes nothing), `_apply_<update>(request, at)`
changes the state and queues the timeline event, `at` being the message's `occurred_at`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Callable

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from sla import lifecycle, policy_change, ticket_facts
    from sla.messages import (
        Acknowledge, AcknowledgePage, AddAction, ChangePolicy, CompleteObligation, Csat, CustomerMessage, DesignateCommander,
        EscalateToManagement, HandOff, JumpToStep, LogTime, PostStatusUpdate, RecordRca, RecordReview, Reopen, Resolve, Respond,
        SeverityPlanChange, StatusChange, TicketMessage,
    )
    from sla.planner import Obligation, ObligationKind
    from sla.ticket import ClockName, TicketStatus
    from workflows import contract


@dataclass(frozen=True)
class Rule:
    """One kind of message: its model, and what it says happened (for corrections and the order rule)."""

    model: type[TicketMessage]
    says: Callable[[Any], str]
    needs_policy: bool = True  # its apply reads the policy snapshot: the handler waits for it
    checks_policy: bool = False  # its check reads it too: the validator refuses while it loads


def _by(verb: str) -> Callable[[Any], str]:
    return lambda r: f"{verb} by {r.by.strip()}"


MESSAGES: dict[str, Rule] = {
    contract.UPDATE_ACKNOWLEDGE: Rule(Acknowledge, _by("acknowledged")),
    contract.UPDATE_RESPOND: Rule(Respond, _by("responded")),
    contract.UPDATE_SET_STATUS: Rule(StatusChange, lambda r: f"status set to {r.status.value} by {r.by.strip()}"),
    contract.UPDATE_CUSTOMER_MESSAGE: Rule(CustomerMessage, lambda r: "the customer wrote"),
    contract.UPDATE_RESOLVE: Rule(Resolve, _by("resolved")),
    contract.UPDATE_REOPEN: Rule(Reopen, _by("reopened")),
    contract.UPDATE_RECORD_CSAT: Rule(Csat, lambda r: f"CSAT {r.score}", needs_policy=False),
    contract.UPDATE_CHANGE_SEVERITY: Rule(SeverityPlanChange, _by("severity or plan changed"), checks_policy=True),
    contract.UPDATE_POST_STATUS: Rule(PostStatusUpdate, _by("status update posted")),
    contract.UPDATE_COMMANDER: Rule(DesignateCommander, lambda r: f"{r.name.strip()} designated commander by {r.by.strip()}", needs_policy=False),
    contract.UPDATE_ACK_PAGE: Rule(AcknowledgePage, lambda r: f"page {r.step} acknowledged by {r.by.strip()}", checks_policy=True),
    contract.UPDATE_HAND_OFF: Rule(HandOff, lambda r: f"handed off to {r.to.strip().lower()} by {r.by.strip()}", checks_policy=True),
    contract.UPDATE_ESCALATE_MANAGEMENT: Rule(EscalateToManagement, _by("escalated to management"), checks_policy=True),
    contract.UPDATE_JUMP_TO_STEP: Rule(JumpToStep, lambda r: f"step {r.step} fired by {r.by.strip()}", checks_policy=True),
    contract.UPDATE_RECORD_REVIEW: Rule(RecordReview, _by("review recorded"), checks_policy=True),
    contract.UPDATE_RECORD_RCA: Rule(RecordRca, _by("RCA recorded"), needs_policy=False),
    contract.UPDATE_ADD_ACTION: Rule(AddAction, _by("action added"), checks_policy=True),
    contract.UPDATE_LOG_TIME: Rule(LogTime, lambda r: f"{r.minutes} min logged by {r.by.strip()}", needs_policy=False),
    contract.UPDATE_COMPLETE_OBLIGATION: Rule(CompleteObligation, lambda r: f"{r.item} {'waived' if r.waive_reason else 'done'} by {r.by.strip()}",
                                              needs_policy=False),
    contract.UPDATE_CHANGE_POLICY: Rule(ChangePolicy, lambda r: f"policy changed ({r.mode.value}) by {r.by.strip()}", checks_policy=True),
}


class TicketInbox:
    """Mixed into TicketWorkflow: the rules of each message, in the workflow's terms."""

    def _check_acknowledge(self, r: Acknowledge, now: datetime) -> None:
        lifecycle.check_acknowledge(self._state, r)

    def _apply_acknowledge(self, r: Acknowledge, at: datetime) -> None:
        lifecycle.apply_acknowledge(self._policy, self._state, r, at)
        self._event("acknowledged", at=at, by=r.by.strip(), status=self._state.status.value)

    def _check_respond(self, r: Respond, now: datetime) -> None:
        lifecycle.check_respond(self._state, r)

    def _apply_respond(self, r: Respond, at: datetime) -> None:
        first = self._state.clocks.get(ClockName.FIRST_RESPONSE)
        meets_first = first is not None and first.running
        lifecycle.apply_respond(self._policy, self._state, r, at)
        measured = self._measured(ClockName.FIRST_RESPONSE, at) if meets_first else {}
        self._event("responded", at=at, by=r.by.strip(), message_id=r.message_id, **measured)

    def _measured(self, clock: ClockName, at: datetime) -> dict:
        """The clock's measure for reports (sla/ticket_facts.py), as details of the event that met it.
        Behind a patch: events of older runs keep the details they were chained with."""
        if not workflow.patched("report-measures"):
            return {}
        return ticket_facts.clock_measure(self._policy, self._state, clock, at) or {}

    def _check_set_status(self, r: StatusChange, now: datetime) -> None:
        lifecycle.check_status_change(self._state, r)

    def _apply_set_status(self, r: StatusChange, at: datetime) -> None:
        lifecycle.apply_status_change(self._policy, self._state, r, at)
        paused = [c.value for c, rec in self._state.clocks.items() if rec.running and rec.pauses and rec.pauses[-1].ended_at is None]
        self._event("status_changed", at=at, status=r.status.value, by=r.by.strip(), reason=r.reason, paused=",".join(paused) or None)

    def _check_customer_message(self, r: CustomerMessage, now: datetime) -> None:
        lifecycle.check_customer_message(self._state, r)

    def _apply_customer_message(self, r: CustomerMessage, at: datetime) -> None:
        reopens = self._state.status is TicketStatus.SOLVED
        lifecycle.apply_customer_message(self._policy, self._state, r, at)
        self._event("customer_message", at=at, message_id=r.message_id, status=self._state.status.value, reopened=reopens)

    def _check_resolve(self, r: Resolve, now: datetime) -> None:
        lifecycle.check_resolve(self._state, r)

    def _apply_resolve(self, r: Resolve, at: datetime) -> None:
        lifecycle.apply_resolve(self._policy, self._state, at)
        self._event("resolved", at=at, by=r.by.strip(), resolution=r.resolution, **self._measured(ClockName.RESOLUTION, at))
        self._open_post_incident(at)
        self._resolve_pages()

    def _resolve_pages(self) -> None:
        """Resolving the ticket resolves every PagerDuty incident it opened."""
        tid = self._state.ticket.ticket_id
        self._page_follow_up(f"{tid}/solved/{self._state.solve_count}/resolve_pages", f"ticket {tid} solved", ["pagerduty"], "resolve")

    def _open_post_incident(self, at: datetime) -> None:
        if not self._state.post_incident:
            lifecycle.open_post_incident(self._policy, self._state, at)
            for item in self._state.post_incident:
                self._event("post_incident_due", item=item.id, due=item.due.isoformat(), at=at)

    def _check_reopen(self, r: Reopen, now: datetime) -> None:
        lifecycle.check_reopen(self._state, r)

    def _apply_reopen(self, r: Reopen, at: datetime) -> None:
        lifecycle.apply_reopen(self._policy, self._state, at)
        self._event("reopened", at=at, by=r.by.strip(), reason=r.reason)

    def _check_record_csat(self, r: Csat, now: datetime) -> None:
        lifecycle.check_csat(self._state, r)

    def _apply_record_csat(self, r: Csat, at: datetime) -> None:
        lifecycle.apply_csat(self._state, r)
        self._event("csat", at=at, score=r.score, comment=r.comment)

    def _check_change_severity(self, r: SeverityPlanChange, now: datetime) -> None:
        lifecycle.check_severity_change(self._policy, self._state, r)

    def _apply_change_severity(self, r: SeverityPlanChange, at: datetime) -> None:
        was = (self._state.severity.value, self._state.plan)
        lifecycle.apply_severity_change(self._state, r, at)
        self._event("severity_changed", at=at, by=r.by.strip(), severity_from=was[0], severity_to=self._state.severity.value,
                    plan_from=was[1], plan_to=self._state.plan, reason=r.reason)

    def _check_post_status_update(self, r: PostStatusUpdate, now: datetime) -> None:
        lifecycle.check_status_update(self._state, r)

    def _apply_post_status_update(self, r: PostStatusUpdate, at: datetime) -> None:
        cycle = self._state.clocks[ClockName.STATUS_UPDATE].cycle
        lifecycle.apply_status_update(self._state, at)
        self._announcements.append(Obligation(
            id=f"{self._state.ticket.ticket_id}/status_update/{cycle}/posted", kind=ObligationKind.ESCALATION,
            clock=ClockName.STATUS_UPDATE, due=at, summary=f"status update by {r.by.strip()}: {r.text.strip()}",
            roles=list(self._policy.status_updates.post_to),
        ))
        self._event("status_update_posted", at=at, by=r.by.strip(), text=r.text.strip())

    def _check_designate_commander(self, r: DesignateCommander, now: datetime) -> None:
        lifecycle.check_commander(self._state, r)

    def _apply_designate_commander(self, r: DesignateCommander, at: datetime) -> None:
        lifecycle.apply_commander(self._state, r, at)
        self._event("commander_designated", at=at, name=self._state.commander, by=r.by.strip())

    def _check_acknowledge_page(self, r: AcknowledgePage, now: datetime) -> None:
        lifecycle.check_page_ack(self._policy, self._state, r)

    def _apply_acknowledge_page(self, r: AcknowledgePage, at: datetime) -> None:
        lifecycle.apply_page_ack(self._state, r, at)
        self._event("page_acknowledged", at=at, step=r.step, by=r.by.strip())
        step = next(s for s in self._policy.escalation[self._state.severity] if s.id == r.step)
        record = self._state.escalations[r.step]
        self._page_follow_up(f"{self._state.ticket.ticket_id}/escalation/{r.step}/ack{record.ack_timeouts + 1}",
                             f"{step.label}: acknowledged by {r.by.strip()}", list(step.roles), "acknowledge")

    def _check_hand_off(self, r: HandOff, now: datetime) -> None:
        lifecycle.check_handoff(self._policy, self._state, r)

    def _apply_hand_off(self, r: HandOff, at: datetime) -> None:
        handoff = lifecycle.apply_handoff(self._policy, self._state, r, at)
        verb = "escalated" if handoff.direction == "up" else "de-escalated"
        self._announcements.append(Obligation(
            id=f"{self._state.ticket.ticket_id}/handoff/{len(self._state.handoffs)}", kind=ObligationKind.ESCALATION, due=handoff.at,
            summary=f"{verb} to {handoff.to_tier} by {handoff.by}: {handoff.note}", roles=[self._policy.tiers[handoff.to_tier].role],
        ))
        self._event("handed_off", at=at, by=handoff.by, from_tier=handoff.from_tier, to_tier=handoff.to_tier,
                    direction=handoff.direction, note=handoff.note)

    def _check_escalate_to_management(self, r: EscalateToManagement, now: datetime) -> None:
        lifecycle.check_management(self._policy, self._state, r)

    def _apply_escalate_to_management(self, r: EscalateToManagement, at: datetime) -> None:
        record = lifecycle.apply_management(self._policy, self._state, r, at)
        self._announcements.append(Obligation(
            id=f"{self._state.ticket.ticket_id}/management/{len(self._state.management_escalations)}", kind=ObligationKind.ESCALATION,
            due=record.at, summary=f"management escalation (level {record.level}) by {record.by}: {record.reason}", roles=record.roles,
        ))
        self._event("management_escalation", at=at, by=record.by, level=record.level, reason=record.reason, notified=",".join(record.roles))

    def _check_jump_to_step(self, r: JumpToStep, now: datetime) -> None:
        lifecycle.check_jump(self._policy, self._state, r)

    def _apply_jump_to_step(self, r: JumpToStep, at: datetime) -> None:
        firing = lifecycle.apply_jump(self._state, r, at)
        steps = self._policy.escalation[self._state.severity]
        number, step = next((n, s) for n, s in enumerate(steps, start=1) if s.id == r.step)
        self._announcements.append(Obligation(
            id=f"{self._state.ticket.ticket_id}/escalation/{step.id}/{firing}", kind=ObligationKind.ESCALATION, due=at,
            summary=f"escalation step {number}: {step.label} (fired early by {r.by.strip()}: {r.reason.strip()})", roles=list(step.roles),
        ))
        self._event("escalation_jumped", at=at, step=step.id, by=r.by.strip(), reason=r.reason.strip())

    def _check_record_review(self, r: RecordReview, now: datetime) -> None:
        lifecycle.check_review(self._state, r, now.astimezone(self._policy.calendar(None).zone).date())

    def _apply_record_review(self, r: RecordReview, at: datetime) -> None:
        lifecycle.apply_review(self._state, r, at)
        self._event("review_recorded", at=at, by=r.by.strip(), held_on=r.held_on.isoformat(), attendees=", ".join(r.attendees))

    def _check_log_time(self, r: LogTime, now: datetime) -> None:
        lifecycle.check_log_time(self._state, r)

    def _apply_log_time(self, r: LogTime, at: datetime) -> None:
        lifecycle.apply_log_time(self._state, r)
        self._event("time_logged", at=at, by=r.by.strip(), minutes=r.minutes, total_minutes=self._state.logged_minutes)

    def _check_record_rca(self, r: RecordRca, now: datetime) -> None:
        lifecycle.check_rca(self._state, r)

    def _apply_record_rca(self, r: RecordRca, at: datetime) -> None:
        lifecycle.apply_rca(self._state, r, at)
        self._event("rca_recorded", at=at, by=r.by.strip(), link=r.link)

    def _check_add_action(self, r: AddAction, now: datetime) -> None:
        lifecycle.check_add_action(self._policy, self._state, r, now)

    def _apply_add_action(self, r: AddAction, at: datetime) -> None:
        item = lifecycle.apply_add_action(self._policy, self._state, r, at)
        self._event("action_added", at=at, item=item.id, title=item.title, owner=item.owner, due=item.due.isoformat(), by=r.by.strip())

    def _check_complete_obligation(self, r: CompleteObligation, now: datetime) -> None:
        lifecycle.check_complete(self._state, r)

    def _apply_complete_obligation(self, r: CompleteObligation, at: datetime) -> None:
        lifecycle.apply_complete(self._state, r, at)
        self._event("post_incident_waived" if r.waive_reason else "action_done", at=at, item=r.item, by=r.by.strip(), reason=r.waive_reason)

    def _check_change_policy(self, r: ChangePolicy, now: datetime) -> None:
        if r.occurred_at is not None:
            raise ValueError("occurred_at: a policy change applies when the ticket receives it; leave occurred_at out")
        if r.snapshot.digest == self._snapshot.digest and r.snapshot.policy == self._policy:
            raise ValueError(f"the ticket already runs under this policy ({r.snapshot.policy.name} {r.snapshot.policy.version}, "
                             f"digest {r.snapshot.digest[:12]})")
        policy_change.check_change(r.snapshot.policy, self._state)

    def _apply_change_policy(self, r: ChangePolicy, at: datetime) -> None:
        old = self._snapshot
        moves = policy_change.change_policy(old.policy, r.snapshot.policy, self._state, r.mode, at)
        self._snapshot = r.snapshot
        self._event("policy_changed", at=at, by=r.by.strip(), mode=r.mode.value, digest_from=old.digest, digest_to=r.snapshot.digest,
                    policy_from=f"{old.policy.name} {old.policy.version}", policy_to=f"{r.snapshot.policy.name} {r.snapshot.policy.version}",
                    deadlines=", ".join(f"{m.clock.value}: {_iso(m.before)} -> {_iso(m.after)}" for m in moves) or None)


def _iso(at: datetime | None) -> str:
    return at.isoformat() if at is not None else "none"
