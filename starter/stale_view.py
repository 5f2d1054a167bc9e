"""`escalator show` when no worker answers: what the server and the ticket store know, marked stale."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.exc import SQLAlchemyError

from starter.client import TicketClient
from starter.policy_commands import local
from store.ticket_store import StoreConfigError, TicketStore, engine_url, printable, sqlite_file_missing
from workflows import search_attributes as sa

LAST_EVENTS = 10


async def stale_view(client: TicketClient, args: argparse.Namespace, why: str, ended: str | None = None) -> tuple[dict[str, Any], str]:
    """(JSON document, text): the run's status and search attributes, and the store's last timeline lines;
    `ended` names how a ticket's workflow ended without closing it (terminated, ...).

    Raises TicketError when the server does not know the ticket either.
    """
    described = await client.describe(args.ticket_id)
    attrs = described.typed_search_attributes
    known = {key.name: attrs.get(key) for key in sa.ALL if attrs.get(key) is not None}
    known = {k: (local(v, args.display_zone) if isinstance(v, datetime) else v) for k, v in known.items()}
    rows, store_note = _last_rows(args.database_url, args.ticket_id)
    doc = {"stale": True, "ended": ended, "reason": why, "ticket_id": args.ticket_id, "execution_status": described.status.name.lower() if described.status else None,
           "search_attributes": known, "timeline": rows, "store": store_note, "ui_url": client.link(args.ticket_id)}
    heading = f"{ended.upper()}: {why}" if ended else f"possibly stale: {why}"
    lines = [f"{args.ticket_id}  ({heading}; this is what the server and the ticket store know)",
             f"  run:      {doc['execution_status']}"]
    lines += [f"  {name:<18}{value}" for name, value in known.items()]
    lines.append(f"  timeline: {store_note}" if store_note else "  timeline (last recorded):")
    for row in rows:
        detail = ", ".join(f"{k}={v}" for k, v in row["detail"].items() if v not in (None, ""))
        lines.append(f"    {local(datetime.fromisoformat(row['at']), args.display_zone)}  {row['kind']:<18} {detail}")
    lines.append(f"  ui:       {client.link(args.ticket_id)}")
    return doc, "\n".join(lines)


def _last_rows(url: str, ticket_id: str) -> tuple[list[dict[str, Any]], str | None]:
    try:
        full = engine_url(url)
    except StoreConfigError as exc:
        return [], str(exc)
    if sqlite_file_missing(full):
        return [], f"no ticket store at {full} (--database-url or DATABASE_URL names it)"
    store = TicketStore(full)
    try:
        ticket, rows = store.timeline(ticket_id)
    except SQLAlchemyError as exc:
        return [], f"the ticket store at {printable(url)} cannot be read: {str(exc).splitlines()[0]}"
    finally:
        store.close()
    if ticket is None:
        return [], f"nothing recorded for {ticket_id} in {printable(url)}"
    return [{"at": r["at"].astimezone(UTC).isoformat(), "kind": r["kind"], "detail": r["detail"]} for r in rows[-LAST_EVENTS:]], None
