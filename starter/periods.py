"""Dates and instants as commands that read the store take them (`--from`, `--to`, `--as-of`)."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta


def parse_instant(text: str, name: str, end_of_day: bool = False) -> datetime:
    """A UTC instant from 'YYYY-MM-DD' (midnight UTC; with `end_of_day`, the midnight after it, so
    a `--to` date is inclusive) or an ISO 8601 instant with an offset. ValueError naming the option."""
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
        try:
            day = date.fromisoformat(text)
        except ValueError as exc:
            raise ValueError(f"{name}: {text!r} is not a date ({exc})") from None
        start = datetime.combine(day, time(0), tzinfo=UTC)
        try:
            return start + timedelta(days=1) if end_of_day else start
        except OverflowError:
            raise ValueError(f"{name}: {text!r} is past the last date this can count to (9999-12-30)") from None
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"{name}: {text!r} is not a date (YYYY-MM-DD) or an ISO 8601 instant") from None
    if value.tzinfo is None:
        raise ValueError(f"{name}: {text!r} has no UTC offset (e.g. 2026-11-01T00:00:00+01:00)")
    try:
        return value.astimezone(UTC)  # the store compares instants in UTC (SQLite keeps them as UTC text)
    except OverflowError:
        raise ValueError(f"{name}: {text!r} is out of range") from None

