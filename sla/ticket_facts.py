"""A ticket's facts for reports: what its timeline says about it, one row per ticket.

The workflow measures a clock when it is met (`clock_measure`: elapsed, business and paused
seconds, on the clock's own calendar) and adds the measure to the details of the event that met it. The store folds
each batch's new events (`fold`) into a `FactsDelta` and merges it into the ticket's row in the
same transaction, so `escalator report` adds up one row per ticket in SQL instead of reading the
timeline. Merging is by sequence number or by addition, so batches may arrive in any order, and
a batch written twice adds nothing (only new events are folded).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from pydantic import BaseModel

from sla.calendar import ALWAYS
from sla.planner import calendar_of, effective_target, pause_spans
from sla.policy import Policy
from sla.ticket import ClockName, TicketState

ESCALATION_KINDS = {  # timeline event -> escalation kind (docs/reports.md)
    "escalation": "automatic",  # a step of the escalation matrix fired (ack timeouts included)
    "handed_off": "functional",  # L1 -> L2 -> L3
    "management_escalation": "hierarchical",
    "escalation_jumped": "manual",  # an operator jumped to a step
}
COUNTED = [f"breaches_{c.value}" for c in ClockName] + [f"withdrawn_{c.value}" for c in ClockName] + \
    ["warnings", "reopens"] + [f"escalations_{k}" for k in ESCALATION_KINDS.values()]
"""The additive columns of a ticket's facts."""


def clock_measure(policy: Policy, state: TicketState, clock: ClockName, at: datetime) -> dict | None:
    """What `clock` counted from its start to `at`, as flat event details: {calendar, elapsed_s (wall
    clock), business_s (open time on the calendar of its target, pauses left out; time carried
    over a policy change included), paused_s (wall-clock time it stood paused)}. None when the
    ticket has no such clock."""
    record = state.clocks.get(clock)
    if record is None:
        return None
    target = effective_target(policy, state, record)
    calendar = calendar_of(policy, record, target) if target is not None else ALWAYS
    spans = pause_spans(record)
    basis = record.basis
    start, spent = (basis.start, basis.spent_seconds) if basis is not None else (record.started_at, 0)
    business = spent + (calendar.elapsed(start, at, spans) if at > start else 0)
    paused = 0.0
    for began, ended in spans:
        began, ended = max(began, record.started_at), min(ended or at, at)  # an open pause runs to `at`
        paused += max(0.0, (ended - began).total_seconds())
    return {"calendar": target.calendar if target is not None else "24x7",
            "elapsed_s": int((at - record.started_at).total_seconds()), "business_s": int(business), "paused_s": int(paused)}


class Measured(BaseModel):
    """A clock met at `at` (event `seq`); business_s and paused_s None when the event predates measures."""

    seq: int
    at: datetime
    elapsed_s: int
    business_s: int | None = None
    paused_s: int | None = None
    auto: bool = False  # a solve by the auto-solve rule


class ItemFact(BaseModel):
    """A post-incident item as far as the folded events tell; None fields are left as they are."""

    kind: str | None = None
    title: str | None = None
    owner: str | None = None
    due: datetime | None = None
    done_at: datetime | None = None
    waived: bool | None = None


class FactsDelta(BaseModel):
    """What a batch of new events changes in the ticket's facts."""

    first_response: Measured | None = None  # the lowest sequence wins
    resolution: Measured | None = None  # the highest sequence wins: the last solve
    csat: tuple[int, str | None] | None = None  # (seq, score); the highest wins, a reopen clears it
    counts: dict[str, int] = {}
    items: dict[str, ItemFact] = {}


def _measured(seq: int, at: datetime, opened_at: datetime, detail: dict, auto: bool = False) -> Measured:
    elapsed = detail.get("elapsed_s")
    return Measured(seq=seq, at=at, elapsed_s=int((at - opened_at).total_seconds()) if elapsed is None else elapsed,
                    business_s=detail.get("business_s"), paused_s=detail.get("paused_s"), auto=auto)


def _item_kind(item: str) -> str:
    return "action" if item.startswith("action-") else item


def fold(opened_at: datetime, events: Iterable) -> FactsDelta:
    """The facts of `events` (TicketEvent-like: seq, at, kind, detail), in any order."""
    delta = FactsDelta(counts={})
    counts = delta.counts

    def add(column: str) -> None:
        counts[column] = counts.get(column, 0) + 1

    def item(item_id: str) -> ItemFact:
        return delta.items.setdefault(item_id, ItemFact(kind=_item_kind(item_id)))

    for e in sorted(events, key=lambda e: e.seq):
        d, kind = e.detail, e.kind
        if kind == "responded" and delta.first_response is None:
            delta.first_response = _measured(e.seq, e.at, opened_at, d)
        elif kind in ("resolved", "auto_solve"):
            delta.resolution = _measured(e.seq, e.at, opened_at, d, auto=kind == "auto_solve")
        elif kind == "csat":
            delta.csat = (e.seq, str(d.get("score")))
        elif kind == "reopened" or (kind == "customer_message" and d.get("reopened")):
            add("reopens")
            delta.csat = (e.seq, None)
        elif kind == "breach" and d.get("clock"):
            add(f"breaches_{d['clock']}")
        elif kind == "withdrawn" and d.get("clock") and str(d.get("obligation", "")).endswith("/breach"):
            add(f"withdrawn_{d['clock']}")
        elif kind == "warning":
            add("warnings")
        elif kind in ESCALATION_KINDS:
            add(f"escalations_{ESCALATION_KINDS[kind]}")
        elif kind == "post_incident_due":
            item(d["item"]).due = datetime.fromisoformat(d["due"])
        elif kind == "action_added":
            fact = item(d["item"])
            fact.title, fact.owner, fact.due = d.get("title"), d.get("owner"), datetime.fromisoformat(d["due"])
        elif kind in ("review_recorded", "rca_recorded"):
            item("review" if kind == "review_recorded" else "rca").done_at = e.at
        elif kind == "action_done":
            item(d["item"]).done_at = e.at
        elif kind == "post_incident_waived":
            item(d["item"]).waived = True
    counts = {k: v for k, v in counts.items() if k in COUNTED}  # a clock this code does not know is not a column
    delta.counts = counts
    return delta
