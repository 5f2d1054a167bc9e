"""`escalator simulate`: what a new policy would have done to the tickets in the ticket store.

Each stored ticket is re-driven (sla/what_if.py) under its baseline (the snapshot it opened
with, or `--baseline OLD.toml`) and under the new policy, up to its close or to the as-of
instant (default: the latest instant the store recorded, so the same store gives the same
output byte for byte). A ticket the store cannot re-drive (no opening event, no baseline
snapshot, an event missing a field) is skipped with the reason, and counted.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import multiprocessing
import os
import re
import sys
from collections import Counter, deque
from concurrent.futures import ProcessPoolExecutor
from datetime import datetime
from typing import Any

from pydantic import ValidationError
from sqlalchemy.exc import SQLAlchemyError

from sla.policy import PolicySnapshot, take_snapshot
from sla.ticket import ID_PATTERN, TicketOpened
from sla.what_if import MAX_STEPS, MESSAGE_KINDS, Incomplete, Outcome, messages_of, simulate
from starter.periods import parse_instant
from starter.policy_commands import CommandError, read_policy
from starter.replay_command import Progress
from store.replay_inputs import count_tickets, last_recorded, snapshot_body, stored_tickets
from store.ticket_store import StoreConfigError, engine_url, open_current, printable


class SimulateError(Exception):
    """The simulation cannot run (bad input, no store, an old schema): one line."""


def add_simulate_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--policy", required=True, metavar="NEW.toml", help="the policy to try")
    p.add_argument("--baseline", metavar="OLD.toml", help="compare against this policy (default: each ticket's own snapshot, from the store)")
    p.add_argument("--from", dest="opened_from", metavar="DATE", help="tickets opened on or after DATE (YYYY-MM-DD, UTC) or an ISO instant")
    p.add_argument("--to", dest="opened_to", metavar="DATE", help="tickets opened up to DATE inclusive (YYYY-MM-DD, UTC) or before an ISO instant")
    p.add_argument("--customer", metavar="C", help="one customer's tickets")
    p.add_argument("--as-of", metavar="ISO", help="simulate open tickets up to this instant (default: the latest instant in the store)")
    p.add_argument("--csv", action="store_true", help="one CSV row per ticket on stdout (not with --json)")
    p.add_argument("--jobs", type=int, default=os.cpu_count() or 1, metavar="N",
                   help="worker processes (default: one per CPU); the output is the same for any N")


def _instant(text: str, name: str, end_of_day: bool = False) -> datetime:
    try:
        return parse_instant(text, name, end_of_day)
    except ValueError as exc:
        raise SimulateError(str(exc)) from None


class _Snapshots:
    """Snapshots per (policy, opening year), as a ticket opened then would have taken them."""

    def __init__(self, path: str, name: str) -> None:
        try:
            self.policy, self.source, self.digest = read_policy(path)
        except CommandError as exc:
            raise SimulateError(f"{name}: {exc}") from None
        self._by_year: dict[int, PolicySnapshot] = {}

    def of(self, opened_at: datetime) -> PolicySnapshot:
        if opened_at.year not in self._by_year:
            self._by_year[opened_at.year] = take_snapshot(self.policy, self.source, self.digest, opened_at)
        return self._by_year[opened_at.year]


def _opening(stored) -> TicketOpened:
    opened = next((e for e in stored.events if e["kind"] == "opened"), None)
    if opened is None:
        raise Incomplete("no 'opened' event in its timeline")
    d, row = opened["detail"] or {}, stored.row
    try:
        return TicketOpened(ticket_id=row["ticket_id"], customer=row["customer"], title=row["title"], severity=d["severity"],
                            channel=d.get("channel") or "api", opened_at=row["opened_at"], plan=d.get("plan"), category=d.get("category"))
    except KeyError as exc:
        raise Incomplete(f"its 'opened' event lacks field {exc.args[0]!r}") from None
    except ValidationError as exc:
        raise Incomplete(f"its opening does not validate: {exc.errors()[0]['msg']}") from None


def run_simulate(args: argparse.Namespace) -> tuple[dict[str, Any], str]:
    if args.csv and args.json:
        raise SimulateError("--csv and --json: give one")
    if not 1 <= args.jobs <= 64:
        raise SimulateError(f"--jobs: {args.jobs} is not between 1 and 64")
    if args.customer is not None and not re.fullmatch(ID_PATTERN, args.customer):
        raise SimulateError(f"--customer: {args.customer!r} is not a customer id (letters, digits and . _ : -)")
    opened_from = _instant(args.opened_from, "--from") if args.opened_from else None
    opened_before = _instant(args.opened_to, "--to", end_of_day=True) if args.opened_to else None
    if opened_from and opened_before and opened_before <= opened_from:
        raise SimulateError("--to: the window is empty (--to must be after --from; a date --to includes that day)")
    as_of = _instant(args.as_of, "--as-of") if args.as_of else None
    new = _Snapshots(args.policy, "--policy")
    baseline = _Snapshots(args.baseline, "--baseline") if args.baseline else None
    try:
        store = open_current(args.database_url)
    except StoreConfigError as exc:
        raise SimulateError(str(exc)) from None
    except SQLAlchemyError as exc:
        raise SimulateError(f"cannot read the ticket store at {printable(engine_url(args.database_url))}: {str(exc).splitlines()[0]}") from None
    try:
        as_of = as_of or last_recorded(store.engine)
        filters = {"opened_from": opened_from, "opened_before": opened_before, "customer": args.customer}
        total = count_tickets(store.engine, **filters)
        rows, skipped = _simulate_all(store, new, baseline, as_of, total, filters, args.jobs)
    except SQLAlchemyError as exc:
        raise SimulateError(f"cannot read the ticket store at {printable(store.url)}: {str(exc).splitlines()[0]}") from None
    finally:
        store.close()
    return _report(args, new, baseline, as_of, rows, skipped)


CHUNK = 200  # tickets per task for the worker processes


def _simulate_chunk(items: list[tuple], policies: dict[str, Any]) -> list[tuple]:
    """In a worker process: (ticket id, baseline outcome, new outcome, or the reason it was skipped)."""
    done = []
    for ticket_id, ticket, messages, old_key, new_key, as_of in items:
        try:
            done.append((ticket_id, simulate(policies[old_key], ticket, messages, as_of), simulate(policies[new_key], ticket, messages, as_of), None))
        except (KeyError, ValueError) as exc:  # the ticket's severity, plan or category is not in a policy
            done.append((ticket_id, None, None, f"a policy cannot run it: {str(exc).splitlines()[0]}"))
    return done


def _simulate_all(store, new: _Snapshots, baseline: _Snapshots | None, as_of, total: int, filters, jobs: int) -> tuple[list, list]:
    """Every ticket under both policies, in ticket-id order whatever the number of processes."""
    rows, skipped, tickets = [], [], {}
    own: dict[str, PolicySnapshot | None] = {}
    progress = Progress(total, "simulated {} tickets so far")
    pool = ProcessPoolExecutor(jobs, mp_context=multiprocessing.get_context("spawn")) if jobs > 1 else None
    in_flight: deque = deque()
    chunk: list[tuple] = []
    policies: dict[str, Any] = {}

    def submit() -> None:
        nonlocal chunk, policies
        if chunk:
            in_flight.append(pool.submit(_simulate_chunk, chunk, policies) if pool else _Done(_simulate_chunk(chunk, policies)))
            chunk, policies = [], {}

    def collect(block_until: int) -> None:
        while len(in_flight) > block_until:
            for ticket_id, before, after, reason in in_flight.popleft().result():
                progress.step()
                if reason is not None:
                    skipped.append({"ticket_id": ticket_id, "reason": reason})
                    continue
                ticket = tickets.pop(ticket_id)
                rows.append({"ticket_id": ticket_id, "customer": ticket.customer, "severity": ticket.severity.value,
                             "baseline": before, "new": after, "changed": before.key() != after.key()})

    try:
        for stored in stored_tickets(store.engine, MESSAGE_KINDS | {"opened"}, **filters):
            ticket_id = stored.row["ticket_id"]
            try:
                ticket = _opening(stored)
                messages = messages_of(stored.events)
                old = baseline.of(ticket.opened_at) if baseline is not None else _own_snapshot(store, stored.row.get("policy_snapshot"), own)
            except Incomplete as exc:
                progress.step()
                skipped.append({"ticket_id": ticket_id, "reason": str(exc)})
                continue
            fresh = new.of(ticket.opened_at)
            if (why := _cannot_run(old.policy, ticket, "baseline") or _cannot_run(fresh.policy, ticket, "new")) is not None:
                progress.step()
                skipped.append({"ticket_id": ticket_id, "reason": why})
                continue
            old_key, new_key = f"old:{old.key}", f"new:{fresh.key}"
            policies.setdefault(old_key, old.policy)
            policies.setdefault(new_key, fresh.policy)
            tickets[ticket_id] = ticket
            chunk.append((ticket_id, ticket, messages, old_key, new_key, as_of))
            if len(chunk) >= min(CHUNK, max(1, total // (4 * jobs))):  # small stores too are shared among the processes
                submit()
                collect(block_until=2 * jobs)  # a bounded window: memory holds a few chunks, not the store
        submit()
        collect(block_until=0)
    finally:
        if pool is not None:
            pool.shutdown(cancel_futures=True)
        progress.end()
    skipped.sort(key=lambda s: s["ticket_id"])
    return rows, skipped


def _cannot_run(policy, ticket: TicketOpened, which: str) -> str | None:
    """Why `policy` cannot run the ticket (a plan or category it lacks), as `migrate` refuses it;
    None when it can. (The planner would quietly take a missing plan as one with no targets.)"""
    if ticket.plan is not None and ticket.plan not in policy.plans:
        return f"the {which} policy has no plan {ticket.plan!r}"
    if ticket.category is not None and ticket.category not in policy.categories:
        return f"the {which} policy has no category {ticket.category!r}"
    return None


class _Done:
    """A chunk simulated in this process, shaped like a future."""

    def __init__(self, value) -> None:
        self.value = value

    def result(self):
        return self.value


def _own_snapshot(store, snapshot_id: str | None, cache: dict[str, PolicySnapshot | None]) -> PolicySnapshot:
    if snapshot_id is None:
        raise Incomplete("the store does not hold the policy it opened with (opened before store revision 0005, "
                         "or while the store was down): give --baseline")
    if snapshot_id not in cache:
        body = snapshot_body(store.engine, snapshot_id)
        cache[snapshot_id] = PolicySnapshot.model_validate(body) if body is not None else None
    if cache[snapshot_id] is None:
        raise Incomplete(f"its policy snapshot {snapshot_id[:20]}... is not in the store: give --baseline")
    return cache[snapshot_id]


METRICS = ("breaches", "warnings", "escalations", "pages", "post_incident_items", "post_incident_missed", "refused")


def _flat(o: Outcome) -> dict[str, int]:
    """An outcome as named counts (breaches and pages per clock and role, and in all)."""
    flat = {"breaches": sum(o.breaches.values()), "warnings": o.warnings, "escalations": o.escalations, "pages": sum(o.pages.values()),
            "post_incident_items": o.post_incident_items, "post_incident_missed": o.post_incident_missed, "refused": o.refused}
    flat |= {f"breaches.{clock}": n for clock, n in o.breaches.items()}
    flat |= {f"pages.{role}": n for role, n in o.pages.items()}
    return flat


def _report(args, new: _Snapshots, baseline: _Snapshots | None, as_of, rows: list, skipped: list) -> tuple[dict[str, Any], str]:
    totals: dict[str, Counter] = {"baseline": Counter(), "new": Counter()}
    for r in rows:
        totals["baseline"].update(_flat(r["baseline"]))
        totals["new"].update(_flat(r["new"]))
    names = sorted(set(totals["baseline"]) | set(totals["new"]), key=lambda n: (METRICS.index(n.split(".")[0]), n))
    changed = [r for r in rows if r["changed"]]
    doc = {
        "policy": {"source": new.source, "digest": new.digest},
        "baseline": {"source": baseline.source, "digest": baseline.digest} if baseline else "each ticket's own snapshot",
        "as_of": as_of.isoformat() if as_of else None,
        "tickets": [{"ticket_id": r["ticket_id"], "customer": r["customer"], "severity": r["severity"], "changed": r["changed"],
                     "baseline": r["baseline"].model_dump(), "new": r["new"].model_dump()} for r in rows],
        "totals": {n: {"baseline": totals["baseline"][n], "new": totals["new"][n]} for n in names},
        "simulated": len(rows), "changed": len(changed), "skipped": skipped,
    }
    if args.csv:
        if skipped:  # the CSV has a row per simulated ticket: the others are said on stderr
            print(f"{len(skipped)} ticket(s) skipped: " + "; ".join(f"{s['ticket_id']}: {s['reason']}" for s in skipped[:20])
                  + (" ..." if len(skipped) > 20 else ""), file=sys.stderr)
        return doc, _csv(rows, names)
    return doc, _text(doc, rows, names, totals, changed, skipped)


def _csv(rows: list, names: list[str]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["ticket_id", "customer", "severity", "changed", "status_baseline", "status_new"]
                    + [f"{n}_{side}" for n in names for side in ("baseline", "new")])
    for r in rows:
        b, n = _flat(r["baseline"]), _flat(r["new"])
        writer.writerow([r["ticket_id"], r["customer"], r["severity"], "yes" if r["changed"] else "no", r["baseline"].status, r["new"].status]
                        + [v for name in names for v in (b.get(name, 0), n.get(name, 0))])
    return out.getvalue().rstrip("\n")


def _text(doc, rows, names, totals, changed, skipped) -> str:
    base = doc["baseline"] if isinstance(doc["baseline"], str) else f"{doc['baseline']['source']} ({doc['baseline']['digest'][:12]})"
    lines = [f"new policy {doc['policy']['source']} ({doc['policy']['digest'][:12]}) against {base}, "
             f"open tickets as of {doc['as_of'] or 'now (the store is empty)'}"]
    for r in rows:
        b, n = _flat(r["baseline"]), _flat(r["new"])
        diffs = [f"{name} {b.get(name, 0)} -> {n.get(name, 0)}" for name in names if b.get(name, 0) != n.get(name, 0)]
        if r["baseline"].status != r["new"].status:
            diffs.append(f"status {r['baseline'].status} -> {r['new'].status}")
        if r["baseline"].cut or r["new"].cut:
            diffs.append(f"CUT at {MAX_STEPS:,} steps (a ticket left open that long: give an earlier --as-of)")
        lines.append(f"{r['ticket_id']}  {r['customer']}  {r['severity']}  " + ("; ".join(diffs) if diffs else "unchanged"))
    if rows:
        width = max(len(n) for n in names) if names else 10
        lines.append(f"totals ({len(rows)} tickets)".ljust(width + 2) + f"{'baseline':>10} {'new':>10} {'change':>8}")
        for name in names:
            before, after = totals["baseline"][name], totals["new"][name]
            lines.append(f"  {name.ljust(width)}{before:>10} {after:>10} {after - before:>+8}")
    if not rows and not skipped:
        lines.append("no ticket matched (customer ids are case-sensitive; --from/--to select by opening instant)")
    lines.append(f"{len(changed)} of {len(rows)} tickets change outcome" + (f": {', '.join(r['ticket_id'] for r in changed[:20])}"
                                                                           + (" ..." if len(changed) > 20 else "") if changed else ""))
    if skipped:
        reasons = Counter(s["reason"] for s in skipped)
        lines.append(f"{len(skipped)} skipped:")
        for reason, n in sorted(reasons.items(), key=lambda kv: (-kv[1], kv[0])):
            ids = [s["ticket_id"] for s in skipped if s["reason"] == reason]
            lines.append(f"  {n} x {reason}: {', '.join(ids[:10])}" + (" ..." if len(ids) > 10 else ""))
    return "\n".join(lines)


def main_simulate(args: argparse.Namespace) -> int:
    try:
        doc, text = run_simulate(args)
    except SimulateError as exc:
        print(f"escalator: error: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(doc, indent=2, sort_keys=True) if args.json else text)
    return 0
