"""The doors into a ticket: its updates, signals and query, each a thin door into `_receive`.

Every message (an update, the customer-message signal, an update queued as a signal while no
worker answered) goes the same way: validated (event-time bounds, then the message's own rule
in workflows/inbox.py) before anything is written, applied at the instant it happened, once per
event id; what it overtook is withdrawn (sla/event_time.py). Signals take their payload raw:
one that does not decode is refused in the timeline with the reason, not dropped by the SDK.
"""

from __future__ import annotations

from datetime import datetime

from temporalio import workflow
from temporalio.common import RawValue
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from sla import event_time, refusals
    from sla.messages import (
        Acknowledge, AcknowledgePage, AddAction, ChangePolicy, CompleteObligation, Csat, CustomerMessage, DesignateCommander,
        EscalateToManagement, HandOff, JumpToStep, LogTime, PostStatusUpdate, QueuedMessage, RecordRca, RecordReview, Reopen, Resolve,
        Respond, SeverityPlanChange, StatusChange, TicketMessage, TicketView,
    )
    from sla.planner import Obligation, ObligationKind, effective_target, plan
    from sla.policy import PolicySnapshot
    from sla.ticket import TicketState
    from workflows import contract
from workflows.inbox import MESSAGES


class TicketDoors:
    """Mixed into TicketWorkflow: the handlers the SDK registers, and the path they share."""

    def _validate(self, name: str, request: TicketMessage) -> None:
        """Refuse before anything is written: event-time bounds, then the message's own rules."""
        if self._refused_start is not None:
            raise ValueError(f"the ticket was not opened: {self._refused_start}")
        if not isinstance(request, MESSAGES[name].model):  # e.g. sent as binary/plain: the SDK hands over bytes
            raise ValueError(f"the payload must be JSON (json/plain) of the {MESSAGES[name].model.__name__} shape in docs/api.md")
        if MESSAGES[name].checks_policy:
            self._require_snapshot()
        if event_time.is_duplicate(self._state, request):
            return  # applied already: the handler answers with the state as it is
        now = workflow.now()
        event_time.check_event_time(self._state, request, now)
        getattr(self, f"_check_{name}")(request, now)

    async def _receive(self, name: str, request: TicketMessage) -> TicketState:
        """Apply a message at the instant it happened, once per event id; withdraw what it overtook."""
        rule = MESSAGES[name]
        if rule.needs_policy and self._snapshot is None:
            await self._snapshot_ready()
            if event_time.is_duplicate(self._state, request):
                return self._state
            try:  # other messages may have applied meanwhile: the order rule and the message's own, again
                self._validate(name, request)
            except ValueError as err:
                raise ApplicationError(refusals.reason(err), type="MessageRefused", non_retryable=True) from None
        if event_time.is_duplicate(self._state, request):
            return self._state
        now = workflow.now()
        at = event_time.applied_at(request, now, self._state.ticket.opened_at)
        self._source_event, self._source_via = request.event_id, request.via
        try:
            getattr(self, f"_apply_{name}")(request, at)
        finally:
            self._source_event = self._source_via = None
        what = rule.says(request)
        event_time.record_message(self._state, request, at, what)
        if at < now and self._snapshot is not None:
            self._withdraw_overtaken(at, now, what)
        workflow.logger.info("message applied", extra={"update": name, "occurred_at": at.isoformat(), "event_id": request.event_id})
        return self._touch()

    def _withdraw_overtaken(self, at: datetime, now: datetime, what: str) -> None:
        zone = self._policy.calendar(None).zone
        for fired in event_time.withdraw_overtaken(self._policy, self._state, at, now, what):
            summary = event_time.correction(fired.kind, what, at, now, zone)
            fired.withdrawn_reason = summary
            self._event("withdrawn", at=at, obligation=fired.id, clock=fired.clock.value if fired.clock else None, summary=summary)
            if fired.roles:
                self._announcements.append(Obligation(
                    id=f"{fired.id}/withdrawn", kind=ObligationKind.CORRECTION, clock=fired.clock, due=now, summary=summary, roles=fired.roles,
                ))

    async def _receive_signalled(self, name: str, raw: object) -> None:
        """A message that came as a signal (queued, or the customer-message signal): validated here,
        since signals have no validators; a refused one is recorded in the timeline with the reason."""
        await self._snapshot_ready()
        try:
            rule = MESSAGES.get(name)
            if rule is None:
                raise ValueError(f"update: no update named {name!r}")
            request = rule.model.model_validate(raw)
            self._validate(name, request)
        except ValueError as err:
            reason = refusals.reason(err)
            self._event("refused", update=name, event=raw.get("event_id") if isinstance(raw, dict) else None, reason=reason)
            workflow.logger.warning("message refused", extra={"update": name, "reason": reason})
            self._touch()
            return
        await self._receive(name, request)

    @workflow.signal(name=contract.SIGNAL_QUEUED_MESSAGE)
    async def queued_message(self, raw: RawValue) -> None:
        """An update recorded while no worker answered (a `QueuedMessage`): applied at its occurred_at when a worker runs."""
        value = _decoded(raw)
        try:
            message = QueuedMessage.model_validate(value)
        except ValueError as err:
            await self._snapshot_ready()
            self._event("refused", update=contract.SIGNAL_QUEUED_MESSAGE, event=None, reason=refusals.reason(err))
            self._touch()
            return
        await self._receive_signalled(message.update, message.request)

    @workflow.signal(name=contract.SIGNAL_CUSTOMER_MESSAGE)
    async def customer_message_received(self, raw: RawValue) -> None:
        """Fire-and-forget twin of the customer_message update (e.g. from a mail gateway): a `CustomerMessage`."""
        await self._receive_signalled(contract.UPDATE_CUSTOMER_MESSAGE, _decoded(raw))

    @workflow.update(name=contract.UPDATE_ACKNOWLEDGE)
    async def acknowledge(self, request: Acknowledge) -> TicketState:
        """An agent takes the ticket (Open -> Pending); it meets no clock."""
        return await self._receive(contract.UPDATE_ACKNOWLEDGE, request)

    @acknowledge.validator
    def _validate_acknowledge(self, request: Acknowledge) -> None:
        self._validate(contract.UPDATE_ACKNOWLEDGE, request)

    @workflow.update(name=contract.UPDATE_RESPOND)
    async def respond(self, request: Respond) -> TicketState:
        """Support wrote to the customer: the response clocks are met."""
        return await self._receive(contract.UPDATE_RESPOND, request)

    @respond.validator
    def _validate_respond(self, request: Respond) -> None:
        self._validate(contract.UPDATE_RESPOND, request)

    @workflow.update(name=contract.UPDATE_SET_STATUS)
    async def set_status(self, request: StatusChange) -> TicketState:
        """Pending or waiting: clocks pause and resume as the policy says."""
        return await self._receive(contract.UPDATE_SET_STATUS, request)

    @set_status.validator
    def _validate_set_status(self, request: StatusChange) -> None:
        self._validate(contract.UPDATE_SET_STATUS, request)

    @workflow.update(name=contract.UPDATE_CUSTOMER_MESSAGE)
    async def customer_message(self, request: CustomerMessage) -> TicketState:
        """The customer wrote: resumes a wait, reopens a Solved ticket, starts the next-response clock."""
        return await self._receive(contract.UPDATE_CUSTOMER_MESSAGE, request)

    @customer_message.validator
    def _validate_customer_message(self, request: CustomerMessage) -> None:
        self._validate(contract.UPDATE_CUSTOMER_MESSAGE, request)

    @workflow.update(name=contract.UPDATE_RESOLVE)
    async def resolve(self, request: Resolve) -> TicketState:
        """The fix is in: Solved; resolution is met and every other running clock stops."""
        return await self._receive(contract.UPDATE_RESOLVE, request)

    @resolve.validator
    def _validate_resolve(self, request: Resolve) -> None:
        self._validate(contract.UPDATE_RESOLVE, request)

    @workflow.update(name=contract.UPDATE_REOPEN)
    async def reopen(self, request: Reopen) -> TicketState:
        """A Solved ticket back to Pending; the resolution clock resumes."""
        return await self._receive(contract.UPDATE_REOPEN, request)

    @reopen.validator
    def _validate_reopen(self, request: Reopen) -> None:
        self._validate(contract.UPDATE_REOPEN, request)

    @workflow.update(name=contract.UPDATE_RECORD_CSAT)
    async def record_csat(self, request: Csat) -> TicketState:
        """Customer satisfaction, once Solved."""
        return await self._receive(contract.UPDATE_RECORD_CSAT, request)

    @record_csat.validator
    def _validate_record_csat(self, request: Csat) -> None:
        self._validate(contract.UPDATE_RECORD_CSAT, request)

    @workflow.update(name=contract.UPDATE_CHANGE_SEVERITY)
    async def change_severity(self, request: SeverityPlanChange) -> TicketState:
        """Re-plan every clock from the original open time under the new severity and/or plan."""
        return await self._receive(contract.UPDATE_CHANGE_SEVERITY, request)

    @change_severity.validator
    def _validate_change_severity(self, request: SeverityPlanChange) -> None:
        self._validate(contract.UPDATE_CHANGE_SEVERITY, request)

    @workflow.update(name=contract.UPDATE_POST_STATUS)
    async def post_status_update(self, request: PostStatusUpdate) -> TicketState:
        """A stakeholder update: meets this cycle of the cadence and goes to the stakeholders' roles."""
        return await self._receive(contract.UPDATE_POST_STATUS, request)

    @post_status_update.validator
    def _validate_post_status_update(self, request: PostStatusUpdate) -> None:
        self._validate(contract.UPDATE_POST_STATUS, request)

    @workflow.update(name=contract.UPDATE_COMMANDER)
    async def designate_commander(self, request: DesignateCommander) -> TicketState:
        """Name the incident commander."""
        return await self._receive(contract.UPDATE_COMMANDER, request)

    @designate_commander.validator
    def _validate_designate_commander(self, request: DesignateCommander) -> None:
        self._validate(contract.UPDATE_COMMANDER, request)

    @workflow.update(name=contract.UPDATE_ACK_PAGE)
    async def acknowledge_page(self, request: AcknowledgePage) -> TicketState:
        """Someone paged by an escalation step takes it; steps with stop_on_ack stop repeating."""
        return await self._receive(contract.UPDATE_ACK_PAGE, request)

    @acknowledge_page.validator
    def _validate_acknowledge_page(self, request: AcknowledgePage) -> None:
        self._validate(contract.UPDATE_ACK_PAGE, request)

    @workflow.update(name=contract.UPDATE_HAND_OFF)
    async def hand_off(self, request: HandOff) -> TicketState:
        """Functional escalation (or de-escalation): another tier takes over; its response target starts."""
        return await self._receive(contract.UPDATE_HAND_OFF, request)

    @hand_off.validator
    def _validate_hand_off(self, request: HandOff) -> None:
        self._validate(contract.UPDATE_HAND_OFF, request)

    @workflow.update(name=contract.UPDATE_ESCALATE_MANAGEMENT)
    async def escalate_to_management(self, request: EscalateToManagement) -> TicketState:
        """Hierarchical escalation: the next level of the management chain hears, with the reason."""
        return await self._receive(contract.UPDATE_ESCALATE_MANAGEMENT, request)

    @escalate_to_management.validator
    def _validate_escalate_to_management(self, request: EscalateToManagement) -> None:
        self._validate(contract.UPDATE_ESCALATE_MANAGEMENT, request)

    @workflow.update(name=contract.UPDATE_JUMP_TO_STEP)
    async def jump_to_step(self, request: JumpToStep) -> TicketState:
        """Fire an escalation step of the matrix now; later steps anchored on it count from now."""
        return await self._receive(contract.UPDATE_JUMP_TO_STEP, request)

    @jump_to_step.validator
    def _validate_jump_to_step(self, request: JumpToStep) -> None:
        self._validate(contract.UPDATE_JUMP_TO_STEP, request)

    @workflow.update(name=contract.UPDATE_RECORD_REVIEW)
    async def record_review(self, request: RecordReview) -> TicketState:
        """The post-incident review took place."""
        return await self._receive(contract.UPDATE_RECORD_REVIEW, request)

    @record_review.validator
    def _validate_record_review(self, request: RecordReview) -> None:
        self._validate(contract.UPDATE_RECORD_REVIEW, request)

    @workflow.update(name=contract.UPDATE_RECORD_RCA)
    async def record_rca(self, request: RecordRca) -> TicketState:
        """The root-cause analysis is written."""
        return await self._receive(contract.UPDATE_RECORD_RCA, request)

    @record_rca.validator
    def _validate_record_rca(self, request: RecordRca) -> None:
        self._validate(contract.UPDATE_RECORD_RCA, request)

    @workflow.update(name=contract.UPDATE_LOG_TIME)
    async def log_time(self, request: LogTime) -> TicketState:
        """Support time an agent spent, for the support-hours ledger (deducted when solved)."""
        return await self._receive(contract.UPDATE_LOG_TIME, request)

    @log_time.validator
    def _validate_log_time(self, request: LogTime) -> None:
        self._validate(contract.UPDATE_LOG_TIME, request)

    @workflow.update(name=contract.UPDATE_ADD_ACTION)
    async def add_action(self, request: AddAction) -> TicketState:
        """A corrective action with an owner and a deadline; reminded and escalated like the review."""
        return await self._receive(contract.UPDATE_ADD_ACTION, request)

    @add_action.validator
    def _validate_add_action(self, request: AddAction) -> None:
        self._validate(contract.UPDATE_ADD_ACTION, request)

    @workflow.update(name=contract.UPDATE_COMPLETE_OBLIGATION)
    async def complete_obligation(self, request: CompleteObligation) -> TicketState:
        """Mark a corrective action done, or waive any post-incident obligation with a reason."""
        return await self._receive(contract.UPDATE_COMPLETE_OBLIGATION, request)

    @complete_obligation.validator
    def _validate_complete_obligation(self, request: CompleteObligation) -> None:
        self._validate(contract.UPDATE_COMPLETE_OBLIGATION, request)

    def _require_snapshot(self) -> None:
        """For validators whose check needs the policy: refuse, rather than wait, while it loads."""
        if self._snapshot is None:
            raise ValueError("the ticket is still starting (its policy is being loaded): try again in a moment")

    async def _snapshot_ready(self) -> None:
        if self._snapshot is None:
            await workflow.wait_condition(lambda: self._snapshot is not None)

    @workflow.query(name=contract.QUERY_STATE)
    def state(self) -> TicketView:
        now = workflow.now()
        policy = self._snapshot.policy if self._snapshot else None
        upcoming = plan(policy, self._state, now) if policy else []
        targets = [t for r in self._state.clocks.values() if r.running and policy and (t := effective_target(policy, self._state, r))]
        return TicketView(
            state=self._state, sla_state=self._state.sla_state, upcoming=upcoming, targets=targets,
            next_due=upcoming[0] if upcoming else None, policy_digest=self._snapshot.digest if self._snapshot else None,
            runs=self._runs + 1,
        )

    @workflow.query(name=contract.QUERY_POLICY)
    def policy(self) -> PolicySnapshot | None:
        """The policy snapshot the ticket runs under (None until the opening activity took it)."""
        return self._snapshot

    @workflow.update(name=contract.UPDATE_CHANGE_POLICY)
    async def change_policy(self, request: ChangePolicy) -> TicketState:
        """Move the ticket to another policy snapshot (escalator migrate); recorded with both digests."""
        return await self._receive(contract.UPDATE_CHANGE_POLICY, request)

    @change_policy.validator
    def _validate_change_policy(self, request: ChangePolicy) -> None:
        self._validate(contract.UPDATE_CHANGE_POLICY, request)


def _decoded(raw: RawValue) -> object:
    """A signal's payload as JSON data, or None when it is not JSON (then it is refused as not an object)."""
    try:
        return workflow.payload_converter().from_payload(raw.payload)
    except Exception:  # the converter's own errors for an encoding or a body it cannot read
        return None

