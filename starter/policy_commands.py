"""`escalator plan` and `escalator policy check`: the policy and planner, without Temporal."""

from __future__ import annotations

import argparse
import os
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import ValidationError

from policies import DEFAULT_POLICY
from sla.contacts import check_contacts, parse_contacts
from sla.durations import Duration
from sla.policy import Policy, PolicyError, digest, parse_policy, take_snapshot
from sla.severity import Severity
from sla.ticket import TicketOpened, TicketStatus
from sla.timeline import DryRunAction, timeline


class CommandError(Exception):
    """Bad input or an unusable file, reported as one or more lines naming what is wrong."""


def display_zone(tz: str | None, policy_path: str | None = None, policy: Policy | None = None) -> ZoneInfo:
    """The zone to print instants in: `tz`, else the default calendar's of `policy` (read from
    `policy_path`, the bundled one without a path). CommandError for an unknown zone."""
    try:
        return ZoneInfo(tz) if tz else (policy or read_policy(policy_path)[0]).calendar(None).zone
    except (ZoneInfoNotFoundError, ValueError):
        raise CommandError(f"--tz: unknown IANA time zone {tz!r} (e.g. Europe/Berlin or UTC)") from None


def local(value: datetime | None, zone: ZoneInfo, seconds: bool = True) -> str:
    """An instant in `zone`, with its offset: 2026-11-30 10:00:00+01:00."""
    if value is None:
        return "-"
    return value.astimezone(zone).isoformat(sep=" ", timespec="seconds" if seconds else "minutes")


def read_policy(path: str | None) -> tuple[Policy, str, str]:
    """(policy, source name, text digest) of a policy file, the bundled default without a path."""
    source = path or str(DEFAULT_POLICY)
    try:
        text = Path(source).read_text(encoding="utf-8")
    except OSError as exc:
        raise CommandError(f"cannot read policy file {source}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise CommandError(f"policy file {source} is not a text file (TOML in UTF-8)") from None
    try:
        return parse_policy(text, source), source, digest(text)
    except PolicyError as exc:
        raise CommandError(str(exc)) from None


def add_plan_arguments(p: argparse.ArgumentParser, instant) -> None:
    p.add_argument("--severity", required=True, help="sev1..sev4 or an alias (critical, high, ...)")
    p.add_argument("--opened", required=True, type=instant, help="when the ticket opens (ISO 8601 with offset)")
    p.add_argument("--plan", dest="customer_plan", help="customer plan (enterprise, premium, starter)")
    p.add_argument("--category", help="ticket category (billing_dispute, ...)")
    p.add_argument("--policy", help="policy TOML file (default: the bundled default policy)")
    p.add_argument("--now", type=instant, help="evaluate as of this instant (default: the opening instant); earlier obligations show as overdue")
    p.add_argument("--horizon", help="list recurring obligations this long after opening, e.g. '3 days' (default: up to the resolution deadline)")
    p.add_argument("--paused-from", type=instant, action="append", default=[], help="start of a pause (waiting on the customer); repeatable")
    p.add_argument("--paused-until", type=instant, action="append", default=[], help="end of the matching pause; omit the last one for a pause still on at --now")
    p.add_argument("--paused-as", default=TicketStatus.WAITING_ON_CUSTOMER.value, choices=[TicketStatus.WAITING_ON_CUSTOMER.value, TicketStatus.WAITING_ON_THIRD_PARTY.value],
                   help="the status the pauses stand for (default waiting_on_customer); each clock pauses as the policy says")
    p.add_argument("--respond-at", type=instant, metavar="ISO", help="the dry run responds to the customer then (meets the response clocks)")
    p.add_argument("--ack-page", action="append", default=[], metavar="STEP@ISO", type=_step_at(instant),
                   help="the dry run acknowledges that step's page then; repeatable")
    p.add_argument("--commander-at", type=instant, metavar="ISO", help="the dry run designates an incident commander then")
    p.add_argument("--resolve-at", type=instant, metavar="ISO", help="the dry run resolves the ticket then (post-incident obligations follow)")
    p.add_argument("--tz", help="time zone to show instants in (default: the policy's default calendar's)")
    p.add_argument("--json", action="store_true", help="print exactly one JSON document: a list of obligations")


def _step_at(instant):
    """argparse type for STEP@ISO, the instant read by the command line's own `instant` parser."""
    def parse(text: str) -> tuple[str, datetime]:
        step, sep, when = text.partition("@")
        if not sep or not step:
            raise argparse.ArgumentTypeError(f"{text!r} is not STEP@ISO, e.g. engineering@2026-11-30T16:10:00+01:00")
        return step, instant(when)
    return parse


def dry_run_actions(args: argparse.Namespace, steps: set[str]) -> list[DryRunAction]:
    """The --respond-at, --ack-page, --commander-at and --resolve-at of a dry run; CommandError naming the option."""
    actions = [DryRunAction(at=at, kind=kind) for kind, at in (("respond", args.respond_at), ("commander", args.commander_at),
                                                               ("resolve", args.resolve_at)) if at is not None]
    for step, at in args.ack_page:
        if step not in steps:
            raise CommandError(f"--ack-page: {step!r} is not an escalation step of this severity (have {', '.join(sorted(steps)) or 'none'})")
        actions.append(DryRunAction(at=at, kind="ack_page", step=step))
    for action in actions:
        if action.at < args.opened:
            raise CommandError(f"--{action.kind.replace('_', '-')}{'-at' if action.kind != 'ack_page' else ''}: {action.at.isoformat()} is before the ticket opens")
    return actions


@dataclass
class PlanResult:
    doc: list[dict[str, Any]]
    text: str


def run_plan(args: argparse.Namespace) -> PlanResult:
    for option, value in (("--opened", args.opened), ("--now", args.now)):
        if value is not None and not 1971 <= value.year <= 2200:
            raise CommandError(f"{option}: {value.isoformat()} is out of range (a year from 1971 to 2200)")
    if args.now is not None and args.now < args.opened:
        raise CommandError(f"--now: {args.now.isoformat()} is before --opened")
    policy, source, text_digest = read_policy(args.policy)
    try:
        severity = Severity.parse(args.severity, {**policy.aliases})
    except ValueError as exc:
        raise CommandError(f"--severity: {exc}") from None
    if args.customer_plan and args.customer_plan not in policy.plans:
        raise CommandError(f"--plan: {args.customer_plan!r} is not a plan of {source} (have {', '.join(sorted(policy.plans))})")
    if args.category and args.category not in policy.categories:
        raise CommandError(f"--category: {args.category!r} is not a category of {source} (have {', '.join(sorted(policy.categories))})")
    starts, ends = args.paused_from, args.paused_until
    if len(ends) > len(starts) or len(starts) - len(ends) > 1:
        raise CommandError("--paused-until: give one per --paused-from (the last may be left out for a pause still on)")
    pauses = [(a, ends[i] if i < len(ends) else None) for i, a in enumerate(starts)]
    for a, b in pauses:
        if b is not None and b <= a:
            raise CommandError(f"--paused-until: {b.isoformat()} is not after --paused-from {a.isoformat()}")
        if a < args.opened:
            raise CommandError(f"--paused-from: {a.isoformat()} is before the ticket opens")
    horizon = None
    if args.horizon:
        try:
            length = Duration.parse(args.horizon)
        except ValidationError as exc:
            raise CommandError(f"--horizon: {exc.errors()[0]['msg'].removeprefix('Value error, ')}") from None
        if length.business:
            raise CommandError("--horizon: give a wall-clock length such as '3 days'")
        horizon = args.opened.astimezone(UTC) + timedelta(seconds=length.seconds(0))
    zone = display_zone(args.tz, policy=policy)

    snapshot = take_snapshot(policy, source, text_digest, args.opened)
    ticket = TicketOpened(ticket_id="PLAN", customer="PLAN", title="dry run", severity=severity, channel="cli",
                          opened_at=args.opened, plan=args.customer_plan, category=args.category)
    now = args.now or args.opened
    actions = dry_run_actions(args, steps={s.id for s in policy.escalation.get(severity, [])})
    planned = timeline(snapshot.policy, ticket, now, pauses, horizon, TicketStatus(args.paused_as), actions)
    entries = planned.entries

    doc = [
        {
            "id": e.obligation.id, "kind": e.obligation.kind.value, "clock": e.obligation.clock.value if e.obligation.clock else None,
            "due": e.obligation.due.astimezone(zone).isoformat(), "summary": e.obligation.summary,
            "percent": e.obligation.percent, "overdue": e.overdue,
            "target": {"within": str(e.target.within), "calendar": e.target.calendar, "rule": e.target.rule} if e.target else None,
            "roles": e.obligation.roles,
        }
        for e in entries
    ]
    lines = [
        f"{severity.label} ticket opened {args.opened.astimezone(zone):%a %Y-%m-%d %H:%M %z}"
        + (f", plan {args.customer_plan}" if args.customer_plan else "") + (f", category {args.category}" if args.category else "")
        + f"; policy {policy.name} {policy.version}; times in {zone.key}",
        "",
        "targets:",
    ]
    for t in planned.targets:
        note = "" if t.due else ", paused: no deadline yet"
        lines.append(f"  {t.clock.label:<15} {str(t.within):<20} on {t.calendar:<10} ({t.rule}{note})")
    paused_clocks = [c.label for c in snapshot.policy.clocks if TicketStatus(args.paused_as) in snapshot.policy.clock_rules(c).pauses_on]
    for a, b in pauses:
        until = f"until {b.astimezone(zone):%a %Y-%m-%d %H:%M}" if b else "still on"
        lines.append(f"pause: {args.paused_as} from {a.astimezone(zone):%a %Y-%m-%d %H:%M}, {until} (pauses {', '.join(paused_clocks) or 'no clock'})")
    lines += ["", f"  {'due':<26} {'kind':<10} summary"]
    for e in entries:
        mark = "  (overdue)" if e.overdue else ""
        lines.append(f"  {e.obligation.due.astimezone(zone):%a %Y-%m-%d %H:%M %z}  {e.obligation.kind.value:<10} {e.obligation.summary}{mark}")
    if not entries:
        lines.append("  nothing due (every clock is paused)")
    return PlanResult(doc, "\n".join(lines))


def add_policy_check_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("file", metavar="FILE", help="policy TOML file")
    p.add_argument("--contacts", help="contacts TOML file to check against the policy")
    p.add_argument("--today", type=date.fromisoformat, help="date to measure contact reviews against (default today)")
    p.add_argument("--json", action="store_true", help="print one JSON document: {ok, errors, warnings, summary}")
    p.add_argument("--allow-private-urls", action="store_true",
                   default=os.environ.get("ESCALATOR_ALLOW_PRIVATE_URLS", "").lower() in ("1", "true", "yes"),
                   help="accept http:// and private/loopback webhook URLs, as the worker with ESCALATOR_ALLOW_PRIVATE_URLS=true does")


def targets_out_of_order(policy: Policy) -> list[str]:
    """Warnings for tickets whose first response would fall due after their resolution, e.g. a
    category's first response longer than a severity's resolution (checked for a ticket opened
    on a Monday at 09:00 in the default calendar's zone, for every severity, plan and category)."""
    from datetime import datetime, time, timedelta

    from sla.planner import effective_target
    from sla.ticket import ClockName, TicketOpened, TicketState

    zone = policy.calendar(None).zone
    today = date(2026, 11, 30)  # a Monday with no holiday in the bundled calendars
    opened = datetime.combine(today - timedelta(days=today.weekday()), time(9), tzinfo=zone)
    found = []
    for severity in policy.severities:
        for plan in [None, *policy.plans]:
            for category in [None, *policy.categories]:
                state = TicketState.opened(TicketOpened(ticket_id="CHECK", customer="CHECK", title="check", severity=severity,
                                                        opened_at=opened, plan=plan, category=category))
                first = effective_target(policy, state, state.clocks[ClockName.FIRST_RESPONSE])
                resolution = effective_target(policy, state, state.clocks[ClockName.RESOLUTION])
                if first and resolution and first.due and resolution.due and first.due > resolution.due:
                    found.append(f"{severity.value}" + (f", plan {plan}" if plan else "") + (f", category {category}" if category else "")
                                 + f": first response ({first.within}, {first.rule}) falls due after resolution ({resolution.within}, {resolution.rule})")
    return found


def run_policy_check(args: argparse.Namespace) -> tuple[bool, dict[str, Any], str]:
    """(ok, JSON document, text); warnings never make it fail."""
    errors: list[str] = []
    warnings: list[str] = []
    summary = ""
    try:
        policy, source, _ = read_policy(args.file)
        target_warnings = [f"{source}: {w}" for w in targets_out_of_order(policy)]
        summary = (
            f"policy {policy.name} {policy.version}: {len(policy.severities)} severities, {len(policy.plans)} plans, "
            f"{len(policy.categories)} categories, {len(policy.calendars)} calendar(s) + 24x7, {len(policy.roles)} roles"
        )
        if args.contacts:
            try:
                text = Path(args.contacts).read_text(encoding="utf-8")
                contact_errors, warnings = check_contacts(policy, parse_contacts(text, args.contacts), args.contacts, args.today or date.today(),
                                                          allow_private=args.allow_private_urls)
                errors += contact_errors
            except OSError as exc:
                errors.append(f"cannot read contacts file {args.contacts}: {exc.strerror}")
            except UnicodeDecodeError:
                errors.append(f"contacts file {args.contacts} is not a text file (TOML in UTF-8)")
            except PolicyError as exc:
                errors += str(exc).splitlines()
        warnings = target_warnings + warnings
    except CommandError as exc:
        errors += str(exc).splitlines()
    ok = not errors
    text = "\n".join(
        ([f"ok: {summary}"] if ok else [f"error: {e}" for e in errors]) + [f"warning: {w}" for w in warnings]
    )
    return ok, {"ok": ok, "errors": errors, "warnings": warnings, "summary": summary or None}, text
