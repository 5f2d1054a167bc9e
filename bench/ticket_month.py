"""A month of stored tickets, written straight into a ticket store as the workflow writes them.

`python -m bench.ticket_month --database-url sqlite:///month.db --tickets 10000 [--month 2026-10] [--seed 7]`

Deterministic (seeded). Severities 5% Sev-1, 20% Sev-2, 45% Sev-3, 30% Sev-4; plans and
customers at random; opened at random instants of the month. Each ticket's timeline has the
events the workflow records for: the opening (with the default policy's snapshot, as the opening
activity writes it), an acknowledgement, a first response (sometimes late), a wait on the customer
and their answer for a third of them, Sev-1 incident work (commander, status updates every 25-40
minutes), the resolution, CSAT, and for Sev-1 the post-incident review and RCA. Obligation
events (breaches, warnings) are not written: they are outcomes, and `escalator simulate` makes
its own.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from datetime import UTC, datetime, timedelta

from policies import DEFAULT_POLICY
from sla.messages import EventBatch, TicketEvent
from sla.policy import digest, parse_policy, take_snapshot
from sla.planner import effective_target
from sla.policy import Policy
from sla.ticket import ClockName, TicketOpened, TicketStatus
from sla.ticket_facts import clock_measure
from sla.timeline import hypothetical
from store.ticket_store import TicketStore, upgrade

SEVERITIES = [("sev1", 5), ("sev2", 20), ("sev3", 45), ("sev4", 30)]
PLANS = [("enterprise", 2), ("premium", 3), ("starter", 3), (None, 2)]


def _pick(rng: random.Random, weighted):
    return rng.choices([v for v, _ in weighted], weights=[w for _, w in weighted])[0]


def _measure(policy: Policy, ticket: TicketOpened, clock: ClockName, at: datetime, waits: list) -> tuple[dict, datetime | None]:
    """(the clock's measure as the workflow records it, its due instant), the waits on the customer as pauses."""
    state = hypothetical(policy, ticket, waits, TicketStatus.WAITING_ON_CUSTOMER)
    record = state.clocks[clock]
    target = effective_target(policy, state, record)
    return clock_measure(policy, state, clock, at) or {}, target.due if target else None


def _obligations(rng: random.Random, events: list, clock: str, due: datetime | None, met_at: datetime, opened_at: datetime) -> None:
    """A warning at 75 % and a breach at the due instant when the clock was met late (as the
    workflow records them, each with its delivery); now and then a breach is later withdrawn."""
    if due is None:
        return
    warn = opened_at + (due - opened_at) * 0.75
    if met_at > warn:
        events.append((warn, "warning", {"obligation": f"{clock}/1/warning/75", "clock": clock, "summary": "75 %", "delivered": True, "notified": "assignee"}))
        events.append((warn, "delivery", {"obligation": f"{clock}/1/warning/75", "attempts": 1}))
    if met_at > due:
        events.append((due, "breach", {"obligation": f"{clock}/1/breach", "clock": clock, "summary": "breached", "delivered": True, "notified": "team_lead"}))
        events.append((due, "delivery", {"obligation": f"{clock}/1/breach", "attempts": 1}))
        if rng.random() < 0.05:
            events.append((due + timedelta(minutes=5), "withdrawn", {"obligation": f"{clock}/1/breach", "clock": clock, "summary": "a late message"}))


def ticket_events(rng: random.Random, n: int, month_start: datetime, month_end: datetime,
                  policy: Policy | None = None) -> tuple[TicketOpened, str, list[tuple[datetime, str, dict]]]:
    """One ticket: its opening, final status, and its (instant, kind, detail) events in order."""
    policy = policy or parse_policy(DEFAULT_POLICY.read_text(), str(DEFAULT_POLICY))
    span = int((month_end - month_start).total_seconds())
    opened_at = month_start + timedelta(seconds=rng.randrange(span))
    severity = _pick(rng, SEVERITIES)
    ticket = TicketOpened(ticket_id=f"T-{n:06d}", customer=f"C{rng.randrange(200):03d}", title=f"generated ticket {n}",
                          severity=severity, channel=rng.choice(["email", "portal", "api", "phone"]), opened_at=opened_at,
                          plan=_pick(rng, PLANS))
    events = [(opened_at, "opened", {"severity": severity, "customer": ticket.customer, "channel": ticket.channel, "plan": ticket.plan,
                                     "category": None, "follows": None})]
    scale = {"sev1": 0.25, "sev2": 1, "sev3": 3, "sev4": 6}[severity]
    at = opened_at + timedelta(minutes=rng.uniform(2, 60) * scale)
    events.append((at, "acknowledged", {"by": "agent", "status": "pending"}))
    at += timedelta(minutes=rng.uniform(5, 240) * scale)
    measure, due = _measure(policy, ticket, ClockName.FIRST_RESPONSE, at, [])
    events.append((at, "responded", {"by": "agent", "message_id": None, **measure}))
    _obligations(rng, events, "first_response", due, at, opened_at)
    commander_at = at + timedelta(minutes=rng.uniform(5, 50))
    waits = []
    for _ in range(rng.choice([0, 1, 2, 3, 4, 5, 6, 8])):  # the conversation: the customer writes, the agent answers, time is logged
        at += timedelta(minutes=rng.uniform(10, 120) * scale)
        if rng.random() < 0.4:
            events.append((at, "status_changed", {"status": "waiting_on_customer", "by": "agent", "reason": "asked for logs", "paused": "resolution"}))
            wait_start = at
            at += timedelta(hours=rng.uniform(0.5, 30) * scale)
            waits.append((wait_start, at))
        events.append((at, "customer_message", {"message_id": None, "status": "pending", "reopened": False}))
        at += timedelta(minutes=rng.uniform(10, 200) * scale)
        events.append((at, "responded", {"by": "agent", "message_id": None}))
        events.append((at, "time_logged", {"by": "agent", "minutes": 15, "total_minutes": 15}))
    if severity in ("sev1", "sev2") and rng.random() < 0.5:
        step_at = opened_at + timedelta(minutes=15)
        for step in range(rng.randint(1, 3)):
            events.append((step_at, "escalation", {"obligation": f"escalation/step{step}", "clock": None, "summary": "page", "delivered": True, "notified": "on_call"}))
            events.append((step_at, "delivery", {"obligation": f"escalation/step{step}", "attempts": 1}))
            step_at += timedelta(minutes=15)
    if rng.random() < 0.15:
        events.append((at, "handed_off", {"by": "agent", "from_tier": "l1", "to_tier": "l2", "note": "needs a specialist"}))
    if severity in ("sev1", "sev2") and rng.random() < 0.05:
        events.append((at, "management_escalation", {"by": "agent", "level": 1, "reason": "customer asked", "notified": "support_manager"}))
    at += timedelta(hours=rng.uniform(0.5, 16) * scale)
    if severity == "sev1":  # incident mode: a commander, and status updates every 25-40 minutes until resolved
        events.append((commander_at, "commander_designated", {"name": "grace", "by": "agent"}))
        update = opened_at + timedelta(minutes=rng.uniform(20, 35))
        while update < at:
            events.append((update, "status_update_posted", {"by": "grace", "text": "working on it"}))
            update += timedelta(minutes=rng.uniform(25, 40))
    events.append((at, "time_logged", {"by": "agent", "minutes": 20, "total_minutes": 35}))  # the work before the solve
    auto = rng.random() < 0.08
    measure, due = _measure(policy, ticket, ClockName.RESOLUTION, at, waits)
    events.append((at, "auto_solve" if auto else "resolved", {"by": "agent", "resolution": "fixed", **measure} if not auto else
                   {"obligation": "auto_solve", "clock": None, "summary": "no answer", "delivered": True, "notified": None, **measure}))
    _obligations(rng, events, "resolution", due, at, opened_at)
    if rng.random() < 0.05:  # reopened by the customer, answered and solved again
        solved_at = at
        at += timedelta(hours=rng.uniform(1, 20))
        events.append((at, "customer_message", {"message_id": None, "status": "pending", "reopened": True}))
        at += timedelta(hours=rng.uniform(0.5, 8) * scale)
        events.append((at, "responded", {"by": "agent", "message_id": None}))
        measure, _ = _measure(policy, ticket, ClockName.RESOLUTION, at, waits + [(solved_at, at - (at - solved_at) / 2)])
        events.append((at, "resolved", {"by": "agent", "resolution": "fixed again", **measure}))
    if rng.random() < 0.4:
        events.append((at + timedelta(hours=rng.uniform(1, 40)), "csat", {"score": rng.choice("12345") if rng.random() < 0.7 else rng.choice(["good", "bad"]), "comment": None}))
    if severity == "sev1":  # the default policy's post-incident severities: a review within 72h, an RCA within 7 business days
        review_due, rca_due = at + timedelta(hours=72), at + timedelta(days=9)
        events.append((at, "post_incident_due", {"item": "review", "due": review_due.isoformat()}))
        events.append((at, "post_incident_due", {"item": "rca", "due": rca_due.isoformat()}))
        review = at + timedelta(hours=rng.uniform(20, 90))
        events.append((review, "review_recorded", {"by": "grace", "held_on": review.date().isoformat(), "attendees": "grace, bob"}))
        if rng.random() < 0.8:
            events.append((review + timedelta(days=rng.uniform(1, 9)), "rca_recorded", {"by": "grace", "link": "https://wiki.example.com/rca"}))
    events.sort(key=lambda e: e[0])
    return ticket, "closed", events


def write_month(url: str, tickets: int, month: str = "2026-10", seed: int = 7, progress: bool = True) -> None:
    upgrade(url)
    year, mon = (int(p) for p in month.split("-"))
    start = datetime(year, mon, 1, tzinfo=UTC)
    end = datetime(year + (mon == 12), mon % 12 + 1, 1, tzinfo=UTC)
    text = DEFAULT_POLICY.read_text()
    policy = parse_policy(text, str(DEFAULT_POLICY))
    snapshot = take_snapshot(policy, str(DEFAULT_POLICY), digest(text), start)
    rng = random.Random(seed)
    store = TicketStore(url)
    store.keep_snapshot(snapshot)  # as the opening activity keeps it
    began = time.monotonic()
    try:
        batches = []
        for n in range(1, tickets + 1):
            ticket, status, events = ticket_events(rng, n, start, end, policy)
            batches.append(EventBatch(ticket=ticket, status=status, severity=ticket.severity, plan=ticket.plan, policy_snapshot=snapshot.key, events=[
                TicketEvent(event_id=f"{ticket.ticket_id}/{seq}", seq=seq, at=at, recorded_at=at, kind=kind, detail=detail)
                for seq, (at, kind, detail) in enumerate(events, start=1)]))
            if len(batches) == 500 or n == tickets:
                store.record_batches(batches)
                batches = []
                if progress:
                    print(f"\rwrote {n}/{tickets} tickets", end="", file=sys.stderr, flush=True)
    finally:
        store.close()
    if progress:
        print(f"\rwrote {tickets} tickets in {time.monotonic() - began:.1f} s", file=sys.stderr)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--database-url", required=True)
    p.add_argument("--tickets", type=int, default=10_000)
    p.add_argument("--month", default="2026-10", help="YYYY-MM")
    p.add_argument("--seed", type=int, default=7)
    args = p.parse_args()
    write_month(args.database_url, args.tickets, args.month, args.seed)


if __name__ == "__main__":
    main()
