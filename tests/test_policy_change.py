"""Moving running tickets to another policy: the three modes, pure and on the time-skipping server.

The scenario, checked by hand: a Sev-2 ticket opened Friday 2026-11-20 16:00 Berlin. Its first
response is due in 4 business hours (08:00-18:00 Mon-Fri): 2 hours on Friday, 2 on Monday, so
Monday 10:00. On Saturday 12:00 the policy changes to "4 hours, 24x7":
- keep: still Monday 10:00;
- forward: 2 business hours were used (Friday 16:00-18:00), 2 hours are left, on 24x7 from the
  change: Saturday 14:00;
- recompute: 4 hours from Friday 16:00 on 24x7: Friday 20:00, overdue at the change.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from policies import DEFAULT_POLICY
from sla.lifecycle import apply_respond, apply_severity_change, apply_status_change
from sla.messages import ChangePolicy, Respond, SeverityPlanChange, StatusChange
from sla.planner import ObligationKind, plan
from sla.policy import digest, parse_policy, take_snapshot
from sla.policy_change import ChangeMode, change_policy, check_change, deadlines
from sla.ticket import ClockName, TicketOpened, TicketState, TicketStatus

BERLIN = ZoneInfo("Europe/Berlin")
FRIDAY_16 = datetime(2026, 11, 20, 16, 0, tzinfo=BERLIN)
SATURDAY_12 = datetime(2026, 11, 21, 12, 0, tzinfo=BERLIN)
MONDAY_10 = datetime(2026, 11, 23, 10, 0, tzinfo=BERLIN)
FR = ClockName.FIRST_RESPONSE
SEV2_FR = 'targets.first_response = { within = "4 business hours" }'


def policy_text(first_response: str = '{ within = "4h", calendar = "24x7" }') -> str:
    """The default policy with Sev-2's first response replaced (the only line that says it so)."""
    text = DEFAULT_POLICY.read_text()
    assert text.count(SEV2_FR) == 1
    return text.replace(SEV2_FR, f"targets.first_response = {first_response}")


def snapshot(text: str, opened: datetime = FRIDAY_16):
    return take_snapshot(parse_policy(text, "new.toml"), "new.toml", digest(text), opened)


def sev2(opened: datetime = FRIDAY_16) -> TicketState:
    return TicketState.opened(TicketOpened(ticket_id="T-1", customer="ACME", title="t", severity="sev2", opened_at=opened))


def first_response_breach(policy, state, now):
    return next(o for o in plan(policy, state, now) if o.clock is FR and o.kind is ObligationKind.BREACH)


@pytest.mark.parametrize(("mode", "due"), [
    (ChangeMode.KEEP, MONDAY_10),
    (ChangeMode.FORWARD, datetime(2026, 11, 21, 14, 0, tzinfo=BERLIN)),
    (ChangeMode.RECOMPUTE, datetime(2026, 11, 20, 20, 0, tzinfo=BERLIN)),
])
def test_each_mode_moves_a_running_deadline_as_documented(default_policy, mode, due) -> None:
    new = snapshot(policy_text()).policy
    state = sev2()
    assert deadlines(default_policy, state)[FR] == MONDAY_10
    moves = {m.clock: m for m in change_policy(default_policy, new, state, mode, SATURDAY_12)}
    assert moves[FR].before == MONDAY_10 and moves[FR].after == due
    assert first_response_breach(new, state, SATURDAY_12).due == due


def test_forward_owes_no_warning_whose_share_was_used_before_the_change(default_policy) -> None:
    # New target 2h on 24x7, warned at 75% (1h30). Forward at Saturday 12:00 with 2h used: the
    # target is used up (due at once), and its warning is not owed.
    new = snapshot(policy_text('{ within = "2h", calendar = "24x7" }')).policy
    state = sev2()
    change_policy(default_policy, new, state, ChangeMode.FORWARD, SATURDAY_12)
    owed = [o for o in plan(new, state, SATURDAY_12) if o.clock is FR]
    assert [(o.kind, o.due) for o in owed] == [(ObligationKind.BREACH, SATURDAY_12)]


def test_forward_counts_pauses_and_later_pauses_still_move_the_deadline(default_policy) -> None:
    # Resolution pauses while waiting on the customer. Sev-2's resolution becomes 4 business days
    # (40 business hours). Waiting Friday 17:00-Monday 09:00: 1 business hour used before the
    # change on Saturday, which falls in the pause; 39 hours left from Monday 09:00 -> 9 Monday,
    # 10 each Tuesday to Thursday: Thursday 2026-11-26 18:00.
    text = policy_text().replace('targets.resolution = { within = "3 business days" }', 'targets.resolution = { within = "4 business days" }')
    new = snapshot(text).policy
    state = sev2()
    apply_status_change(default_policy, state, StatusChange(status="waiting_on_customer", by="a"), datetime(2026, 11, 20, 17, 0, tzinfo=BERLIN))
    change_policy(default_policy, new, state, ChangeMode.FORWARD, SATURDAY_12)
    res = ClockName.RESOLUTION
    assert state.clocks[res].basis.spent_seconds == 3600
    assert deadlines(new, state)[res] is None  # paused: no deadline yet
    state.clocks[res].pauses[-1].ended_at = datetime(2026, 11, 23, 9, 0, tzinfo=BERLIN)
    assert deadlines(new, state)[res] == datetime(2026, 11, 26, 18, 0, tzinfo=BERLIN)


def test_keep_holds_the_old_calendar_and_lets_later_clocks_follow_the_new_policy(default_policy) -> None:
    new = snapshot(policy_text()).policy
    state = sev2()
    change_policy(default_policy, new, state, ChangeMode.KEEP, SATURDAY_12)
    # A second change keeps what was kept.
    change_policy(new, new, state, ChangeMode.KEEP, SATURDAY_12 + timedelta(hours=1))
    assert deadlines(new, state)[FR] == MONDAY_10
    # The response meets it; the customer's next message starts next_response under the new policy
    # (Sev-2 next response is 4 business hours in both: unchanged), while resolution stays held.
    apply_respond(new, state, Respond(by="a"), MONDAY_10 - timedelta(hours=1))
    assert not state.clocks[FR].running
    assert state.clocks[ClockName.RESOLUTION].basis.held is not None


def test_a_severity_change_lets_kept_targets_go(default_policy) -> None:
    new = snapshot(policy_text()).policy
    state = sev2()
    change_policy(default_policy, new, state, ChangeMode.KEEP, SATURDAY_12)
    apply_severity_change(state, SeverityPlanChange(by="a", severity="sev1"), SATURDAY_12)
    assert state.clocks[FR].basis is None
    assert deadlines(new, state)[FR] == FRIDAY_16 + timedelta(hours=2)  # Sev-1: 2h on 24x7, from the opening


def test_a_change_the_ticket_cannot_take_is_refused_naming_why(default_policy) -> None:
    state = sev2()
    state.plan = "starter"
    no_plans = parse_policy(DEFAULT_POLICY.read_text().replace("[plans.starter]", "[plans.basic]").replace("starter =", "basic ="), "new.toml")
    with pytest.raises(ValueError, match="no plan 'starter'"):
        check_change(no_plans, state)
    state.status = TicketStatus.CLOSED
    with pytest.raises(ValueError, match="closed"):
        check_change(default_policy, state)


# The workflow ------------------------------------------------------------------------------

async def _ticket_on_saturday(ts_env, store):
    from tests.test_lifecycle_workflow import move_clock_to
    from tests.test_ticket_workflow import open_ticket, state_after_snapshot

    friday = _next_friday_16(await ts_env.get_current_time())
    await move_clock_to(ts_env, friday)
    opened, handle = await open_ticket(ts_env, "tq", severity="sev2")
    await state_after_snapshot(handle)
    await ts_env.sleep(friday + timedelta(hours=20) - await ts_env.get_current_time())  # Saturday 12:00
    return friday, handle


def _next_friday_16(now: datetime) -> datetime:
    day = now.astimezone(BERLIN).date() + timedelta(days=1)
    while day.weekday() != 4:
        day += timedelta(days=1)
    return datetime(day.year, day.month, day.day, 16, 0, tzinfo=BERLIN)


@pytest.mark.parametrize("mode", list(ChangeMode))
async def test_change_policy_update_moves_a_running_ticket(store, ts_env, mode: ChangeMode) -> None:
    from worker.main import build_worker
    from workflows.ticket import TicketWorkflow

    text = policy_text()
    async with build_worker(ts_env.client, task_queue="tq", store=store):
        friday, handle = await _ticket_on_saturday(ts_env, store)
        new = take_snapshot(parse_policy(text, "new.toml"), "new.toml", digest(text), friday)
        before = await handle.query(TicketWorkflow.state)
        await handle.execute_update(TicketWorkflow.change_policy, ChangePolicy(snapshot=new, mode=mode, by="ops"))
        await ts_env.sleep(timedelta(seconds=5))
        view = await handle.query(TicketWorkflow.state)
        running = await handle.query(TicketWorkflow.policy)
    assert running.digest == new.digest and view.policy_digest == new.digest
    assert before.policy_digest != new.digest
    due = {t.clock: t.due for t in view.targets}
    breaches = [f for f in view.state.fired if f.kind == "breach" and f.clock is FR]
    if mode is ChangeMode.KEEP:
        assert abs(due[FR] - (friday + timedelta(days=3, hours=-6))) < timedelta(seconds=10)  # Monday 10:00 (+ opening latency)
        assert not breaches
    elif mode is ChangeMode.FORWARD:
        assert abs(due[FR] - (friday + timedelta(hours=22))) < timedelta(seconds=10)  # Saturday 14:00 (+ the update's latency)
        assert not breaches
    else:
        assert abs(due[FR] - (friday + timedelta(hours=4))) < timedelta(seconds=10)  # Friday 20:00: overdue, acted on at once
        assert len(breaches) == 1 and breaches[0].fired_at >= friday + timedelta(hours=20)
    _, events = store.timeline(view.state.ticket.ticket_id)
    changed = [e for e in events if e["kind"] == "policy_changed"]
    assert len(changed) == 1
    detail = changed[0]["detail"]
    assert detail["mode"] == mode.value and detail["digest_to"] == new.digest and detail["digest_from"] == before.policy_digest
    assert detail["by"] == "ops" and "first_response:" in detail["deadlines"]


async def test_change_policy_is_refused_for_the_same_policy_and_with_occurred_at(store, ts_env) -> None:
    from temporalio.client import WorkflowUpdateFailedError

    from worker.main import build_worker
    from workflows.ticket import TicketWorkflow

    async with build_worker(ts_env.client, task_queue="tq", store=store):
        friday, handle = await _ticket_on_saturday(ts_env, store)
        same = await handle.query(TicketWorkflow.policy)
        with pytest.raises(WorkflowUpdateFailedError) as refused:
            await handle.execute_update(TicketWorkflow.change_policy, ChangePolicy(snapshot=same, mode="keep", by="ops"))
        assert "already runs under this policy" in str(refused.value.cause)
        text = policy_text()
        new = take_snapshot(parse_policy(text, "new.toml"), "new.toml", digest(text), friday)
        with pytest.raises(WorkflowUpdateFailedError) as refused:
            await handle.execute_update(TicketWorkflow.change_policy,
                                        ChangePolicy(snapshot=new, mode="keep", by="ops", occurred_at=friday + timedelta(hours=1)))
        assert "occurred_at" in str(refused.value.cause)


def test_forward_leaves_a_clock_whose_target_is_unchanged_where_it_was(default_policy) -> None:
    # Resolution (3 business days) is the same in both policies: even overdue, its deadline does
    # not move to the change (only first response's target changed).
    new = snapshot(policy_text()).policy
    state = sev2()
    later = datetime(2026, 11, 30, 12, 0, tzinfo=BERLIN)  # past the resolution deadline, Wednesday 2026-11-25 16:00
    before = deadlines(default_policy, state)[ClockName.RESOLUTION]
    change_policy(default_policy, new, state, ChangeMode.FORWARD, later)
    assert state.clocks[ClockName.RESOLUTION].basis is None
    assert deadlines(new, state)[ClockName.RESOLUTION] == before
    assert state.clocks[FR].basis is not None  # first response did change
