"""The dry run behind `escalator plan`: every obligation a hypothetical ticket would see."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel

from sla.calendar import Span
from sla.lifecycle import record_escalation
from sla.planner import EffectiveTarget, Obligation, ObligationKind, effective_target, escalation_obligations, plan, status_beat
from sla.policy import Policy
from sla.ticket import ClockName, ClockRecord, FiredObligation, Pause, TicketOpened, TicketState, TicketStatus

MAX_RECURRENCES = 2000
"""A horizon of weeks at a 30-minute cadence stays readable; beyond that the list is cut."""


class Timeline(BaseModel):
    """The targets each clock is held to (due None: paused, no deadline yet) and the obligations."""

    targets: list[EffectiveTarget]
    entries: list["TimelineEntry"]


class TimelineEntry(BaseModel):
    """One obligation of the dry run, with the target that set it and whether it is overdue at `now`."""

    obligation: Obligation
    target: EffectiveTarget | None = None  # None for escalation steps: they follow the matrix, not a clock
    overdue: bool


def hypothetical(policy: Policy, ticket: TicketOpened, pauses: list[Span], paused_as: TicketStatus) -> TicketState:
    """A freshly opened ticket, with the Sev-1 style cadence clock when the policy sets one,
    and the given pauses on every clock that pauses in status `paused_as`."""
    state = TicketState.opened(ticket)
    if policy.candidate_targets(ClockName.STATUS_UPDATE, ticket.severity, ticket.plan, ticket.category):
        state.clocks[ClockName.STATUS_UPDATE] = ClockRecord(clock=ClockName.STATUS_UPDATE, started_at=ticket.opened_at)
    for record in state.clocks.values():
        if paused_as in policy.clock_rules(record.clock).pauses_on:
            record.pauses = [Pause(started_at=a, ended_at=b) for a, b in sorted(pauses, key=lambda s: s[0])]
    return state


def timeline(
    policy: Policy, ticket: TicketOpened, now: datetime, pauses: list[Span] = (),
    horizon: datetime | None = None, paused_as: TicketStatus = TicketStatus.WAITING_ON_CUSTOMER,
) -> Timeline:
    """Every obligation from open onward if nobody acted, earliest first.

    Recurring obligations (the status-update beat: a reminder each interval nobody posts, and
    its escalation) are listed up to `horizon`, or else up to the resolution deadline.
    """
    state = hypothetical(policy, ticket, list(pauses), paused_as)
    targets = {name: effective_target(policy, state, record) for name, record in state.clocks.items()}
    entries = [
        TimelineEntry(obligation=ob, target=targets[ob.clock], overdue=ob.due <= now)
        for ob in plan(policy, state, now, escalation=False)
        if ob.clock is not ClockName.STATUS_UPDATE
    ]
    cadence = state.clocks.get(ClockName.STATUS_UPDATE)
    resolution = targets.get(ClockName.RESOLUTION)
    limit = horizon or (resolution.due if resolution else None)
    if cadence is not None and limit is not None:
        # Nobody posts: the beat goes on, a reminder each interval and its escalation after it.
        target = targets[ClockName.STATUS_UPDATE]
        for _ in range(MAX_RECURRENCES):
            beat = status_beat(policy, state, cadence, target, {f.id for f in state.fired}, escalate=True)
            if not beat or min(ob.due for ob in beat) > limit:
                break
            ob = min(beat, key=lambda o: o.due)
            entries.append(TimelineEntry(obligation=ob, target=target, overdue=ob.due <= now))
            state.fired.append(FiredObligation(id=ob.id, kind=ob.kind.value, clock=ob.clock, due=ob.due, fired_at=ob.due))
    # The escalation matrix if nobody acknowledges: each step fires, then repeats to its limit.
    for _ in range(MAX_RECURRENCES):
        steps = escalation_obligations(policy, state)
        if not steps:
            break
        step = min(steps, key=lambda ob: ob.due)
        entries.append(TimelineEntry(obligation=step, overdue=step.due <= now))
        record_escalation(state, step.id.split("/escalation/")[1].split("/")[0], step.due)
    entries.sort(key=lambda e: (e.obligation.due, e.obligation.kind is ObligationKind.BREACH))
    return Timeline(targets=[t for t in targets.values() if t is not None], entries=entries)
