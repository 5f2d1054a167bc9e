"""The planner: (policy, ticket state, now) -> the ordered list of upcoming obligations.

Pure and deterministic: the workflow asks it what is due next, `escalator plan` asks it for
a hypothetical ticket, and the tests ask it directly.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict

from sla.durations import Duration
from sla.policy import Policy
from sla.ticket import ClockName, ClockRecord, TicketState


class ObligationKind(StrEnum):
    WARNING = "warning"
    BREACH = "breach"


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
    clock: ClockName
    due: datetime
    summary: str
    percent: int | None = None


def _pauses(record: ClockRecord) -> list[tuple[datetime, datetime | None]]:
    return [(p.started_at, p.ended_at) for p in record.pauses]


def effective_target(policy: Policy, state: TicketState, record: ClockRecord) -> EffectiveTarget | None:
    """The winning target of a clock: a category's replaces; of severity and plan, the earlier due wins."""
    ticket = state.ticket
    best: EffectiveTarget | None = None
    for rule_name, rule in policy.candidate_targets(record.clock, state.severity, ticket.plan, ticket.category):
        calendar_name = rule.calendar or policy.default_calendar
        calendar = policy.calendar(calendar_name)
        seconds = rule.within.seconds(calendar.business_day_seconds)
        counted_on = calendar if rule.within.business else policy.calendar("24x7")
        (due,) = counted_on.advance(record.started_at, [seconds], _pauses(record))
        candidate = EffectiveTarget(
            clock=record.clock, within=rule.within, calendar=calendar_name if rule.within.business else "24x7",
            rule=rule_name, seconds=seconds, due=due,
        )
        if best is None or (due is not None and (best.due is None or due < best.due)):
            best = candidate
    return best


def obligation_id(state: TicketState, record: ClockRecord, kind: str) -> str:
    return f"{state.ticket.ticket_id}/{record.clock.value}/{record.cycle}/{kind}"


def plan(policy: Policy, state: TicketState, now: datetime) -> list[Obligation]:
    """Every obligation not yet acted on, earliest first; those due at or before `now` are overdue.

    `now` is where the plan is evaluated; obligations are never dropped for being in the
    past, so the workflow acts at once on whatever it finds overdue.
    """
    found: list[tuple[datetime, int, Obligation]] = []
    for order, record in enumerate(state.clocks.values()):
        if not record.running:
            continue
        target = effective_target(policy, state, record)
        if target is None or target.due is None:
            continue  # no target for this clock, or paused with no deadline yet
        what = f"{state.severity.label}, {target.within.short}"
        if not target.rule.startswith("severity"):
            what += f" by {target.rule}"
        counted_on = policy.calendar(target.calendar)
        percents = [p for p in policy.warnings_for(record.clock)]
        instants = counted_on.advance(record.started_at, [target.seconds * p // 100 for p in percents], _pauses(record))
        for percent, due in zip(percents, instants):
            oid = obligation_id(state, record, f"warn{percent}")
            if due is not None and not state.has_fired(oid) and record.breached_at is None:
                summary = f"{record.clock.label} {percent}% warning: {what}"
                found.append((due, order, Obligation(id=oid, kind=ObligationKind.WARNING, clock=record.clock, due=due, summary=summary, percent=percent)))
        oid = obligation_id(state, record, "breach")
        if not state.has_fired(oid):
            summary = f"{record.clock.label} due: {what}"
            found.append((target.due, order, Obligation(id=oid, kind=ObligationKind.BREACH, clock=record.clock, due=target.due, summary=summary)))
    found.sort(key=lambda item: (item[0], item[1], item[2].kind != ObligationKind.WARNING))
    return [ob for _, _, ob in found]


def overdue(obligations: list[Obligation], now: datetime) -> list[Obligation]:
    return [ob for ob in obligations if ob.due <= now]
