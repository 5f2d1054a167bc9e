"""SLA durations as policy authors write them: "2h", "72h", "4 business hours", "2 business days"."""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, model_serializer, model_validator

Unit = Literal["minutes", "hours", "days", "weeks"]

_UNITS: dict[str, Unit] = {
    "m": "minutes", "min": "minutes", "mins": "minutes", "minute": "minutes", "minutes": "minutes",
    "h": "hours", "hr": "hours", "hrs": "hours", "hour": "hours", "hours": "hours",
    "d": "days", "day": "days", "days": "days",
    "w": "weeks", "week": "weeks", "weeks": "weeks",
}
_UNIT_SECONDS = {"minutes": 60, "hours": 3600, "days": 86400, "weeks": 7 * 86400}
_PATTERN = re.compile(r"^\s*(\d+)\s*(business\s+)?([a-z]+)\s*$", re.IGNORECASE)
EXAMPLES = "e.g. '2h', '30 minutes', '3 days', '4 business hours', '2 business days'"


class Duration(BaseModel):
    """A length of time, either elapsed (wall-clock) or counted in a calendar's open time.

    Wall-clock durations are elapsed seconds, unaffected by DST ("3 days" is 72 hours).
    Business durations count only open time; "N business days" is N times the calendar's
    open hours per business day.
    """

    model_config = ConfigDict(frozen=True)

    amount: int
    unit: Unit
    business: bool = False

    @model_validator(mode="before")
    @classmethod
    def _from_text(cls, value: Any) -> Any:
        if isinstance(value, str):
            return cls.parse_fields(value)
        return value

    @model_validator(mode="after")
    def _check(self) -> "Duration":
        if self.amount <= 0:
            raise ValueError(f"a duration must be longer than zero ({EXAMPLES})")
        if self.business and self.unit == "weeks":
            raise ValueError("'business weeks' is ambiguous: write the number of business days")
        return self

    @staticmethod
    def parse_fields(text: str) -> dict[str, Any]:
        match = _PATTERN.match(text)
        unit = _UNITS.get(match.group(3).lower()) if match else None
        if match is None or unit is None:
            raise ValueError(f"{text!r} is not a duration ({EXAMPLES})")
        return {"amount": int(match.group(1)), "unit": unit, "business": bool(match.group(2))}

    @classmethod
    def parse(cls, text: str) -> "Duration":
        return cls.model_validate(text)

    @model_serializer
    def _to_text(self) -> str:
        return str(self)

    def __str__(self) -> str:
        unit = self.unit[:-1] if self.amount == 1 else self.unit
        return f"{self.amount} {'business ' if self.business else ''}{unit}"

    @property
    def short(self) -> str:
        """Compact form for timer summaries: "2h", "30m", "4 business hours"."""
        if self.business:
            return str(self)
        return f"{self.amount}{self.unit[0]}" if self.unit != "weeks" else str(self)

    def seconds(self, business_day_seconds: int) -> int:
        """Seconds of the clock's own time: elapsed for wall-clock, open time for business."""
        if self.business and self.unit == "days":
            return self.amount * business_day_seconds
        return self.amount * _UNIT_SECONDS[self.unit]


class Delay(Duration):
    """A Duration that may also be zero ("0m": at once), e.g. an escalation step's `after`."""

    @model_validator(mode="after")
    def _check(self) -> "Delay":
        if self.amount < 0:
            raise ValueError(f"a delay cannot be negative ({EXAMPLES}, or '0m' for at once)")
        if self.business and self.unit == "weeks":
            raise ValueError("'business weeks' is ambiguous: write the number of business days")
        return self
