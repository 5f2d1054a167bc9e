"""The arguments of the ticket's updates, queries and activities: one pydantic model each."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, Field, model_validator

from sla.planner import EffectiveTarget, Obligation
from sla.severity import Severity
from sla.policy import PolicySnapshot
from sla.policy_change import ChangeMode
from sla.ticket import ID_PATTERN, VIA_PATTERN, ClockName, SlaState, TicketOpened, TicketState, TicketStatus


class TicketMessage(BaseModel):
    """What every message into a ticket carries besides its own fields (docs/api.md, "Event time").

    `occurred_at` is when the thing happened (default: when the workflow handles it); clocks are
    met, paused and resumed at that instant. `event_id` is made by the sender, once per event:
    the ticket applies an event id at most once, however often it is sent or queued.
    """

    event_id: str | None = Field(default=None, pattern=ID_PATTERN, description="The sender's id of this event (idempotency key).")
    occurred_at: AwareDatetime | None = Field(default=None, description="When it happened, with an offset (default: when handled).")
    via: str | None = Field(default=None, pattern=VIA_PATTERN,
                            description="The door it came in by (`api:<key name>`, `hook:<source>`), kept in the timeline; set by the HTTP intake.")


class Acknowledge(TicketMessage):
    """An agent takes the ticket."""

    by: str = Field(min_length=1, max_length=200, description="Who takes the ticket (agent id or name).")
    note: str | None = Field(default=None, max_length=2000)


class Respond(TicketMessage):
    """A message from support to the customer: it meets the response clocks."""

    by: str = Field(min_length=1, max_length=200)
    message_id: str | None = Field(default=None, max_length=200, description="Your id of the message, for the record.")


class CustomerMessage(TicketMessage):
    """The customer wrote (e.g. an e-mail reply): resumes a wait, reopens a Solved ticket."""

    message_id: str | None = Field(default=None, max_length=200)


class StatusChange(TicketMessage):
    """Move an open ticket to Pending, Waiting on Customer or Waiting on Third Party."""

    status: TicketStatus
    by: str = Field(min_length=1, max_length=200)
    reason: str | None = Field(default=None, max_length=2000)


class Reopen(TicketMessage):
    by: str = Field(min_length=1, max_length=200)
    reason: str = Field(min_length=1, max_length=2000)


class Csat(TicketMessage):
    """Customer satisfaction after Solved: 1-5, or good/bad."""

    score: Literal["1", "2", "3", "4", "5", "good", "bad"]
    comment: str | None = Field(default=None, max_length=2000)


class SeverityPlanChange(TicketMessage):
    """Change severity and/or plan: every clock is re-planned from the original open time."""

    by: str = Field(min_length=1, max_length=200)
    severity: Severity | None = None
    plan: str | None = Field(default=None, pattern=r"^[a-z][a-z0-9_]{0,63}$")
    reason: str | None = Field(default=None, max_length=2000)


class PostStatusUpdate(TicketMessage):
    """A stakeholder status update (the Sev-1 cadence): it goes to the stakeholders' channel."""

    by: str = Field(min_length=1, max_length=200)
    text: str = Field(min_length=1, max_length=3000)


class DesignateCommander(TicketMessage):
    """Name the incident commander (kept in the state; never a search attribute)."""

    name: str = Field(min_length=1, max_length=200)
    by: str = Field(min_length=1, max_length=200)


class AcknowledgePage(TicketMessage):
    """Someone paged by an escalation step takes it: steps with stop_on_ack stop repeating."""

    step: str = Field(min_length=1, max_length=64)
    by: str = Field(min_length=1, max_length=200)


class HandOff(TicketMessage):
    """Functional escalation: hand the ticket to another support tier, with a note for it.

    `direction` says what the sender means (up: escalate, down: de-escalate); a tier on the
    other side is refused, so a typo cannot de-escalate a ticket by accident.
    """

    to: str = Field(min_length=1, max_length=64, description="The receiving tier, e.g. 'l2' (case-insensitive).")
    note: str = Field(min_length=1, max_length=3000, description="The handoff note: what was tried, what is needed.")
    by: str = Field(min_length=1, max_length=200)
    direction: Literal["up", "down"] = "up"


class EscalateToManagement(TicketMessage):
    """Hierarchical escalation: tell the next level of the management chain, with a reason."""

    reason: str = Field(min_length=1, max_length=3000)
    by: str = Field(min_length=1, max_length=200)


class JumpToStep(TicketMessage):
    """Fire an escalation step of the matrix now, ahead of its time."""

    step: str = Field(min_length=1, max_length=64)
    reason: str = Field(min_length=1, max_length=3000)
    by: str = Field(min_length=1, max_length=200)


class RecordReview(TicketMessage):
    """The post-incident review took place."""

    by: str = Field(min_length=1, max_length=200)
    held_on: date
    attendees: list[str] = Field(min_length=1, max_length=100)


class RecordRca(TicketMessage):
    """The root-cause analysis document is written."""

    by: str = Field(min_length=1, max_length=200)
    link: str = Field(min_length=1, max_length=2000, pattern=r"^https?://")


class AddAction(TicketMessage):
    """A corrective action with an owner and a deadline, tracked like the review and the RCA.

    The deadline is an instant (`due`), or a day (`due_on`): the end of that business day in the
    policy's calendar."""

    by: str = Field(min_length=1, max_length=200)
    title: str = Field(min_length=1, max_length=300)
    owner: str = Field(min_length=1, max_length=200)
    due: AwareDatetime | None = None
    due_on: date | None = Field(default=None, description="A business day: the action is due when it ends.")

    @model_validator(mode="after")
    def _one_deadline(self) -> "AddAction":
        if (self.due is None) == (self.due_on is None):
            raise ValueError("due: give either an instant (due) or a business day (due_on)")
        return self


class CompleteObligation(TicketMessage):
    """Mark a post-incident obligation done, or waive it with a reason."""

    item: str = Field(min_length=1, max_length=32, description="'review', 'rca' or an action id such as 'action-1'.")
    by: str = Field(min_length=1, max_length=200)
    waive_reason: str | None = Field(default=None, max_length=2000, description="Set to waive the obligation instead of completing it.")


class LogTime(TicketMessage):
    """Support time an agent spent on the ticket, for the support-hours ledger (docs/policy.md)."""

    minutes: int = Field(ge=1, le=1440, description="Minutes spent (1-1440).")
    by: str = Field(min_length=1, max_length=200)


class ChangePolicy(TicketMessage):
    """Move the ticket to another policy snapshot (`escalator migrate`; sla/policy_change.py says
    what each mode does to the running clocks). Applies when received: no `occurred_at`."""

    snapshot: PolicySnapshot = Field(description="The new policy, holidays resolved from the ticket's opening year.")
    mode: ChangeMode = Field(description="keep | forward | recompute (docs/policy.md, \"Moving running tickets\").")
    by: str = Field(min_length=1, max_length=200)


class Resolve(TicketMessage):
    """The fix is in: the ticket becomes Solved and its clocks stop."""

    by: str = Field(min_length=1, max_length=200)
    resolution: str | None = Field(default=None, max_length=2000)


class QueuedMessage(BaseModel):
    """An update recorded as a signal because no worker answered in time (`queued_message`).

    `update` is the update's name and `request` its argument, which must carry an `event_id` and
    an `occurred_at`: the workflow validates and applies it as that update, at that instant, once.
    """

    update: str = Field(min_length=1, max_length=64)
    request: dict[str, Any]


class TicketView(BaseModel):
    """What the `state` query returns: the state, the upcoming plan and the targets in force."""

    state: TicketState
    sla_state: SlaState
    upcoming: list[Obligation]
    targets: list[EffectiveTarget]
    next_due: Obligation | None
    policy_digest: str | None = None
    runs: int = Field(default=1, description="How many histories the ticket has had (continue-as-new).")


class TicketContinued(BaseModel):
    """What a ticket's workflow carries into a fresh history (continue-as-new)."""

    state: TicketState
    snapshot: PolicySnapshot
    runs: int = Field(description="How many histories this ticket has had before this one.")
    pending_events: list["TicketEvent"] = Field(default_factory=list, description="Timeline events not yet in the store.")
    pending_announcements: list[Obligation] = Field(default_factory=list, description="Messages from updates not yet sent.")
    pending_deliveries: list["PendingDelivery"] = Field(default_factory=list, description="Notifications still being delivered.")
    pending_delivery_log: list["DeliveryRecord"] = Field(default_factory=list, description="Delivery log lines not yet in the store.")


class SnapshotRequest(BaseModel):
    """What a new ticket asks of the policy snapshot activity; with `opening`, it also writes the
    ticket's first timeline events, unless the ticket may be refused (sla/intake.py)."""

    ticket_id: str
    opened_at: datetime
    opening: "EventBatch | None" = None


class Opening(BaseModel):
    """The snapshot activity's answer: the snapshot, and whether the opening events are in the store."""

    snapshot: PolicySnapshot
    timeline_written: bool = False
    answered_at: datetime | None = Field(default=None, description="The worker's clock when it answered (workflows/alarm.py).")


class Notification(BaseModel):
    """One attempt to announce an obligation; `idempotency_key` is the obligation id.

    The workflow sends the same notification again until every role has it: `done` lists the
    contacts that already accepted (never sent twice), `use_fallback` the roles whose fallback
    contacts are due (their primary has not accepted for `notifications.fallback_after`).
    `page_action` acknowledge/resolve goes to PagerDuty contacts only (docs/notifications.md).
    """

    idempotency_key: str
    ticket_id: str
    customer: str
    severity: Severity
    kind: str
    clock: ClockName | None = None
    due: datetime
    summary: str
    roles: list[str] = Field(default_factory=list, description="Roles to notify (the policy's notifications table).")
    done: list[str] = Field(default_factory=list, description="Delivery keys (obligation|role|channel|recipient) already accepted.")
    use_fallback: list[str] = Field(default_factory=list, description="Roles whose fallback contacts are to be used now.")
    page_action: Literal["trigger", "acknowledge", "resolve"] = "trigger"
    timeline: "EventBatch | None" = Field(
        default=None, description="Timeline events the notifier writes to the store after sending (one attempt carries them).")


DeliveryStatus = Literal["delivered", "delivered_by_fallback", "refused", "no_contact", "pending", "given_up", "not_applicable", "superseded"]


class RoleOutcome(BaseModel):
    """How one role's share of a notification went.

    delivered / delivered_by_fallback: a primary / only a fallback contact accepted;
    refused: every contact refused for good (`detail` is the answer); no_contact: the role has
    none; pending: nothing accepted yet, a contact failed for now (5xx, 429, timeout);
    given_up: still pending after `give_up_after`; not_applicable: a PagerDuty action for a
    role without a PagerDuty contact; superseded: no longer matters (its breach went out).
    """

    role: str
    status: DeliveryStatus
    detail: str | None = None
    accepted: list[str] = Field(default_factory=list, description="Delivery keys that accepted in this attempt.")
    retry: bool = Field(default=False, description="A contact failed for now: try it again (also after a fallback accepted).")


class DeliveryRecord(BaseModel):
    """A line of the delivery log the notifier could not write (the store was down): the workflow writes it later."""

    key: str
    ticket_id: str
    obligation_id: str
    role: str
    channel: str
    recipient: str
    status: str
    detail: str | None = None
    at: datetime


class HoursCrossed(BaseModel):
    """A support-hours threshold a customer's contract year reached with a new ledger entry."""

    customer: str
    contract_year: int
    threshold: int
    used_minutes: int
    contracted_minutes: int
    at: datetime


class Delivery(BaseModel):
    idempotency_key: str
    channel: str
    delivered_at: datetime
    sent: int = 0
    skipped: int = 0
    failed: int = 0
    outcomes: list[RoleOutcome] = Field(default_factory=list)
    unlogged: list[DeliveryRecord] = Field(default_factory=list)
    timeline_written: bool = Field(default=False, description="Whether the notification's `timeline` batch is in the store.")
    hours_crossed: list[HoursCrossed] = Field(default_factory=list, description="Support-hours thresholds that batch's ledger entries crossed.")


class PendingDelivery(BaseModel):
    """A notification the workflow is still delivering; carried across continue-as-new."""

    note: Notification
    fired_ids: list[str] = Field(default_factory=list, description="Fired obligations whose delivery this settles.")
    first_at: datetime = Field(description="The first attempt (workflow time): fallback_after and give_up_after count from here.")
    next_at: datetime
    attempts: int = 0
    outcomes: dict[str, RoleOutcome] = Field(default_factory=dict)
    alert: bool = Field(default=True, description="Tell the delivery_failed roles if it is given up.")


class TicketEvent(BaseModel):
    """One line of a ticket's timeline in the store; `event_id` makes writing it idempotent."""

    event_id: str
    seq: int
    at: datetime = Field(description="When it happened (a message's occurred_at, an obligation's due instant).")
    recorded_at: datetime | None = Field(default=None, description="When the workflow recorded it (None in older histories).")
    kind: str
    detail: dict[str, str | int | float | bool | None] = Field(default_factory=dict)
    content_sha256: str | None = Field(default=None, description="SHA-256 of the event's canonical JSON (sla/evidence.py; None in older histories).")
    chain_sha256: str | None = Field(default=None, description="SHA-256 of the previous event's chain hash and this content hash.")


class Recorded(BaseModel):
    """What writing a timeline batch did: how many events were new, the worker's clock then, and
    the support-hours thresholds its ledger entries crossed (each told once: the store keeps them)."""

    new: int
    answered_at: datetime | None = None
    hours_crossed: list[HoursCrossed] = Field(default_factory=list)


class EventBatch(BaseModel):
    """Timeline events to write, with the ticket's current summary row."""

    ticket: TicketOpened
    status: TicketStatus
    severity: Severity
    plan: str | None = None
    events: list[TicketEvent]
    deliveries: list[DeliveryRecord] = Field(default_factory=list, description="Delivery log lines the notifier could not write.")
    policy_snapshot: str | None = Field(default=None, description="The key of the policy snapshot the ticket opened with "
                                                                  "(PolicySnapshot.key), kept on its row for `escalator simulate`.")


TicketContinued.model_rebuild()
Notification.model_rebuild()
SnapshotRequest.model_rebuild()


class ReviewOrder(BaseModel):
    """A scheduled review to build and send (workflows/review.py -> activities/reviews.py): only
    names cross Temporal, never the report itself (payloads land in history, limited to 2 MB)."""

    kind: str = Field(description="monthly-report | weekly-review | open-post-incident")
    to: list[str] = Field(min_length=1, description="roles of the contacts file")
    made_at: datetime = Field(description="the instant the review is made for: its period follows from it")
    tz: str = Field(default="UTC", description="the schedule's zone: the period's days are that zone's")


class ReviewSent(BaseModel):
    """What a review's activity did: the period, deliveries sent / already sent / failed, the report's counts."""

    period: str
    sent: int = 0
    already_sent: int = 0
    failed: int = 0
    no_contact: list[str] = Field(default_factory=list)
    counts: dict[str, int] = Field(default_factory=dict)
