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
import sys
from datetime import timedelta

from temporalio.client import (
    Client, Schedule, ScheduleActionStartWorkflow, ScheduleAlreadyRunningError, ScheduleOverlapPolicy, SchedulePolicy, ScheduleSpec,
)
from temporalio.service import RPCError, RPCStatusCode

from connection.client import CannotConnect, connect, flags_of, load
from reports.reviews import KINDS
from sla.messages import ReviewSent
from starter.schedule_input import (
    DEFAULT_CRON, SCHEDULE_ID, ScheduleError, ScheduleInputError, check_roles, cron, roles, seconds, zone,
)
from workflows.contract import TASK_QUEUE
from workflows.review import WORKFLOW_REVIEW, ReviewRequest


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
    t.add_argument("--wait", type=seconds, default=120, metavar="SECONDS", help="how long to wait for the run's result (default 120; 0: do not wait)")


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
    to = roles(args.to)
    expression = cron(args.cron or DEFAULT_CRON[args.kind])
    zone(args.tz)
    schedule_id = args.schedule_id or args.kind
    action = ScheduleActionStartWorkflow(WORKFLOW_REVIEW, ReviewRequest(kind=args.kind, to=to, tz=args.tz), id=f"review-{schedule_id}",
                                         task_queue=args.task_queue, execution_timeout=timedelta(days=2))
    schedule = Schedule(action=action, spec=ScheduleSpec(cron_expressions=[expression], time_zone_name=args.tz),
                        policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.BUFFER_ONE))
    try:
        # The server keeps a cron as calendar specs: the memo keeps it as it was written, for `list`.
        await client.create_schedule(schedule_id, schedule, memo={"kind": args.kind, "to": ",".join(to), "cron": expression, "tz": args.tz})
    except ScheduleAlreadyRunningError:
        raise ScheduleError(f"a schedule {schedule_id!r} exists: delete it first, or give another --id") from None
    except RPCError as exc:
        raise ScheduleError(f"the server refused the schedule ({expression!r} in {args.tz}): {str(exc).splitlines()[0][:300]}") from None
    doc = {"id": schedule_id, "kind": args.kind, "to": to, "cron": expression, "tz": args.tz}
    return doc, f"created schedule {schedule_id}: {args.kind} to {', '.join(to)} at {expression!r} ({args.tz})\n"


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
        check_roles(roles(args.to), args.contacts)
        cron(args.cron or DEFAULT_CRON[args.kind])
        zone(args.tz)
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
