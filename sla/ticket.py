"""A ticket as the workflow holds it: what opened it, its status, and the record of each SLA clock."""

from __future__ import annotations

import re
from datetime import datetime
from enum import StrEnum

from pydantic import AwareDatetime, BaseModel, Field, field_validator, model_validator

from sla.calendar import BusinessCalendar
from sla.durations import Duration
from sla.severity import Severity

ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$"
"""Ticket and customer ids: stored unencrypted in search attributes, so ids only, no names."""

VIA_PATTERN = r"^[a-z]{2,16}:[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$"
"""The door a message came in by, for the timeline: `api:<key name>`, `hook:<source>`."""


class TicketStatus(StrEnum):
    OPEN = "open"
    PENDING = "pending"
    WAITING_ON_CUSTOMER = "waiting_on_customer"
    WAITING_ON_THIRD_PARTY = "waiting_on_third_party"
    SOLVED = "solved"
    CLOSED = "closed"

    @property
    def label(self) -> str:
        return self.value.replace("_", " ").capitalize()


class ClockName(StrEnum):
    """The SLA clocks a ticket can run."""

    FIRST_RESPONSE = "first_response"
    NEXT_RESPONSE = "next_response"
    STATUS_UPDATE = "status_update"
    RESOLUTION = "resolution"
    TIER_RESPONSE = "tier_response"

    @property
    def label(self) -> str:
        return self.value.replace("_", " ")


class SlaState(StrEnum):
    OK = "ok"
    WARNING = "warning"
    BREACHED = "breached"


class TicketOpened(BaseModel):
    """The input of a ticket's workflow; `opened_at` anchors every deadline."""

    ticket_id: str = Field(pattern=ID_PATTERN, description="Also the workflow id.")
    customer: str = Field(pattern=ID_PATTERN, description="Customer id (no names: it is a search attribute).")
    title: str = Field(min_length=1, max_length=300)
    severity: Severity
    channel: str = Field(default="api", pattern=r"^[a-z][a-z0-9_-]{0,31}$", description="email, portal, chat, phone, api, ...")
    opened_at: AwareDatetime
    plan: str | None = Field(default=None, pattern=r"^[a-z][a-z0-9_]{0,63}$")
    category: str | None = Field(default=None, pattern=r"^[a-z][a-z0-9_]{0,63}$")
    follows: str | None = Field(default=None, pattern=ID_PATTERN, description="The closed ticket this one follows up.")
    via: str | None = Field(default=None, pattern=VIA_PATTERN,
                            description="The door it came in by (`api:<key name>`, `hook:<source>`), kept in the timeline; set by the HTTP intake.")

    @field_validator("opened_at", mode="before")
    @classmethod
    def _iso_text(cls, value):
        if isinstance(value, (int, float)) or (isinstance(value, str) and value.strip().lstrip("-").replace(".", "", 1).isdigit()):
            raise ValueError("must be an ISO 8601 instant with a UTC offset, e.g. 2026-11-30T10:00:00+01:00 (not a number)")
        return value

    @field_validator("title")
    @classmethod
    def _says_something(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must say something (it is blank)")
        return value

    @model_validator(mode="after")
    def _follows_another(self) -> "TicketOpened":
        if self.follows is not None and self.follows == self.ticket_id:
            raise ValueError("follows: a ticket cannot follow itself")
        return self


class Pause(BaseModel):
    started_at: datetime
    ended_at: datetime | None = None


class HeldTarget(BaseModel):
    """A target a policy change left in place (`migrate --mode keep`): the old policy's rule, with
    the calendar it counted on (holidays resolved), so the new policy cannot move it."""

    rule: str
    within: Duration
    counted_on: str = Field(description="The calendar's name in the old policy, or 24x7.")
    calendar: BusinessCalendar
    warn_at: list[int] = Field(default_factory=list)


class ClockBasis(BaseModel):
    """How a clock running through a policy change is counted from then on (sla/policy_change.py).

    The target's time runs from `start`, less `spent_seconds` already used (forward: the business
    time elapsed under the old policy); `held` pins the old target (keep). None on a clock that
    started under the ticket's current policy.
    """

    start: datetime
    spent_seconds: int = Field(default=0, ge=0)
    held: HeldTarget | None = None


class ClockRecord(BaseModel):
    """When a clock started, paused, resumed, was met, breached or stopped."""

    clock: ClockName
    cycle: int = 1
    started_at: datetime
    pauses: list[Pause] = Field(default_factory=list)
    met_at: datetime | None = None
    breached_at: datetime | None = None
    stopped_at: datetime | None = None
    basis: ClockBasis | None = Field(default=None, description="Set when a policy change found the clock running.")

    @property
    def running(self) -> bool:
        return self.met_at is None and self.stopped_at is None


class FiredObligation(BaseModel):
    """An obligation the workflow has acted on; its id is the notifier's idempotency key."""

    id: str
    kind: str
    clock: ClockName | None = None
    due: datetime
    fired_at: datetime
    delivered: bool | None = Field(default=True, description="Every role reached (None: still being delivered).")
    outcomes: dict[str, str] = Field(default_factory=dict, description="Per role: delivered, delivered_by_fallback, refused: <answer>, no_contact, given_up, ...")
    roles: list[str] | None = Field(default=None, description="Who was told (None in older histories).")
    withdrawn: bool = Field(default=False, description="A message that happened before it, and arrived after, showed it was not owed.")
    withdrawn_reason: str | None = None


class StepRecord(BaseModel):
    """An escalation step's firings and the acknowledgement of its page."""

    step: str
    fired: list[datetime] = Field(default_factory=list)
    acked_by: str | None = None
    acked_at: datetime | None = None
    ack_timeouts: int = Field(default=0, description="Acknowledgements not followed by action in time (each re-escalated).")
    manual: list[datetime] = Field(default_factory=list, description="Firings an operator asked for (jumped to this step).")


class PostIncidentItem(BaseModel):
    """A post-incident obligation: the review, the RCA, or one corrective action."""

    id: str = Field(description="'review', 'rca', or 'action-<n>'.")
    kind: str = Field(description="review | rca | action")
    title: str
    owner: str | None = None
    due: datetime
    added_at: datetime | None = Field(default=None, description="When it was owed (resolution, or when the action was added).")
    done_at: datetime | None = None
    done_by: str | None = None
    detail: dict[str, str] = Field(default_factory=dict, description="Review date and attendees, RCA link, ...")
    waived_reason: str | None = None

    @property
    def open(self) -> bool:
        return self.done_at is None


class Handoff(BaseModel):
    """A functional escalation (or de-escalation): the ticket moved to another support tier."""

    at: datetime
    by: str
    from_tier: str | None
    to_tier: str
    note: str
    direction: str = Field(description="up (escalated) or down (de-escalated)")
    picked_up_by: str | None = None
    picked_up_at: datetime | None = None


class ManagementEscalation(BaseModel):
    """A hierarchical escalation: the management chain was told, up to `level`."""

    at: datetime
    by: str
    reason: str
    level: int
    roles: list[str]


class SeverityChange(BaseModel):
    at: datetime
    by: str
    severity_from: Severity
    severity_to: Severity
    plan_from: str | None = None
    plan_to: str | None = None
    reason: str | None = None


class TicketState(BaseModel):
    """Everything the workflow knows about one ticket; returned by the `state` query."""

    ticket: TicketOpened
    status: TicketStatus = TicketStatus.OPEN
    severity: Severity
    plan: str | None = None
    acknowledged_by: str | None = None
    acknowledged_at: datetime | None = None
    solved_at: datetime | None = None
    closed_at: datetime | None = None
    solve_count: int = 0
    logged_minutes: int = Field(default=0, description="Support time agents logged on this ticket (log_time), in minutes.")
    deducted_logged_minutes: int = Field(default=0, description="Of logged_minutes, what the last support-hours deduction accounted for.")
    support_hours_deductions: int = Field(default=0, description="Support-hours ledger entries this ticket made (one per solve that charged).")
    support_hours_solves: int = Field(default=0, description="The solve_count last accounted for in the support-hours ledger.")
    reopen_count: int = 0
    waiting_since: datetime | None = Field(default=None, description="When the ticket entered Waiting on Customer (None when not waiting).")
    waiting_cycle: int = 0
    customer_messages: int = 0
    responses: int = 0
    csat: str | None = None
    severity_changes: list[SeverityChange] = Field(default_factory=list)
    event_seq: int = Field(default=0, description="Sequence number of the last timeline event (ids are ticket id + seq).")
    chain_head: str | None = Field(default=None, description="The chain hash of the last timeline event (sla/evidence.py): the history's witness of the stored timeline.")
    commander: str | None = None
    commander_at: datetime | None = None
    escalations: dict[str, StepRecord] = Field(default_factory=dict)
    status_updates_posted: int = 0
    post_incident: list[PostIncidentItem] = Field(default_factory=list)
    tier: str | None = Field(default=None, description="The support tier holding the ticket (None: the first tier).")
    handoffs: list[Handoff] = Field(default_factory=list)
    management_escalations: list[ManagementEscalation] = Field(default_factory=list)
    last_action_at: datetime | None = Field(default=None, description="The last time support acted on the ticket (for ack timeouts).")
    last_message_at: datetime | None = Field(default=None, description="occurred_at of the last message applied: messages apply in order.")
    last_message: str | None = Field(default=None, description="What the last message applied was (named when a message would precede it).")
    applied_events: list[str] = Field(default_factory=list, description="The most recent event ids applied (bounded), oldest first.")
    clocks: dict[ClockName, ClockRecord] = Field(default_factory=dict)
    fired: list[FiredObligation] = Field(default_factory=list)

    @classmethod
    def opened(cls, ticket: TicketOpened) -> "TicketState":
        """A new ticket: its first-response and resolution clocks run from `opened_at`."""
        at = ticket.opened_at
        return cls(
            ticket=ticket,
            severity=ticket.severity,
            plan=ticket.plan,
            clocks={
                ClockName.FIRST_RESPONSE: ClockRecord(clock=ClockName.FIRST_RESPONSE, started_at=at),
                ClockName.RESOLUTION: ClockRecord(clock=ClockName.RESOLUTION, started_at=at),
            },
        )

    @property
    def finished(self) -> bool:
        return self.status in (TicketStatus.SOLVED, TicketStatus.CLOSED)

    def compacted(self) -> "TicketState":
        """The state without fired obligations of past clock cycles and past waits/solves,
        which can never be planned again: what continue-as-new carries."""
        current = {f"{self.ticket.ticket_id}/{c.clock.value}/{c.cycle}/" for c in self.clocks.values()}
        current.add(f"{self.ticket.ticket_id}/waiting/{self.waiting_cycle}/")
        current.add(f"{self.ticket.ticket_id}/solved/{self.solve_count}/")
        current |= {f"{self.ticket.ticket_id}/escalation/{step}/" for step in self.escalations}
        current |= {f"{self.ticket.ticket_id}/post_incident/{item.id}/" for item in self.post_incident}
        keep = [f for f in self.fired if f.id.rsplit("/", 1)[0] + "/" in current]
        return self.model_copy(update={"fired": keep})

    @property
    def owner(self) -> str | None:
        """Who has the ticket: the agent who picked up its last handoff, else who acknowledged it."""
        picked = [h.picked_up_by for h in self.handoffs if h.picked_up_by]
        return picked[-1] if picked else self.acknowledged_by

    @property
    def owner_handle(self) -> str | None:
        """The owner when it is a handle (the id pattern), the only form the Owner search attribute holds."""
        owner = self.owner
        return owner if owner is not None and re.fullmatch(ID_PATTERN, owner) else None

    @property
    def escalation_level(self) -> int:
        """How many escalation steps have fired."""
        return sum(1 for r in self.escalations.values() if r.fired)

    @property
    def sla_state(self) -> SlaState:
        """Breached if a customer clock breached; warning if a warning fired on one still running.

        The stakeholder cadence (status_update) and a tier's pick-up target (tier_response) are
        internal: a late one is reminded and escalated, but does not mark the customer's SLA breached.
        """
        internal = (ClockName.STATUS_UPDATE, ClockName.TIER_RESPONSE)
        if any(c.breached_at is not None for n, c in self.clocks.items() if n not in internal):
            return SlaState.BREACHED
        running = {name for name, c in self.clocks.items() if c.running and name not in internal}
        if any(f.kind == "warning" and f.clock in running and not f.withdrawn for f in self.fired):
            return SlaState.WARNING
        return SlaState.OK
