from pathlib import Path

import pytest

from policies import DEFAULT_POLICY
from sla.policy import PolicyError, parse_policy, take_snapshot
from sla.severity import Severity
from sla.ticket import ClockName

TEXT = DEFAULT_POLICY.read_text()


def test_default_policy_loads_with_the_documented_figures() -> None:
    p = parse_policy(TEXT, "default.toml")
    sev1 = p.severities[Severity.SEV1].targets
    assert str(sev1[ClockName.FIRST_RESPONSE].within) == "2 hours"
    assert sev1[ClockName.FIRST_RESPONSE].calendar == "24x7"
    assert str(p.severities[Severity.SEV2].targets[ClockName.RESOLUTION].within) == "3 business days"
    assert p.calendar("business").business_day_seconds == 10 * 3600
    assert p.warnings_for(ClockName.FIRST_RESPONSE) == [75]
    assert p.aliases["critical"] is Severity.SEV1


def test_snapshot_resolves_country_holidays_into_dates() -> None:
    from datetime import UTC, date, datetime

    p = parse_policy(TEXT, "default.toml")
    snap = take_snapshot(p, "default.toml", "d", datetime(2026, 11, 22, tzinfo=UTC))
    cal = snap.policy.calendars["business"]
    assert cal.holiday_country is None
    assert date(2026, 12, 25) in cal.holidays and date(2028, 10, 3) in cal.holidays
    assert snap.holiday_years == (2026, 2028)


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ('within = "4 business hours" }', 'within = "4 bizness hours" }', "default.toml: severities.sev2.targets.first_response.within: '4 bizness hours' is not a duration"),
        ('timezone = "Europe/Berlin"', 'timezone = "Europe/Berln"', "default.toml: calendars.business.timezone: unknown IANA time zone 'Europe/Berln'"),
        ('[severities.sev4]', '[severities.sev5]', "default.toml: severities.sev5"),
        ('calendar = "24x7" }', 'calendar = "weekdays" }', "no calendar named 'weekdays'"),
        ('warn_at = [75]', 'warn_at = [175]', "default.toml: warn_at.0: Input should be less than or equal to 99"),
        ('name = "default"', 'name = "default"\ncolour = "blue"', "default.toml: colour: Extra inputs are not permitted"),
        ('aliases = ["low"]', 'aliases = ["critical"]', "'critical' already names sev1"),
        ('version = "2026-11-22"', 'version = ', "default.toml: not valid TOML"),
    ],
)
def test_bad_policy_names_file_field_and_reason(old: str, new: str, message: str) -> None:
    assert old in TEXT
    with pytest.raises(PolicyError) as info:
        parse_policy(TEXT.replace(old, new, 1), "default.toml")
    assert message in str(info.value)


def test_shipped_policy_file_is_inside_the_package() -> None:
    assert Path(str(DEFAULT_POLICY)).name == "default.toml"
