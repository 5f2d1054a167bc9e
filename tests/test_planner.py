"""The planner on its own, without Temporal: which target wins, and when each obligation falls."""

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from sla.planner import ObligationKind, plan
from sla.ticket import ClockName, FiredObligation, Pause, TicketOpened, TicketState, TicketStatus

BERLIN = ZoneInfo("Europe/Berlin")


def ticket(severity: str, opened: datetime, **kw) -> TicketState:
    return TicketState.opened(TicketOpened(ticket_id="T-1", customer="ACME", title="t", severity=severity, opened_at=opened, **kw))


def breach(policy, state, clock=ClockName.FIRST_RESPONSE):
    return next(o for o in plan(policy, state, state.ticket.opened_at) if o.clock == clock and o.kind == ObligationKind.BREACH)


@pytest.mark.parametrize(
    ("severity", "extra", "opened", "due"),
    [
        # Sev-1 is 24x7: Saturday night counts.
        ("sev1", {}, datetime(2026, 11, 21, 23, 0, tzinfo=BERLIN), datetime(2026, 11, 22, 1, 0, tzinfo=BERLIN)),
        # Sev-2: 4 business hours from Friday 16:00 -> Monday 10:00.
        ("sev2", {}, datetime(2026, 11, 20, 16, 0, tzinfo=BERLIN), datetime(2026, 11, 23, 10, 0, tzinfo=BERLIN)),
        # Enterprise plan (2 business hours) beats Sev-2's 4 business hours.
        ("sev2", {"plan": "enterprise"}, datetime(2026, 11, 23, 9, 0, tzinfo=BERLIN), datetime(2026, 11, 23, 11, 0, tzinfo=BERLIN)),
        # Premium plan (12 business hours) loses to Sev-2's 4 business hours.
        ("sev2", {"plan": "premium"}, datetime(2026, 11, 23, 9, 0, tzinfo=BERLIN), datetime(2026, 11, 23, 13, 0, tzinfo=BERLIN)),
        # Billing disputes: 3 business days whatever the severity, even Sev-1.
        ("sev1", {"category": "billing_dispute"}, datetime(2026, 11, 23, 9, 0, tzinfo=BERLIN), datetime(2026, 11, 26, 9, 0, tzinfo=BERLIN)),
        # Sev-4: 2 business days (20h) over Christmas: 6h Wed 23rd, 10h Thu 24th (a working day
        # in Germany), 25th/26th holidays and a weekend, 4h Monday 28th.
        ("sev4", {}, datetime(2026, 12, 23, 12, 0, tzinfo=BERLIN), datetime(2026, 12, 28, 12, 0, tzinfo=BERLIN)),
    ],
)
def test_first_response_target(default_policy, severity, extra, opened, due) -> None:
    assert breach(default_policy, ticket(severity, opened, **extra)).due == due


def test_plan_is_ordered_with_warnings_at_75_percent(default_policy) -> None:
    opened = datetime(2026, 11, 23, 9, 0, tzinfo=BERLIN)
    obligations = plan(default_policy, ticket("sev1", opened), opened)
    assert [(o.id, o.due - opened) for o in obligations] == [
        ("T-1/escalation/page_on_call/1", timedelta(0)),  # a Sev-1 pages the support on-call at once
        ("T-1/first_response/1/warn75", timedelta(minutes=90)),
        ("T-1/first_response/1/breach", timedelta(hours=2)),
        ("T-1/escalation/internal/1", timedelta(hours=4)),  # the Sev-1 matrix's next step
        ("T-1/resolution/1/warn75", timedelta(hours=6)),
        ("T-1/resolution/1/breach", timedelta(hours=8)),
    ]
    assert obligations[2].summary == "first response due: Sev-1, 2h"


def test_fired_and_met_obligations_drop_out(default_policy) -> None:
    opened = datetime(2026, 11, 23, 9, 0, tzinfo=BERLIN)
    state = ticket("sev1", opened)
    state.fired.append(FiredObligation(id="T-1/first_response/1/warn75", kind="warning", clock=ClockName.FIRST_RESPONSE, due=opened, fired_at=opened))
    state.clocks[ClockName.RESOLUTION].met_at = opened + timedelta(hours=1)
    assert [o.id for o in plan(default_policy, state, opened, escalation=False)] == ["T-1/first_response/1/breach"]


def test_a_paused_clock_has_no_deadline_until_it_resumes(default_policy) -> None:
    opened = datetime(2026, 11, 23, 9, 0, tzinfo=BERLIN)
    state = ticket("sev2", opened)
    state.status = TicketStatus.WAITING_ON_CUSTOMER
    state.clocks[ClockName.RESOLUTION].pauses.append(Pause(started_at=opened + timedelta(hours=1)))
    clocks = {o.clock for o in plan(default_policy, state, opened)}
    assert clocks == {ClockName.FIRST_RESPONSE}
    state.clocks[ClockName.RESOLUTION].pauses[0].ended_at = opened + timedelta(hours=3)
    # 3 business days (30h) from Monday 09:00 is Thursday 09:00; 2h paused make it 11:00.
    assert breach(default_policy, state, ClockName.RESOLUTION).due == datetime(2026, 11, 26, 11, 0, tzinfo=BERLIN)


def test_overdue_obligations_stay_in_the_plan(default_policy) -> None:
    opened = datetime(2026, 11, 23, 9, 0, tzinfo=BERLIN)
    later = opened + timedelta(days=2)
    assert all(o.due <= later for o in plan(default_policy, ticket("sev1", opened), later))
    assert len(plan(default_policy, ticket("sev1", opened), later, escalation=False)) == 4


HALF_RESOLUTION = """
[[escalation.sev2]]
id = "half_resolution"
label = "half the resolution time gone"
from = "resolution@50%"
after = "30m"
roles = ["support_manager"]
"""


def test_a_step_can_trigger_at_a_share_of_a_clocks_target() -> None:
    from policies import DEFAULT_POLICY
    from sla import lifecycle
    from sla.messages import StatusChange
    from sla.policy import parse_policy

    policy = parse_policy(DEFAULT_POLICY.read_text() + HALF_RESOLUTION, "test")
    opened = datetime(2026, 11, 23, 9, 0, tzinfo=BERLIN)  # Monday
    s = ticket("sev2", opened)

    def step():
        return [o.due for o in plan(policy, s, opened) if o.id.endswith("/escalation/half_resolution/1")]

    # 3 business days = 30 business hours; half is 15: Monday 9h, then Tuesday 08:00 + 6h; 30 minutes on.
    assert step() == [datetime(2026, 11, 24, 14, 30, tzinfo=BERLIN)]
    # Waiting on the customer pauses resolution, and with it the step, for two business hours.
    lifecycle.apply_status_change(policy, s, StatusChange(status="waiting_on_customer", by="a"), opened + timedelta(hours=1))
    assert step() == []  # paused: no instant yet
    lifecycle.apply_status_change(policy, s, StatusChange(status="pending", by="a"), opened + timedelta(hours=3))
    assert step() == [datetime(2026, 11, 24, 16, 30, tzinfo=BERLIN)]


@pytest.mark.parametrize("anchor", ["resolution@150%", "resolution@", "uptime@50%", "resolution@fifty%"])
def test_a_bad_share_anchor_is_refused_naming_the_field(anchor: str) -> None:
    from policies import DEFAULT_POLICY
    from sla.policy import PolicyError, parse_policy

    with pytest.raises(PolicyError, match=r"escalation\.sev2\.0\.from: .* is not 'open', an earlier step's id"):
        parse_policy(DEFAULT_POLICY.read_text() + HALF_RESOLUTION.replace("resolution@50%", anchor), "test")
