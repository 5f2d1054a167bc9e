"""The support-hours ledger in the ticket store: entries, the thresholds told, and a year's balance.

An entry comes from a ticket's `support_hours_deducted` timeline event (sla/support_hours.py
computes it), written in the same transaction as the event, so the ledger and the timeline
never disagree, and a retried write adds nothing. The thresholds are checked here, where every
ticket of the customer is seen: `support_hours_alerts` keeps each (customer, year, threshold)
once, so two tickets solved together cannot both announce it.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, Engine, func, select

from sla.messages import HoursCrossed, TicketEvent, TicketOpened
from sla.support_hours import crossed
from store.instants import as_utc as _utc
from store.schema import support_hours_alerts, support_hours_entries, tickets


def used(conn: Connection, customer: str, year: int) -> int:
    """Minutes the customer's contract year has used."""
    return conn.execute(select(func.coalesce(func.sum(support_hours_entries.c.minutes), 0)).where(
        support_hours_entries.c.customer == customer, support_hours_entries.c.contract_year == year)).scalar_one()


def record(conn: Connection, insert, ticket: TicketOpened, event: TicketEvent) -> list[HoursCrossed]:
    """Add the entry of a new deduction event; the thresholds it crosses that nobody was told of yet."""
    d: dict[str, Any] = event.detail
    year, minutes, contracted = int(d["contract_year"]), int(d["minutes"]), int(d["contracted_minutes"])
    before = used(conn, ticket.customer, year)
    conn.execute(insert(support_hours_entries).values(
        entry_id=event.event_id, customer=ticket.customer, contract_year=year, ticket_id=ticket.ticket_id, plan=d.get("plan"),
        minutes=minutes, logged_minutes=int(d["logged_minutes"]), contracted_minutes=contracted, at=_utc(event.at),
    ).on_conflict_do_nothing(index_elements=["entry_id"]))
    thresholds = [int(t) for t in str(d.get("thresholds") or "").split(",") if t]
    told = []
    for threshold in crossed(thresholds, contracted, before, before + minutes):
        row = conn.execute(insert(support_hours_alerts).values(
            customer=ticket.customer, contract_year=year, threshold=threshold, ticket_id=ticket.ticket_id, at=_utc(event.at),
        ).on_conflict_do_nothing(index_elements=["customer", "contract_year", "threshold"]).returning(support_hours_alerts.c.threshold)).first()
        if row is not None:
            told.append(HoursCrossed(customer=ticket.customer, contract_year=year, threshold=threshold, used_minutes=before + minutes,
                                     contracted_minutes=contracted, at=event.at))
    return told


def balance(engine: Engine, customer: str, year: int) -> dict[str, Any]:
    """`{customer, year, known (any ticket or entry), plan, contracted_minutes (None: not known), used_minutes, entries: [...]}`;
    the contracted minutes are the latest entry's (what the policy gave its plan then)."""
    with engine.connect() as conn:
        rows = conn.execute(select(support_hours_entries).where(
            support_hours_entries.c.customer == customer, support_hours_entries.c.contract_year == year,
        ).order_by(support_hours_entries.c.at, support_hours_entries.c.entry_id)).mappings().all()
        latest = conn.execute(select(tickets.c.plan).where(tickets.c.customer == customer).order_by(tickets.c.opened_at.desc()).limit(1)).first()
        plan = latest[0] if latest else None
    entries = [{"ticket_id": r["ticket_id"], "minutes": r["minutes"], "logged_minutes": r["logged_minutes"],
                "at": _utc(r["at"]).isoformat()} for r in rows]
    return {"customer": customer, "year": year, "known": bool(rows or latest), "plan": rows[-1]["plan"] if rows else plan,
            "contracted_minutes": rows[-1]["contracted_minutes"] if rows else None,
            "used_minutes": sum(r["minutes"] for r in rows), "entries": entries}
