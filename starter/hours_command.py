"""`escalator hours CUSTOMER`: a customer's support hours in a contract year, from the ticket store."""

from __future__ import annotations

import argparse
import re
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.exc import SQLAlchemyError

from sla import support_hours
from sla.ticket import ID_PATTERN
from starter.policy_commands import CommandError, display_zone, local, read_policy
from store.ledger import balance
from store.ticket_store import StoreConfigError, engine_url, open_current, printable


class HoursError(Exception):
    """The balance cannot be shown: bad input, no store, an old schema."""


def add_hours_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("customer", metavar="CUSTOMER", help="the customer id")
    p.add_argument("--year", type=int, help="the contract year, named by the year it starts in (default: the current one)")
    p.add_argument("--policy", help="the policy (ESCALATOR_POLICY; default the bundled one): contract year start, plan hours")


def _hm(minutes: int) -> str:
    sign = "-" if minutes < 0 else ""
    return f"{sign}{abs(minutes) // 60}h {abs(minutes) % 60:02d}m"


def run_hours(args: argparse.Namespace, now: datetime | None = None) -> tuple[dict[str, Any], str]:
    if not re.fullmatch(ID_PATTERN, args.customer):
        raise HoursError(f"CUSTOMER: {args.customer!r} is not a customer id (letters, digits and . _ : -)")
    try:
        policy, _, _ = read_policy(args.policy)
        url = engine_url(args.database_url)
    except (CommandError, StoreConfigError) as exc:
        raise HoursError(str(exc)) from None
    year = args.year if args.year is not None else support_hours.contract_year(policy, now or datetime.now(UTC))
    if not 1970 <= year <= 9999:
        raise HoursError(f"--year: {year} is not a year")
    try:
        store = open_current(url)
    except StoreConfigError as exc:
        raise HoursError(str(exc)) from None
    except SQLAlchemyError as exc:
        raise HoursError(f"cannot use the ticket store at {printable(url)}: {str(exc).splitlines()[0]}") from None
    try:
        doc = balance(store.engine, args.customer, year)
    except SQLAlchemyError as exc:
        raise HoursError(f"cannot use the ticket store at {printable(url)}: {str(exc).splitlines()[0]}") from None
    finally:
        store.close()
    if not doc.pop("known"):
        raise HoursError(f"no ticket of customer {args.customer!r} in the ticket store at {printable(url)} (customer ids are case-sensitive)")
    contracted = doc.pop("contracted_minutes")
    if contracted is None:  # nothing deducted yet: what the policy gives the plan of the customer's latest ticket
        contracted = support_hours.contracted_minutes(policy, doc["plan"])
    first, last = support_hours.year_span(policy, year)
    doc = {"customer": args.customer, "year": year, "starts": first.isoformat(), "ends": last.isoformat(), "plan": doc["plan"],
           "contracted_minutes": contracted, "used_minutes": doc["used_minutes"],
           "remaining_minutes": contracted - doc["used_minutes"], "entries": doc["entries"]}
    share = f" ({100 * doc['used_minutes'] / contracted:.0f}%)" if contracted else ""
    lines = [f"{args.customer}  contract year {year} ({first} to {last}, {policy.calendar(None).zone.key}), plan {doc['plan'] or 'none'}",
             f"  contracted  {_hm(contracted):>10}",
             f"  used        {_hm(doc['used_minutes']):>10}{share}",
             f"  remaining   {_hm(doc['remaining_minutes']):>10}"]
    if doc["entries"]:
        zone = display_zone(None, args.policy, policy)  # the policy's calendar zone, as `timeline` prints
        lines.append("  entries:")
        lines += [f"    {local(datetime.fromisoformat(e['at']), zone, seconds=False)}  {e['ticket_id']:<20} {_hm(e['minutes']):>8} "
                  f"(logged {_hm(e['logged_minutes'])})" for e in doc["entries"]]
    else:
        lines.append("  no conversation deducted in this year")
    return doc, "\n".join(lines)
