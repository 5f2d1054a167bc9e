"""The seeds' own SLAs, shipped as policies: deadlines checked by hand (the arithmetic is in the comments)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from sla.planner import effective_target
from sla.policy import parse_policy, take_snapshot
from sla.ticket import ClockName, TicketOpened, TicketState

POLICIES = Path(__file__).parent.parent / "policies"
MADRID, KOLKATA, BERLIN = ZoneInfo("Europe/Madrid"), ZoneInfo("Asia/Kolkata"), ZoneInfo("Europe/Berlin")


def due(policy_file: str, severity: str, opened: datetime, clock: ClockName = ClockName.FIRST_RESPONSE, plan: str | None = None) -> datetime:
    policy = parse_policy((POLICIES / policy_file).read_text(), policy_file)
    policy = take_snapshot(policy, policy_file, "-", opened).policy
    state = TicketState.opened(TicketOpened(ticket_id="T-1", customer="A", title="t", severity=severity, opened_at=opened, plan=plan))
    return effective_target(policy, state, state.clocks[clock]).due


@pytest.mark.parametrize(("severity", "opened", "clock", "expected"), [
    # Sev-1, 2h elapsed: Friday 22:00 + 2h = Saturday 00:00 (the weekend does not matter).
    ("sev1", datetime(2026, 11, 27, 22, 0, tzinfo=BERLIN), ClockName.FIRST_RESPONSE, datetime(2026, 11, 28, 0, 0, tzinfo=BERLIN)),
    # Sev-2, 4h elapsed: Friday 22:00 + 4h = Saturday 02:00.
    ("sev2", datetime(2026, 11, 27, 22, 0, tzinfo=BERLIN), ClockName.FIRST_RESPONSE, datetime(2026, 11, 28, 2, 0, tzinfo=BERLIN)),
    # Sev-3, 24h elapsed, across Christmas: Thursday 24 Dec 10:00 + 24h = Friday 25 Dec 10:00.
    ("sev3", datetime(2026, 12, 24, 10, 0, tzinfo=BERLIN), ClockName.FIRST_RESPONSE, datetime(2026, 12, 25, 10, 0, tzinfo=BERLIN)),
    # Sev-2 resolution, 72h: Friday 22:00 + 72h = Monday 22:00.
    ("sev2", datetime(2026, 11, 27, 22, 0, tzinfo=BERLIN), ClockName.RESOLUTION, datetime(2026, 11, 30, 22, 0, tzinfo=BERLIN)),
    # Sev-1 resolution, 8h elapsed across the end of DST (25 Oct, 03:00 CEST -> 02:00 CET):
    # Saturday 23:00 CEST = 21:00Z, + 8h = 05:00Z = Sunday 06:00 CET (the wall clock moves 7h).
    ("sev1", datetime(2026, 10, 24, 23, 0, tzinfo=BERLIN), ClockName.RESOLUTION, datetime(2026, 10, 25, 6, 0, tzinfo=BERLIN)),
])
def test_palco_connect_seed_000(severity: str, opened: datetime, clock: ClockName, expected: datetime) -> None:
    assert due("palco_connect.toml", severity, opened, clock) == expected


@pytest.mark.parametrize(("plan", "opened", "expected"), [
    # Enterprise, 2 business hours, 08:00-18:00 Madrid: Friday 17:00-18:00 is 1h; the weekend is
    # closed; Monday 08:00 + 1h = Monday 09:00.
    ("enterprise", datetime(2026, 11, 27, 17, 0, tzinfo=MADRID), datetime(2026, 11, 30, 9, 0, tzinfo=MADRID)),
    # Premium, 12 business hours, across a national holiday: Monday 7 Dec 16:00-18:00 is 2h;
    # Tuesday 8 Dec (Immaculate Conception) is closed; Wednesday 08:00 + 10h = Wednesday 18:00.
    ("premium", datetime(2026, 12, 7, 16, 0, tzinfo=MADRID), datetime(2026, 12, 9, 18, 0, tzinfo=MADRID)),
    # Enterprise across the start of DST (29 Mar 2026, 02:00 CET -> 03:00 CEST): Friday 27 Mar
    # 17:00 CET, 1h on Friday; Monday 30 Mar 08:00 CEST + 1h = 09:00 CEST (07:00Z).
    ("enterprise", datetime(2026, 3, 27, 17, 0, tzinfo=MADRID), datetime(2026, 3, 30, 9, 0, tzinfo=MADRID)),
    # Starter, 1 business day (10 open hours): Friday 12:00-18:00 is 6h; Monday 08:00 + 4h = 12:00.
    ("starter", datetime(2026, 11, 27, 12, 0, tzinfo=MADRID), datetime(2026, 11, 30, 12, 0, tzinfo=MADRID)),
])
def test_sales_layer_seed_002(plan: str, opened: datetime, expected: datetime) -> None:
    # Sev-4's own first response (2 business days) is later than each plan's: the plan's wins.
    assert due("sales_layer.toml", "sev4", opened, plan=plan) == expected


@pytest.mark.parametrize(("severity", "opened", "expected"), [
    # Critical, 2h on 24x7: Saturday 10:00 + 2h = Saturday 12:00 (weekends count for critical).
    ("sev1", datetime(2026, 11, 28, 10, 0, tzinfo=KOLKATA), datetime(2026, 11, 28, 12, 0, tzinfo=KOLKATA)),
    # Low, 2 business days on a Mon-Fri 24-hour calendar (a business day is 24h): Friday 20:00-24:00
    # is 4h; Saturday and Sunday are closed; Monday 00:00 + 44h = Tuesday 20:00.
    ("sev4", datetime(2026, 12, 4, 20, 0, tzinfo=KOLKATA), datetime(2026, 12, 8, 20, 0, tzinfo=KOLKATA)),
    # High, 6 business hours, across Republic Day (Tuesday 26 Jan 2027, closed): Monday 22:00-24:00
    # is 2h; Wednesday 00:00 + 4h = Wednesday 04:00. (India has no DST.)
    ("sev2", datetime(2027, 1, 25, 22, 0, tzinfo=KOLKATA), datetime(2027, 1, 27, 4, 0, tzinfo=KOLKATA)),
    # Medium, 12 business hours from Friday 18:00: 6h on Friday, then Monday 00:00 + 6h = 06:00.
    ("sev3", datetime(2026, 11, 27, 18, 0, tzinfo=KOLKATA), datetime(2026, 11, 30, 6, 0, tzinfo=KOLKATA)),
])
def test_secpod_seed_003(severity: str, opened: datetime, expected: datetime) -> None:
    assert due("secpod.toml", severity, opened) == expected
