"""Every duration in the policy means what it says: counted in business time where the rule does
so, refused (naming the field) where it cannot be, and no duration field left unclassified."""

from __future__ import annotations

import copy
import tomllib
import typing
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from pydantic import BaseModel, ValidationError

from policies import DEFAULT_POLICY
from sla import lifecycle
from sla.durations import Duration
from sla.planner import escalation_obligations
from sla.policy import Policy, parse_policy, take_snapshot
from sla.ticket import TicketOpened, TicketState

# Counted as business time on the calendar that applies (a target's own, else the default one).
BUSINESS_AWARE = {
    "severities.*.targets.*.within", "plans.*.targets.*.within", "categories.*.targets.*.within",
    "tiers.*.respond_within.*", "escalation.*.*.after", "escalation.*.*.repeat_every",
    "post_incident.review_within", "post_incident.rca_within",
}
# Elapsed time by nature (a lead before a deadline, the beat, lifecycle timers, delivery windows):
# a business duration there is refused.
WALL_CLOCK_ONLY = {
    "escalation.*.*.ack_timeout": ("escalation", "sev1", 3, "ack_timeout"),
    "status_updates.escalate_after": ("status_updates", "escalate_after"),
    "post_incident.remind_before.*": ("post_incident", "remind_before", 0),
    "lifecycle.follow_up_every": ("lifecycle", "follow_up_every"),
    "lifecycle.auto_solve_after": ("lifecycle", "auto_solve_after"),
    "lifecycle.close_after_solved": ("lifecycle", "close_after_solved"),
    "lifecycle.max_backdate": ("lifecycle", "max_backdate"),
    "notifications.fallback_after": ("notifications", "fallback_after"),
    "notifications.give_up_after": ("notifications", "give_up_after"),
    "support_hours.minimum": ("support_hours", "minimum"),
    "goals.first_response_median.*": ("goals", "first_response_median", "sev1"),
    "goals.time_to_resolve_mean.*": ("goals", "time_to_resolve_mean", "sev1"),
}


def duration_fields(model: type[BaseModel], prefix: str = "") -> set[str]:
    """Every path in the policy model that holds a Duration ('*' for a dict key or list index)."""
    found = set()
    for name, field in model.model_fields.items():
        path = f"{prefix}{name}"
        annotation = field.annotation
        while True:
            origin, args = typing.get_origin(annotation), typing.get_args(annotation)
            if origin in (list, dict):
                path += ".*"
                annotation = args[-1]
            elif origin in (typing.Union, getattr(__import__("types"), "UnionType", None)):
                annotation = next(a for a in args if a is not type(None))
            elif origin is typing.Annotated:
                annotation = args[0]
            else:
                break
        if isinstance(annotation, type) and issubclass(annotation, Duration):
            found.add(path)
        elif isinstance(annotation, type) and issubclass(annotation, BaseModel):
            found |= duration_fields(annotation, path + ".")
    return found


def test_every_duration_field_is_counted_in_business_time_or_refused_as_such() -> None:
    # A duration field added later fails here until it is handled one way or the other.
    assert duration_fields(Policy) == BUSINESS_AWARE | set(WALL_CLOCK_ONLY)


@pytest.mark.parametrize("path", sorted(WALL_CLOCK_ONLY))
def test_a_business_duration_where_only_elapsed_time_makes_sense_is_refused_naming_the_field(path: str) -> None:
    data = tomllib.loads(DEFAULT_POLICY.read_text())
    *parents, last = WALL_CLOCK_ONLY[path]
    node = data
    for key in parents:
        node = node.setdefault(key, {}) if isinstance(node, dict) else node[key]
    if isinstance(node, list):
        node[last] = "2 business hours"
    else:
        node[last] = "2 business hours"
    with pytest.raises(ValidationError) as refused:
        Policy.model_validate(copy.deepcopy(data))
    field = path.split(".")[-1] if not path.endswith("*") else path.split(".")[-2]
    assert field in str(refused.value) and "wall-clock" in str(refused.value)


def test_a_repeat_in_business_hours_skips_the_closed_hours() -> None:
    """Mon-Fri 09:00-17:00; a Sev-2 step 2 business hours after open, repeated every 3 business
    hours, twice; opened Thursday 15:00. Thu 15:00 + 2h = Thu 17:00 (closing time counts); + 3h:
    Thu 17:00 is closed, so Fri 09:00 + 3h = Fri 12:00; + 3h = Fri 15:00."""
    text = DEFAULT_POLICY.read_text().replace(
        'hours = { mon = ["08:00-18:00"], tue = ["08:00-18:00"], wed = ["08:00-18:00"], thu = ["08:00-18:00"], fri = ["08:00-18:00"] }',
        'hours = { mon = ["09:00-17:00"], tue = ["09:00-17:00"], wed = ["09:00-17:00"], thu = ["09:00-17:00"], fri = ["09:00-17:00"] }',
    ) + '''
[[escalation.sev2]]
id = "business_repeat"
label = "team lead reminded"
after = "2 business hours"
roles = ["support_manager"]
repeat_every = "3 business hours"
repeat_limit = 2
'''
    policy = take_snapshot(parse_policy(text, "t.toml"), "t.toml", "-", datetime(2026, 1, 1, tzinfo=ZoneInfo("UTC"))).policy
    berlin = ZoneInfo("Europe/Berlin")
    state = TicketState.opened(TicketOpened(ticket_id="T-1", customer="A", title="t", severity="sev2",
                                            opened_at=datetime(2026, 12, 3, 15, 0, tzinfo=berlin)))  # a Thursday
    firings = []
    for _ in range(5):
        steps = escalation_obligations(policy, state)
        if not steps:
            break
        firings.append(steps[0].due.astimezone(berlin))
        lifecycle.record_escalation(state, "business_repeat", steps[0].due)
    assert firings == [datetime(2026, 12, 3, 17, 0, tzinfo=berlin), datetime(2026, 12, 4, 12, 0, tzinfo=berlin),
                       datetime(2026, 12, 4, 15, 0, tzinfo=berlin)]


def test_a_repeat_of_one_business_day_is_a_business_day_not_zero() -> None:
    text = DEFAULT_POLICY.read_text() + '''
[[escalation.sev3]]
id = "daily"
label = "daily nudge"
after = "1h"
roles = ["support_manager"]
repeat_every = "1 business day"
repeat_limit = 1
'''
    policy = take_snapshot(parse_policy(text, "t.toml"), "t.toml", "-", datetime(2026, 1, 1, tzinfo=ZoneInfo("UTC"))).policy
    berlin = ZoneInfo("Europe/Berlin")
    state = TicketState.opened(TicketOpened(ticket_id="T-1", customer="A", title="t", severity="sev3",
                                            opened_at=datetime(2026, 12, 2, 10, 0, tzinfo=berlin)))  # a Wednesday
    first = escalation_obligations(policy, state)[0].due
    lifecycle.record_escalation(state, "daily", first)
    repeat = escalation_obligations(policy, state)[0].due
    # 11:00 Wednesday + one business day (10 open hours, 08:00-18:00) = 11:00 Thursday.
    assert repeat.astimezone(berlin) == datetime(2026, 12, 3, 11, 0, tzinfo=berlin)
