"""Each ticket's facts for reports, kept in its row as its timeline is written (sla/ticket_facts.py).

The store folds the events new to it and puts `changes` into the ticket's own upsert, in the
transaction that adds them, so a retried batch adds nothing; `rebuild` folds every stored timeline again (after the upgrade to
revision 0007, which added the columns, and whenever the rule of a fact changes).
"""

from __future__ import annotations

import sys
import time
from functools import lru_cache

from sqlalchemy import Connection, Engine, bindparam, case, func, or_, select, update

from sla.ticket_facts import COUNTED, FactsDelta, fold
from store.instants import as_utc as _utc
from store.schema import MEASURED, post_incident_items, ticket_events, tickets


PARTS = ("seq", "at", "elapsed_s", "business_s", "paused_s")


def _take(column: str, wins) -> object:
    """The column's new value (the bind `f_<column>`) when `wins`, else the row's own."""
    return case((wins, bindparam(f"f_{column}", type_=tickets.c[column].type)), else_=tickets.c[column])


@lru_cache(maxsize=512)
def _expressions(counted: tuple[str, ...], first: bool, solved: bool, rated: bool) -> dict:
    """The SET expressions of one shape of batch, built once: a worker sees a few dozen shapes, and
    building them per batch cost more than the rest of the write (bench/report_speed.py)."""
    out: dict = {name: tickets.c[name] + bindparam(f"f_{name}", type_=tickets.c[name].type) for name in counted}
    if first:
        seq = tickets.c.first_response_seq
        wins = or_(seq.is_(None), seq > bindparam("f_first_response_seq", type_=seq.type))
        out |= {f"first_response_{part}": _take(f"first_response_{part}", wins) for part in PARTS}
    if solved:
        seq = tickets.c.resolution_seq
        wins = or_(seq.is_(None), seq < bindparam("f_resolution_seq", type_=seq.type))
        out |= {f"resolution_{part}": _take(f"resolution_{part}", wins) for part in PARTS}
        out["auto_solved"] = _take("auto_solved", wins)
    if rated:
        wins = or_(tickets.c.csat_seq.is_(None), tickets.c.csat_seq < bindparam("f_csat_seq", type_=tickets.c.csat_seq.type))
        out |= {"csat_seq": _take("csat_seq", wins), "csat_score": _take("csat_score", wins)}
    return out


def changes(delta: FactsDelta) -> tuple[dict, dict]:
    """(SET expressions, their parameters) that merge a batch's facts into the ticket's row; every
    expression reads the row as it was before the statement, so one UPDATE (or the ticket's
    upsert) applies all the rules. Pass the parameters with the statement."""
    counted = tuple(sorted(delta.counts))
    expressions = _expressions(counted, delta.first_response is not None, delta.resolution is not None, delta.csat is not None)
    return expressions, {f"f_{name}": value for name, value in initial(delta).items()}


def initial(delta: FactsDelta) -> dict:
    """The facts of a ticket's first batch, as the values of its new row."""
    out: dict = dict(delta.counts)
    for clock, m in (("first_response", delta.first_response), ("resolution", delta.resolution)):
        if m is not None:
            out |= {f"{clock}_seq": m.seq, f"{clock}_at": _utc(m.at), f"{clock}_elapsed_s": m.elapsed_s,
                    f"{clock}_business_s": m.business_s, f"{clock}_paused_s": m.paused_s}
    if delta.resolution is not None:
        out["auto_solved"] = delta.resolution.auto
    if delta.csat is not None:
        out["csat_seq"], out["csat_score"] = delta.csat
    return out


def record_items(conn: Connection, insert, ticket_id: str, delta: FactsDelta) -> None:
    """Upsert the post-incident items the batch tells of, field by field (None leaves a field)."""
    for item, fact in delta.items.items():
        row = {"ticket_id": ticket_id, "item": item, "kind": fact.kind, "title": fact.title, "owner": fact.owner,
               "due": _utc(fact.due), "done_at": _utc(fact.done_at), "waived": bool(fact.waived)}
        stmt = insert(post_incident_items).values(row)
        kept = {name: func.coalesce(stmt.excluded[name], post_incident_items.c[name]) for name in ("title", "owner", "due", "done_at")}
        if fact.waived:
            kept["waived"] = True
        conn.execute(stmt.on_conflict_do_update(index_elements=["ticket_id", "item"], set_=kept))


def merge(conn: Connection, insert, ticket_id: str, delta: FactsDelta) -> None:
    """Merge a batch's facts into the ticket's existing row and its items (the rebuild's path;
    the store's own writes put `changes` into the ticket's upsert)."""
    expressions, params = changes(delta)
    if expressions:
        conn.execute(update(tickets).where(tickets.c.ticket_id == ticket_id).values(expressions), params)
    record_items(conn, insert, ticket_id, delta)


def cleared() -> dict:
    """Every fact column back to its value before any event."""
    return {f"{clock}_{part}": None for clock in MEASURED for part in ("seq", "at", "elapsed_s", "business_s", "paused_s")} | {
        "auto_solved": None, "csat_seq": None, "csat_score": None} | {name: 0 for name in COUNTED}


class _Event:
    __slots__ = ("seq", "at", "kind", "detail")

    def __init__(self, seq, at, kind, detail) -> None:
        self.seq, self.at, self.kind, self.detail = seq, _utc(at), kind, detail


def rebuild(engine: Engine, insert, progress: bool = True, chunk: int = 2000) -> int:
    """Fold every stored timeline into its ticket's facts again; returns the tickets done.
    Reads the events ticket by ticket in chunks (memory stays flat); progress to stderr every 5 s."""
    with engine.begin() as conn:
        conn.execute(update(tickets).values(cleared()))
        conn.execute(post_incident_items.delete())
    with engine.connect() as conn:
        ids = [row[0] for row in conn.execute(select(tickets.c.ticket_id).order_by(tickets.c.ticket_id))]
    done, shown = 0, time.monotonic()
    for start in range(0, len(ids), chunk):
        some = ids[start:start + chunk]
        with engine.begin() as conn:
            opened = dict(conn.execute(select(tickets.c.ticket_id, tickets.c.opened_at).where(tickets.c.ticket_id.in_(some))).all())
            rows = conn.execute(select(ticket_events.c.ticket_id, ticket_events.c.seq, ticket_events.c.at, ticket_events.c.kind,
                                       ticket_events.c.detail).where(ticket_events.c.ticket_id.in_(some))
                                .order_by(ticket_events.c.ticket_id, ticket_events.c.seq)).all()
            by_ticket: dict[str, list[_Event]] = {}
            for r in rows:
                by_ticket.setdefault(r.ticket_id, []).append(_Event(r.seq, r.at, r.kind, r.detail))
            for ticket_id, events in by_ticket.items():
                merge(conn, insert, ticket_id, fold(_utc(opened[ticket_id]), events))
        done += len(some)
        if progress and time.monotonic() - shown > 5:
            print(f"ticket facts: {done}/{len(ids)} tickets", file=sys.stderr, flush=True)
            shown = time.monotonic()
    return done
