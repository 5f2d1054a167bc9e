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


@pytest.mark.parametrize(
    ("zone", "day", "open_seconds"),
    [
        ("Europe/Berlin", date(2026, 3, 29), 23 * HOUR),  # spring forward: the day has 23 hours
        ("Europe/Berlin", date(2026, 10, 25), 25 * HOUR),  # fall back: 25 hours
        ("America/New_York", date(2026, 3, 8), 23 * HOUR),
        ("America/New_York", date(2026, 11, 1), 25 * HOUR),
    ],
)
def test_open_time_on_dst_days_is_real_elapsed_time(zone: str, day: date, open_seconds: int) -> None:
    tz = ZoneInfo(zone)
    c = cal(zone, hours={"sun": ["00:00-24:00"]})
    start = datetime(day.year, day.month, day.day, tzinfo=tz)
    end = datetime(day.year, day.month, day.day + 1, tzinfo=tz)
    assert c.elapsed(start, end) == open_seconds
    # 5 open hours from midnight end at 06:00 local on spring-forward day (02:00-03:00 does not exist).
    if open_seconds == 23 * HOUR:
        assert c.advance(start, [5 * HOUR]) == [datetime(day.year, day.month, day.day, 6, 0, tzinfo=tz)]
    else:
        assert c.advance(start, [5 * HOUR]) == [datetime(day.year, day.month, day.day, 4, 0, tzinfo=tz)]


def test_new_year_holiday_and_eve_of_a_long_weekend() -> None:
    c = cal(holidays=[date(2026, 12, 25), date(2026, 12, 26), date(2027, 1, 1)])
    # Thursday 31 Dec 17:00 + 2h: 1h on the 31st, 1 Jan a holiday, weekend, Monday 4 Jan 09:00.
    assert c.advance(berlin(2026, 12, 31, 17, 0), [2 * HOUR]) == [berlin(2027, 1, 4, 9, 0)]
    # Opened on the holiday itself: the clock starts on the next working day.
    assert c.advance(berlin(2027, 1, 1, 10, 0), [HOUR]) == [berlin(2027, 1, 4, 9, 0)]
