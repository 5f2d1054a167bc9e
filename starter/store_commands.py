"""`escalator timeline` and `escalator db upgrade`: the ticket store, without Temporal."""

from __future__ import annotations

import argparse
import os
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.exc import SQLAlchemyError

from starter.policy_commands import CommandError, display_zone, local
from store.ticket_store import StoreConfigError, TicketStore, engine_url, printable, revisions, sqlite_file_missing, upgrade


LATE_NOTE_SECONDS = 5
"""An event recorded this long after it happened says when it was recorded (a late message, an outage)."""


class StoreError(Exception):
    """The store cannot answer: bad URL, database down, schema missing, unknown ticket."""


def run_store_command(args: argparse.Namespace) -> tuple[Any, str]:
    try:
        engine_url(args.database_url)
    except StoreConfigError as exc:
        raise StoreError(str(exc)) from None
    if args.command == "timeline":
        try:
            args.display_zone = display_zone(args.tz, os.environ.get("ESCALATOR_POLICY"))
        except CommandError as exc:
            raise StoreError(str(exc)) from None
    try:
        if args.command == "db":
            before, after = upgrade(args.database_url)
            verb = "already at" if before == after else f"migrated from {before or 'empty'} to"
            return {"database": printable(args.database_url), "before": before, "after": after}, f"{printable(args.database_url)}: {verb} revision {after}"
        url = engine_url(args.database_url)
        if sqlite_file_missing(url):
            raise StoreError(f"{url} does not exist: no ticket store there (the worker creates it; or run `escalator db upgrade`)")
        current, head = revisions(args.database_url)
        if current is None:
            raise StoreError(f"{printable(args.database_url)} has no ticket store yet: run `escalator db upgrade` (the worker does it for SQLite)")
        store = TicketStore(args.database_url)
        try:
            ticket, rows = store.timeline(args.ticket_id)
        finally:
            store.close()
    except SQLAlchemyError as exc:
        raise StoreError(f"cannot use the ticket store at {printable(args.database_url)}: {str(exc).splitlines()[0]}") from None
    if ticket is None:
        raise StoreError(f"no ticket {args.ticket_id} in the ticket store at {printable(args.database_url)}")
    zone = args.display_zone
    lines = [f"{ticket['ticket_id']}  {ticket['customer']}  {ticket['severity']}  {ticket['status']}  {ticket['title']}"]
    for row in rows:
        detail = ", ".join(f"{k}={v}" for k, v in row["detail"].items() if v not in (None, ""))
        late = row["recorded_at"] is not None and (row["recorded_at"] - row["at"]).total_seconds() >= LATE_NOTE_SECONDS
        recorded = f" (recorded {row['recorded_at'].astimezone(zone):%H:%M:%S})" if late else ""
        lines.append(f"  {local(row['at'], zone)}  {row['kind']:<18} {detail}{recorded}")
    # JSON instants carry their offsets (the SQLite store keeps none: they are UTC).
    ticket = {k: (_utc_iso(v) if isinstance(v, datetime) else v) for k, v in ticket.items()}
    rows = [{k: (_utc_iso(v) if isinstance(v, datetime) else v) for k, v in row.items()} for row in rows]
    return {"ticket": ticket, "timeline": rows}, "\n".join(lines)


def _utc_iso(value: datetime) -> str:
    return (value.replace(tzinfo=UTC) if value.tzinfo is None else value).astimezone(UTC).isoformat()
