"""`escalator list`: the tickets that match, soonest deadline first, from Temporal's visibility.

Filters become a visibility query over the ticket's search attributes; every value is checked
against its pattern first, so nothing a user types ends up in the query unquoted.
"""

from __future__ import annotations

import argparse
import re
from datetime import UTC, datetime, timedelta
from typing import Any

from temporalio.service import RPCError

from sla.durations import Duration
from sla.ticket import ID_PATTERN, SlaState, TicketStatus
from starter.client import ENDED_UNCLOSED, TicketClient, TicketError
from starter.policy_commands import local
from workflows import contract
from workflows import search_attributes as sa

SCAN_LIMIT = 1000
"""Tickets read to sort by deadline; past this many matches, narrow the filters."""


def add_list_arguments(p: argparse.ArgumentParser, severity) -> None:
    p.add_argument("--severity", type=severity, help="only this severity (sev1..sev4 or an alias)")
    p.add_argument("--status", choices=[s.value for s in TicketStatus], help="only tickets in this status")
    p.add_argument("--sla-state", choices=[s.value for s in SlaState], help="only tickets whose SLA is ok, warning or breached")
    p.add_argument("--breached", action="store_true", help="only breached tickets (same as --sla-state breached)")
    p.add_argument("--customer", help="only this customer's tickets")
    p.add_argument("--owner", help="only tickets this agent has (their handle: who acknowledged or picked up the last handoff)")
    p.add_argument("--due-within", metavar="DURATION", type=_within, help="only tickets with something due within this, e.g. 2h or 30m")
    p.add_argument("--all", action="store_true", help="also closed and ended (terminated, failed, timed out) tickets")
    p.add_argument("--limit", type=_limit, default=50, help="at most this many lines (default 50)")


def _within(text: str) -> timedelta:
    try:
        duration = Duration.parse(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a duration like 2h, 30m or 3 days") from None
    if duration.business:
        raise argparse.ArgumentTypeError(f"{text!r}: give wall-clock time (2h), not business time")
    if duration.seconds(0) > 3650 * 86400:
        raise argparse.ArgumentTypeError(f"{text!r}: at most 3650 days")
    return timedelta(seconds=duration.seconds(0))


def _limit(text: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= SCAN_LIMIT:
        raise argparse.ArgumentTypeError(f"{text!r}: give a number from 1 to {SCAN_LIMIT}")
    return int(text)


def query(args: argparse.Namespace, now: datetime) -> str:
    """The visibility query for the filters; ValueError naming the option for a value that cannot be one."""
    clauses = [f"WorkflowType = '{contract.WORKFLOW_TYPE}'"]
    if not args.all:
        clauses.append("ExecutionStatus = 'Running'")
    for option, attribute, value in (("--customer", sa.CUSTOMER, args.customer), ("--owner", sa.OWNER, args.owner)):
        if value is not None:
            if not re.fullmatch(ID_PATTERN, value):
                hint = ": an agent's handle, no spaces or @" if option == "--owner" else ""
                raise ValueError(f"{option}: {value!r} is not an id (letters, digits and . _ : -{hint})")
            clauses.append(f"{attribute.name} = '{value}'")
    if args.severity is not None:
        clauses.append(f"{sa.SEVERITY.name} = '{args.severity.value}'")
    if args.status is not None:
        clauses.append(f"{sa.TICKET_STATUS.name} = '{args.status}'")
    sla_state = "breached" if args.breached else args.sla_state
    if sla_state is not None:
        clauses.append(f"{sa.SLA_STATE.name} = '{sla_state}'")
    if args.due_within is not None:
        clauses.append(f"{sa.NEXT_DUE_AT.name} <= '{(now + args.due_within).astimezone(UTC).strftime('%Y-%m-%dT%H:%M:%SZ')}'")
    return " AND ".join(clauses)


async def run_list(client: TicketClient, text: str, limit: int, zone) -> tuple[list[dict[str, Any]], str]:
    """(JSON rows, table) of the tickets matching the visibility query `text`, soonest next deadline first."""
    now = datetime.now(UTC)
    rows: list[dict[str, Any]] = []
    try:
        async for execution in client.client.list_workflows(text, limit=SCAN_LIMIT + 1):
            rows.append(ticket_row(execution))
    except RPCError as exc:
        raise TicketError(f"the ticket list cannot be read: {exc.message.splitlines()[0] if exc.message else exc.status}") from None
    more = len(rows) > SCAN_LIMIT
    rows = sorted(rows[:SCAN_LIMIT], key=lambda r: (r["next_due"] is None, r["next_due"] or now))
    shown = rows[:limit]
    width = max([16] + [len(r["ticket_id"]) for r in shown])  # mail's M- ids and helpdesk keys run longer than T- ids
    lines = [f"{'TICKET':<{width}} {'SEV':<5} {'STATUS':<22} {'SLA':<9} {'NEXT DUE':<26} {'OWNER':<14} CUSTOMER"]
    for r in shown:
        lines.append(f"{r['ticket_id']:<{width}} {r['severity'] or '-':<5} {r['status']:<22} {r['sla_state'] or '-':<9} "
                     f"{local(r['next_due'], zone) if r['next_due'] else '-':<26} {r['owner'] or '-':<14} {r['customer'] or '-'}")
    if not shown:
        lines = ["no ticket matches"]
    elif len(rows) > len(shown) or more:
        lines.append(f"({len(shown)} shown of {'more than ' + str(SCAN_LIMIT) if more else len(rows)}: --limit, or narrow the filters)")
    doc = [{**r, "next_due": r["next_due"].isoformat() if r["next_due"] else None} for r in shown]
    return doc, "\n".join(lines)


def ticket_row(execution) -> dict[str, Any]:
    attrs = execution.typed_search_attributes
    ended = execution.status in ENDED_UNCLOSED
    status = execution.status.name.lower() if ended and execution.status else (attrs.get(sa.TICKET_STATUS) or "-")
    return {
        "ticket_id": execution.id, "severity": attrs.get(sa.SEVERITY), "status": status, "sla_state": attrs.get(sa.SLA_STATE),
        "next_due": None if ended else attrs.get(sa.NEXT_DUE_AT), "owner": attrs.get(sa.OWNER), "customer": attrs.get(sa.CUSTOMER),
        "escalation_level": attrs.get(sa.ESCALATION_LEVEL), "execution_status": execution.status.name.lower() if execution.status else None,
    }
