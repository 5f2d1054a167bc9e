"""What an evidence pack takes from the ticket store: the ticket's row, its timeline with the hash
chain, its deliveries, and the policy snapshot it opened with."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, select

from store.schema import deliveries, policy_snapshots, ticket_events, tickets
from store.instants import as_utc as _utc


TICKET_COLUMNS = ("ticket_id", "customer", "title", "severity", "status", "plan", "category", "follows", "opened_at", "updated_at",
                  "policy_snapshot")


def _iso(value) -> str | None:
    return _utc(value).isoformat(timespec="microseconds") if value is not None else None


def ticket_record(engine: Engine, ticket_id: str) -> dict[str, Any] | None:
    """{ticket, timeline, deliveries, policy} as JSON-ready data (instants as ISO text in UTC), or
    None when the store has no such ticket."""
    with engine.connect() as conn:
        # The ticket as it was opened and stands; its facts for reports are derived from the timeline, which the pack holds.
        row = conn.execute(select(*[tickets.c[name] for name in TICKET_COLUMNS]).where(tickets.c.ticket_id == ticket_id)).mappings().first()
        if row is None:
            return None
        events = conn.execute(select(ticket_events).where(ticket_events.c.ticket_id == ticket_id)
                              .order_by(ticket_events.c.seq)).mappings().all()
        sent = conn.execute(select(deliveries).where(deliveries.c.ticket_id == ticket_id).order_by(deliveries.c.id)).mappings().all()
        policy = None
        if row["policy_snapshot"] is not None:
            policy = conn.execute(select(policy_snapshots.c.body).where(policy_snapshots.c.snapshot_id == row["policy_snapshot"])).scalar()
    ticket = {k: (_iso(v) if k in ("opened_at", "updated_at") else v) for k, v in dict(row).items()}
    timeline = [{"event_id": e["event_id"], "seq": e["seq"], "at": _iso(e["at"]), "recorded_at": _iso(e["recorded_at"]), "kind": e["kind"],
                 "detail": e["detail"], "content_sha256": e["content_sha256"], "chain_sha256": e["chain_sha256"]} for e in events]
    sent_list = [{k: (_iso(v) if k == "at" else v) for k, v in dict(d).items() if k != "id"} for d in sent]
    return {"ticket": ticket, "timeline": timeline, "deliveries": sent_list, "policy": policy}
