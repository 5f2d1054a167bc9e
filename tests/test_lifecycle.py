"""The lifecycle rules on their own: which message is allowed when, and what it does to the clocks."""

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from sla import lifecycle
from sla.messages import Acknowledge, Csat, CustomerMessage, Reopen, Resolve, Respond, SeverityPlanChange, StatusChange
from sla.planner import ObligationKind, plan
from sla.ticket import ClockName, TicketOpened, TicketState, TicketStatus

BERLIN = ZoneInfo("Europe/Berlin")
T0 = datetime(2026, 11, 23, 9, 0, tzinfo=BERLIN)  # a Monday


def ticket(severity: str = "sev3") -> TicketState:
    return TicketState.opened(TicketOpened(ticket_id="T-1", customer="ACME", title="t", severity=severity, opened_at=T0))


def at(hours: float) -> datetime:
    return T0 + timedelta(hours=hours)


def solved(policy) -> TicketState:
    s = ticket()
    lifecycle.apply_resolve(policy, s, at(1))
    return s


def closed(policy) -> TicketState:
    s = solved(policy)
    lifecycle.apply_close(s, at(73))
    return s


@pytest.mark.parametrize(
    ("make", "check", "message"),
    [
        (closed, lambda p, s: lifecycle.check_resolve(s, Resolve(by="a")), "is closed; open a follow-up ticket"),
        (solved, lambda p, s: lifecycle.check_resolve(s, Resolve(by="a")), "is solved (reopen it first)"),
        (closed, lambda p, s: lifecycle.check_customer_message(s, CustomerMessage()), "is closed; open a follow-up ticket"),
        (closed, lambda p, s: lifecycle.check_reopen(s, Reopen(by="a", reason="r")), "is closed; open a follow-up ticket"),
        (lambda p: ticket(), lambda p, s: lifecycle.check_reopen(s, Reopen(by="a", reason="r")), "is open, not solved"),
        (lambda p: ticket(), lambda p, s: lifecycle.check_csat(s, Csat(score="5")), "once the ticket is solved"),
        (lambda p: ticket(), lambda p, s: lifecycle.check_status_change(s, StatusChange(status="solved", by="a")), "is not set directly"),
        (lambda p: ticket(), lambda p, s: lifecycle.check_status_change(s, StatusChange(status="open", by="a")), "is not set directly"),
        (solved, lambda p, s: lifecycle.check_status_change(s, StatusChange(status="pending", by="a")), "is solved"),
        (lambda p: ticket(), lambda p, s: lifecycle.check_severity_change(p, s, SeverityPlanChange(by="a")), "give a new severity"),
        (lambda p: ticket(), lambda p, s: lifecycle.check_severity_change(p, s, SeverityPlanChange(by="a", severity="sev3")), "nothing changes"),
        (lambda p: ticket(), lambda p, s: lifecycle.check_severity_change(p, s, SeverityPlanChange(by="a", plan="gold")), "'gold' is not a plan"),
        (lambda p: ticket(), lambda p, s: lifecycle.check_respond(s, Respond(by=" ")), "by: must name who does it"),
    ],
)
def test_impossible_moves_are_refused_with_a_reason(default_policy, make, check, message) -> None:
    state = make(default_policy)
    before = state.model_copy(deep=True)
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        check(default_policy, state)
    assert state == before  # a check writes nothing


def test_acknowledging_twice_is_refused(default_policy) -> None:
    s = ticket()
    lifecycle.apply_acknowledge(default_policy, s, Acknowledge(by="alice"), at(0.1))
    assert s.status is TicketStatus.PENDING and s.clocks[ClockName.FIRST_RESPONSE].met_at is None
    with pytest.raises(ValueError, match="already acknowledged by alice"):
        lifecycle.check_acknowledge(s, Acknowledge(by="bob"))


def test_waiting_on_customer_pauses_resolution_but_never_first_response(default_policy) -> None:
    s = ticket()
    lifecycle.apply_status_change(default_policy, s, StatusChange(status="waiting_on_customer", by="a"), at(1))
    assert s.clocks[ClockName.FIRST_RESPONSE].pauses == []
    assert s.clocks[ClockName.RESOLUTION].pauses[0].started_at == at(1)
    assert s.waiting_since == at(1) and s.waiting_cycle == 1
    lifecycle.apply_customer_message(default_policy, s, CustomerMessage(), at(3))
    assert s.status is TicketStatus.PENDING and s.waiting_since is None
    assert s.clocks[ClockName.RESOLUTION].pauses[0].ended_at == at(3)


def test_next_response_starts_with_each_customer_message_after_the_first_response(default_policy) -> None:
    s = ticket("sev1")
    lifecycle.apply_customer_message(default_policy, s, CustomerMessage(), at(0.5))
    assert ClockName.NEXT_RESPONSE not in s.clocks  # the first response is still owed
    lifecycle.apply_respond(default_policy, s, Respond(by="a"), at(1))
    lifecycle.apply_customer_message(default_policy, s, CustomerMessage(), at(2))
    lifecycle.apply_customer_message(default_policy, s, CustomerMessage(), at(2.5))  # same clock keeps running
    nxt = s.clocks[ClockName.NEXT_RESPONSE]
    assert (nxt.cycle, nxt.started_at) == (1, at(2))
    breach = next(o for o in plan(default_policy, s, at(2)) if o.clock is ClockName.NEXT_RESPONSE and o.kind is ObligationKind.BREACH)
    assert breach.due == at(3) and breach.id == "T-1/next_response/1/breach"
    lifecycle.apply_respond(default_policy, s, Respond(by="a"), at(2.7))
    lifecycle.apply_customer_message(default_policy, s, CustomerMessage(), at(4))
    assert s.clocks[ClockName.NEXT_RESPONSE].cycle == 2


def test_reopen_counts_the_solved_span_as_a_pause_of_resolution(default_policy) -> None:
    s = solved(default_policy)
    lifecycle.apply_customer_message(default_policy, s, CustomerMessage(), at(25))
    res = s.clocks[ClockName.RESOLUTION]
    assert s.status is TicketStatus.PENDING and s.reopen_count == 1 and res.met_at is None
    assert (res.pauses[-1].started_at, res.pauses[-1].ended_at) == (at(1), at(25))


def test_follow_ups_then_auto_solve_then_auto_close(default_policy) -> None:
    s = ticket()
    lifecycle.apply_status_change(default_policy, s, StatusChange(status="waiting_on_customer", by="a"), at(1))
    waits = [o for o in plan(default_policy, s, at(1)) if o.clock is None]
    assert [(o.kind.value, o.due - at(1)) for o in waits] == [
        ("follow_up", timedelta(hours=48)), ("follow_up", timedelta(hours=96)), ("follow_up", timedelta(hours=144)),
        ("auto_solve", timedelta(days=7)),  # 7 days comes before one interval after the 3rd follow-up (8 days)
    ]
    lifecycle.apply_resolve(default_policy, s, at(1) + timedelta(days=7))
    close = [o for o in plan(default_policy, s, at(200)) if o.kind is ObligationKind.AUTO_CLOSE]
    assert [o.due for o in close] == [at(1) + timedelta(days=10)]
