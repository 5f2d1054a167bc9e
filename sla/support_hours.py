"""The support-hours ledger's rules: what a solved conversation deducts, and in which contract year.

Source: seeds/002: each plan includes annual support hours; "opening of conversation: a
minimum of 15 minutes will be deducted"; "incidents are not counted as support hours" (classed
Critical, Major or Minor). The policy's `[support_hours]` holds the figures (docs/policy.md).

A conversation is a ticket (a follow-up ticket is a conversation of its own). It deducts once,
when solved: `max(minimum, logged)` minutes. Reopened and solved again, it deducts what was
logged since the last deduction (the minimum was charged already). An incident deducts nothing.
Pure: no I/O, no clock; the workflow calls it and the store keeps the entries.
"""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

from pydantic import BaseModel

from sla.policy import Policy
from sla.ticket import TicketState


class Deduction(BaseModel):
    """One ledger entry: `minutes` charged for `logged_minutes` logged since the last entry."""

    minutes: int
    logged_minutes: int
    contract_year: int
    contracted_minutes: int
    plan: str | None


def keeps_ledger(policy: Policy) -> bool:
    """A policy keeps a ledger when its `[support_hours]` gives at least one plan hours."""
    return bool(policy.support_hours.plans)


def is_incident(policy: Policy, state: TicketState) -> bool:
    """Incidents are never deducted: a ticket of an incident category, or, without a category, of
    an incident severity (its severity now, after any change)."""
    rules = policy.support_hours
    if state.ticket.category is not None:
        return state.ticket.category in rules.incident_categories
    return state.severity in rules.incident_severities


def contracted_minutes(policy: Policy, plan: str | None) -> int:
    hours = policy.support_hours.plans.get(plan or "", 0.0)
    return round(hours * 60)


def contract_year(policy: Policy, at: datetime) -> int:
    """The contract year `at` falls in, named by the calendar year it starts in (with year_starts
    12-01, 2026-11-30 is in 2025's year and 2026-12-01 in 2026's), in the default calendar's zone."""
    zone = policy.calendars[policy.default_calendar].timezone if policy.default_calendar in policy.calendars else "UTC"
    local = at.astimezone(ZoneInfo(zone)).date()
    month, day = (int(x) for x in policy.support_hours.year_starts.split("-"))
    return local.year if local >= _start(local.year, month, day) else local.year - 1


def year_span(policy: Policy, year: int) -> tuple[date, date]:
    """(first day, last day) of a contract year."""
    month, day = (int(x) for x in policy.support_hours.year_starts.split("-"))
    start, following = _start(year, month, day), _start(year + 1, month, day)
    return start, date.fromordinal(following.toordinal() - 1)


def _start(year: int, month: int, day: int) -> date:
    try:
        return date(year, month, day)
    except ValueError:  # 02-29 in a common year: the contract year starts on March 1st
        return date(year, 3, 1)


def deduction(policy: Policy, state: TicketState, at: datetime) -> Deduction | None:
    """What solving now deducts, or None (no ledger, an incident, or nothing more to charge).

    The first solve charges `max(minimum, logged)`; a later one what was logged since."""
    if not keeps_ledger(policy) or is_incident(policy, state):
        return None
    since = state.logged_minutes - state.deducted_logged_minutes
    first = state.support_hours_deductions == 0
    minimum = round(policy.support_hours.minimum.seconds(0) / 60)
    minutes = max(minimum, since) if first else since
    if minutes <= 0:
        return None
    return Deduction(minutes=minutes, logged_minutes=since, contract_year=contract_year(policy, at),
                     contracted_minutes=contracted_minutes(policy, state.plan), plan=state.plan)


def crossed(thresholds: list[int], contracted: int, used_before: int, used_after: int) -> list[int]:
    """The thresholds (percent) that `used_after` reaches and `used_before` did not; none without hours."""
    if contracted <= 0:
        return []
    return sorted(t for t in set(thresholds) if used_before * 100 < t * contracted <= used_after * 100)
