"""Post-incident obligations: the review, the RCA and corrective actions, as rules and on the workflow."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from temporalio.client import WorkflowUpdateFailedError
from temporalio.testing import WorkflowEnvironment

from sla import lifecycle
from sla.messages import AddAction, CompleteObligation, RecordRca, RecordReview, Resolve
from sla.planner import ObligationKind, plan
from sla.ticket import TicketOpened, TicketState, TicketStatus
from starter.client import update_failure_reason
from tests.test_escalation_workflow import walk_to
from tests.test_ticket_workflow import RecordingNotifier, open_ticket, state_after_snapshot
from worker.main import build_worker
from workflows.ticket import TicketWorkflow

BERLIN = ZoneInfo("Europe/Berlin")
from policies import DEFAULT_POLICY
from sla.policy import parse_policy

POLICY = parse_policy(DEFAULT_POLICY.read_text(), "default.toml")  # for the parametrized checks below
RESOLVED = datetime(2026, 11, 26, 15, 0, tzinfo=BERLIN)  # a Thursday afternoon


def resolved_sev1(policy, severity: str = "sev1") -> TicketState:
    s = TicketState.opened(TicketOpened(ticket_id="T-9", customer="ACME", title="t", severity=severity,
                                        opened_at=RESOLVED - timedelta(hours=5)))
    lifecycle.apply_resolve(policy, s, RESOLVED)
    lifecycle.open_post_incident(policy, s, RESOLVED)
    return s


def test_review_in_72_hours_and_rca_in_7_business_days_across_two_weekends(default_policy) -> None:
    s = resolved_sev1(default_policy)
    due = {i.id: i.due for i in s.post_incident}
    assert due["review"] == RESOLVED + timedelta(hours=72)  # wall-clock: Sunday 15:00
    # 70 business hours from Thursday 15:00: Thu 3h, Fri 10h, five days 50h, then Monday 7h.
    assert due["rca"] == datetime(2026, 12, 7, 15, 0, tzinfo=BERLIN)


def test_only_the_severities_the_policy_names_owe_a_review(default_policy) -> None:
    assert resolved_sev1(default_policy, "sev2").post_incident == []


def test_reminders_and_missed_deadlines_are_planned_and_close_waits_for_them(default_policy) -> None:
    s = resolved_sev1(default_policy)
    obligations = plan(default_policy, s, RESOLVED)
    assert ObligationKind.AUTO_CLOSE not in {o.kind for o in obligations}  # stays Solved while anything is owed
    pir = {o.id.removeprefix("T-9/post_incident/"): (o.due, o.roles) for o in obligations if "/post_incident/" in o.id}
    assert pir == {
        "review/remind1": (RESOLVED + timedelta(hours=48), ["incident_commander"]),
        "review/missed": (RESOLVED + timedelta(hours=72), ["support_manager"]),
        "rca/remind1": (datetime(2026, 12, 6, 15, 0, tzinfo=BERLIN), ["incident_commander"]),
        "rca/missed": (datetime(2026, 12, 7, 15, 0, tzinfo=BERLIN), ["support_manager"]),
    }
    lifecycle.apply_review(s, RecordReview(by="ann", held_on=date(2026, 11, 27), attendees=["ann", "bo"]), RESOLVED + timedelta(days=1))
    lifecycle.apply_complete(s, CompleteObligation(item="rca", by="ann", waive_reason="the vendor writes it"), RESOLVED + timedelta(days=2))
    close = [o for o in plan(default_policy, s, RESOLVED) if o.kind is ObligationKind.AUTO_CLOSE]
    assert [o.due for o in close] == [RESOLVED + timedelta(days=3)]  # the reopen window still applies
    lifecycle.apply_add_action(default_policy, s, AddAction(by="ann", title="add a canary", owner="bo", due=RESOLVED + timedelta(days=10)), RESOLVED)
    lifecycle.apply_add_action(default_policy, s, AddAction(by="ann", title="rotate keys", owner="cy", due=RESOLVED + timedelta(hours=30)), RESOLVED + timedelta(hours=12))
    pending = {o.id.removeprefix("T-9/post_incident/") for o in plan(default_policy, s, RESOLVED) if "/action-" in o.id}
    assert pending == {"action-1/remind1", "action-1/missed", "action-2/missed"}  # owed 18h: no 24h reminder
    lifecycle.apply_complete(s, CompleteObligation(item="action-2", by="cy"), RESOLVED + timedelta(days=1))
    assert not [o for o in plan(default_policy, s, RESOLVED) if o.kind is ObligationKind.AUTO_CLOSE]
    lifecycle.apply_complete(s, CompleteObligation(item="action-1", by="bo"), RESOLVED + timedelta(days=6))
    close = [o for o in plan(default_policy, s, RESOLVED) if o.kind is ObligationKind.AUTO_CLOSE]
    assert [o.due for o in close] == [RESOLVED + timedelta(days=6)]  # closes once the last one is met


def _bad_action(s: TicketState) -> AddAction:
    return AddAction(by="a", title="t", owner="o", due=RESOLVED - timedelta(minutes=1))


@pytest.mark.parametrize(
    ("prepare", "check", "message"),
    [
        (lambda s: None, lambda s: lifecycle.check_add_action(POLICY, s, _bad_action(s), RESOLVED), "due: .* is not in the future"),
        (lambda s: None, lambda s: lifecycle.check_complete(s, CompleteObligation(item="review", by="a")), "record the review with its own command"),
        (lambda s: None, lambda s: lifecycle.check_complete(s, CompleteObligation(item="action-7", by="a")), "no post-incident obligation 'action-7' \\(have review, rca\\)"),
        (lambda s: None, lambda s: lifecycle.check_complete(s, CompleteObligation(item="rca", by="a", waive_reason=" ")), "waive_reason: say why"),
        (lambda s: lifecycle.apply_rca(s, RecordRca(by="a", link="https://wiki/rca"), RESOLVED), lambda s: lifecycle.check_rca(s, RecordRca(by="b", link="https://x")), "already recorded"),
        (lambda s: None, lambda s: lifecycle.check_review(s, RecordReview(by="a", held_on=date(2026, 11, 27), attendees=["ann", " "])), "attendees: names may not be blank"),
        (lambda s: lifecycle.apply_close(s, RESOLVED), lambda s: lifecycle.check_rca(s, RecordRca(by="b", link="https://x")), "is closed"),
        (lambda s: s.post_incident.clear(), lambda s: lifecycle.check_add_action(POLICY, s, AddAction(by="a", title="t", owner="o", due=RESOLVED + timedelta(days=1)), RESOLVED), "no post-incident obligations"),
    ],
)
def test_bad_post_incident_records_are_refused_and_write_nothing(default_policy, prepare, check, message) -> None:
    s = resolved_sev1(default_policy)
    prepare(s)
    before = s.model_copy(deep=True)
    with pytest.raises(ValueError, match=message):
        check(s)
    assert s == before


def test_an_rca_link_must_be_a_web_address() -> None:
    with pytest.raises(ValueError, match="link"):
        RecordRca(by="a", link="file:///etc/passwd")


async def test_a_resolved_sev1_stays_solved_until_its_obligations_are_met_or_waived(store, ts_env: WorkflowEnvironment) -> None:
    notifier = RecordingNotifier(store)
    async with build_worker(ts_env.client, task_queue="tq", store=store, notify=notifier.notify):
        opened, handle = await open_ticket(ts_env, "tq", severity="sev1")
        await state_after_snapshot(handle)
        t0 = opened.opened_at
        await walk_to(ts_env, t0, timedelta(minutes=20))
        state = await handle.execute_update(TicketWorkflow.resolve, Resolve(by="grace"))
        r = state.solved_at
        due = {i.id: i.due for i in state.post_incident}
        assert due["review"] == r + timedelta(hours=72)
        assert due["rca"] > r + timedelta(days=8)  # 7 business days span at least one weekend: over 8 days
        with pytest.raises(WorkflowUpdateFailedError) as refused:
            await handle.execute_update(TicketWorkflow.add_action, AddAction(by="grace", title="t", owner="bo", due=r - timedelta(hours=1)))
        assert "is not in the future" in update_failure_reason(refused.value)
        await handle.execute_update(TicketWorkflow.add_action, AddAction(by="grace", title="Add a canary stage", owner="bo", due=r + timedelta(days=5)))

        await walk_to(ts_env, r, timedelta(hours=48, minutes=1))
        await handle.execute_update(TicketWorkflow.record_review, RecordReview(by="grace", held_on=date.today(), attendees=["grace", "bo"]))
        await walk_to(ts_env, r, timedelta(days=4, hours=12))
        view = await handle.query(TicketWorkflow.state)
        assert view.state.status is TicketStatus.SOLVED  # the reopen window is over, but the RCA and the action are owed
        await handle.execute_update(TicketWorkflow.complete_obligation, CompleteObligation(item="action-1", by="bo"))
        await walk_to(ts_env, r, due["rca"] - r + timedelta(minutes=1))
        state = await handle.execute_update(TicketWorkflow.complete_obligation, CompleteObligation(item="rca", by="grace", waive_reason="the vendor's RCA covers it"))
        waived_at = state.post_incident[1].done_at
        result = await handle.result()
    sent = {n.idempotency_key.removeprefix(f"{opened.ticket_id}/post_incident/"): n for n in notifier.sent if "/post_incident/" in n.idempotency_key}
    assert sorted(sent) == ["action-1/remind1", "rca/missed", "rca/remind1", "review/remind1"]
    assert sent["rca/missed"].roles == ["support_manager"] and "missed its deadline" in sent["rca/missed"].summary
    assert "owner bo" in sent["action-1/remind1"].summary
    fired = {f.id.removeprefix(f"{opened.ticket_id}/post_incident/"): f for f in result.fired if "/post_incident/" in f.id}
    assert fired["rca/missed"].due == due["rca"] and fired["review/remind1"].due == r + timedelta(hours=48)
    assert result.status is TicketStatus.CLOSED and result.closed_at == waived_at
    assert [i.waived_reason for i in result.post_incident] == [None, "the vendor's RCA covers it", None]


def test_an_action_due_on_a_day_is_due_when_that_business_day_ends(default_policy) -> None:
    from datetime import date

    from zoneinfo import ZoneInfo

    due = lifecycle.action_due(default_policy, AddAction(by="a", title="t", owner="o", due_on=date(2026, 12, 4)))  # a Friday
    assert due == datetime(2026, 12, 4, 18, 0, tzinfo=ZoneInfo("Europe/Berlin"))
    with pytest.raises(ValueError, match=r"^due: 2026-12-05 is not a business day of the policy's calendar$"):
        lifecycle.action_due(default_policy, AddAction(by="a", title="t", owner="o", due_on=date(2026, 12, 5)))  # a Saturday


def test_a_review_held_after_today_in_the_policy_zone_is_refused(default_policy) -> None:
    from datetime import date

    s = resolved_sev1(default_policy)
    with pytest.raises(ValueError, match=r"^held_on: 2026-11-28 is in the future: record the review once it took place$"):
        lifecycle.check_review(s, RecordReview(by="a", held_on=date(2026, 11, 28), attendees=["ann"]), today=date(2026, 11, 27))
    lifecycle.check_review(s, RecordReview(by="a", held_on=date(2026, 11, 27), attendees=["ann"]), today=date(2026, 11, 27))
