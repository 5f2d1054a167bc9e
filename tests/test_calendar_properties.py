"""Properties of business-time arithmetic, over random instants, amounts and pauses."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from sla.calendar import BusinessCalendar

CALENDARS = [
    BusinessCalendar(timezone="Europe/Berlin", hours={d: ["08:00-18:00"] for d in ("mon", "tue", "wed", "thu", "fri")},
                     holidays=[date(2026, 12, 25), date(2026, 12, 26), date(2027, 1, 1), date(2027, 3, 26), date(2027, 3, 29)]),
    BusinessCalendar(timezone="America/New_York", hours={"mon": ["09:00-12:00", "13:00-17:30"], "wed": ["07:00-19:00"], "sat": ["10:00-14:00"]}),
    BusinessCalendar(timezone="Australia/Lord_Howe", hours={d: ["00:00-02:30", "22:00-24:00"] for d in ("mon", "tue", "wed", "thu", "fri", "sun")}),
]

calendars = st.sampled_from(CALENDARS)
instants = st.datetimes(min_value=datetime(2026, 1, 1), max_value=datetime(2027, 12, 31), timezones=st.just(UTC))
amounts = st.integers(min_value=1, max_value=400 * 3600)
zones = st.sampled_from(["UTC", "Asia/Tokyo", "America/Los_Angeles", "Europe/Berlin", "Asia/Kathmandu"])


def is_open_or_closing(cal: BusinessCalendar, instant: datetime) -> bool:
    """True when `instant` lies in an open interval, its end included (a deadline at closing time)."""
    for a, b in cal.open_intervals(instant - timedelta(days=2)):
        if a > instant:
            return False
        if a < instant <= b:
            return True
    return False


@settings(max_examples=150, deadline=None)
@given(calendars, instants, amounts)
def test_deadlines_never_fall_inside_closed_time(cal: BusinessCalendar, start: datetime, amount: int) -> None:
    (due,) = cal.advance(start, [amount])
    assert is_open_or_closing(cal, due)


@settings(max_examples=150, deadline=None)
@given(calendars, instants, amounts, amounts)
def test_adding_durations_composes(cal: BusinessCalendar, start: datetime, a: int, b: int) -> None:
    (first,) = cal.advance(start, [a])
    assert cal.advance(first, [b]) == cal.advance(start, [a + b])


@settings(max_examples=150, deadline=None)
@given(calendars, instants, amounts)
def test_elapsed_inverts_advance(cal: BusinessCalendar, start: datetime, amount: int) -> None:
    (due,) = cal.advance(start, [amount])
    assert cal.elapsed(start, due) == amount


@settings(max_examples=150, deadline=None)
@given(calendars, instants, amounts, st.integers(min_value=0, max_value=30 * 24 * 3600), st.integers(min_value=1, max_value=5 * 24 * 3600))
def test_a_pause_of_zero_business_time_changes_nothing(cal: BusinessCalendar, start: datetime, amount: int, offset: int, length: int) -> None:
    pause_start = start + timedelta(seconds=offset)
    pause_end = pause_start + timedelta(seconds=length)
    if cal.elapsed(pause_start, pause_end) == 0:
        assert cal.advance(start, [amount], [(pause_start, pause_end)]) == cal.advance(start, [amount])
    else:
        # A pause with open time in it can only push the deadline later.
        assert cal.advance(start, [amount], [(pause_start, pause_end)])[0] >= cal.advance(start, [amount])[0]


@settings(max_examples=100, deadline=None)
@given(calendars, instants, amounts, zones)
def test_equivalent_instants_in_other_zones_give_the_same_deadline(cal: BusinessCalendar, start: datetime, amount: int, zone: str) -> None:
    assert cal.advance(start.astimezone(ZoneInfo(zone)), [amount]) == cal.advance(start, [amount])


@settings(max_examples=100, deadline=None)
@given(calendars, instants, st.lists(amounts, min_size=1, max_size=5))
def test_one_pass_for_many_amounts_equals_one_pass_each(cal: BusinessCalendar, start: datetime, many: list[int]) -> None:
    many = sorted(many)
    assert cal.advance(start, many) == [cal.advance(start, [a])[0] for a in many]
