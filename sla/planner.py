"""The planner: (policy, ticket state, now) -> the ordered list of upcoming obligations.

Pure and deterministic: the workflow asks it what is due next, `escalator plan` asks it for
a hypothetical ticket, and the tests ask it directly.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from sla.durations import Duration
from sla.policy import Policy, clock_percent
from sla.ticket import ClockName, ClockRecord, TicketState, TicketStatus


class ObligationKind(StrEnum):
    WARNING = "warning"
    BREACH = "breach"
    FOLLOW_UP = "follow_up"
    AUTO_SOLVE = "auto_solve"
    AUTO_CLOSE = "auto_close"
    ESCALATION = "escalation"
    CORRECTION = "correction"  # an obligation acted on is withdrawn: a late message showed it was not owed


class EffectiveTarget(BaseModel):
    """The target a running clock is held to, and which policy rule set it."""

    clock: ClockName
    within: Duration
    calendar: str
    rule: str
    seconds: int
    due: datetime | None


class Obligation(BaseModel):
    """Something due at an instant; `id` is stable and serves as the idempotency key."""

    model_config = ConfigDict(frozen=True)

    id: str
    kind: ObligationKind
    clock: ClockName | None = None
    due: datetime
    summary: str
    percent: int | None = None
    roles: list[str] | None = Field(default=None, description="Who is told; None: the policy's notifications table by kind.")


def pause_spans(record: ClockRecord) -> list[tuple[datetime, datetime | None]]:
    return [(p.started_at, p.ended_at) for p in record.pauses]


def _target_and_warnings(
    policy: Policy, state: TicketState, record: ClockRecord
) -> tuple[EffectiveTarget | None, list[tuple[int, datetime | None]]]:
    """The winning target and its warning instants, each candidate costing one calendar pass.

    A category's target replaces the others; of severity and plan, the earlier deadline wins.
    A clock a policy change found running counts from its basis (sla/policy_change.py): the
    old target when it was kept, the time already spent when it was carried forward.
    """
    ticket = state.ticket
    basis = record.basis
    if basis is not None and basis.held is not None:
        held = basis.held
        candidates = [(held.rule, held.within, held.counted_on, held.calendar, held.warn_at)]
    else:
        percents = policy.warnings_for(record.clock)
        candidates = []
        for rule_name, rule in policy.candidate_targets(record.clock, state.severity, state.plan, ticket.category, state.tier):
            calendar_name = rule.calendar or policy.default_calendar
            counted_on = calendar_name if rule.within.business else "24x7"
            candidates.append((rule_name, rule.within, counted_on, policy.calendar(counted_on), percents))
    best: EffectiveTarget | None = None
    best_warnings: list[tuple[int, datetime | None]] = []
    for rule_name, within, counted_on, calendar, percents in candidates:
        seconds = within.seconds(calendar.business_day_seconds)
        *warnings, due = _advance(calendar, record, [seconds * p // 100 for p in percents] + [seconds])
        if best is None or (due is not None and (best.due is None or due < best.due)):
            best = EffectiveTarget(clock=record.clock, within=within, calendar=counted_on, rule=rule_name, seconds=seconds, due=due)
            best_warnings = list(zip(percents, warnings))
    return best, best_warnings


def _advance(calendar, record: ClockRecord, amounts: list[int], warnings: bool = True) -> list[datetime | None]:
    """When each amount of the clock's target time has run, pauses left out. After a policy change
    the time runs from the change, less what was spent before it; with `warnings` (every amount
    but the last is a warning), a warning already behind the clock then is not owed (None), and
    whatever else is behind it is due at once."""
    basis = record.basis
    if basis is None or (basis.spent_seconds == 0 and basis.start == record.started_at):
        return calendar.advance(record.started_at, amounts, pause_spans(record))
    spent = basis.spent_seconds
    left = [a - spent for a in amounts]
    instants = calendar.advance(basis.start, [max(0, a) for a in left], pause_spans(record))
    return [None if warnings and a < 0 and i < len(amounts) - 1 else instant for i, (a, instant) in enumerate(zip(left, instants))]


def calendar_of(policy: Policy, record: ClockRecord, target: EffectiveTarget):
    """The calendar a target counts on: a kept one's own, else the policy's."""
    if record.basis is not None and record.basis.held is not None:
        return record.basis.held.calendar
    return policy.calendar(target.calendar)


def effective_target(policy: Policy, state: TicketState, record: ClockRecord) -> EffectiveTarget | None:
    """The target a clock is held to (None when the policy sets none for it)."""
    return _target_and_warnings(policy, state, record)[0]


def obligation_id(state: TicketState, record: ClockRecord, kind: str) -> str:
    return f"{state.ticket.ticket_id}/{record.clock.value}/{record.cycle}/{kind}"


def describe(state: TicketState, target: EffectiveTarget) -> str:
    what = f"{state.severity.label}, {target.within.short}"
    return what if target.rule.startswith("severity") else f"{what} by {target.rule}"


def plan(policy: Policy, state: TicketState, now: datetime, *, escalation: bool = True, beat: bool = True) -> list[Obligation]:
    """Every obligation not yet acted on, earliest first, overdue ones included.

    Obligations are never dropped for being before `now`: the workflow acts at once on what
    it finds overdue (after an outage, or when a severity raise moves deadlines into the past).
    A withdrawn obligation (docs/api.md, "Event time") counts as not acted on. `beat=False`
    gives tickets started before the stakeholder beat one reminder per cycle, as they had.
    """
    found: list[tuple[datetime, int, bool, Obligation]] = []
    fired = {f.id for f in state.fired if not f.withdrawn}
    for ob in lifecycle_obligations(policy, state, fired):
        found.append((ob.due, -1, False, ob))
    if state.finished:
        return [ob for *_, ob in sorted(found, key=lambda item: item[:3])]
    if escalation:
        for ob in escalation_obligations(policy, state):
            found.append((ob.due, 90, True, ob))
    for order, record in enumerate(state.clocks.values()):
        if not record.running:
            continue
        target, warnings = _target_and_warnings(policy, state, record)
        if target is None or target.due is None:
            continue  # no target for this clock, or paused with no deadline yet
        what = describe(state, target)
        cadence = record.clock is ClockName.STATUS_UPDATE
        warned, breach_roles = None, None
        if record.clock is ClockName.TIER_RESPONSE:
            # A handoff's pick-up target is the receiving tier's own: its queue hears first, then management.
            warned = [policy.tiers[state.tier].role]
            breach_roles = warned + policy.management.chain[:1]
        if record.breached_at is None:
            for percent, due in warnings:
                oid = obligation_id(state, record, f"warn{percent}")
                if due is not None and oid not in fired:
                    summary = f"{record.clock.label} {percent}% warning: {what}"
                    found.append((due, order, False, Obligation(id=oid, kind=ObligationKind.WARNING, clock=record.clock, due=due,
                                                                summary=summary, percent=percent, roles=warned)))
        if cadence:
            found += [(ob.due, order, True, ob) for ob in status_beat(policy, state, record, target, fired, escalation, beat)]
            continue
        oid = obligation_id(state, record, "breach")
        if oid not in fired:
            found.append((target.due, order, True, Obligation(
                id=oid, kind=ObligationKind.BREACH, clock=record.clock, due=target.due, summary=f"{record.clock.label} due: {what}",
                roles=breach_roles,
            )))
    found.sort(key=lambda item: item[:3])
    return [ob for *_, ob in found]


def status_beat(policy: Policy, state: TicketState, record: ClockRecord, target: EffectiveTarget, fired: set[str],
                escalate: bool, beat: bool = True) -> list[Obligation]:
    """The stakeholder cadence's next reminder and next escalation, until an update is posted.

    Each interval without a posted update is a missed update: the k-th reminder is due k
    intervals after the cycle started (counted on the target's calendar), its escalation
    `status_updates.escalate_after` later; posting starts a new cycle (support guide: "status
    updates every 30 minutes until resolved"). Ids: `.../breach` and `.../escalate` for the first
    interval (as before the beat), `.../breach{k}` and `.../escalate{k}` for the k-th.
    """
    rules = policy.status_updates
    what = describe(state, target)

    def oid(kind: str, k: int) -> str:
        return obligation_id(state, record, kind if k == 1 else f"{kind}{k}")

    def next_unfired(kind: str) -> int | None:
        # The first k not acted on. The ks acted on in a cycle are always 1..m (they fire in order,
        # and a late update withdraws a tail of them), so it is found by doubling, then halving:
        # a cadence left unanswered for days has hundreds, and trying each k in turn made the
        # planner quadratic in them (a Sev-1 opened 12 days late stalled its workflow task).
        if oid(kind, 1) not in fired:
            return 1
        low, high = 1, 2  # low acted on; high to be found not acted on
        while oid(kind, high) in fired:
            low, high = high, high * 2
        while high - low > 1:
            middle = (low + high) // 2
            low, high = (middle, high) if oid(kind, middle) in fired else (low, middle)
        return high if beat else None

    remind = next_unfired("breach")
    chase = next_unfired("escalate") if escalate and rules.escalate_to else None
    ks = sorted(k for k in (remind, chase) if k is not None)
    if not ks:
        return []
    calendar = calendar_of(policy, record, target)
    dues = dict(zip(ks, _advance(calendar, record, [k * target.seconds for k in ks], warnings=False)))
    found = []
    if remind is not None and dues[remind] is not None:
        in_a_row = f" ({remind} in a row without an update)" if remind > 1 else ""
        found.append(Obligation(id=oid("breach", remind), kind=ObligationKind.BREACH, clock=record.clock, due=dues[remind],
                                summary=f"{record.clock.label} due: {what}{in_a_row}", roles=list(rules.remind)))
    if chase is not None and dues[chase] is not None:
        found.append(Obligation(
            id=oid("escalate", chase), kind=ObligationKind.ESCALATION, clock=record.clock,
            due=dues[chase] + timedelta(seconds=rules.escalate_after.seconds(0)),
            summary=f"status update still missing {rules.escalate_after.short} after it was due", roles=list(rules.escalate_to),
        ))
    return found


def lifecycle_obligations(policy: Policy, state: TicketState, fired: set[str]) -> list[Obligation]:
    """Follow-ups and auto-solve while waiting on the customer; auto-close once solved; `fired`
    holds the ids already acted on (plan() builds it once for every kind)."""
    rules = policy.lifecycle
    tid = state.ticket.ticket_id
    found: list[Obligation] = []
    if state.status is TicketStatus.WAITING_ON_CUSTOMER and state.waiting_since is not None:
        every = timedelta(seconds=rules.follow_up_every.seconds(0))
        prefix = f"{tid}/waiting/{state.waiting_cycle}"
        for n in range(1, rules.follow_ups_before_solve + 1):
            oid = f"{prefix}/follow_up{n}"
            if oid not in fired:
                found.append(Obligation(id=oid, kind=ObligationKind.FOLLOW_UP, due=state.waiting_since + n * every,
                                        summary=f"follow-up {n} of {rules.follow_ups_before_solve} to the customer"))
        solve_at = min(state.waiting_since + timedelta(seconds=rules.auto_solve_after.seconds(0)),
                       state.waiting_since + (rules.follow_ups_before_solve + 1) * every)
        found.append(Obligation(id=f"{prefix}/auto_solve", kind=ObligationKind.AUTO_SOLVE, due=solve_at,
                                summary="solve: no answer from the customer"))
    found += post_incident_obligations(policy, state, fired)
    open_items = [i for i in state.post_incident if i.open]
    if state.status is TicketStatus.SOLVED and state.solved_at is not None and not open_items:
        # The reopen window, and the last post-incident obligation, both have to be over.
        window_ends = state.solved_at + timedelta(seconds=rules.close_after_solved.seconds(0))
        last_done = max((i.done_at for i in state.post_incident if i.done_at), default=window_ends)
        found.append(Obligation(id=f"{tid}/solved/{state.solve_count}/auto_close", kind=ObligationKind.AUTO_CLOSE,
                                due=max(window_ends, last_done),
                                summary=f"close: solved {rules.close_after_solved} ago, reopen window ends"))
    return found


def post_incident_obligations(policy: Policy, state: TicketState, fired: set[str]) -> list[Obligation]:
    """Reminders before, and an escalation at, each open post-incident deadline."""
    rules = policy.post_incident
    tid = state.ticket.ticket_id
    found: list[Obligation] = []
    for item in state.post_incident:
        if not item.open:
            continue
        who = f" (owner {item.owner})" if item.owner else ""
        for n, before in enumerate(rules.remind_before, start=1):
            oid = f"{tid}/post_incident/{item.id}/remind{n}"
            due = item.due - timedelta(seconds=before.seconds(0))
            if item.added_at is not None and due <= item.added_at:
                continue  # owed for less time than the reminder's lead: the deadline itself is enough
            if oid not in fired:
                found.append(Obligation(id=oid, kind=ObligationKind.ESCALATION, due=due, roles=list(rules.remind),
                                        summary=f"{item.title}{who} due in {before.short}"))
        oid = f"{tid}/post_incident/{item.id}/missed"
        if oid not in fired:
            found.append(Obligation(id=oid, kind=ObligationKind.ESCALATION, due=item.due, roles=list(rules.escalate_to),
                                    summary=f"{item.title}{who} missed its deadline"))
    return found


def _step_anchor(policy: Policy, state: TicketState, anchor: str) -> datetime | None:
    if anchor == "open":
        return state.ticket.opened_at
    share = clock_percent(anchor)
    if share is not None:
        return _share_elapsed(policy, state, *share)
    if anchor.startswith("breach:"):
        record = state.clocks.get(ClockName(anchor[7:]))
        return record.breached_at if record else None
    fired = state.escalations.get(anchor)
    return fired.fired[0] if fired and fired.fired else None


def _acted_since(state: TicketState, instant: datetime) -> bool:
    return state.last_action_at is not None and state.last_action_at >= instant


def _share_elapsed(policy: Policy, state: TicketState, clock: ClockName, percent: int) -> datetime | None:
    """When `percent`% of the clock's target has elapsed (in its own business time, pauses left out);
    None if the clock has no target, or was met or stopped before that."""
    record = state.clocks.get(clock)
    target = effective_target(policy, state, record) if record is not None else None
    if target is None:
        return None
    (instant,) = _advance(calendar_of(policy, record, target), record, [target.seconds * percent // 100])
    ended = record.met_at or record.stopped_at
    if instant is None or (ended is not None and ended <= instant):
        return None
    return instant


def after(policy: Policy, start: datetime, duration: Duration) -> datetime:
    """`start` plus `duration`: elapsed time, or open time on the default calendar for a business
    duration (a step's `after` and `repeat_every`, post-incident due times)."""
    if not duration.business:
        return start + timedelta(seconds=duration.seconds(0))
    calendar = policy.calendar(None)
    (due,) = calendar.advance(start, [duration.seconds(calendar.business_day_seconds)])
    return due


def escalation_obligations(policy: Policy, state: TicketState) -> list[Obligation]:
    """The next firing of each step of the severity's escalation matrix that is still live.

    A step is live until the ticket is solved; it waits for its anchor (open, an earlier
    step's first firing, or a clock's breach); it is skipped once a commander is designated
    if it says so; it repeats up to its limit unless an acknowledgement stops it.
    """
    found: list[Obligation] = []
    steps = policy.escalation.get(state.severity, [])
    for number, step in enumerate(steps, start=1):
        if step.plans and state.plan not in step.plans:
            continue
        if step.skip_when_commander and state.commander:
            continue
        record = state.escalations.get(step.id)
        fired = len(record.fired) if record else 0
        if record and record.acked_at and step.ack_timeout and not _acted_since(state, record.acked_at):
            found.append(Obligation(
                id=f"{state.ticket.ticket_id}/escalation/{step.id}/ack_timeout{record.ack_timeouts + 1}",
                kind=ObligationKind.ESCALATION, due=record.acked_at + timedelta(seconds=step.ack_timeout.seconds(0)),
                summary=f"escalation step {number}: {step.label}: acknowledged by {record.acked_by}, no action within {step.ack_timeout.short}",
                roles=list(step.roles) + [r for r in step.ack_timeout_to if r not in step.roles],
            ))
        if fired > step.repeat_limit or (step.stop_on_ack and record and record.acked_at):
            continue
        if step.stop_on_ticket_ack and state.acknowledged_at is not None:
            continue
        anchor = _step_anchor(policy, state, step.anchor)
        if anchor is None:
            continue
        first = after(policy, anchor, step.after)
        # A repeat comes an interval after the last firing, whether that was on time, early (a jump)
        # or a re-escalation after an acknowledgement that led to nothing; a business interval
        # counts open time on the policy's calendar ("every 3 business hours" skips the night).
        due = after(policy, record.fired[-1], step.repeat_every) if fired and step.repeat_every else first
        repeat = f" (repeat {fired} of {step.repeat_limit})" if fired else ""
        found.append(Obligation(
            id=f"{state.ticket.ticket_id}/escalation/{step.id}/{fired + 1}", kind=ObligationKind.ESCALATION, due=due,
            summary=f"escalation step {number}: {step.label}{repeat}", roles=list(step.roles),
        ))
    return found
