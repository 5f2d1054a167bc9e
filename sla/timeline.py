"""The dry run behind `escalator plan`: every obligation a hypothetical ticket would see."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from sla.calendar import Span
from sla import lifecycle
from sla.messages import AcknowledgePage, DesignateCommander, Respond
from sla.planner import EffectiveTarget, Obligation, ObligationKind, effective_target, plan
from sla.policy import Policy
from sla.ticket import ClockName, FiredObligation, Pause, TicketOpened, TicketState, TicketStatus

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
    lifecycle.sync_cadence(policy, state, ticket.opened_at)  # as the workflow starts it
    for record in state.clocks.values():
        if paused_as in policy.clock_rules(record.clock).pauses_on:
            record.pauses = [Pause(started_at=a, ended_at=b) for a, b in sorted(pauses, key=lambda s: s[0])]
    return state


class DryRunAction(BaseModel):
    """Something the dry run does at an instant: respond, acknowledge a step's page, designate a
    commander, resolve (`escalator plan --respond-at ... --ack-page STEP@... --commander-at ... --resolve-at ...`)."""

    at: datetime
    kind: str = Field(pattern="^(respond|ack_page|commander|resolve)$")
    step: str | None = None


def timeline(
    policy: Policy, ticket: TicketOpened, now: datetime, pauses: list[Span] = (),
    horizon: datetime | None = None, paused_as: TicketStatus = TicketStatus.WAITING_ON_CUSTOMER,
    actions: list[DryRunAction] = (),
) -> Timeline:
    """Every obligation from open onward, earliest first, as the workflow would act on them.

    The dry run is the workflow's own loop without the waiting: ask the planner what is next,
    act on it through the same rules (a breach happens at its due instant, so steps anchored on
    breaches and their repeats follow), and apply the given `actions` at their instants. Listed
    up to `horizon`, or else up to the resolution deadline.
    """
    state = hypothetical(policy, ticket, list(pauses), paused_as)
    targets = {name: effective_target(policy, state, record) for name, record in state.clocks.items()}
    resolution = targets.get(ClockName.RESOLUTION)
    limit = horizon or (resolution.due if resolution and resolution.due else None)
    to_do = sorted(actions, key=lambda a: a.at)
    entries: list[TimelineEntry] = []
    cursor = ticket.opened_at
    for _ in range(MAX_RECURRENCES):
        lifecycle.sync_cadence(policy, state, cursor)
        upcoming = plan(policy, state, cursor)
        nxt = upcoming[0] if upcoming else None
        if to_do and (nxt is None or to_do[0].at <= nxt.due):
            cursor = _act(policy, state, to_do.pop(0))
            continue
        if nxt is None or (limit is not None and nxt.due > limit):
            break
        record = state.clocks.get(nxt.clock) if nxt.clock else None
        target = effective_target(policy, state, record) if record is not None else None
        entries.append(TimelineEntry(obligation=nxt, target=target, overdue=nxt.due <= now))
        lifecycle.apply_obligation(policy, state, nxt)
        if nxt.kind is ObligationKind.AUTO_SOLVE:
            lifecycle.open_post_incident(policy, state, nxt.due)
        state.fired.append(FiredObligation(id=nxt.id, kind=nxt.kind.value, clock=nxt.clock, due=nxt.due, fired_at=nxt.due))
        cursor = max(cursor, nxt.due)
        if state.status is TicketStatus.CLOSED:
            break
    return Timeline(targets=[t for t in targets.values() if t is not None], entries=entries)


def _act(policy: Policy, state: TicketState, action: DryRunAction) -> datetime:
    """Apply a dry-run action at its instant, through the lifecycle's own rules; returns that instant."""
    at = action.at
    if action.kind == "respond" and not state.finished:
        lifecycle.apply_respond(policy, state, Respond(by="dry-run"), at)
    elif action.kind == "commander" and not state.finished:
        lifecycle.apply_commander(state, DesignateCommander(name="dry-run", by="dry-run"), at)
    elif action.kind == "ack_page" and action.step in state.escalations and state.escalations[action.step].fired:
        lifecycle.apply_page_ack(state, AcknowledgePage(step=action.step, by="dry-run"), at)
    elif action.kind == "resolve" and not state.finished:
        lifecycle.apply_resolve(policy, state, at)
        lifecycle.open_post_incident(policy, state, at)
    return at
