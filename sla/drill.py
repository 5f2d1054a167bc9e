"""The tabletop drill's rules: its script, and what a team must fix in what the drill told.

`escalator drill` (starter/drill_command.py) runs one ticket through the real workflow on the
time-skipping test server with every notification captured. This module reads the script and
judges the result; it does no I/O. The support guides ask for quarterly tabletop exercises "to
validate contact lists and SLAs" (seeds).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from sla.contacts import Channel, Contact, Contacts, contacts_for

ACTIONS = {
    "respond": "support writes to the customer (meets the response clocks)",
    "ack": "an agent takes the ticket",
    "commander": "NAME becomes incident commander",
    "ack-page": "STEP's page is acknowledged",
    "status-update": "a stakeholder update is posted (TEXT)",
    "wait-customer": "the ticket waits on the customer",
    "message": "the customer writes",
    "resolve": "the ticket is resolved",
}
_OFFSET = re.compile(r"^\+(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m?)?$")
PAGING = (Channel.PAGERDUTY, Channel.WEBHOOK)  # channels that reach someone at night


@dataclass(frozen=True)
class Step:
    """One line of the script: at `offset` after opening, `action` with its argument."""

    offset: timedelta
    action: str
    argument: str | None
    line: int


def parse_offset(text: str) -> timedelta:
    """`+4h10`, `+6h05`, `+9h`, `+45m`, `+1d2h` -> a duration; ValueError naming the text."""
    text = text.strip()
    found = _OFFSET.match(text)
    if not found or text == "+":
        raise ValueError(f"{text!r} is not an offset such as +4h10, +45m or +1d2h")
    days, hours, minutes = (int(g) if g else 0 for g in found.groups())
    if found.group(3) is not None and found.group(2) is None and not text.endswith("m"):
        raise ValueError(f"{text!r}: minutes need their unit (+{found.group(3)}m) or hours before them (+0h{found.group(3)})")
    if found.group(2) is not None and minutes >= 60:
        raise ValueError(f"{text!r}: the minutes after the hours must be under 60")
    return timedelta(days=days, hours=hours, minutes=minutes)


def offset_text(delta: timedelta) -> str:
    """+4h10 style, the script's own notation (+0h00 at opening)."""
    minutes = int(delta.total_seconds() // 60)
    return f"+{minutes // 60}h{minutes % 60:02d}"


def parse_script(text: str, source: str = "script") -> list[Step]:
    """The script's steps in order; ValueError with one line per problem, naming line and reason.

    One action per line: `OFFSET ACTION [ARGUMENT]`, e.g. `+4h10 commander alice`; `#` starts a
    comment. Offsets must not go back in time.
    """
    steps, problems = [], []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        parts = line.split(None, 2)
        try:
            if len(parts) < 2:
                raise ValueError("give an offset and an action, e.g. +4h10 commander alice")
            offset = parse_offset(parts[0])
            action = parts[1].lower()
            if action not in ACTIONS:
                raise ValueError(f"unknown action {parts[1]!r} (have {', '.join(ACTIONS)})")
            argument = parts[2].strip() if len(parts) > 2 else None
            if action in ("commander", "ack-page", "status-update") and not argument:
                raise ValueError(f"{action} needs {'a name' if action == 'commander' else 'a step' if action == 'ack-page' else 'a text'}")
            if steps and offset < steps[-1].offset:
                raise ValueError(f"{parts[0]} is before the line above ({offset_text(steps[-1].offset)}): the script runs forward")
            steps.append(Step(offset, action, argument, number))
        except ValueError as exc:
            problems.append(f"{source}: line {number}: {exc}")
    if problems:
        raise ValueError("\n".join(problems))
    return steps


@dataclass(frozen=True)
class Told:
    """One role's share of one notification, at its offset."""

    offset: timedelta
    kind: str
    summary: str
    role: str
    contacts: tuple[Contact, ...]


def reach(contacts: Contacts | None, role: str, customer: str) -> tuple[Contact, ...]:
    """The contacts a role's message goes to first (fallbacks only when those refuse)."""
    if contacts is None:
        return ()
    primary, fallback = contacts_for(contacts, role, customer)
    return tuple(primary or fallback)


def findings(told: list[Told], contacts: Contacts | None, opened: datetime, zone: ZoneInfo, business_hours, today: date,
             stale_after_days: int, environ: dict[str, str], missed: list[tuple[timedelta, str]]) -> list[str]:
    """What a team must fix, one line each: roles with no contact, stale contacts, missing
    secrets, pages outside business hours to roles only e-mail or chat reaches, targets missed.
    `business_hours(instant) -> bool` says whether an instant is in business hours."""
    found: list[str] = []
    seen_roles: dict[str, Told] = {}
    for t in told:
        seen_roles.setdefault(t.role, t)
    for role, first in sorted(seen_roles.items()):
        if not first.contacts:
            n = sum(1 for t in told if t.role == role)
            found.append(f"role {role}: no contact{'' if contacts else ' (no contacts file given)'}: "
                         f"{n} message(s) would reach nobody, the first at {offset_text(first.offset)}")
    reviewed: set[Contact] = {c for t in told for c in t.contacts}
    for c in sorted(reviewed, key=lambda c: (c.role, c.address)):
        age = (today - c.reviewed_on).days
        if age > stale_after_days:
            found.append(f"contact {c.name or c.address} (role {c.role}): last reviewed {c.reviewed_on}, {age} days ago "
                         f"(more than {stale_after_days})")
        if c.secret_env and not environ.get(c.secret_env):
            found.append(f"contact {c.name or c.address} (role {c.role}, {c.channel.value}): its secret {c.secret_env} is not set here")
    night: dict[str, Told] = {}
    for t in told:
        if t.kind == "escalation" and t.contacts and not any(c.channel in PAGING for c in t.contacts) and not business_hours(opened + t.offset):
            night.setdefault(t.role, t)
    for role, t in sorted(night.items()):
        when = (opened + t.offset).astimezone(zone)
        channels = ", ".join(sorted({c.channel.value for c in t.contacts}))
        found.append(f"role {role}: paged at {offset_text(t.offset)} ({when:%a %H:%M} {zone.key}), outside business hours, "
                     f"but reached only by {channels}")
    found += [f"target missed at {offset_text(offset)}: {summary}" for offset, summary in missed]
    return found
