"""The support-hours ledger: hand-computed deductions, the ledger in the store (SQLite and
PostgreSQL), and whole tickets on the time-skipping server, thresholds told once."""

from __future__ import annotations

import argparse
import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from temporalio.testing import WorkflowEnvironment

from policies import DEFAULT_POLICY
from sla import support_hours
from sla.messages import EventBatch, LogTime, Reopen, Resolve, TicketEvent
from sla.policy import parse_policy
from sla.severity import Severity
from sla.ticket import TicketOpened, TicketState, TicketStatus
from starter.hours_command import HoursError, run_hours
from store.ticket_store import TicketStore, upgrade
from tests.test_ticket_workflow import RecordingNotifier, open_ticket, state_after_snapshot
from worker.main import build_worker
from workflows.ticket import TicketWorkflow

POLICY = parse_policy(DEFAULT_POLICY.read_text(), "default.toml")
NOON = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


def ticket(severity: str = "sev4", category: str | None = None, plan: str | None = "starter", logged: int = 0, **state) -> TicketState:
    opened = TicketOpened(ticket_id="T-1", customer="ACME", title="t", severity=severity, opened_at=NOON, plan=plan, category=category)
    return TicketState.opened(opened).model_copy(update={"logged_minutes": logged, **state})


def test_a_conversation_deducts_at_least_the_minimum_and_incidents_nothing() -> None:
    # 5 minutes logged: max(15, 5) = 15 (seeds/002: "a minimum of 15 minutes will be deducted").
    assert support_hours.deduction(POLICY, ticket(logged=5), NOON).minutes == 15
    # 40 minutes logged: max(15, 40) = 40; nothing logged at all still opens a conversation: 15.
    assert support_hours.deduction(POLICY, ticket(logged=40), NOON).minutes == 40
    assert support_hours.deduction(POLICY, ticket(logged=0), NOON).minutes == 15
    # Incidents are never deducted: a Sev-2 without a category (Major), a technical_incident even at Sev-4.
    assert support_hours.deduction(POLICY, ticket(severity="sev2", logged=30), NOON) is None
    assert support_hours.deduction(POLICY, ticket(category="technical_incident", logged=30), NOON) is None
    # A category says what the ticket is: a Sev-1 billing dispute is a conversation, not an incident.
    assert support_hours.deduction(POLICY, ticket(severity="sev1", category="billing_dispute", logged=20), NOON).minutes == 20
    # Starter's 20 hours a year: 1,200 minutes contracted; the contract year of 2026-11-30 is 2026.
    entry = support_hours.deduction(POLICY, ticket(logged=5), NOON)
    assert (entry.contracted_minutes, entry.contract_year, entry.logged_minutes) == (1200, 2026, 5)


def test_a_re_solved_ticket_deducts_only_what_was_logged_since() -> None:
    # Solved once with 40 logged (40 charged); reopened, 10 more logged: 50 - 40 = 10, no minimum again.
    again = ticket(logged=50, deducted_logged_minutes=40, support_hours_deductions=1)
    assert support_hours.deduction(POLICY, again, NOON).minutes == 10
    # Reopened and solved again with nothing more logged: nothing to charge.
    assert support_hours.deduction(POLICY, ticket(logged=40, deducted_logged_minutes=40, support_hours_deductions=1), NOON) is None


def test_contract_years_and_thresholds() -> None:
    december = POLICY.model_copy(update={"support_hours": POLICY.support_hours.model_copy(update={"year_starts": "12-01"})})
    # The policy's calendar is Europe/Berlin: 2026-11-30 23:30 UTC is already December 1st there.
    assert support_hours.contract_year(december, datetime(2026, 11, 30, 22, 0, tzinfo=UTC)) == 2025
    assert support_hours.contract_year(december, datetime(2026, 11, 30, 23, 30, tzinfo=UTC)) == 2026
    assert support_hours.year_span(december, 2026) == (datetime(2026, 12, 1).date(), datetime(2027, 11, 30).date())
    # 60 minutes contracted: 40 -> 55 used crosses 80% (48 min); 55 -> 65 crosses 100%; 65 -> 80 crosses nothing new.
    assert support_hours.crossed([80, 100], 60, 40, 55) == [80]
    assert support_hours.crossed([80, 100], 60, 55, 65) == [100]
    assert support_hours.crossed([80, 100], 60, 65, 80) == []
    assert support_hours.crossed([80, 100], 60, 0, 60) == [80, 100]
    assert support_hours.crossed([80, 100], 0, 0, 60) == []  # no hours contracted: no percentage to reach
    # No [support_hours] in a policy (and older snapshots): no ledger at all.
    bare = POLICY.model_copy(update={"support_hours": type(POLICY.support_hours)(notify=[], incident_categories=[], plans={})})
    assert support_hours.deduction(bare, ticket(logged=30), NOON) is None


def deduction_batch(entry: str, ticket_id: str, minutes: int, contracted: int = 60, customer: str = "ACME") -> EventBatch:
    opened = TicketOpened(ticket_id=ticket_id, customer=customer, title="t", severity=Severity.SEV4, opened_at=NOON, plan="starter")
    event = TicketEvent(event_id=entry, seq=9, at=NOON, kind="support_hours_deducted",
                        detail={"minutes": minutes, "logged_minutes": minutes, "contract_year": 2026, "contracted_minutes": contracted,
                                "plan": "starter", "thresholds": "80,100"})
    return EventBatch(ticket=opened, status=TicketStatus.SOLVED, severity=Severity.SEV4, plan="starter", events=[event])


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_the_ledger_in_the_store_tells_each_threshold_once(backend: str, tmp_path: Path, request) -> None:
    url = f"sqlite:///{tmp_path / 'tickets.db'}" if backend == "sqlite" else request.getfixturevalue("postgres_url")
    upgrade(url)
    store = TicketStore(url)
    try:
        assert store.record_batches([deduction_batch("T-a/5", "T-a", 40)])[0].crossed == []  # 40 of 60: 67%
        first = store.record_batches([deduction_batch("T-b/7", "T-b", 15)])[0]  # 55 of 60: 92%
        assert [(c.threshold, c.used_minutes) for c in first.crossed] == [(80, 55)]
        assert store.record_batches([deduction_batch("T-b/7", "T-b", 15)])[0] == (0, [])  # the retried write: nothing new
        # Two tickets written in one group commit: the second crosses 100%, told once.
        both = store.record_batches([deduction_batch("T-c/3", "T-c", 5), deduction_batch("T-d/3", "T-d", 5)])
        assert [c.threshold for w in both for c in w.crossed] == [100]
        assert store.record_batches([deduction_batch("T-e/3", "T-e", 30)])[0].crossed == []  # 100% was told already
        args = argparse.Namespace(customer="ACME", year=2026, policy=None, database_url=url)
        doc, text = run_hours(args)
    finally:
        store.close()
    assert doc["used_minutes"] == 95 and doc["contracted_minutes"] == 60 and doc["remaining_minutes"] == -35
    assert [e["minutes"] for e in doc["entries"]] == [40, 15, 5, 5, 30]
    assert "used            1h 35m (158%)" in text and "remaining      -0h 35m" in text


def test_a_policy_refuses_a_year_start_that_is_no_day() -> None:
    from sla.policy import PolicyError

    text = DEFAULT_POLICY.read_text().replace('year_starts = "01-01"', 'year_starts = "02-30"')
    with pytest.raises(PolicyError, match="year_starts: '02-30' is not a day of the year"):
        parse_policy(text, "p.toml")


def test_hours_refuses_bad_input(tmp_path: Path) -> None:
    with pytest.raises(HoursError, match="CUSTOMER: 'ACME Corp' is not a customer id"):
        run_hours(argparse.Namespace(customer="ACME Corp", year=None, policy=None, database_url=f"sqlite:///{tmp_path / 'x.db'}"))
    with pytest.raises(HoursError, match="does not exist"):
        run_hours(argparse.Namespace(customer="ACME", year=None, policy=None, database_url=f"sqlite:///{tmp_path / 'x.db'}"))
    upgrade(f"sqlite:///{tmp_path / 'x.db'}")
    with pytest.raises(HoursError, match="no ticket of customer 'NOSUCH'"):  # a typo is not a customer without hours
        run_hours(argparse.Namespace(customer="NOSUCH", year=None, policy=None, database_url=f"sqlite:///{tmp_path / 'x.db'}"))


def small_allowance(tmp_path: Path) -> Path:
    """The default policy with one hour a year for starter (80% is 48 minutes)."""
    text = DEFAULT_POLICY.read_text().replace("plans = { enterprise = 200, premium = 100, starter = 20 }",
                                              "plans = { enterprise = 200, premium = 100, starter = 1 }")
    path = tmp_path / "policy.toml"
    path.write_text(text)
    return path


async def settled(handle, check, tries: int = 200):
    for _ in range(tries):
        view = await handle.query(TicketWorkflow.state)
        if check(view.state):
            return view.state
        await asyncio.sleep(0.05)
    raise AssertionError(f"never settled: {view.state}")


async def test_tickets_deduct_when_solved_and_the_account_is_told_once(store, ts_env: WorkflowEnvironment, tmp_path: Path) -> None:
    notifier = RecordingNotifier(store)
    async with build_worker(ts_env.client, task_queue="tq", store=store, notify=notifier.notify, policy_path=small_allowance(tmp_path)):
        # A 5-minute question (Sev-4): deducts 15.
        _, first = await open_ticket(ts_env, "tq", severity="sev4", plan="starter")
        await state_after_snapshot(first)
        await first.execute_update(TicketWorkflow.log_time, LogTime(minutes=5, by="alice"))
        await first.execute_update(TicketWorkflow.resolve, Resolve(by="alice"))
        # A 40-minute one: deducts 40 -> 55 of 60 used (92%): the account manager is told of 80%.
        _, second = await open_ticket(ts_env, "tq", severity="sev4", plan="starter", category="general_inquiry")
        await state_after_snapshot(second)
        await second.execute_update(TicketWorkflow.log_time, LogTime(minutes=25, by="bob"))
        await second.execute_update(TicketWorkflow.log_time, LogTime(minutes=15, by="bob"))
        await second.execute_update(TicketWorkflow.resolve, Resolve(by="bob"))
        # An incident (Sev-2, no category) with an hour logged: nothing.
        _, incident = await open_ticket(ts_env, "tq", severity="sev2", plan="starter")
        await state_after_snapshot(incident)
        await incident.execute_update(TicketWorkflow.log_time, LogTime(minutes=60, by="carol"))
        await incident.execute_update(TicketWorkflow.resolve, Resolve(by="carol"))
        # The second reopened, 10 more minutes, solved again: deducts 10 -> 65 of 60: 100% told once.
        await second.execute_update(TicketWorkflow.reopen, Reopen(by="bob", reason="it came back"))
        await second.execute_update(TicketWorkflow.log_time, LogTime(minutes=10, by="bob"))
        await second.execute_update(TicketWorkflow.resolve, Resolve(by="bob"))
        for handle in (first, second, incident):
            await settled(handle, lambda s: s.support_hours_solves == s.solve_count)
        await ts_env.sleep(timedelta(minutes=1))
        told = [n for n in notifier.sent if "support_hours" in n.idempotency_key]
        for _ in range(100):
            if len(told) >= 2:
                break
            await asyncio.sleep(0.05)
            told = [n for n in notifier.sent if "support_hours" in n.idempotency_key]
        second_state = (await second.query(TicketWorkflow.state)).state
    year = datetime.now(UTC).year  # the test server starts at the real time, in the policy's zone this year
    assert sorted(n.idempotency_key.rsplit("/", 2)[-1] for n in told) == ["100", "80"]
    assert {tuple(n.roles) for n in told} == {("account_manager",)}
    assert "passed 80% of contract year" in next(n.summary for n in told if n.idempotency_key.endswith("/80"))
    assert "(92%)" in next(n.summary for n in told if n.idempotency_key.endswith("/80"))  # 55 of 60 minutes
    assert (second_state.logged_minutes, second_state.deducted_logged_minutes, second_state.support_hours_deductions) == (50, 50, 2)
    doc, _ = run_hours(argparse.Namespace(customer="ACME", year=year, policy=str(small_allowance(tmp_path)), database_url=store.url))
    assert [e["minutes"] for e in doc["entries"]] == [15, 40, 10] and doc["used_minutes"] == 65 and doc["contracted_minutes"] == 60


async def test_a_solve_that_closes_at_once_and_wrap_up_time_are_charged(store, ts_env: WorkflowEnvironment, tmp_path: Path) -> None:
    async with build_worker(ts_env.client, task_queue="tq", store=store, policy_path=small_allowance(tmp_path)):
        # Solved 4 days back (past the 3-day reopen window): the ticket closes at once, still charged.
        now = await ts_env.get_current_time()
        opened = TicketOpened(ticket_id="T-backdated", customer="ACME", title="t", severity=Severity.SEV4, plan="starter",
                              opened_at=now - timedelta(days=5))
        backdated = await ts_env.client.start_workflow(TicketWorkflow.run, opened, id=opened.ticket_id, task_queue="tq")
        await state_after_snapshot(backdated)
        await backdated.execute_update(TicketWorkflow.log_time, LogTime(minutes=20, by="alice", occurred_at=now - timedelta(days=4, hours=1)))
        await backdated.execute_update(TicketWorkflow.resolve, Resolve(by="alice", occurred_at=now - timedelta(days=4)))
        closed = await backdated.result()
        # Solved now with 30 logged, then 5 more of wrap-up: 30 at the solve, 5 when it closes 3 days later.
        _, wrapped = await open_ticket(ts_env, "tq", severity="sev4", plan="starter")
        await state_after_snapshot(wrapped)
        await wrapped.execute_update(TicketWorkflow.log_time, LogTime(minutes=30, by="bob"))
        await wrapped.execute_update(TicketWorkflow.resolve, Resolve(by="bob"))
        await wrapped.execute_update(TicketWorkflow.log_time, LogTime(minutes=5, by="bob"))
        await ts_env.sleep(timedelta(days=3, minutes=1))
        final = await wrapped.result()
    assert closed.status is TicketStatus.CLOSED and closed.support_hours_deductions == 1
    assert (final.support_hours_deductions, final.deducted_logged_minutes) == (2, 35)
    rows = {tid: [r["detail"]["minutes"] for r in store.timeline(tid)[1] if r["kind"] == "support_hours_deducted"]
            for tid in ("T-backdated", wrapped.id)}
    assert rows == {"T-backdated": [20], wrapped.id: [30, 5]}
