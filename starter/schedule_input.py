"""What `escalator schedule` accepts, checked before anything is sent: roles, crons, zones, ids,
seconds; each refusal one line naming the option (docs/reports.md, "Scheduled reviews")."""

from __future__ import annotations

import argparse
import re
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sla.contacts import parse_contacts
from sla.policy import PolicyError

DEFAULT_CRON = {"monthly-report": "0 8 1 * *", "weekly-review": "0 8 * * MON", "open-post-incident": "0 8 * * *"}
ROLE = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
SCHEDULE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")


class ScheduleError(Exception):
    """One line: no server, no such schedule, a refused request (exit 1)."""


class ScheduleInputError(ScheduleError):
    """One line: bad input, found before anything is sent (exit 2)."""


def seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not 0 <= value <= 86400:
        raise argparse.ArgumentTypeError(f"{text!r}: give 0 (do not wait) to 86400 seconds")
    return value


def roles(values: list[str]) -> list[str]:
    """The role names of `--to` (repeated or comma-separated), each once."""
    names = [r.strip() for v in values for r in v.split(",") if r.strip()]
    bad = [r for r in names if not ROLE.match(r)]
    if bad or not names:
        raise ScheduleInputError(f"--to: {', '.join(map(repr, bad)) or 'nothing'} is not a role name (lower case, digits, _; e.g. support_manager)")
    return list(dict.fromkeys(names))


def check_roles(roles: list[str], contacts_path: str | None) -> None:
    """Each role must have a contact a review can reach in the contacts file, when there is one
    to read (without it, `trigger` reports roles with no contact)."""
    if not contacts_path:
        return
    try:
        contacts = parse_contacts(Path(contacts_path).read_text(encoding="utf-8"), contacts_path)
    except (OSError, UnicodeDecodeError) as exc:
        raise ScheduleInputError(f"--contacts: cannot read {contacts_path}: {getattr(exc, 'strerror', None) or exc}") from None
    except PolicyError as exc:
        raise ScheduleInputError(f"--contacts: {str(exc).splitlines()[0]}") from None
    usable = {c.role for c in contacts.contacts if c.channel.value in ("email", "slack", "console") and c.customer is None}
    missing = [r for r in roles if r not in usable]
    if missing:
        raise ScheduleInputError(f"--to: {', '.join(missing)} has no e-mail, Slack or console contact in {contacts_path} "
                                 f"(roles that have one: {', '.join(sorted(usable)) or 'none'})")


def cron(text: str) -> str:
    fields = text.split()
    if len(fields) != 5:
        raise ScheduleInputError(f"--cron: {text!r} has {len(fields)} field(s); a cron has 5: minute hour day-of-month month day-of-week (e.g. '0 8 * * MON')")
    return " ".join(fields)


def zone(name: str) -> None:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ScheduleInputError(f"--tz: {name!r} is not an IANA time zone (e.g. Europe/Berlin)") from None
