"""Event time in the pure domain: bounds on occurred_at, at-most-once event ids, withdrawn obligations."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from sla import event_time, lifecycle
from sla.messages import Respond, StatusChange
from sla.planner import ObligationKind, plan
from sla.ticket import ClockName, FiredObligation, TicketOpened, TicketState, TicketStatus

T0 = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)  # a Monday, 10:00 in Berlin


def opened(severity: str = "sev1") -> TicketState:
    return TicketState.opened(TicketOpened(ticket_id="T-1", customer="ACME", title="t", severity=severity, opened_at=T0))


def act_until(policy, state: TicketState, now: datetime) -> None:
    """What the workflow does with what falls due, without the I/O: breaches and step firings."""
    while due := [ob for ob in plan(policy, state, now) if ob.due <= now]:
        ob = due[0]
        if ob.kind is ObligationKind.BREACH and state.clocks[ob.clock].breached_at is None:
            state.clocks[ob.clock].breached_at = ob.due
        if ob.kind is ObligationKind.ESCALATION and "/escalation/" in ob.id:
            lifecycle.record_escalation(state, ob.id.split("/escalation/")[1].split("/")[0], ob.due)
        state.fired.append(FiredObligation(id=ob.id, kind=ob.kind.value, clock=ob.clock, due=ob.due, fired_at=now, roles=ob.roles or ["r"]))


def respond(policy, state: TicketState, at: datetime, now: datetime, event_id: str | None = None) -> Respond:
    request = Respond(by="alice", occurred_at=at, event_id=event_id)
    event_time.check_event_time(state, request, now)
    lifecycle.apply_respond(policy, state, request, event_time.applied_at(request, now))
    event_time.record_message(state, request, event_time.applied_at(request, now), "responded by alice")
    return request


def test_occurred_at_is_refused_outside_its_bounds_naming_the_field(default_policy) -> None:
    state = opened()
    now = T0 + timedelta(hours=1)
    with pytest.raises(ValueError, match=r"^occurred_at: .* is more than 2 minutes ahead of the ticket's time"):
        event_time.check_event_time(state, Respond(by="a", occurred_at=now + timedelta(minutes=2, seconds=1)), now)
    with pytest.raises(ValueError, match=r"^occurred_at: .* is before the ticket was opened \(2026-11-30T09:00:00Z\)"):
        event_time.check_event_time(state, Respond(by="a", occurred_at=T0 - timedelta(minutes=2, seconds=1)), now)
    # Up to 2 minutes before the opening is clock skew too (a ticket opened with --opened-at just
    # ahead of this machine's clock): it counts as the opening instant.
    early = Respond(by="a", occurred_at=T0 - timedelta(minutes=1))
    event_time.check_event_time(state, early, now)
    assert event_time.applied_at(early, now, state.ticket.opened_at) == T0
    # Up to 2 minutes ahead is clock skew: accepted, and it counts as now.
    ahead = Respond(by="a", occurred_at=now + timedelta(minutes=2))
    event_time.check_event_time(state, ahead, now)
    assert event_time.applied_at(ahead, now) == now

    respond(default_policy, state, T0 + timedelta(minutes=40), now, event_id="E-1")
    with pytest.raises(ValueError, match=r"^occurred_at: 2026-11-30T09:39:59Z would precede the last message applied to the ticket "
                                         r"\(responded by alice \(event E-1\) at 2026-11-30T09:40:00Z\): messages apply in order$"):
        event_time.check_event_time(state, Respond(by="a", occurred_at=T0 + timedelta(minutes=39, seconds=59)), now)
    event_time.check_event_time(state, Respond(by="a", occurred_at=T0 + timedelta(minutes=40)), now)  # the same instant is in order


def test_an_event_id_is_applied_once_and_the_ids_kept_are_bounded(default_policy) -> None:
    state = opened()
    request = respond(default_policy, state, T0 + timedelta(minutes=5), T0 + timedelta(minutes=5), event_id="E-1")
    assert event_time.is_duplicate(state, request)
    assert not event_time.is_duplicate(state, Respond(by="a", event_id="E-2"))
    assert not event_time.is_duplicate(state, Respond(by="a"))  # no id: nothing to compare
    for n in range(event_time.KEEP_EVENT_IDS + 10):
        event_time.record_message(state, Respond(by="a", event_id=f"X-{n}"), T0 + timedelta(minutes=6), "x")
    assert len(state.applied_events) == event_time.KEEP_EVENT_IDS and state.applied_events[-1] == f"X-{event_time.KEEP_EVENT_IDS + 9}"
    assert state.compacted().applied_events == state.applied_events  # carried across continue-as-new


def test_a_late_response_withdraws_the_breach_it_would_have_prevented(default_policy) -> None:
    state = opened()
    lifecycle.sync_cadence(default_policy, state, T0)  # the Sev-1 stakeholder beat runs too
    now = T0 + timedelta(hours=2, minutes=5)
    act_until(default_policy, state, now)
    breach = "T-1/first_response/1/breach"
    assert state.clocks[ClockName.FIRST_RESPONSE].breached_at == T0 + timedelta(hours=2)

    at = T0 + timedelta(hours=1, minutes=59)
    respond(default_policy, state, at, now)
    withdrawn = event_time.withdraw_overtaken(default_policy, state, at, now, "responded by alice")

    assert [f.id for f in withdrawn] == [breach]
    first = state.clocks[ClockName.FIRST_RESPONSE]
    assert first.met_at == at and first.breached_at is None
    fired = {f.id: f for f in state.fired}
    assert fired[breach].withdrawn and fired[breach].withdrawn_reason == "responded by alice"
    assert not fired["T-1/first_response/1/warn75"].withdrawn  # due at 1h30, before the response: it was owed
    # The stakeholder reminder due at 2h00 is not met by a response to the customer: it stays.
    assert not fired["T-1/status_update/1/breach4"].withdrawn
    assert state.sla_state.value == "ok"


def test_a_late_pause_moves_the_breach_which_then_falls_due_again(default_policy) -> None:
    state = opened("sev1")
    respond(default_policy, state, T0 + timedelta(minutes=10), T0 + timedelta(minutes=10))
    now = T0 + timedelta(hours=8, minutes=1)
    act_until(default_policy, state, now)
    assert state.clocks[ClockName.RESOLUTION].breached_at == T0 + timedelta(hours=8)

    # Waiting on the customer since 7h50 (the resolution clock pauses), reported at 8h01.
    at = T0 + timedelta(hours=7, minutes=50)
    request = StatusChange(status=TicketStatus.WAITING_ON_CUSTOMER, by="alice", occurred_at=at)
    lifecycle.apply_status_change(default_policy, state, request, at)
    withdrawn = event_time.withdraw_overtaken(default_policy, state, at, now, "waiting")
    assert "T-1/resolution/1/breach" in [f.id for f in withdrawn]
    assert state.clocks[ClockName.RESOLUTION].breached_at is None
    # Back to pending 1 hour later: 10 minutes of the target were left, so the breach is due again at 9h10.
    lifecycle.apply_status_change(default_policy, state, StatusChange(status=TicketStatus.PENDING, by="alice"), T0 + timedelta(hours=8, minutes=50))
    again = [ob for ob in plan(default_policy, state, T0 + timedelta(hours=9)) if ob.id == "T-1/resolution/1/breach"]
    assert [ob.due for ob in again] == [T0 + timedelta(hours=9, minutes=0)]


def test_a_late_commander_withdraws_the_commander_missing_step(default_policy) -> None:
    state = opened()
    now = T0 + timedelta(hours=5, minutes=3)
    act_until(default_policy, state, now)
    assert state.escalations["commander_missing"].fired == [T0 + timedelta(hours=5)]
    from sla.messages import DesignateCommander

    at = T0 + timedelta(hours=4, minutes=59)
    lifecycle.apply_commander(state, DesignateCommander(name="Grace", by="dana", occurred_at=at), at)
    withdrawn = event_time.withdraw_overtaken(default_policy, state, at, now, "Grace designated commander by dana")
    assert [f.id for f in withdrawn] == ["T-1/escalation/commander_missing/1"]
    assert state.escalations["commander_missing"].fired == []
