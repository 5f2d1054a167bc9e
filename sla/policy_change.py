"""Moving a running ticket to another policy: the `change_policy` update and `escalator migrate`.

A ticket runs under the snapshot it opened with (ARCHITECTURE.md); a policy change is the one
explicit way to move it. Three modes, for the clocks running at the change (docs/policy.md,
"Moving running tickets"):

- `keep`: each running clock keeps the target it had, on the calendar it had (its deadline
  does not move, except by later pauses); clocks that start later (a reopen's new cycle, a
  handoff's pick-up, a new cadence) follow the new policy.
- `forward`: the business time each running clock has used so far is kept, and the rest of
  the new target runs from the change (a clock whose target the new policy leaves as it is
  keeps its deadline): a clock 3 business hours into a 4-hour target that the
  new policy makes 8 hours has 5 hours left. A warning whose share was used up before the
  change is not owed; a target used up is due at once.
- `recompute`: every clock is re-planned from when it started under the new policy, as if the
  ticket had always had it; what that makes overdue is acted on at once (the overdue digest).

Obligations already acted on stay acted on (a breach that went out is not taken back), and
post-incident items keep the due dates they were given. Met and stopped clocks are history.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel

from sla.planner import EffectiveTarget, calendar_of, pause_spans, effective_target
from sla.policy import Policy
from sla.ticket import ClockBasis, ClockName, ClockRecord, HeldTarget, TicketState, TicketStatus


class ChangeMode(StrEnum):
    KEEP = "keep"
    FORWARD = "forward"
    RECOMPUTE = "recompute"


class ClockMove(BaseModel):
    """A running clock's deadline before and after a policy change (None: no deadline)."""

    clock: ClockName
    before: datetime | None
    after: datetime | None


def check_change(new: Policy, state: TicketState) -> None:
    """ValueError (one line naming what) when the ticket cannot move to `new`: it is closed, or
    the new policy lacks its plan, category or support tier."""
    if state.status is TicketStatus.CLOSED:
        raise ValueError("the ticket is closed: a closed ticket keeps the policy it ran under")
    if state.plan is not None and state.plan not in new.plans:
        raise ValueError(f"policy: the new policy has no plan {state.plan!r}, the ticket's plan (have {', '.join(sorted(new.plans)) or 'none'})")
    category = state.ticket.category
    if category is not None and category not in new.categories:
        raise ValueError(f"policy: the new policy has no category {category!r}, the ticket's category "
                         f"(have {', '.join(sorted(new.categories)) or 'none'})")
    if state.tier is not None and state.tier not in new.tiers:
        raise ValueError(f"policy: the new policy has no support tier {state.tier!r}, the tier holding the ticket "
                         f"(have {', '.join(sorted(new.tiers)) or 'none'})")


def deadlines(policy: Policy, state: TicketState) -> dict[ClockName, datetime | None]:
    """Each running clock's deadline under `policy` (None: paused with no deadline, or no target)."""
    found = {}
    for name, record in state.clocks.items():
        if record.running:
            target = effective_target(policy, state, record)
            found[name] = target.due if target is not None else None
    return found


def change_policy(old: Policy, new: Policy, state: TicketState, mode: ChangeMode, now: datetime) -> list[ClockMove]:
    """Move the ticket's running clocks from `old` to `new` at `now` (see the module's docstring);
    returns each running clock's deadline before and after. Call `check_change` first."""
    before = deadlines(old, state)
    for record in state.clocks.values():
        if not record.running:
            continue
        target = effective_target(old, state, record)
        if mode is ChangeMode.RECOMPUTE or target is None:
            record.basis = None  # no old target to keep or carry: the new policy's, from the start
        elif mode is ChangeMode.KEEP:
            record.basis = _kept(old, record, target)
        elif not _same_target(old, new, state, record, target):
            record.basis = _carried(old, record, target, now)
        # forward, same target: nothing to carry; the deadline stays where it was
    after = deadlines(new, state)
    return [ClockMove(clock=name, before=due, after=after.get(name)) for name, due in before.items()]


def _same_target(old: Policy, new: Policy, state: TicketState, record: ClockRecord, target: EffectiveTarget) -> bool:
    """Whether the new policy holds the clock to the very target it has now (same duration, same
    calendar): then carrying the time forward would change nothing but where the count restarts."""
    fresh = effective_target(new, state, record.model_copy(update={"basis": None}))
    return (fresh is not None and fresh.within == target.within and fresh.calendar == target.calendar
            and new.calendar(fresh.calendar) == calendar_of(old, record, target))


def _kept(old: Policy, record: ClockRecord, target: EffectiveTarget) -> ClockBasis:
    basis = record.basis
    if basis is not None and basis.held is not None:
        return basis  # kept already: it stays as it was
    held = HeldTarget(rule=target.rule, within=target.within, counted_on=target.calendar, calendar=calendar_of(old, record, target),
                      warn_at=old.warnings_for(record.clock))
    if basis is None:
        return ClockBasis(start=record.started_at, held=held)
    return ClockBasis(start=basis.start, spent_seconds=basis.spent_seconds, held=held)


def _carried(old: Policy, record: ClockRecord, target: EffectiveTarget, now: datetime) -> ClockBasis:
    basis = record.basis
    start, spent = (basis.start, basis.spent_seconds) if basis is not None else (record.started_at, 0)
    used = calendar_of(old, record, target).elapsed(start, now, pause_spans(record)) if now > start else 0
    return ClockBasis(start=now, spent_seconds=spent + used)


def drop_held(state: TicketState) -> None:
    """A severity or plan change re-plans every clock under the ticket's policy: targets a policy
    change kept are let go (time carried forward stays carried)."""
    for record in state.clocks.values():
        if record.basis is not None and record.basis.held is not None:
            basis = record.basis
            record.basis = None if basis.spent_seconds == 0 and basis.start == record.started_at else basis.model_copy(update={"held": None})
