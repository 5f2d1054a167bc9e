"""Business calendars: when the clock of a business-time target runs.

All arithmetic is done on UTC instants; local opening hours are turned into UTC instants one
day at a time, which makes DST changes exact and never steps minute by minute.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator, Sequence
from datetime import UTC, date, datetime, timedelta
from functools import cached_property
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
ALWAYS_OPEN = "24x7"
# Far enough for any ticket, near enough to stay a valid datetime after arithmetic.
FAR_FUTURE = datetime(9000, 1, 1, tzinfo=UTC)
# A calendar whose open time ends (all later days closed) is refused rather than looped on.
_MAX_DAYS = 3660
_RANGE = re.compile(r"^(\d{2}):(\d{2})-(\d{2}):(\d{2})$")

Span = tuple[datetime, datetime | None]
"""A half-open span of instants; an open end (None) runs for ever, e.g. a pause still on."""


def _minutes(hours: str, minutes: str) -> int:
    return int(hours) * 60 + int(minutes)


def parse_range(text: str) -> tuple[int, int]:
    """"08:00-18:00" -> minutes after local midnight (start, end); "24:00" ends a day."""
    match = _RANGE.match(text.strip())
    if not match:
        raise ValueError(f"{text!r} is not an opening range like '08:00-18:00'")
    start, end = _minutes(*match.group(1, 2)), _minutes(*match.group(3, 4))
    if int(match.group(2)) > 59 or int(match.group(4)) > 59 or start >= end or end > 24 * 60:
        raise ValueError(f"{text!r}: a range opens before it closes, within 00:00-24:00")
    return start, end


class BusinessCalendar(BaseModel):
    """An IANA time zone, weekly opening hours and explicit holiday dates (or always open)."""

    model_config = ConfigDict(frozen=True)

    timezone: str = "UTC"
    always_open: bool = False
    hours: dict[str, list[str]] = Field(default_factory=dict)
    holidays: list[date] = Field(default_factory=list)
    # Country/subdivision holidays are resolved into `holidays` when a snapshot is taken.
    holiday_country: str | None = None
    holiday_subdivision: str | None = None
    business_day: str | None = Field(
        default=None,
        description="Open time of one business day ('10h'); by default the most common daily open time.",
    )

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown IANA time zone {value!r} (e.g. 'Europe/Berlin')") from None
        return value

    @field_validator("hours")
    @classmethod
    def _valid_hours(cls, value: dict[str, list[str]]) -> dict[str, list[str]]:
        for day, ranges in value.items():
            if day not in WEEKDAYS:
                raise ValueError(f"unknown weekday {day!r}: use {', '.join(WEEKDAYS)}")
            parsed = sorted(parse_range(r) for r in ranges)
            for (_, end), (start, _) in zip(parsed, parsed[1:]):
                if start < end:
                    raise ValueError(f"{day}: opening ranges overlap")
        return value

    @model_validator(mode="after")
    def _known_country(self) -> "BusinessCalendar":
        if self.holiday_country is not None:
            import holidays

            supported = holidays.list_supported_countries()
            if self.holiday_country not in supported:
                raise ValueError(f"holiday_country: {self.holiday_country!r} is not an ISO country code the holidays package knows")
            subdivisions = supported[self.holiday_country]
            if self.holiday_subdivision is not None and self.holiday_subdivision not in subdivisions:
                raise ValueError(
                    f"holiday_subdivision: {self.holiday_subdivision!r} is not a subdivision of {self.holiday_country}"
                )
        return self

    @model_validator(mode="after")
    def _has_open_time(self) -> "BusinessCalendar":
        if not self.always_open and not any(self.hours.values()):
            raise ValueError("a calendar needs opening hours, or always_open = true")
        if self.business_day is not None:
            from sla.durations import Duration

            d = Duration.parse(self.business_day)
            if d.business or d.unit not in ("hours", "minutes") or d.seconds(0) > 86400:
                raise ValueError("business_day is a wall-clock length of at most 24h, like '10h'")
        return self

    @cached_property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @cached_property
    def _week(self) -> tuple[tuple[tuple[int, int], ...], ...]:
        return tuple(
            tuple(sorted(parse_range(r) for r in self.hours.get(day, []))) for day in WEEKDAYS
        )

    @cached_property
    def _holiday_set(self) -> frozenset[date]:
        return frozenset(self.holidays)

    @cached_property
    def business_day_seconds(self) -> int:
        """Open time of one business day: what "1 business day" means on this calendar."""
        if self.always_open:
            return 86400
        if self.business_day is not None:
            from sla.durations import Duration

            return Duration.parse(self.business_day).seconds(0)
        daily = Counter(sum(e - s for s, e in day) * 60 for day in self._week if day)
        # The most common daily open time; on a tie, the longer one.
        return max(daily.items(), key=lambda item: (item[1], item[0]))[0]

    def is_holiday(self, day: date) -> bool:
        return day in self._holiday_set

    def _at(self, day: date, minute: int) -> datetime:
        if minute == 24 * 60:
            day, minute = day + timedelta(days=1), 0
        local = datetime(day.year, day.month, day.day, minute // 60, minute % 60, tzinfo=self.zone)
        return local.astimezone(UTC)

    @cached_property
    def _days(self) -> dict[date, tuple[tuple[datetime, datetime], ...]]:
        return {}

    def _open_on(self, day: date) -> tuple[tuple[datetime, datetime], ...]:
        """A day's open ranges as UTC instants, remembered: a worker re-plans the same days often."""
        found = self._days.get(day)
        if found is None:
            if len(self._days) > 20000:
                self._days.clear()
            ranges = () if day in self._holiday_set else self._week[day.weekday()]
            found = self._days[day] = tuple((self._at(day, s), self._at(day, e)) for s, e in ranges)
        return found

    def close_of(self, day: date) -> datetime | None:
        """When the business day `day` (in the calendar's zone) ends; None if it is not one."""
        if self.always_open:
            return self._at(day, 24 * 60)
        ranges = self._open_on(day)
        return ranges[-1][1] if ranges else None

    def open_intervals(self, start: datetime) -> Iterator[tuple[datetime, datetime]]:
        """The open intervals from `start` on, in order, as UTC instants, the first clipped to start."""
        start = start.astimezone(UTC)
        if self.always_open:
            yield start, FAR_FUTURE
            return
        day = start.astimezone(self.zone).date() - timedelta(days=1)  # a range may span midnight UTC
        for _ in range(_MAX_DAYS):
            for a, b in self._open_on(day):
                if b > start:
                    yield max(a, start), b
            day += timedelta(days=1)
        raise ValueError(f"calendar ({self.timezone}) has no open time in {_MAX_DAYS} days after {start}")

    def _running(self, start: datetime, excluded: Sequence[Span]) -> Iterator[tuple[datetime, datetime]]:
        """Open intervals minus the excluded spans; they end where an open-ended span begins."""
        spans = sorted(
            ((a.astimezone(UTC), b.astimezone(UTC) if b else None) for a, b in excluded), key=lambda s: s[0]
        )
        for a, b in self.open_intervals(start):
            for pause_start, pause_end in spans:
                if pause_end is not None and pause_end <= a:
                    continue
                if pause_start >= b:
                    break
                if pause_start > a:
                    yield a, pause_start
                if pause_end is None:
                    return
                a = max(a, pause_end)
                if a >= b:
                    break
            if a < b:
                yield a, b

    def advance(self, start: datetime, amounts: Sequence[int], excluded: Sequence[Span] = ()) -> list[datetime | None]:
        """The instants at which each amount (seconds of open time, ascending) has run from `start`.

        Excluded spans (pauses) do not count. An amount reached only after an open-ended
        pause gives None: the clock is stopped and has no deadline yet. A deadline is the
        instant the time has run, so it may fall exactly at closing time.
        """
        results: list[datetime | None] = []
        pending = list(amounts)
        used = 0
        intervals = self._running(start, excluded)
        while pending:
            interval = next(intervals, None)
            if interval is None:
                return results + [None] * len(pending)
            a, b = interval
            length = int((b - a).total_seconds())
            while pending and pending[0] - used <= length:
                results.append(a + timedelta(seconds=pending.pop(0) - used))
            used += length
        return results

    def elapsed(self, start: datetime, end: datetime, excluded: Sequence[Span] = ()) -> int:
        """Seconds of open time between two instants, less the excluded spans."""
        end = end.astimezone(UTC)
        total = 0.0
        for a, b in self._running(start, excluded):
            if a >= end:
                break
            total += (min(b, end) - a).total_seconds()
        return int(total)


ALWAYS = BusinessCalendar(timezone="UTC", always_open=True)
