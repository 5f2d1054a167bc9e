"""The ticket lifecycle: which message is allowed in which status, and what it does.

Each message has a `check_*` that raises ValueError with a reason a person can act on (the
workflow's update validators call it, so a refused message writes nothing) and an `apply_*`
that changes the state. `now` is always an argument: nothing here reads a clock.
"""

from __future__ import annotations

from datetime import date, datetime
from urllib.parse import urlsplit

from sla.messages import (
    Acknowledge, AcknowledgePage, AddAction, CompleteObligation, Csat, CustomerMessage, DesignateCommander,
    EscalateToManagement, HandOff, JumpToStep, LogTime, PostStatusUpdate, RecordRca, RecordReview, Reopen, Resolve, Respond,
    SeverityPlanChange, StatusChange,
)
from sla.planner import Obligation, ObligationKind, after
from sla.policy import Policy
from sla.policy_change import drop_held
from sla.ticket import (
    ClockName, ClockRecord, Handoff, ManagementEscalation, Pause, PostIncidentItem, SeverityChange, StepRecord, TicketState,
    TicketStatus,
)

MANUAL_STATUSES = (TicketStatus.PENDING, TicketStatus.WAITING_ON_CUSTOMER, TicketStatus.WAITING_ON_THIRD_PARTY)


class ClosedTicket(ValueError):
    """A message for a ticket that is closed: the customer needs a follow-up ticket."""


def _refuse_finished(state: TicketState, action: str) -> None:
    if state.status is TicketStatus.CLOSED:
        raise ClosedTicket(f"cannot {action}: ticket {state.ticket.ticket_id} is closed; open a follow-up ticket")
    if state.status is TicketStatus.SOLVED:
        raise ValueError(f"cannot {action}: ticket {state.ticket.ticket_id} is solved (reopen it first)")


def _who(by: str, field: str = "by") -> str:
    if not by.strip():
        raise ValueError(f"{field}: must name who does it")
    if field == "by" and by.strip().lower() == "root":
        raise ValueError(f"{field}: name the person who does it, not root")
    return by.strip()


def set_status(policy: Policy, state: TicketState, status: TicketStatus, now: datetime) -> None:
    """Change status, pausing and resuming each clock as the policy says."""
    if state.status is TicketStatus.WAITING_ON_CUSTOMER and status is not TicketStatus.WAITING_ON_CUSTOMER:
        state.waiting_since = None
    if status is TicketStatus.WAITING_ON_CUSTOMER and state.status is not TicketStatus.WAITING_ON_CUSTOMER:
        state.waiting_since = now
        state.waiting_cycle += 1
    state.status = status
    for record in state.clocks.values():
        if not record.running:
            continue
        pauses = status in policy.clock_rules(record.clock).pauses_on
        paused = bool(record.pauses) and record.pauses[-1].ended_at is None
        if pauses and not paused:
            record.pauses.append(Pause(started_at=now))
        elif paused and not pauses:
            record.pauses[-1].ended_at = now


# acknowledge -------------------------------------------------------------------------------

def open_handoff(state: TicketState) -> Handoff | None:
    """The last handoff, while nobody of the receiving tier has picked the ticket up."""
    last = state.handoffs[-1] if state.handoffs else None
    return last if last is not None and last.picked_up_at is None else None


def check_acknowledge(state: TicketState, request: Acknowledge) -> None:
    _who(request.by)
    _refuse_finished(state, "acknowledge")
    if state.acknowledged_by is not None and open_handoff(state) is None:
        raise ValueError(f"already acknowledged by {state.acknowledged_by} at {state.acknowledged_at:%Y-%m-%dT%H:%M:%SZ}")


def apply_acknowledge(policy: Policy, state: TicketState, request: Acknowledge, now: datetime) -> None:
    """An agent takes the ticket (Open becomes Pending), or picks up a handoff to their tier.

    Taking the ticket meets no customer clock; picking up a handoff meets the tier's own target.
    """
    state.acknowledged_by = request.by.strip()
    state.acknowledged_at = now
    _pick_up(state, request.by.strip(), now)
    if state.status is TicketStatus.OPEN:
        set_status(policy, state, TicketStatus.PENDING, now)


def _pick_up(state: TicketState, by: str, now: datetime) -> None:
    handoff = open_handoff(state)
    if handoff is not None:
        handoff.picked_up_by, handoff.picked_up_at = by, now
        tier = state.clocks.get(ClockName.TIER_RESPONSE)
        if tier is not None and tier.running:
            tier.met_at = now


# respond -----------------------------------------------------------------------------------

def check_respond(state: TicketState, request: Respond) -> None:
    _who(request.by)
    _refuse_finished(state, "respond")


def apply_respond(policy: Policy, state: TicketState, request: Respond, now: datetime) -> None:
    """A message to the customer meets the response clocks (and picks up a handoff)."""
    state.responses += 1
    state.last_action_at = now
    _pick_up(state, request.by.strip(), now)
    for name in (ClockName.FIRST_RESPONSE, ClockName.NEXT_RESPONSE):
        record = state.clocks.get(name)
        if record is not None and record.running:
            _end_pause(record, now)
            record.met_at = now
    if state.status is TicketStatus.OPEN:
        set_status(policy, state, TicketStatus.PENDING, now)


def _end_pause(record: ClockRecord, now: datetime) -> None:
    if record.pauses and record.pauses[-1].ended_at is None:
        record.pauses[-1].ended_at = now


# customer message --------------------------------------------------------------------------

def check_customer_message(state: TicketState, request: CustomerMessage) -> None:
    if state.status is TicketStatus.CLOSED:
        raise ClosedTicket(f"ticket {state.ticket.ticket_id} is closed; open a follow-up ticket")


def apply_customer_message(policy: Policy, state: TicketState, request: CustomerMessage, now: datetime) -> None:
    """The customer wrote: a Solved ticket reopens, a wait on them ends, the next response clock starts."""
    state.customer_messages += 1
    if state.status is TicketStatus.SOLVED:
        _reopen(policy, state, now)
    elif state.status is TicketStatus.WAITING_ON_CUSTOMER:
        set_status(policy, state, TicketStatus.PENDING, now)
    first = state.clocks.get(ClockName.FIRST_RESPONSE)
    if first is not None and first.running:
        return  # the first response is still owed: no separate next-response clock yet
    _restart_clock(policy, state, ClockName.NEXT_RESPONSE, now)


def _restart_clock(policy: Policy, state: TicketState, clock: ClockName, now: datetime) -> None:
    """Start `clock` afresh (a new cycle, so its obligations get new ids) unless one is running."""
    current = state.clocks.get(clock)
    if current is not None and current.running:
        return
    record = ClockRecord(clock=clock, cycle=(current.cycle + 1) if current else 1, started_at=now)
    if state.status in policy.clock_rules(clock).pauses_on:
        record.pauses.append(Pause(started_at=now))
    state.clocks[clock] = record


# status ------------------------------------------------------------------------------------

def check_status_change(state: TicketState, request: StatusChange) -> None:
    _who(request.by)
    if request.status not in MANUAL_STATUSES:
        names = ", ".join(s.value for s in MANUAL_STATUSES)
        raise ValueError(f"status: {request.status.value} is not set directly (use {names}; resolve and reopen have their own updates)")
    _refuse_finished(state, f"set status {request.status.value}")
    if state.status is request.status:
        raise ValueError(f"status: the ticket is already {request.status.value}")


def apply_status_change(policy: Policy, state: TicketState, request: StatusChange, now: datetime) -> None:
    state.last_action_at = now
    set_status(policy, state, request.status, now)


# resolve / reopen / close ------------------------------------------------------------------

def check_resolve(state: TicketState, request: Resolve) -> None:
    _who(request.by)
    _refuse_finished(state, "resolve")


def apply_resolve(policy: Policy, state: TicketState, now: datetime) -> None:
    """Solved: resolution is met, every other running clock stops, the reopen window opens."""
    set_status(policy, state, TicketStatus.SOLVED, now)
    state.last_action_at = now
    state.solved_at = now
    state.solve_count += 1
    state.waiting_since = None
    for record in state.clocks.values():
        if record.running:
            _end_pause(record, now)
            if record.clock is ClockName.RESOLUTION:
                record.met_at = now
            else:
                record.stopped_at = now


def check_reopen(state: TicketState, request: Reopen) -> None:
    _who(request.by)
    if state.status is TicketStatus.CLOSED:
        raise ClosedTicket(f"cannot reopen: ticket {state.ticket.ticket_id} is closed; open a follow-up ticket")
    if state.status is not TicketStatus.SOLVED:
        raise ValueError(f"cannot reopen: ticket {state.ticket.ticket_id} is {state.status.value}, not solved")


def apply_reopen(policy: Policy, state: TicketState, now: datetime) -> None:
    _reopen(policy, state, now)


def _reopen(policy: Policy, state: TicketState, now: datetime) -> None:
    """Back to Pending. The resolution clock resumes: the time spent Solved counts as a pause."""
    state.reopen_count += 1
    state.solved_at = None
    state.csat = None
    resolution = state.clocks.get(ClockName.RESOLUTION)
    if resolution is not None and resolution.met_at is not None:
        resolution.pauses.append(Pause(started_at=resolution.met_at, ended_at=now))
        resolution.met_at = None
    set_status(policy, state, TicketStatus.PENDING, now)


def apply_close(state: TicketState, now: datetime) -> None:
    state.status = TicketStatus.CLOSED
    state.closed_at = now


# CSAT --------------------------------------------------------------------------------------

def check_csat(state: TicketState, request: Csat) -> None:
    if state.status is not TicketStatus.SOLVED:
        raise ValueError(f"csat: a score is recorded once the ticket is solved (it is {state.status.value})")
    if state.csat is not None:
        raise ValueError(f"csat: already recorded ({state.csat})")


def apply_csat(state: TicketState, request: Csat) -> None:
    state.csat = request.score


# severity / plan ---------------------------------------------------------------------------

def check_severity_change(policy: Policy, state: TicketState, request: SeverityPlanChange) -> None:
    _who(request.by)
    _refuse_finished(state, "change severity or plan")
    if request.severity is None and request.plan is None:
        raise ValueError("give a new severity, a new plan, or both")
    if request.plan is not None and request.plan not in policy.plans:
        raise ValueError(f"plan: {request.plan!r} is not a plan of the ticket's policy (have {', '.join(sorted(policy.plans))})")
    if (request.severity in (None, state.severity)) and (request.plan in (None, state.plan)):
        raise ValueError(f"nothing changes: the ticket is already {state.severity.value}" + (f", plan {state.plan}" if state.plan else ""))


def apply_severity_change(state: TicketState, request: SeverityPlanChange, now: datetime) -> None:
    """Re-plans every clock from the original open time; obligations now overdue fire at once."""
    state.severity_changes.append(SeverityChange(
        at=now, by=request.by.strip(), severity_from=state.severity, severity_to=request.severity or state.severity,
        plan_from=state.plan, plan_to=request.plan or state.plan, reason=request.reason,
    ))
    state.severity = request.severity or state.severity
    state.plan = request.plan or state.plan
    drop_held(state)


# Sev-1 incident mode -----------------------------------------------------------------------

def sync_cadence(policy: Policy, state: TicketState, now: datetime) -> None:
    """Run the stakeholder cadence while the severity (or plan/category) has a status_update
    target, starting it `now` when the ticket becomes e.g. Sev-1, stopping it when it is lowered."""
    ticket = state.ticket
    wanted = bool(policy.candidate_targets(ClockName.STATUS_UPDATE, state.severity, state.plan, ticket.category))
    record = state.clocks.get(ClockName.STATUS_UPDATE)
    running = record is not None and record.running
    if wanted and not running and not state.finished:
        # Opened at this severity: the first update is due an interval after opening.
        start = ticket.opened_at if record is None and not state.severity_changes else now
        state.clocks[ClockName.STATUS_UPDATE] = ClockRecord(
            clock=ClockName.STATUS_UPDATE, cycle=(record.cycle + 1) if record else 1, started_at=start,
        )
    elif running and (not wanted or state.finished):
        record.stopped_at = now


def check_status_update(state: TicketState, request: PostStatusUpdate) -> None:
    _who(request.by)
    _refuse_finished(state, "post a status update")
    if not request.text.strip():
        raise ValueError("text: must say something")
    record = state.clocks.get(ClockName.STATUS_UPDATE)
    if record is None or not record.running:
        raise ValueError(f"no status cadence runs for this {state.severity.label} ticket")


def apply_status_update(state: TicketState, now: datetime) -> None:
    """The update is posted: this cycle is met and the next one is due a full interval from now."""
    record = state.clocks[ClockName.STATUS_UPDATE]
    record.met_at = now
    state.last_action_at = now
    state.status_updates_posted += 1
    state.clocks[ClockName.STATUS_UPDATE] = ClockRecord(clock=ClockName.STATUS_UPDATE, cycle=record.cycle + 1, started_at=now)


def check_commander(state: TicketState, request: DesignateCommander) -> None:
    _who(request.by)
    _who(request.name, "name")
    _refuse_finished(state, "designate an incident commander")
    if state.commander == request.name.strip():
        raise ValueError(f"name: {state.commander} is already the incident commander")


def apply_commander(state: TicketState, request: DesignateCommander, now: datetime) -> None:
    state.commander = request.name.strip()
    state.commander_at = now
    state.last_action_at = now


def _known_step(policy: Policy, state: TicketState, step: str) -> None:
    steps = {s.id for s in policy.escalation.get(state.severity, [])}
    if step not in steps:
        raise ValueError(f"step: {step!r} is not an escalation step of {state.severity.value} (have {', '.join(sorted(steps)) or 'none'})")


def check_page_ack(policy: Policy, state: TicketState, request: AcknowledgePage) -> None:
    _who(request.by)
    _refuse_finished(state, "acknowledge a page")
    _known_step(policy, state, request.step)
    record = state.escalations.get(request.step)
    if record is None or not record.fired:
        raise ValueError(f"step: {request.step} has not paged anyone yet")
    if record.acked_by:
        raise ValueError(f"step: {request.step} was already acknowledged by {record.acked_by}")


def apply_page_ack(state: TicketState, request: AcknowledgePage, now: datetime) -> None:
    record = state.escalations[request.step]
    record.acked_by = request.by.strip()
    record.acked_at = now


def apply_obligation(policy: Policy, state: TicketState, ob: Obligation) -> list[str]:
    """The state change an obligation makes when it falls due (dated at its due instant, not at
    whenever it was acted on); returns the roles it notifies. The workflow and the dry run both
    act through this. An auto-solve resolves; opening its post-incident obligations is the
    caller's (the workflow does it behind a patch)."""
    if ob.kind is ObligationKind.AUTO_CLOSE:
        apply_close(state, ob.due)
        return []
    if ob.kind is ObligationKind.AUTO_SOLVE:
        apply_resolve(policy, state, ob.due)
    if ob.kind is ObligationKind.ESCALATION and "/escalation/" in ob.id:
        step, firing = ob.id.split("/escalation/")[1].split("/")[:2]
        if firing.startswith("ack_timeout"):
            record_ack_timeout(state, step)
        record_escalation(state, step, ob.due)
    if ob.kind is ObligationKind.BREACH and ob.clock is not None and state.clocks[ob.clock].breached_at is None:
        state.clocks[ob.clock].breached_at = ob.due
    return ob.roles if ob.roles is not None else (policy.notifications.get(ob.kind.value, []) or [])


def record_escalation(state: TicketState, step: str, at: datetime) -> None:
    state.escalations.setdefault(step, StepRecord(step=step)).fired.append(at)


def record_ack_timeout(state: TicketState, step: str) -> None:
    """An acknowledged page saw no action in time: the acknowledgement no longer holds the step."""
    record = state.escalations[step]
    record.ack_timeouts += 1
    record.acked_by = record.acked_at = None


# functional and hierarchical escalation ----------------------------------------------------

def current_tier(policy: Policy, state: TicketState) -> str | None:
    return state.tier or next(iter(policy.tiers), None)


def check_handoff(policy: Policy, state: TicketState, request: HandOff) -> str:
    """Refuse a handoff that goes nowhere or the wrong way; return the receiving tier's name."""
    _who(request.by)
    _refuse_finished(state, "hand off")
    if not request.note.strip():
        raise ValueError("note: a handoff needs a note for the receiving tier")
    tiers = list(policy.tiers)
    to = request.to.strip().lower()
    if to not in policy.tiers:
        raise ValueError(f"to: no support tier {request.to!r} (have {', '.join(tiers) or 'none'})")
    here = current_tier(policy, state)
    if to == here:
        raise ValueError(f"to: the ticket is already with {to}")
    up = here is None or tiers.index(to) > tiers.index(here)
    if up != (request.direction == "up"):
        verb = "escalate" if request.direction == "up" else "de-escalate"
        raise ValueError(f"to: {to} is {'above' if up else 'below'} {here}; cannot {verb} to it")
    return to


def apply_handoff(policy: Policy, state: TicketState, request: HandOff, now: datetime) -> Handoff:
    """The ticket moves to another tier; that tier's own response target starts now."""
    to = request.to.strip().lower()
    handoff = Handoff(at=now, by=request.by.strip(), from_tier=current_tier(policy, state), to_tier=to,
                      note=request.note.strip(), direction=request.direction)
    state.handoffs.append(handoff)
    state.tier = to
    state.last_action_at = now
    previous = state.clocks.get(ClockName.TIER_RESPONSE)
    if previous is not None and previous.running:
        previous.stopped_at = now  # the earlier tier's pick-up no longer matters
    if policy.tiers[to].respond_within.get(state.severity) is not None:
        state.clocks[ClockName.TIER_RESPONSE] = ClockRecord(
            clock=ClockName.TIER_RESPONSE, cycle=(previous.cycle + 1) if previous else 1, started_at=now,
        )
    return handoff


def check_management(policy: Policy, state: TicketState, request: EscalateToManagement) -> None:
    _who(request.by)
    _refuse_finished(state, "escalate to management")
    if not request.reason.strip():
        raise ValueError("reason: say why management is needed")
    if not policy.management.chain:
        raise ValueError("the ticket's policy names no management chain (management.chain)")


def apply_management(policy: Policy, state: TicketState, request: EscalateToManagement, now: datetime) -> ManagementEscalation:
    """Each hierarchical escalation climbs one level of the chain, telling every level up to it."""
    chain = policy.management.chain
    level = min(len(state.management_escalations) + 1, len(chain))
    record = ManagementEscalation(at=now, by=request.by.strip(), reason=request.reason.strip(), level=level, roles=list(chain[:level]))
    state.management_escalations.append(record)
    state.last_action_at = now
    return record


def check_jump(policy: Policy, state: TicketState, request: JumpToStep) -> None:
    _who(request.by)
    _refuse_finished(state, "jump to an escalation step")
    if not request.reason.strip():
        raise ValueError("reason: say why the step is fired early")
    _known_step(policy, state, request.step)
    record = state.escalations.get(request.step)
    if record is not None and record.fired:
        raise ValueError(f"step: {request.step} already fired at {record.fired[0]:%Y-%m-%dT%H:%M:%SZ}")


def apply_jump(state: TicketState, request: JumpToStep, now: datetime) -> int:
    """Fire the step now, as if its time had come; return its firing number (for the obligation id)."""
    record_escalation(state, request.step, now)
    record = state.escalations[request.step]
    record.manual.append(now)
    state.last_action_at = now
    return len(record.fired)


# post-incident obligations -----------------------------------------------------------------

def open_post_incident(policy: Policy, state: TicketState, resolved_at: datetime) -> None:
    """At the first resolution of a severity the policy names: a review and an RCA fall due."""
    rules = policy.post_incident
    if state.severity not in rules.severities or state.post_incident:
        return
    state.post_incident = [
        PostIncidentItem(id="review", kind="review", title=f"post-incident review (within {rules.review_within})",
                         due=after(policy, resolved_at, rules.review_within), added_at=resolved_at),
        PostIncidentItem(id="rca", kind="rca", title=f"root-cause analysis (within {rules.rca_within})",
                         due=after(policy, resolved_at, rules.rca_within), added_at=resolved_at),
    ]


def _item(state: TicketState, item_id: str) -> PostIncidentItem:
    for item in state.post_incident:
        if item.id == item_id:
            return item
    have = ", ".join(i.id for i in state.post_incident) or "none: the ticket has no post-incident obligations"
    raise ValueError(f"item: no post-incident obligation {item_id!r} (have {have})")


def check_log_time(state: TicketState, request: LogTime) -> None:
    """Time may be logged until the ticket closes (wrap-up after solving counts too)."""
    _who(request.by)
    _refuse_closed(state, "log time")


def apply_log_time(state: TicketState, request: LogTime) -> None:
    state.logged_minutes += request.minutes


def _refuse_closed(state: TicketState, action: str) -> None:
    if state.status is TicketStatus.CLOSED:
        raise ClosedTicket(f"cannot {action}: ticket {state.ticket.ticket_id} is closed")


def check_review(state: TicketState, request: RecordReview, today: date | None = None) -> None:
    """`today` is the date in the policy's calendar zone: a review cannot have been held later."""
    _who(request.by)
    _refuse_closed(state, "record a review")
    if today is not None and request.held_on > today:
        raise ValueError(f"held_on: {request.held_on.isoformat()} is in the future: record the review once it took place")
    if not _item(state, "review").open:
        raise ValueError("the post-incident review is already recorded")
    if any(not a.strip() for a in request.attendees):
        raise ValueError("attendees: names may not be blank")


def apply_review(state: TicketState, request: RecordReview, now: datetime) -> None:
    item = _item(state, "review")
    item.done_at, item.done_by = now, request.by.strip()
    item.detail = {"held_on": request.held_on.isoformat(), "attendees": ", ".join(a.strip() for a in request.attendees)}


def check_rca(state: TicketState, request: RecordRca) -> None:
    _who(request.by)
    if not urlsplit(request.link).hostname:
        raise ValueError(f"link: {request.link!r} has no host")
    _refuse_closed(state, "record an RCA")
    if not _item(state, "rca").open:
        raise ValueError("the RCA is already recorded")


def apply_rca(state: TicketState, request: RecordRca, now: datetime) -> None:
    item = _item(state, "rca")
    item.done_at, item.done_by, item.detail = now, request.by.strip(), {"link": request.link}


def action_due(policy: Policy, request: AddAction) -> datetime:
    """The action's deadline: its instant, or the end of its business day on the policy's calendar."""
    if request.due is not None:
        return request.due
    end = policy.calendar(None).close_of(request.due_on)
    if end is None:
        raise ValueError(f"due: {request.due_on.isoformat()} is not a business day of the policy's calendar")
    return end


def check_add_action(policy: Policy, state: TicketState, request: AddAction, now: datetime) -> None:
    _who(request.by)
    _who(request.owner, "owner")
    if not request.title.strip():
        raise ValueError("title: say what is to be done (it is blank)")
    _refuse_closed(state, "add a corrective action")
    if not state.post_incident:
        raise ValueError("corrective actions follow a resolved incident: this ticket has no post-incident obligations")
    due = action_due(policy, request)
    if due <= now:
        raise ValueError(f"due: {due.isoformat()} is not in the future")


def apply_add_action(policy: Policy, state: TicketState, request: AddAction, now: datetime) -> PostIncidentItem:
    number = 1 + sum(1 for i in state.post_incident if i.kind == "action")
    item = PostIncidentItem(id=f"action-{number}", kind="action", title=request.title.strip(), owner=request.owner.strip(),
                            due=action_due(policy, request), added_at=now)
    state.post_incident.append(item)
    return item


def check_complete(state: TicketState, request: CompleteObligation) -> None:
    _who(request.by)
    _refuse_closed(state, "complete a post-incident obligation")
    item = _item(state, request.item)
    if not item.open:
        raise ValueError(f"item: {item.id} is already {'waived' if item.waived_reason else 'done'}")
    if request.waive_reason is not None and not request.waive_reason.strip():
        raise ValueError("waive_reason: say why the obligation is waived")
    if request.waive_reason is None and item.kind in ("review", "rca"):
        raise ValueError(f"item: record the {item.id} with its own command (pir/rca), or waive it with a reason")


def apply_complete(state: TicketState, request: CompleteObligation, now: datetime) -> None:
    item = _item(state, request.item)
    item.done_at, item.done_by = now, request.by.strip()
    if request.waive_reason is not None:
        item.waived_reason = request.waive_reason.strip()
