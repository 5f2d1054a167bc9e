"""`escalator schedule create|list|delete|trigger`: scheduled reviews on Temporal Schedules.

A schedule starts the `ScheduledReview` workflow (workflows/review.py) on its cron; the worker's
`send_review` activity builds the review from the ticket store and sends it to the roles' e-mail
(the HTML page attached), Slack and console contacts (docs/reports.md).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import sys
from datetime import timedelta
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from temporalio.client import (
    Client, Schedule, ScheduleActionStartWorkflow, ScheduleAlreadyRunningError, ScheduleOverlapPolicy, SchedulePolicy, ScheduleSpec,
)
from temporalio.service import RPCError, RPCStatusCode

from connection.client import CannotConnect, connect, flags_of, load
from sla.contacts import parse_contacts
from sla.policy import PolicyError
from reports.reviews import KINDS
from sla.messages import ReviewSent
from workflows.contract import TASK_QUEUE
from workflows.review import WORKFLOW_REVIEW, ReviewRequest

DEFAULT_CRON = {"monthly-report": "0 8 1 * *", "weekly-review": "0 8 * * MON", "open-post-incident": "0 8 * * *"}
ROLE = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
SCHEDULE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")


class ScheduleError(Exception):
    """One line: no server, no such schedule, a refused request (exit 1)."""


class ScheduleInputError(ScheduleError):
    """One line: bad input, found before anything is sent (exit 2)."""


def add_schedule_arguments(p: argparse.ArgumentParser, common: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="schedule_command", metavar="create|list|delete|trigger", required=True)
    c = sub.add_parser("create", parents=[common], help="schedule a review: monthly-report, weekly-review or open-post-incident")
    c.add_argument("kind", choices=KINDS)
    c.add_argument("--to", action="append", required=True, metavar="ROLE", help="a role of the contacts file (repeat or comma-separate)")
    c.add_argument("--cron", metavar="EXPR", help=f"5-field cron (default: {'; '.join(f'{k} {v!r}' for k, v in DEFAULT_CRON.items())})")
    c.add_argument("--tz", metavar="ZONE", default="UTC", help="the zone the cron reads in (IANA name; default UTC)")
    c.add_argument("--id", dest="schedule_id", metavar="ID", help="the schedule's id (default: the kind)")
    c.add_argument("--contacts", default=os.environ.get("ESCALATOR_CONTACTS"), metavar="FILE",
                   help="check that each role has an e-mail, Slack or console contact there (env ESCALATOR_CONTACTS, as the worker reads it)")
    c.add_argument("--task-queue", default=os.environ.get("ESCALATOR_TASK_QUEUE", TASK_QUEUE),
                   help=f"the workers' task queue (env ESCALATOR_TASK_QUEUE; default {TASK_QUEUE})")
    sub.add_parser("list", parents=[common], help="the review schedules: kind, roles, cron, next and last runs")
    d = sub.add_parser("delete", parents=[common], help="delete a review schedule (runs already made stay in history)")
    d.add_argument("schedule_id", metavar="ID")
    t = sub.add_parser("trigger", parents=[common], help="run a review schedule now and wait for what it sent")
    t.add_argument("schedule_id", metavar="ID")
    t.add_argument("--wait", type=_seconds, default=120, metavar="SECONDS", help="how long to wait for the run's result (default 120; 0: do not wait)")


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not 0 <= value <= 86400:
        raise argparse.ArgumentTypeError(f"{text!r}: give 0 (do not wait) to 86400 seconds")
    return value


def _roles(values: list[str]) -> list[str]:
    roles = [r.strip() for v in values for r in v.split(",") if r.strip()]
    bad = [r for r in roles if not ROLE.match(r)]
    if bad or not roles:
        raise ScheduleInputError(f"--to: {', '.join(map(repr, bad)) or 'nothing'} is not a role name (lower case, digits, _; e.g. support_manager)")
    return list(dict.fromkeys(roles))


def _check_roles(roles: list[str], contacts_path: str | None) -> None:
    """Each role must have a contact a review can reach in the contacts file, when there is one
    to read (without it, `trigger` reports roles with no contact)."""
    if not contacts_path:
        return
    try:
        contacts = parse_contacts(Path(contacts_path).read_text(encoding="utf-8"), contacts_path)
    except (OSError, UnicodeDecodeError) as exc:
        raise ScheduleInputError(f"--contacts: cannot read {contacts_path}: {getattr(exc, 'strerror', None) or exc}") from None
    except PolicyError as exc:
        raise ScheduleInputError(f"--contacts: {str(exc).splitlines()[0]}") from None
    usable = {c.role for c in contacts.contacts if c.channel.value in ("email", "slack", "console") and c.customer is None}
    missing = [r for r in roles if r not in usable]
    if missing:
        raise ScheduleInputError(f"--to: {', '.join(missing)} has no e-mail, Slack or console contact in {contacts_path} "
                                 f"(roles that have one: {', '.join(sorted(usable)) or 'none'})")


def _cron(text: str) -> str:
    fields = text.split()
    if len(fields) != 5:
        raise ScheduleInputError(f"--cron: {text!r} has {len(fields)} field(s); a cron has 5: minute hour day-of-month month day-of-week (e.g. '0 8 * * MON')")
    return " ".join(fields)


def _zone(name: str) -> None:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ScheduleInputError(f"--tz: {name!r} is not an IANA time zone (e.g. Europe/Berlin)") from None


async def _client(args: argparse.Namespace) -> Client:
    try:
        return await connect(load(*flags_of(args)))
    except CannotConnect as exc:
        raise ScheduleError(str(exc)) from None


def _not_found(exc: RPCError, schedule_id: str) -> ScheduleError:
    if exc.status is RPCStatusCode.NOT_FOUND:
        return ScheduleError(f"no schedule {schedule_id!r} (see `escalator schedule list`)")
    return ScheduleError(f"the server refused: {str(exc).splitlines()[0][:300]}")


async def _create(client: Client, args: argparse.Namespace) -> tuple[dict, str]:
    roles = _roles(args.to)
    cron = _cron(args.cron or DEFAULT_CRON[args.kind])
    _zone(args.tz)
    schedule_id = args.schedule_id or args.kind
    action = ScheduleActionStartWorkflow(WORKFLOW_REVIEW, ReviewRequest(kind=args.kind, to=roles, tz=args.tz), id=f"review-{schedule_id}",
                                         task_queue=args.task_queue, execution_timeout=timedelta(days=2))
    schedule = Schedule(action=action, spec=ScheduleSpec(cron_expressions=[cron], time_zone_name=args.tz),
                        policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.BUFFER_ONE))
    try:
        # The server keeps a cron as calendar specs: the memo keeps it as it was written, for `list`.
        await client.create_schedule(schedule_id, schedule, memo={"kind": args.kind, "to": ",".join(roles), "cron": cron, "tz": args.tz})
    except ScheduleAlreadyRunningError:
        raise ScheduleError(f"a schedule {schedule_id!r} exists: delete it first, or give another --id") from None
    except RPCError as exc:
        raise ScheduleError(f"the server refused the schedule ({cron!r} in {args.tz}): {str(exc).splitlines()[0][:300]}") from None
    doc = {"id": schedule_id, "kind": args.kind, "to": roles, "cron": cron, "tz": args.tz}
    return doc, f"created schedule {schedule_id}: {args.kind} to {', '.join(roles)} at {cron!r} ({args.tz})\n"


async def _list(client: Client) -> tuple[dict, str]:
    rows = []
    async for entry in await client.list_schedules():
        description = await client.get_schedule_handle(entry.id).describe()
        action = description.schedule.action
        if not isinstance(action, ScheduleActionStartWorkflow) or action.workflow != WORKFLOW_REVIEW:
            continue  # another application's schedule
        memo = await description.memo()
        spec = description.schedule.spec
        info = description.info
        rows.append({"id": entry.id, "kind": memo.get("kind"), "to": memo.get("to"), "cron": memo.get("cron") or ", ".join(spec.cron_expressions) or "-",
                     "tz": memo.get("tz") or spec.time_zone_name or "UTC", "paused": description.schedule.state.paused,
                     "next": info.next_action_times[0].isoformat() if info.next_action_times else None,
                     "last": info.recent_actions[-1].started_at.isoformat() if info.recent_actions else None})
    rows.sort(key=lambda r: r["id"])
    lines = [f"{r['id']}: {r['kind'] or '-'} to {r['to'] or '-'} at {r['cron']!r} ({r['tz']}){' PAUSED' if r['paused'] else ''}\n"
             f"  next {r['next'] or '-'}, last {r['last'] or 'never'}" for r in rows]
    return {"schedules": rows}, ("\n".join(lines) if lines else "no review schedules (escalator schedule create ...)") + "\n"


async def _trigger(client: Client, args: argparse.Namespace) -> tuple[dict, str]:
    handle = client.get_schedule_handle(args.schedule_id)
    try:
        before = len((await handle.describe()).info.recent_actions)
        await handle.trigger(overlap=ScheduleOverlapPolicy.ALLOW_ALL)
    except RPCError as exc:
        raise _not_found(exc, args.schedule_id) from None
    if args.wait <= 0:
        return {"id": args.schedule_id, "triggered": True}, f"triggered {args.schedule_id}\n"
    loop = asyncio.get_running_loop()
    deadline = loop.time() + args.wait
    while True:  # the server records the run it started among the schedule's recent actions
        actions = (await handle.describe()).info.recent_actions
        if len(actions) > before or (actions and len(actions) == before and before >= 10):
            break
        if loop.time() > deadline:
            raise ScheduleError(f"triggered {args.schedule_id}, but no run started within {args.wait:g} s (is the schedule paused?)")
        await asyncio.sleep(0.5)
    run = actions[-1].action
    workflow_id = getattr(run, "workflow_id", None)
    try:
        sent = await asyncio.wait_for(client.get_workflow_handle(workflow_id, result_type=ReviewSent).result(),
                                      timeout=max(1.0, deadline - loop.time()))
    except asyncio.TimeoutError:
        raise ScheduleError(f"triggered {args.schedule_id} as {workflow_id}; no result within {args.wait:g} s: "
                            f"{await _waiting_on(client, workflow_id)} (the run goes on)") from None
    except Exception as exc:  # the run failed: say why, in one line
        cause = getattr(exc, "cause", None) or exc
        raise ScheduleError(f"the run {workflow_id} failed: {str(cause).splitlines()[0][:300]}") from None
    doc = {"id": args.schedule_id, "workflow_id": workflow_id} | sent.model_dump()
    text = (f"{args.schedule_id} ran as {workflow_id} for period {sent.period}: sent {sent.sent}, already sent {sent.already_sent}, "
            f"failed {sent.failed}" + (f"; no e-mail, Slack or console contact for {', '.join(sent.no_contact)}" if sent.no_contact else "")
            + f"\n  {json.dumps(sent.counts)}\n")
    return doc, text


async def _waiting_on(client: Client, workflow_id: str) -> str:
    """What a run that has not finished is waiting on: its send's last error, or no worker."""
    try:
        raw = (await client.get_workflow_handle(workflow_id).describe()).raw_description
    except RPCError:
        return "its state cannot be read"
    for pending in raw.pending_activities:
        if pending.last_failure.message:
            return f"the send is retried (attempt {pending.attempt}): {pending.last_failure.message[:200]}"
        return f"the send has started (attempt {pending.attempt})"
    return "no worker has taken it yet (is a worker running on its task queue?)"


async def run_schedule(args: argparse.Namespace) -> tuple[dict, str]:
    if args.schedule_command == "create":  # check the input before connecting
        _check_roles(_roles(args.to), args.contacts)
        _cron(args.cron or DEFAULT_CRON[args.kind])
        _zone(args.tz)
        if args.schedule_id is not None and not SCHEDULE_ID.match(args.schedule_id):
            raise ScheduleInputError(f"--id: {args.schedule_id!r} is not an id (letters, digits, '.', '_', '-'; up to 100)")
    client = await _client(args)
    if args.schedule_command == "create":
        return await _create(client, args)
    if args.schedule_command == "list":
        return await _list(client)
    if args.schedule_command == "delete":
        try:
            await client.get_schedule_handle(args.schedule_id).delete()
        except RPCError as exc:
            raise _not_found(exc, args.schedule_id) from None
        return {"id": args.schedule_id, "deleted": True}, f"deleted schedule {args.schedule_id}\n"
    return await _trigger(client, args)


def main_schedule(args: argparse.Namespace) -> int:
    try:
        doc, text = asyncio.run(run_schedule(args))
    except ScheduleError as exc:
        print(f"escalator: error: {exc}", file=sys.stderr)
        return 2 if isinstance(exc, ScheduleInputError) else 1
    sys.stdout.write(json.dumps(doc, indent=2) + "\n" if getattr(args, "json", False) else text)
    # A triggered run that reached nobody (every role without a usable contact, or refused) is a failure to see.
    if args.schedule_command == "trigger" and "sent" in doc and doc["sent"] + doc["already_sent"] == 0:
        print("escalator: error: the review reached nobody", file=sys.stderr)
        return 1
    return 0
