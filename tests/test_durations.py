import pytest
from pydantic import ValidationError

from sla.durations import Duration


@pytest.mark.parametrize(
    ("text", "seconds", "business"),
    [
        ("2h", 7200, False),
        ("72h", 72 * 3600, False),
        ("30m", 1800, False),
        ("30 minutes", 1800, False),
        ("3 days", 3 * 86400, False),
        ("4 business hours", 4 * 3600, True),
        ("1 business day", 36000, True),
        ("3 business days", 30 * 3600, True),  # 3 x 10h under the default calendar
        ("2 Business Days", 72000, True),
    ],
)
def test_parses_and_counts(text: str, seconds: int, business: bool) -> None:
    d = Duration.parse(text)
    assert d.business is business
    assert d.seconds(business_day_seconds=36000) == seconds


@pytest.mark.parametrize("text", ["", "2", "two hours", "2 hrs.", "0h", "-1h", "1.5h", "2 business weeks"])
def test_rejects_with_a_reason(text: str) -> None:
    with pytest.raises(ValidationError) as info:
        Duration.parse(text)
    assert "duration" in str(info.value) or "business" in str(info.value)


def test_round_trips_as_text() -> None:
    d = Duration.parse("4 business hours")
    assert d.model_dump() == "4 business hours"
    assert Duration.model_validate(d.model_dump()) == d
    assert Duration.parse("2h").short == "2h"
