"""`escalator migrate`: move running tickets to a new policy (the `change_policy` update).

Each ticket gets the new policy's snapshot (holidays resolved from the ticket's opening year,
as at opening) and a mode (sla/policy_change.py). `--dry-run` computes, with the same pure
function the workflow runs, each ticket's running deadlines before and after, and sends
nothing. A real run sends one update per ticket with the event id `migrate:<digest>:<mode>`,
so running it again moves nothing twice; a ticket already on the new policy is skipped.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from datetime import UTC, datetime
from typing import Any

from connection.client import CannotConnect, flags_of, load
from sla.messages import ChangePolicy
from sla.policy import PolicySnapshot, take_snapshot
from sla.policy_change import ChangeMode, change_policy, check_change
from starter.client import TicketClient, TicketError, UnknownTicket
from starter.policy_commands import CommandError, read_policy
from starter.replay_command import Progress

RUNNING = "WorkflowType = 'TicketWorkflow' AND ExecutionStatus = 'Running'"


class MigrateError(Exception):
    """Nothing can be migrated (bad policy, no server): one line per reason."""


def add_migrate_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--policy", required=True, metavar="NEW.toml", help="the policy to move the tickets to (validated first)")
    p.add_argument("--mode", required=True, choices=[m.value for m in ChangeMode],
                   help="keep: running deadlines stay; forward: used business time kept, the rest under the new targets; "
                        "recompute: everything re-planned from the opening (what is overdue fires at once)")
    which = p.add_mutually_exclusive_group()
    which.add_argument("--tickets", metavar="QUERY", help="a visibility query, e.g. \"Customer = 'ACME'\" (default: every running ticket; "
                                                          "running ones only unless the query names ExecutionStatus)")
    which.add_argument("--ticket", action="append", metavar="ID", help="one ticket (repeatable)")
    p.add_argument("--limit", type=int, metavar="N", help="at most N tickets (default all)")
    p.add_argument("--dry-run", action="store_true", help="print each ticket's deadlines before and after; send nothing")
    p.add_argument("--by", default=os.environ.get("ESCALATOR_BY"), help="who is moving them, for the timeline (required; env ESCALATOR_BY)")


def _query(args: argparse.Namespace) -> str:
    if not args.tickets:
        return RUNNING
    if "executionstatus" in args.tickets.lower():
        return f"WorkflowType = 'TicketWorkflow' AND ({args.tickets})"
    return f"{RUNNING} AND ({args.tickets})"


def _workers_differ(new_digest: str) -> str | None:
    """A warning when the workers' policy (ESCALATOR_POLICY, else the bundled one) is not NEW.toml."""
    path = os.environ.get("ESCALATOR_POLICY") or None
    try:
        _, source, workers = read_policy(path)
    except CommandError as exc:
        return f"warning: cannot read the workers' policy to compare: {exc}"
    if workers == new_digest:
        return None
    return (f"warning: the workers' policy ({source}, digest {workers[:12]}) differs from the new one: new tickets still get it; "
            f"point ESCALATOR_POLICY at the new file and restart the workers")


def _fmt(at: datetime | None) -> str:
    return at.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z") if at else "none"


async def _tickets(client: TicketClient, args: argparse.Namespace) -> list[str]:
    if args.ticket:
        return list(dict.fromkeys(args.ticket))
    found = []
    async for execution in client.client.list_workflows(_query(args), limit=args.limit):
        found.append(execution.id)
    return sorted(found)


async def run_migrate(args: argparse.Namespace) -> tuple[dict[str, Any], str, bool]:
    """(JSON document, text, no ticket refused or failed)."""
    if args.limit is not None and args.limit < 1:
        raise MigrateError("--limit: give 1 or more")
    problems = []
    try:
        new_policy, source, new_digest = read_policy(args.policy)
    except CommandError as exc:
        problems.append(str(exc))
    by = (args.by or "").strip()
    if not by and not args.dry_run:
        problems.append("--by: say who moves the tickets (required, for the timeline; env ESCALATOR_BY)")
    elif by.lower() == "root" or len(by) > 200:
        problems.append("--by: name the person who does it, not root (at most 200 characters)")
    if problems:
        raise MigrateError("\n".join(problems))
    args.by = by
    if (warning := _workers_differ(new_digest)) is not None:
        print(warning, file=sys.stderr)
    try:
        client = await TicketClient.connect(load(*flags_of(args)))
    except (CannotConnect, TicketError) as exc:
        raise MigrateError(str(exc)) from None
    mode = ChangeMode(args.mode)
    snapshots: dict[int, PolicySnapshot] = {}
    rows: list[dict[str, Any]] = []
    try:
        ids = await _tickets(client, args)
    except Exception as exc:  # the server's answer to a bad query (RPCError), one line
        reason = str(exc).splitlines()[0][:300]
        raise MigrateError(f"--tickets: the server refused the query {args.tickets!r} (inside {_query(args)!r}): {reason}") from None
    progress = Progress(len(ids), "{} tickets so far")
    try:
        for ticket_id in ids:
            rows.append(await _one(client, ticket_id, new_policy, source, new_digest, mode, args, snapshots))
            progress.step()
    finally:
        progress.end()
    counts = {k: sum(1 for r in rows if r["outcome"] == k) for k in ("moved", "would_move", "already", "refused", "failed")}
    lines = [_line(r) for r in rows]
    verb = "would move" if args.dry_run else "moved"
    lines.append(f"{len(rows)} tickets: {counts['would_move' if args.dry_run else 'moved']} {verb} ({mode.value}), "
                 f"{counts['already']} already on it, {counts['refused']} refused, {counts['failed']} failed"
                 if rows else "no ticket matched")
    doc = {"policy": source, "digest": new_digest, "mode": mode.value, "dry_run": args.dry_run, "tickets": rows, **counts}
    return doc, "\n".join(lines), not (counts["refused"] or counts["failed"])


def _line(row: dict[str, Any]) -> str:
    moves = "; ".join(f"{m['clock']}: {_fmt_iso(m['before'])} -> {_fmt_iso(m['after'])}" for m in row.get("deadlines", []))
    if row["outcome"] in ("moved", "would_move"):
        same = all(m["before"] == m["after"] for m in row.get("deadlines", []))
        return f"{row['ticket_id']}  {row['outcome'].replace('_', ' ')}  {moves or 'no running clock'}" + ("  (deadlines unchanged)" if same and moves else "")
    return f"{row['ticket_id']}  {row['outcome']}: {row['reason']}"


def _fmt_iso(text: str | None) -> str:
    return _fmt(datetime.fromisoformat(text)) if text else "none"


async def _one(client: TicketClient, ticket_id: str, new_policy, source: str, new_digest: str, mode: ChangeMode,
               args: argparse.Namespace, snapshots: dict[int, PolicySnapshot]) -> dict[str, Any]:
    row: dict[str, Any] = {"ticket_id": ticket_id}
    try:
        view = await client.view(ticket_id, wait=10)
        current = await client.policy(ticket_id)
    except UnknownTicket as exc:
        return row | {"outcome": "refused", "reason": str(exc)}
    except TicketError as exc:
        return row | {"outcome": "refused" if "closed" in str(exc) else "failed", "reason": str(exc)}
    state = view.state
    year = state.ticket.opened_at.year
    if year not in snapshots:
        snapshots[year] = take_snapshot(new_policy, source, new_digest, state.ticket.opened_at)
    new = snapshots[year]
    if current is None:
        return row | {"outcome": "failed", "reason": "the ticket has not taken its policy snapshot yet (is a worker running?)"}
    if current.digest == new.digest and current.policy == new.policy:
        return row | {"outcome": "already", "reason": f"already runs under this policy (digest {new_digest[:12]})"}
    try:
        check_change(new.policy, state)
    except ValueError as exc:
        return row | {"outcome": "refused", "reason": str(exc)}
    moves = change_policy(current.policy, new.policy, state.model_copy(deep=True), mode, datetime.now(UTC))
    row["deadlines"] = [{"clock": m.clock.value, "before": m.before.isoformat() if m.before else None,
                         "after": m.after.isoformat() if m.after else None} for m in moves]
    row["digest_from"] = current.digest
    if args.dry_run:
        return row | {"outcome": "would_move"}
    try:
        await client.change_policy(ticket_id, ChangePolicy(snapshot=new, mode=mode, by=args.by, event_id=f"migrate:{new_digest[:32]}:{mode.value}"))
    except TicketError as exc:
        return row | {"outcome": "refused", "reason": str(exc)}
    return row | {"outcome": "moved"}


def main_migrate(args: argparse.Namespace) -> int:
    try:
        doc, text, ok = asyncio.run(run_migrate(args))
    except MigrateError as exc:
        for line in str(exc).splitlines():
            print(f"escalator: error: {line}", file=sys.stderr)
        return 2
    print(json.dumps(doc, indent=2) if args.json else text)
    return 0 if ok else 1
