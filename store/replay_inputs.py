"""What `escalator simulate` reads from the ticket store: each ticket's opening, its recorded
messages, and the policy snapshot it opened with. Two queries, streamed in ticket order, so
memory holds one ticket's events at a time, not the store."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, and_, func, select

from store.schema import policy_snapshots, ticket_events, tickets
from store.instants import as_utc as _utc


@dataclass
class StoredTicket:
    """A ticket row and the events a simulation needs (its opening and its messages), by seq."""

    row: dict[str, Any]
    events: list[dict[str, Any]] = field(default_factory=list)


def _filters(opened_from: datetime | None, opened_before: datetime | None, customer: str | None) -> list:
    where = []
    if opened_from is not None:
        where.append(tickets.c.opened_at >= opened_from)
    if opened_before is not None:
        where.append(tickets.c.opened_at < opened_before)
    if customer is not None:
        where.append(tickets.c.customer == customer)
    return where


def stored_tickets(engine: Engine, kinds: frozenset[str], *, opened_from: datetime | None = None,
                   opened_before: datetime | None = None, customer: str | None = None) -> Iterator[StoredTicket]:
    """Tickets opened in [opened_from, opened_before) (of `customer`), by ticket id, each with
    its events of the given kinds, by seq. Instants come back as aware UTC datetimes."""
    where = _filters(opened_from, opened_before, customer)
    # Both streams in code-point order, the order Python compares them in (ids are ASCII).
    def by_id(column):
        return column.collate("C") if engine.dialect.name == "postgresql" else column

    ticket_query = select(tickets).where(and_(True, *where)).order_by(by_id(tickets.c.ticket_id))
    event_query = (
        select(ticket_events.c.ticket_id, ticket_events.c.seq, ticket_events.c.at, ticket_events.c.kind, ticket_events.c.detail)
        .join(tickets, tickets.c.ticket_id == ticket_events.c.ticket_id)
        .where(and_(ticket_events.c.kind.in_(sorted(kinds)), *where))
        .order_by(by_id(ticket_events.c.ticket_id), ticket_events.c.seq)
    )
    with engine.connect() as rows_conn, engine.connect() as events_conn:
        rows = rows_conn.execution_options(yield_per=2000).execute(ticket_query).mappings()
        events = iter(events_conn.execution_options(yield_per=5000).execute(event_query))
        pending = next(events, None)
        for row in rows:
            ticket = StoredTicket(row=dict(row) | {"opened_at": _utc(row["opened_at"])})
            while pending is not None and pending.ticket_id < row["ticket_id"]:
                pending = next(events, None)
            while pending is not None and pending.ticket_id == row["ticket_id"]:
                ticket.events.append({"seq": pending.seq, "at": _utc(pending.at), "kind": pending.kind, "detail": pending.detail})
                pending = next(events, None)
            yield ticket


def count_tickets(engine: Engine, *, opened_from: datetime | None = None, opened_before: datetime | None = None,
                  customer: str | None = None) -> int:
    where = _filters(opened_from, opened_before, customer)
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(tickets).where(and_(True, *where))).scalar_one()


def last_recorded(engine: Engine) -> datetime | None:
    """The latest instant the store heard anything: when it was recorded, or when it happened."""
    with engine.connect() as conn:
        recorded, happened = conn.execute(select(func.max(ticket_events.c.recorded_at), func.max(ticket_events.c.at))).one()
    found = [_utc(v) for v in (recorded, happened) if v is not None]
    return max(found) if found else None


def snapshot_body(engine: Engine, snapshot_id: str) -> dict[str, Any] | None:
    """A stored policy snapshot's JSON (a PolicySnapshot), or None."""
    with engine.connect() as conn:
        return conn.execute(select(policy_snapshots.c.body).where(policy_snapshots.c.snapshot_id == snapshot_id)).scalar_one_or_none()
