"""The report's metric definitions (sla/report_metrics.py, sla/goals.py) and a ticket's facts
(sla/ticket_facts.py), on hand-built tickets and values computed by hand in the comments."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest
from hypothesis import given, strategies as st
from pydantic import ValidationError

from sla import lifecycle
from sla.goals import Goals, evaluate
from sla.messages import CustomerMessage, Respond, StatusChange
from sla.report_metrics import ClockOutcomes, Distribution, GroupMetrics, clock_outcome, percentile, percentile_rows, satisfied
from sla.severity import Severity
from sla.ticket import ClockName, TicketOpened, TicketState, TicketStatus
from sla.ticket_facts import clock_measure, fold


def test_percentile_interpolates_between_closest_ranks() -> None:
    # 7 values: the median's rank is (7-1)*0.5 = 3 -> the 4th value; p90's is 6*0.9 = 5.4 -> 40 % of the way
    # from the 6th value (14340) to the 7th (259200): 14340 + 0.4 * 244860 = 112284.
    values = [3600, 600, 259200, 1200, 14340, 1800, 7200]
    assert percentile(values, 50) == 3600
    assert percentile(values, 90) == pytest.approx(112284)
    # An even count: the median is half-way between the middle two (25200 and 28800).
    assert percentile([14400, 21600, 25200, 28800, 86400, 172800], 50) == 27000
    assert percentile([5], 90) == 5 and percentile([], 50) is None
    assert percentile_rows(7, 90) == (6, 7, 0.4)
    with pytest.raises(ValueError):
        percentile_rows(0, 50)


@given(st.lists(st.integers(min_value=0, max_value=10**7), min_size=1, max_size=60), st.sampled_from([50, 90]))
def test_percentile_is_numpy_linear(values: list[int], p: int) -> None:
    # The definition is NumPy's default ("linear", Hyndman & Fan type 7), written out by hand here.
    ordered = sorted(values)
    h = (len(ordered) - 1) * p / 100
    low = int(h)
    high = min(low + 1, len(ordered) - 1)
    assert percentile(values, p) == pytest.approx(ordered[low] + (ordered[high] - ordered[low]) * (h - low))


def test_csat_and_clock_outcomes() -> None:
    assert [satisfied(s) for s in ("1", "2", "3", "4", "5", "good", "bad", None)] == [False, False, False, True, True, True, False, None]
    assert clock_outcome(breaches=1, withdrawn=1, met=True, finished=True) == "met"  # a withdrawn breach counts as met
    assert clock_outcome(breaches=2, withdrawn=1, met=True, finished=True) == "breached"
    assert clock_outcome(breaches=0, withdrawn=0, met=False, finished=False) == "running"
    assert ClockOutcomes(met=3, breached=1, running=5).breach_rate == 0.25  # 1 of the 4 that ended
    assert ClockOutcomes().breach_rate is None


def _group(**kw) -> GroupMetrics:
    base = dict(key={}, tickets=10, first_response=Distribution(), first_response_business=Distribution(), resolution=Distribution(),
                resolution_business=Distribution(), first_response_clock=ClockOutcomes(), resolution_clock=ClockOutcomes())
    return GroupMetrics(**(base | kw))


def test_goals_default_to_the_guides_figures_and_mark_misses() -> None:
    overall = _group(rated=10, satisfied=9, solved=20, reopened=1)  # CSAT 90 % (>= 90: met), reopen 5 % (not under 5: missed)
    sev1 = _group(first_response=Distribution(count=3, median=7199, mean=9000),  # just under 2h: met
                  resolution=Distribution(count=3, median=20000, mean=28800))  # MTTR exactly 8h: not under 8h, missed
    results = {r.goal: r for r in evaluate(Goals(), overall, {Severity.SEV1: sev1})}
    assert results["Sev-1 first response (median)"].met is True
    assert results["Sev-1 MTTR (mean time to resolve)"].met is False
    assert results["CSAT (satisfied of rated)"].met is True and results["CSAT (satisfied of rated)"].actual == 90
    assert results["reopen rate"].met is False
    # No Sev-1 tickets: no figure, neither met nor missed.
    assert {r.goal: r.met for r in evaluate(Goals(), overall, {})}["Sev-1 first response (median)"] is None


def test_goals_from_the_policy_refuse_business_time() -> None:
    goals = Goals.model_validate({"first_response_median": {"sev2": "4h"}, "csat_min_percent": 85})
    assert goals.first_response_median[Severity.SEV2].seconds(0) == 4 * 3600
    with pytest.raises(ValidationError, match="goals are wall-clock"):
        Goals.model_validate({"time_to_resolve_mean": {"sev1": "8 business hours"}})
    for bad in ({"csat_min_percent": 120}, {"csat_min_percent": "90"}, {"reopen_max_percent": True},
                {"time_to_resolve_mean": {"sev1": "99999999999999999999h"}}):
        with pytest.raises(ValidationError):
            Goals.model_validate(bad)


BERLIN_FRIDAY_16H = datetime(2026, 10, 9, 14, 0, tzinfo=UTC)  # 16:00 in Berlin (CEST, UTC+2)


def test_business_first_response_across_a_weekend(default_policy) -> None:
    # Sev-2, first response within "4 business hours" on the business calendar (Berlin, Mon-Fri 08:00-18:00).
    # Opened Friday 16:00 Berlin, answered Monday 09:30 Berlin (07:30 UTC):
    #   business: Friday 16:00-18:00 = 2h, Monday 08:00-09:30 = 1h30 -> 3h30 = 12600 s
    #   elapsed: Friday 14:00 UTC -> Monday 07:30 UTC = 2 days 17h30 = 235800 s; nothing paused.
    state = TicketState.opened(TicketOpened(ticket_id="T-w", customer="ACME", title="t", severity="sev2", opened_at=BERLIN_FRIDAY_16H))
    answered = datetime(2026, 10, 12, 7, 30, tzinfo=UTC)
    lifecycle.apply_respond(default_policy, state, Respond(by="alice"), answered)
    assert clock_measure(default_policy, state, ClockName.FIRST_RESPONSE, answered) == {
        "calendar": "business", "elapsed_s": 235800, "business_s": 12600, "paused_s": 0}


def test_resolution_paused_while_waiting_on_the_customer(default_policy) -> None:
    # Sev-2 opened Monday 09:00 Berlin; waiting on the customer 10:00-12:00; solved 15:00 (all Berlin, UTC+2):
    #   elapsed 6h = 21600 s; paused 2h = 7200 s; business 6h - 2h = 4h = 14400 s.
    opened = datetime(2026, 10, 12, 7, 0, tzinfo=UTC)
    state = TicketState.opened(TicketOpened(ticket_id="T-p", customer="ACME", title="t", severity="sev2", opened_at=opened))
    lifecycle.apply_respond(default_policy, state, Respond(by="alice"), opened + timedelta(minutes=30))
    lifecycle.apply_status_change(default_policy, state, StatusChange(status=TicketStatus.WAITING_ON_CUSTOMER, by="alice"),
                                  opened + timedelta(hours=1))
    lifecycle.apply_customer_message(default_policy, state, CustomerMessage(), opened + timedelta(hours=3))
    solved = opened + timedelta(hours=6)
    lifecycle.apply_resolve(default_policy, state, solved)
    assert clock_measure(default_policy, state, ClockName.RESOLUTION, solved) == {
        "calendar": "business", "elapsed_s": 21600, "business_s": 14400, "paused_s": 7200}


def test_a_reopened_ticket_counts_its_solved_time_as_paused(default_policy) -> None:
    # Sev-1 (24x7): solved after 3h, reopened 2h later, solved again 2h after that:
    #   elapsed 7h = 25200 s, paused (solved) 2h = 7200 s, business 5h = 18000 s.
    opened = datetime(2026, 10, 7, 9, 0, tzinfo=UTC)
    state = TicketState.opened(TicketOpened(ticket_id="T-r", customer="ACME", title="t", severity="sev1", opened_at=opened))
    lifecycle.apply_resolve(default_policy, state, opened + timedelta(hours=3))
    lifecycle.apply_customer_message(default_policy, state, CustomerMessage(), opened + timedelta(hours=5))
    lifecycle.apply_resolve(default_policy, state, opened + timedelta(hours=7))
    assert clock_measure(default_policy, state, ClockName.RESOLUTION, opened + timedelta(hours=7)) == {
        "calendar": "24x7", "elapsed_s": 25200, "business_s": 18000, "paused_s": 7200}


def _e(seq: int, at: datetime, kind: str, **detail):
    return SimpleNamespace(seq=seq, at=at, kind=kind, detail=detail)


def test_fold_keeps_the_first_response_the_last_solve_and_counts() -> None:
    t0 = datetime(2026, 10, 7, 9, 0, tzinfo=UTC)
    events = [
        _e(2, t0 + timedelta(minutes=20), "responded", elapsed_s=1200, business_s=1200, paused_s=0),
        _e(3, t0 + timedelta(hours=1), "responded"),  # a later answer: not the first response
        _e(4, t0 + timedelta(hours=2), "breach", clock="resolution", obligation="T/resolution/1/breach"),
        _e(5, t0 + timedelta(hours=2, minutes=5), "withdrawn", clock="resolution", obligation="T/resolution/1/breach"),
        _e(6, t0 + timedelta(hours=2), "withdrawn", clock="first_response", obligation="T/first_response/1/warning/75"),  # not a breach
        _e(7, t0 + timedelta(hours=3), "resolved", elapsed_s=10800, business_s=10800, paused_s=0),
        _e(8, t0 + timedelta(hours=4), "csat", score="2"),
        _e(9, t0 + timedelta(hours=5), "customer_message", reopened=True),  # reopens and clears the rating
        _e(10, t0 + timedelta(hours=7), "auto_solve"),  # no measure (an older event): elapsed from the opening
        _e(11, t0, "escalation"), _e(12, t0, "handed_off"), _e(13, t0, "management_escalation"), _e(14, t0, "escalation_jumped"),
        _e(15, t0, "post_incident_due", item="review", due=(t0 + timedelta(days=3)).isoformat()),
        _e(16, t0 + timedelta(days=1), "review_recorded"),
        _e(17, t0, "action_added", item="action-1", title="alert on it", owner="bob", due=(t0 + timedelta(days=5)).isoformat()),
        _e(18, t0, "post_incident_waived", item="rca"),
    ]
    delta = fold(t0, reversed(events))  # any order: the sequence decides
    assert (delta.first_response.seq, delta.first_response.business_s) == (2, 1200)
    assert (delta.resolution.seq, delta.resolution.elapsed_s, delta.resolution.business_s, delta.resolution.auto) == (10, 25200, None, True)
    assert delta.csat == (9, None)
    assert delta.counts == {"breaches_resolution": 1, "withdrawn_resolution": 1, "reopens": 1, "escalations_automatic": 1,
                            "escalations_functional": 1, "escalations_hierarchical": 1, "escalations_manual": 1}
    assert delta.items["review"].done_at == t0 + timedelta(days=1) and delta.items["review"].due == t0 + timedelta(days=3)
    assert delta.items["action-1"].owner == "bob" and delta.items["action-1"].kind == "action"
    assert delta.items["rca"].waived is True


async def test_the_workflow_records_its_measures_and_the_store_keeps_the_facts(store, ts_env) -> None:
    """The real workflow on the time-skipping server: a Sev-1 (24x7) answered at +40m, waiting on the
    customer +1h to +2h, solved at +3h. First response: 2400 s elapsed and business, nothing paused.
    Resolution: 10800 s elapsed, 3600 s paused (the resolution clock pauses while waiting), 7200 s business."""
    from sqlalchemy import select

    from sla.messages import Resolve
    from store.schema import tickets
    from tests.test_escalation_workflow import walk_to
    from tests.test_ticket_workflow import RecordingNotifier, open_ticket, state_after_snapshot
    from worker.main import build_worker
    from workflows.ticket import TicketWorkflow

    notifier = RecordingNotifier(store)
    async with build_worker(ts_env.client, task_queue="tq", store=store, notify=notifier.notify):
        opened, handle = await open_ticket(ts_env, "tq", severity="sev1")
        await state_after_snapshot(handle)
        t0 = opened.opened_at
        for offset, update, request in [
            (timedelta(minutes=40), TicketWorkflow.respond, Respond(by="alice")),
            (timedelta(hours=1), TicketWorkflow.set_status, StatusChange(status=TicketStatus.WAITING_ON_CUSTOMER, by="alice")),
            (timedelta(hours=2), TicketWorkflow.customer_message, CustomerMessage()),
            (timedelta(hours=3), TicketWorkflow.resolve, Resolve(by="alice")),
        ]:
            await walk_to(ts_env, t0, offset + timedelta(seconds=30))
            await handle.execute_update(update, request.model_copy(update={"occurred_at": t0 + offset}))
        await ts_env.sleep(timedelta(seconds=5))
    with store.engine.connect() as conn:
        row = conn.execute(select(tickets).where(tickets.c.ticket_id == opened.ticket_id)).mappings().one()
    assert (row["first_response_elapsed_s"], row["first_response_business_s"], row["first_response_paused_s"]) == (2400, 2400, 0)
    assert (row["resolution_elapsed_s"], row["resolution_business_s"], row["resolution_paused_s"]) == (10800, 7200, 3600)
    assert row["auto_solved"] is False and row["reopens"] == 0
