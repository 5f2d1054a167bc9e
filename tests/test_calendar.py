"""Hand-checked business-time cases; instants are written in local time to be read easily."""

from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest
from pydantic import ValidationError

from sla.calendar import ALWAYS, BusinessCalendar

BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")
WEEKDAYS = {d: ["08:00-18:00"] for d in ("mon", "tue", "wed", "thu", "fri")}
HOUR = 3600


def berlin(*args: int) -> datetime:
    return datetime(*args, tzinfo=BERLIN)


def cal(tz: str = "Europe/Berlin", **kw) -> BusinessCalendar:
    return BusinessCalendar(timezone=tz, hours=kw.pop("hours", WEEKDAYS), **kw)


@pytest.mark.parametrize(
    ("start", "amount", "expected"),
    [
        # inside hours, same day
        (berlin(2026, 11, 23, 9, 0), 4 * HOUR, berlin(2026, 11, 23, 13, 0)),
        # ends exactly at closing time: 18:00 stays 18:00
        (berlin(2026, 11, 23, 14, 0), 4 * HOUR, berlin(2026, 11, 23, 18, 0)),
        # opened Friday 17:55: 5 minutes on Friday, the rest on Monday
        (berlin(2026, 11, 20, 17, 55), 4 * HOUR, berlin(2026, 11, 23, 11, 55)),
        # opened on Saturday: the clock starts Monday 08:00
        (berlin(2026, 11, 21, 12, 0), 2 * HOUR, berlin(2026, 11, 23, 10, 0)),
        # opened before hours
        (berlin(2026, 11, 23, 6, 0), 1 * HOUR, berlin(2026, 11, 23, 9, 0)),
        # 3 business days = 30 business hours
        (berlin(2026, 11, 23, 8, 0), 30 * HOUR, berlin(2026, 11, 25, 18, 0)),
    ],
)
def test_advance(start: datetime, amount: int, expected: datetime) -> None:
    assert cal().advance(start, [amount]) == [expected]


def test_holidays_are_skipped() -> None:
    c = cal(holidays=[date(2026, 12, 25), date(2026, 12, 26), date(2027, 1, 1)])
    # Thursday 24 Dec 16:30 + 4h: 1.5h on Thursday, Friday 25th a holiday, weekend, Monday 28th.
    assert c.advance(berlin(2026, 12, 24, 16, 30), [4 * HOUR]) == [berlin(2026, 12, 28, 10, 30)]


@pytest.mark.parametrize(
    ("zone", "start_local", "expected_local"),
    [
        # Europe/Berlin springs forward on Sunday 29 March 2026, falls back on 25 October 2026.
        ("Europe/Berlin", (2026, 3, 27, 16, 0), (2026, 3, 30, 10, 0)),
        ("Europe/Berlin", (2026, 10, 23, 16, 0), (2026, 10, 26, 10, 0)),
        # America/New_York: 8 March and 1 November 2026.
        ("America/New_York", (2026, 3, 6, 16, 0), (2026, 3, 9, 10, 0)),
        ("America/New_York", (2026, 10, 30, 16, 0), (2026, 11, 2, 10, 0)),
    ],
)
def test_business_hours_across_dst_weekends(zone: str, start_local: tuple, expected_local: tuple) -> None:
    tz = ZoneInfo(zone)
    (due,) = cal(zone).advance(datetime(*start_local, tzinfo=tz), [4 * HOUR])
    assert due == datetime(*expected_local, tzinfo=tz)


def test_wall_clock_is_elapsed_time_across_dst() -> None:
    # 01:00 CET + 2h elapsed on the spring-forward night is 04:00 CEST, not 03:00.
    (due,) = ALWAYS.advance(berlin(2026, 3, 29, 1, 0), [2 * HOUR])
    assert due == berlin(2026, 3, 29, 4, 0)
    assert due.astimezone(BERLIN).hour == 4
    assert (due.timestamp() - berlin(2026, 3, 29, 1, 0).timestamp()) == 2 * HOUR


def test_pause_over_a_weekend_moves_by_paused_business_time() -> None:
    c = cal()
    start = berlin(2026, 11, 20, 9, 0)  # Friday
    (unpaused,) = c.advance(start, [10 * HOUR])
    assert unpaused == berlin(2026, 11, 23, 9, 0)
    # Paused Friday 17:00 until Monday 10:00: 1h Friday + 2h Monday of business time.
    (paused,) = c.advance(start, [10 * HOUR], [(berlin(2026, 11, 20, 17, 0), berlin(2026, 11, 23, 10, 0))])
    assert paused == berlin(2026, 11, 23, 12, 0)


def test_open_pause_leaves_no_deadline() -> None:
    start = berlin(2026, 11, 23, 9, 0)
    assert cal().advance(start, [HOUR, 5 * HOUR], [(berlin(2026, 11, 23, 11, 0), None)]) == [berlin(2026, 11, 23, 10, 0), None]


def test_elapsed_counts_open_time_only() -> None:
    c = cal()
    assert c.elapsed(berlin(2026, 11, 20, 17, 0), berlin(2026, 11, 23, 9, 30)) == int(2.5 * HOUR)  # 1h Friday + 1.5h Monday


def test_several_ranges_a_day() -> None:
    c = cal(hours={"mon": ["09:00-12:00", "13:00-17:00"]})
    assert c.business_day_seconds == 7 * HOUR
    assert c.advance(berlin(2026, 11, 23, 11, 0), [2 * HOUR]) == [berlin(2026, 11, 23, 14, 0)]


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"timezone": "Mars/Olympus"}, "unknown IANA time zone"),
        ({"hours": {"mon": ["18:00-08:00"]}}, "opens before it closes"),
        ({"hours": {"mon": ["08:00-12:00", "11:00-13:00"]}}, "overlap"),
        ({"hours": {"monday": ["08:00-12:00"]}}, "unknown weekday"),
        ({"hours": {}}, "needs opening hours"),
        ({"holiday_country": "XX"}, "holiday_country"),
    ],
)
def test_bad_calendars_say_why(fields: dict, reason: str) -> None:
    base = {"timezone": "Europe/Berlin", "hours": WEEKDAYS}
    with pytest.raises(ValidationError, match=reason):
        BusinessCalendar(**{**base, **fields})
