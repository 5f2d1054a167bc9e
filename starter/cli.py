"""The `escalator` command line: open, acknowledge, resolve and show tickets; run the dev stack."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import uuid
from zoneinfo import ZoneInfo
from datetime import UTC, date, datetime, timedelta
from typing import Any

from pydantic import ValidationError

from connection.client import CannotConnect, flags_of
from connection.codec import undecodable
from connection.client import add_arguments as add_temporal_arguments
from connection.client import load as load_temporal
from sla.messages import (
    Acknowledge, AcknowledgePage, AddAction, CompleteObligation, Csat, CustomerMessage, DesignateCommander,
    EscalateToManagement, HandOff, JumpToStep, LogTime, PostStatusUpdate, RecordRca, RecordReview, Reopen, Resolve, Respond,
    SeverityPlanChange, StatusChange, TicketView,
)
from sla.severity import Severity
from sla.ticket import TicketOpened, TicketState
from sla.event_time import MAX_AHEAD
from sla import intake
from sla.refusals import reason
from starter.client import COMPARED_ON_REOPEN, DEFAULT_WAIT, ENDED_UNCLOSED, NoWorker, TicketClient, TicketError
from starter.api_commands import add_api_commands, run_api_command
from starter.codec_commands import add_codec_commands, run_codec_command
from starter.hooks_commands import add_hooks_commands, run_hooks_command
from starter.hours_command import HoursError, add_hours_arguments, run_hours
from starter.mail_commands import add_mail_commands, run_mail_command
from starter.replay_command import add_replay_arguments, main_replay
from starter.migrate_command import add_migrate_arguments, main_migrate
from starter.simulate_command import add_simulate_arguments, main_simulate
from starter.report_command import add_report_arguments, main_report
from starter.schedule_command import add_schedule_arguments, main_schedule
from starter.evidence_command import add_evidence_arguments, main_evidence
from starter.drill_command import add_drill_arguments, main_drill
from starter.temporal_commands import add_temporal_commands, run_temporal_command
from starter.store_commands import StoreError, run_store_command
from store.ticket_store import DEFAULT_URL
from starter.list_command import add_list_arguments, run_list
from starter.list_command import query as list_query
from store.dev_state import default_database_url
from starter.stale_view import stale_view
from starter.policy_commands import CommandError, display_zone, local, read_policy, add_plan_arguments, add_policy_check_arguments, run_plan, run_policy_check


class UsageError(Exception):
    """Bad input on the command line, reported as one line before anything is sent."""


def _severity(text: str) -> Severity:
    try:
        return Severity.parse(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _instant(text: str) -> datetime:
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an ISO 8601 instant like 2026-12-24T16:30:00+01:00") from None
    if value.tzinfo is None:
        raise argparse.ArgumentTypeError(f"{text!r} has no UTC offset: add one, e.g. +01:00 or Z")
    return value


def _instant_or_day(text: str) -> datetime | date:
    if "T" not in text and " " not in text.strip():
        return _day(text)
    return _instant(text)


def _day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date like 2026-11-24") from None


def _names(text: str) -> list[str]:
    names = [n.strip() for n in text.split(",")]
    if not all(names):
        raise argparse.ArgumentTypeError(f"{text!r}: give names separated by commas, none blank")
    return names


def _connection_options() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    add_temporal_arguments(common)
    common.add_argument("--ui-url", default=os.environ.get("ESCALATOR_UI_URL", "http://localhost:8233"),
                        help="Temporal UI base URL for links (env ESCALATOR_UI_URL; default http://localhost:8233)")
    common.add_argument("--json", action="store_true", help="print exactly one JSON document on stdout")
    return common


def _message_options(common: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """What every command that changes a ticket takes besides its own arguments."""
    change = argparse.ArgumentParser(add_help=False, parents=[common])
    change.add_argument("--at", type=_instant, metavar="ISO",
                        help="when it happened (ISO 8601 with offset; default now): clocks are met, paused and resumed then")
    change.add_argument("--wait", type=_seconds, default=_env_seconds("ESCALATOR_WAIT", DEFAULT_WAIT), metavar="SECONDS",
                        help=f"how long to wait for a worker before the change is queued (env ESCALATOR_WAIT; default {DEFAULT_WAIT:g})")
    return change


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not 0 < value <= 3600:
        raise argparse.ArgumentTypeError(f"{text!r}: give more than 0 and at most 3600 seconds")
    return value


def _env_seconds(name: str, default: float) -> float:
    text = os.environ.get(name)
    if not text:
        return default
    try:
        return _seconds(text)
    except argparse.ArgumentTypeError as exc:
        raise SystemExit(f"escalator: error: {name}: {exc}") from None


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("escalation-orchestrator")
    except PackageNotFoundError:  # run from a checkout that was never installed
        return "(not installed)"


class _Parser(argparse.ArgumentParser):
    """argparse, with its errors as the one line every other error is: `escalator: error: ...`."""

    def error(self, message: str):  # noqa: D401 (argparse's name)
        command = self.prog.removeprefix("escalator").strip()
        where = f" (escalator {command} --help)" if command else " (escalator --help)"
        self.exit(2, f"escalator: error: {message}{where}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="escalator", description="Durable SLA clocks and escalation for support tickets.")
    parser.add_argument("--version", action="version", version=f"escalator {_version()}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND", parser_class=_Parser)
    common = _connection_options()
    change = _message_options(common)

    p = sub.add_parser("open", parents=[common], help="open a ticket (idempotent by --id)")
    p.add_argument("--customer", required=True, help="customer id (letters, digits, . _ : -)")
    p.add_argument("--severity", required=True, type=_severity, help="sev1..sev4 or critical/high/major/medium/minor/low")
    p.add_argument("--title", required=True)
    p.add_argument("--id", dest="ticket_id", help="ticket id (default: a new T-xxxxxxxxxx); opening an id again returns the running ticket")
    p.add_argument("--channel", default="cli", help="where the ticket came from: email, portal, chat, phone, api, cli (default cli)")
    p.add_argument("--plan", help="customer plan, e.g. enterprise, premium, starter")
    p.add_argument("--category", help="ticket category, e.g. technical_incident, billing_dispute, general_inquiry")
    p.add_argument("--opened-at", type=_instant, help="when the ticket was opened (ISO 8601 with offset; default now)")
    p.add_argument("--follows", metavar="TICKET", help="the closed ticket this one follows up")
    p.add_argument("--policy", default=os.environ.get("ESCALATOR_POLICY"),
                   help="the policy the worker runs, to check --plan, --category and --opened-at against (env ESCALATOR_POLICY; default the bundled one)")

    p = sub.add_parser("ack", parents=[change], help="acknowledge a ticket (an agent takes it), or with --page an escalation step's page")
    p.add_argument("ticket_id", metavar="TICKET")
    p.add_argument("--by", default=None, help="who takes the ticket or the page")
    p.add_argument("--page", metavar="STEP", help="acknowledge the page of this escalation step (e.g. engineering) instead of the ticket")
    p.add_argument("--note")

    p = sub.add_parser("commander", parents=[change], help="designate the incident commander")
    p.add_argument("ticket_id", metavar="TICKET")
    p.add_argument("name", metavar="NAME")
    p.add_argument("--by", default=None, help="who does it")

    p = sub.add_parser("status-update", parents=[change], help="post a stakeholder status update (the Sev-1 cadence)")
    p.add_argument("ticket_id", metavar="TICKET")
    p.add_argument("--text", required=True)
    p.add_argument("--by", default=None, help="who does it")

    p = sub.add_parser("escalate", parents=[change], help="escalate: to a higher tier (--to), to management (--management) or a matrix step now (--step)")
    p.add_argument("ticket_id", metavar="TICKET")
    how = p.add_mutually_exclusive_group(required=True)
    how.add_argument("--to", metavar="TIER", help="functional: hand the ticket to this higher tier (e.g. l2); needs --note")
    how.add_argument("--management", action="store_true", help="hierarchical: tell the next level of the management chain; needs --reason")
    how.add_argument("--step", metavar="STEP", help="fire this escalation step of the matrix now (e.g. engineering); needs --reason")
    p.add_argument("--note", help="the handoff note for the receiving tier (with --to)")
    p.add_argument("--reason", help="why (with --management or --step)")
    p.add_argument("--by", default=None, help="who does it")

    p = sub.add_parser("deescalate", parents=[change], help="hand the ticket back to a lower tier, with a note")
    p.add_argument("ticket_id", metavar="TICKET")
    p.add_argument("--to", required=True, metavar="TIER", help="the lower tier (e.g. l1)")
    p.add_argument("--note", required=True, help="the handoff note for the receiving tier")
    p.add_argument("--by", default=None, help="who does it")

    p = sub.add_parser("pir", parents=[change], help="record the post-incident review (date and attendees)")
    p.add_argument("ticket_id", metavar="TICKET")
    p.add_argument("--held-on", required=True, type=_day, help="the day the review took place (YYYY-MM-DD)")
    p.add_argument("--attendees", required=True, type=_names, help="who attended, separated by commas")
    p.add_argument("--by", default=None, help="who does it")

    p = sub.add_parser("rca", parents=[change], help="record the root-cause analysis document (its link)")
    p.add_argument("ticket_id", metavar="TICKET")
    p.add_argument("--link", required=True, help="http(s) URL of the RCA document")
    p.add_argument("--by", default=None, help="who does it")

    p = sub.add_parser("log-time", parents=[change], help="log support time spent on a ticket (the support-hours ledger deducts it when solved)")
    p.add_argument("ticket_id", metavar="TICKET")
    p.add_argument("--minutes", required=True, type=int, help="minutes spent (1-1440)")
    p.add_argument("--by", default=None, help="who spent it")

    p = sub.add_parser("action", parents=[change], help="add a corrective action with an owner and a deadline (tracked like the review)")
    p.add_argument("ticket_id", metavar="TICKET")
    p.add_argument("--title", required=True, help="what is to be done")
    p.add_argument("--owner", required=True, help="who owns it")
    p.add_argument("--due", required=True, type=_instant_or_day,
                   help="deadline: ISO 8601 with offset (e.g. 2026-12-04T17:00:00+01:00), or a day (2026-12-04): the end of that business day")
    p.add_argument("--by", default=None, help="who does it")

    p = sub.add_parser("done", parents=[change], help="mark a corrective action done (e.g. action-1)")
    p.add_argument("ticket_id", metavar="TICKET")
    p.add_argument("item", metavar="ITEM", help="the action's id, as `show` lists it")
    p.add_argument("--by", default=None, help="who does it")

    p = sub.add_parser("waive", parents=[change], help="waive a post-incident obligation (review, rca or an action) with a reason")
    p.add_argument("ticket_id", metavar="TICKET")
    p.add_argument("item", metavar="ITEM", help="review, rca, or an action id such as action-1")
    p.add_argument("--reason", required=True)
    p.add_argument("--by", default=None, help="who does it")

    p = sub.add_parser("respond", parents=[change], help="record a message from support to the customer (meets response clocks)")
    p.add_argument("ticket_id", metavar="TICKET")
    p.add_argument("--by", default=None, help="who answered")
    p.add_argument("--message-id", help="your id of the message")

    p = sub.add_parser("message", parents=[change], help="record a message from the customer (resumes a wait, reopens a Solved ticket)")
    p.add_argument("ticket_id", metavar="TICKET")
    p.add_argument("--message-id", help="your id of the message")

    p = sub.add_parser("status", parents=[change], help="set status: pending, waiting_on_customer or waiting_on_third_party")
    p.add_argument("ticket_id", metavar="TICKET")
    p.add_argument("status", choices=["pending", "waiting_on_customer", "waiting_on_third_party"])
    p.add_argument("--by", default=None, help="who does it")
    p.add_argument("--reason")

    for name, status, what in (("wait-customer", "waiting_on_customer", "the customer"), ("wait-third-party", "waiting_on_third_party", "a third party")):
        p = sub.add_parser(name, parents=[change], help=f"set status {status}: waiting on {what} (pauses the clocks the policy names)")
        p.add_argument("ticket_id", metavar="TICKET")
        p.add_argument("--by", default=None, help="who does it")
        p.add_argument("--reason")
        p.set_defaults(status=status)

    p = sub.add_parser("resolve", parents=[change], help="resolve a ticket: Solved, its clocks stop; it closes 3 days later")
    p.add_argument("ticket_id", metavar="TICKET")
    p.add_argument("--by", default=None, help="who resolves it")
    p.add_argument("--resolution", help="what fixed it")

    p = sub.add_parser("reopen", parents=[change], help="reopen a Solved ticket")
    p.add_argument("ticket_id", metavar="TICKET")
    p.add_argument("--by", default=None, help="who does it")
    p.add_argument("--reason", required=True)

    p = sub.add_parser("csat", parents=[change], help="record the customer's satisfaction after Solved: 1-5, good or bad")
    p.add_argument("ticket_id", metavar="TICKET")
    p.add_argument("score", choices=["1", "2", "3", "4", "5", "good", "bad"])
    p.add_argument("--comment")

    p = sub.add_parser("severity", parents=[change], help="change severity and/or plan: every clock is re-planned from the open time")
    p.add_argument("ticket_id", metavar="TICKET")
    p.add_argument("severity", nargs="?", type=_severity, help="the new severity (sev1..sev4 or an alias)")
    p.add_argument("--plan", help="the new customer plan")
    p.add_argument("--by", default=None, help="who does it")
    p.add_argument("--reason")

    store_options = argparse.ArgumentParser(add_help=False)
    store_options.add_argument("--database-url", default=default_database_url(),
                               help=f"ticket store (env DATABASE_URL; default {DEFAULT_URL} here, else the last `escalator dev`'s)")

    tz_options = argparse.ArgumentParser(add_help=False)
    tz_options.add_argument("--tz", metavar="ZONE", default=os.environ.get("ESCALATOR_TZ"),
                            help="print instants in this IANA zone (env ESCALATOR_TZ; default: the policy's calendar zone, ESCALATOR_POLICY or the bundled one)")

    p = sub.add_parser("show", parents=[common, store_options, tz_options], help="show a ticket's state, clocks and next deadline")
    p.add_argument("ticket_id", metavar="TICKET")
    p.add_argument("--wait", type=_seconds, default=_env_seconds("ESCALATOR_WAIT", DEFAULT_WAIT), metavar="SECONDS",
                   help="how long to wait for a worker to answer before showing what the server and the store know")
    with_json = argparse.ArgumentParser(add_help=False, parents=[store_options])
    with_json.add_argument("--json", action="store_true", help="print exactly one JSON document on stdout")

    p = sub.add_parser("list", parents=[common, tz_options], help="the tickets that match, soonest deadline first")
    add_list_arguments(p, _severity)

    # The connection options too (accepted, unused): every command that names a ticket takes them.
    p = sub.add_parser("timeline", parents=[common, store_options, tz_options], help="a ticket's timeline from the ticket store")
    p.add_argument("ticket_id", metavar="TICKET")

    p = sub.add_parser("replay", parents=[common], help="replay ticket histories against this code before a deploy (exit 1 on any nondeterminism)")
    add_replay_arguments(p)

    p = sub.add_parser("migrate", parents=[common], help="move running tickets to a new policy (keep, forward or recompute their clocks); --dry-run first")
    add_migrate_arguments(p)

    p = sub.add_parser("simulate", parents=[with_json], help="what-if: a new policy over the stored tickets, old vs new outcomes (no Temporal needed)")
    add_simulate_arguments(p)

    p = sub.add_parser("report", parents=[with_json],
                       help="first response, resolution, breach, CSAT and reopen figures over a period, against the policy's [goals] (table, --csv, --json, --html)")
    add_report_arguments(p)

    p = sub.add_parser("schedule", help="scheduled reviews on Temporal Schedules: monthly-report, weekly-review, open-post-incident")
    add_schedule_arguments(p, common)

    p = sub.add_parser("evidence", parents=[common, store_options],
                       help="a ticket's evidence pack (timeline with its hash chain, deliveries, history, policy); `evidence verify FILE.zip` checks one")
    add_evidence_arguments(p)

    p = sub.add_parser("drill", help="tabletop drill: one ticket through the real workflow on a time-skipping server, notifications captured (sends nothing)")
    add_drill_arguments(p)

    p = sub.add_parser("hours", parents=[with_json], help="a customer's support hours in a contract year (contracted, used, remaining, entries)")
    add_hours_arguments(p)

    p = sub.add_parser("db", help="ticket store commands")
    db_sub = p.add_subparsers(dest="db_command", required=True, metavar="SUBCOMMAND", parser_class=_Parser)
    db_sub.add_parser("upgrade", parents=[with_json], help="migrate the ticket store to the newest schema (creates it when empty)")

    p = sub.add_parser("plan", help="dry run: the whole timeline of a hypothetical ticket (no Temporal needed)")
    add_plan_arguments(p, _instant)

    p = sub.add_parser("policy", help="policy file commands")
    policy_sub = p.add_subparsers(dest="policy_command", required=True, metavar="SUBCOMMAND", parser_class=_Parser)
    add_policy_check_arguments(policy_sub.add_parser("check", help="validate a policy file (and a contacts file)"))

    p = sub.add_parser("dev", help="run the embedded default: Temporal dev server + UI + a worker")
    from starter.dev import add_dev_arguments

    add_dev_arguments(p)
    add_codec_commands(sub, _Parser)
    add_temporal_commands(sub, _Parser)
    add_api_commands(sub, _Parser)
    add_hooks_commands(sub, _Parser)
    add_mail_commands(sub, _Parser)
    # A process of its own beside the workers (it notifies, as they do): `escalator watchdog ARGS`
    # becomes `python -m worker.watchdog ARGS`, whose --help lists its options.
    p = sub.add_parser("watchdog", add_help=False, help="alert when open tickets sit overdue (no worker acting on them); --help for options")
    p.add_argument("watchdog_args", nargs=argparse.REMAINDER)
    p = sub.add_parser("doctor", add_help=False, help="check a deployment end to end, one line per check (sends nothing); --help for options")
    p.add_argument("doctor_args", nargs=argparse.REMAINDER)
    nested = {("policy", "check"): EXAMPLES["policy"], ("db", "upgrade"): EXAMPLES["db"], ("codec-key", "new"): EXAMPLES["codec-key"],
              ("temporal", "setup"): EXAMPLES["temporal"], ("api-key", "create"): EXAMPLES["api-key"], ("hooks", "check"): EXAMPLES["hooks"],
              ("mail-user", "add"): EXAMPLES["mail-user"]}
    helped = [(sub.choices[name], example) for name, example in EXAMPLES.items()]
    helped += [(next(a for a in sub.choices[group]._actions if isinstance(a, argparse._SubParsersAction)).choices[name], example)
               for (group, name), example in nested.items()]
    helped.append((parser, 'escalator open --customer ACME --severity sev1 --title "Checkout is down"; escalator list --breached'))
    for command, example in helped:
        command.epilog = f"example: {example}"
        command.formatter_class = argparse.RawDescriptionHelpFormatter
    return parser


EXAMPLES = {
    "open": 'escalator open --customer ACME --severity sev1 --title "Checkout is down" --plan enterprise',
    "list": "escalator list --breached --owner alice --due-within 2h",
    "ack": "escalator ack T-5f0c1d2e3a --by alice   |   escalator ack T-5f0c1d2e3a --page engineering --by bob",
    "commander": "escalator commander T-5f0c1d2e3a grace --by alice",
    "status-update": 'escalator status-update T-5f0c1d2e3a --text "Failover in progress, next update 10:30" --by grace',
    "escalate": 'escalator escalate T-5f0c1d2e3a --to l2 --note "restarts tried, logs attached" --by alice',
    "deescalate": 'escalator deescalate T-5f0c1d2e3a --to l1 --note "config fixed, customer to confirm" --by bob',
    "pir": "escalator pir T-5f0c1d2e3a --held-on 2026-11-30 --attendees grace,bob,alice --by grace",
    "rca": "escalator rca T-5f0c1d2e3a --link https://wiki.example.com/rca/42 --by grace",
    "log-time": "escalator log-time T-5f0c1d2e3a --minutes 25 --by alice",
    "hours": "escalator hours ACME --year 2026",
    "simulate": "escalator simulate --policy policies/2027-q1.toml --from 2026-10-01 --to 2026-10-31 --csv > what-if.csv",
    "report": "escalator report --from 2026-10-01 --to 2026-10-31 --by week,severity --html october.html",
    "schedule": "escalator schedule create weekly-review --to support_manager --cron '0 8 * * MON' --tz Europe/Berlin   |   escalator schedule trigger weekly-review",
    "drill": "escalator drill --severity sev1 --contacts policies/contacts.example.toml --script drill.txt --opened 2026-12-05T02:00:00+01:00",
    "evidence": "escalator evidence T-5f0c1d2e3a --out T-5f0c1d2e3a.zip   |   escalator evidence verify T-5f0c1d2e3a.zip --against-server",
    "migrate": "escalator migrate --policy policies/2027-q1.toml --mode forward --tickets \"Severity = 'sev2'\" --by alice",
    "replay": "escalator replay --query \"ExecutionStatus = 'Running'\" --limit 500   |   escalator replay --dir tests/histories",
    "mail-intake": "escalator mail-intake --port 2525 --allow-from 10.0.0.5/32 --rules /etc/escalator/mail-rules.toml",
    "mail-user": "escalator mail-user add gateway --users-file /etc/escalator/mail-users.json",
    "action": 'escalator action T-5f0c1d2e3a --title "Alert on card declines" --owner bob --due 2026-12-04 --by grace',
    "done": "escalator done T-5f0c1d2e3a action-1 --by bob",
    "waive": 'escalator waive T-5f0c1d2e3a rca --reason "vendor outage: the vendor writes the RCA" --by grace',
    "respond": "escalator respond T-5f0c1d2e3a --by alice --at 2026-11-30T09:59:00+01:00",
    "message": "escalator message T-5f0c1d2e3a --message-id mail-8812",
    "status": 'escalator status T-5f0c1d2e3a waiting_on_customer --by alice --reason "asked for logs"',
    "wait-customer": 'escalator wait-customer T-5f0c1d2e3a --by alice --reason "asked for logs"',
    "wait-third-party": 'escalator wait-third-party T-5f0c1d2e3a --by alice --reason "carrier ticket 5512"',
    "resolve": 'escalator resolve T-5f0c1d2e3a --by alice --resolution "rolled back 4.2.1"',
    "reopen": 'escalator reopen T-5f0c1d2e3a --by alice --reason "the customer still sees errors"',
    "csat": 'escalator csat T-5f0c1d2e3a 5 --comment "fast and clear"',
    "severity": 'escalator severity T-5f0c1d2e3a sev1 --by alice --reason "all EU customers affected"',
    "show": "escalator show T-5f0c1d2e3a --tz America/New_York",
    "timeline": "escalator timeline T-5f0c1d2e3a --json",
    "db": "escalator db upgrade --database-url postgresql://escalator@db:5432/tickets",
    "plan": "escalator plan --severity sev2 --plan premium --opened 2026-12-24T16:30:00+01:00",
    "policy": "escalator policy check policies/default.toml --contacts policies/contacts.example.toml",
    "dev": "escalator dev --port 7300 --ui-port 8300",
    "codec-server": "escalator codec-server --codec-keys-file /etc/escalator/codec-keys --cors-origin https://temporal-ui.example.com",
    "codec-key": "escalator codec-key new --id 2026-12 >> /etc/escalator/codec-keys",
    "api": "escalator api --keys-file /etc/escalator/api-keys.json --hooks-dir /etc/escalator/hooks --port 8000",
    "api-key": "escalator api-key create helpdesk --scope read,write --keys-file /etc/escalator/api-keys.json",
    "hooks": "escalator hooks check /etc/escalator/hooks/zendesk.toml --payload delivery.json",
    "temporal": "escalator temporal setup --address temporal:7233 --namespace default --create-namespace",
    "watchdog": "escalator watchdog --late-after 2m --contacts /etc/escalator/contacts.toml --metrics-port 9465",
}
"""One example per command, shown at the end of its --help."""


_DISPLAY = {"zone": ZoneInfo("UTC")}  # set per command from --tz (default: the policy's calendar zone)


def _given(args: argparse.Namespace) -> str:
    """The connection options a command was given, for the hints it prints."""
    flags = ""
    for option, value in (("--profile", args.profile), ("--config-file", args.config_file), ("--address", args.address),
                          ("--namespace", args.namespace), ("--ui-url", None if args.ui_url == "http://localhost:8233" else args.ui_url)):
        if value is not None:
            flags += f" {option} {value}"
    return flags


def _iso(value: datetime | None) -> str:
    return local(value, _DISPLAY["zone"])


def _in(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    sign, seconds = ("overdue by " if seconds < 0 else "in "), abs(seconds)
    days, rest = divmod(seconds, 86400)
    h, rest = divmod(rest, 3600)
    return f"{sign}{days}d {h}h" if days >= 2 else f"{sign}{days * 24 + h}h {rest // 60:02d}m"


def render_view(view: TicketView, link: str, now: datetime) -> str:
    s = view.state
    t = s.ticket
    lines = [
        f"{t.ticket_id}  {t.customer}  {s.severity.label}  {s.status.value}  SLA {view.sla_state.value}",
        f"  title:    {t.title}",
        f"  opened:   {_iso(t.opened_at)} via {t.channel}" + (f", plan {t.plan}" if t.plan else "") + (f", category {t.category}" if t.category else ""),
        f"  owner:    {s.acknowledged_by} (acknowledged {_iso(s.acknowledged_at)})" if s.acknowledged_by else "  owner:    nobody yet",
        "  clocks:",
    ]
    targets = {tg.clock: tg for tg in view.targets}
    for name, record in s.clocks.items():
        if record.met_at:
            how = f"met {_iso(record.met_at)}"
        elif record.stopped_at:
            how = f"stopped {_iso(record.stopped_at)}"
        elif record.pauses and record.pauses[-1].ended_at is None:
            how = f"paused since {_iso(record.pauses[-1].started_at)}"
        elif name in targets and targets[name].due:
            tg = targets[name]
            how = f"running, due {_iso(tg.due)} ({tg.within}, {tg.rule})"
        else:
            how = "running, no target"
        if record.cycle > 1:
            how += f" (cycle {record.cycle})"
        if record.breached_at:
            how += f", BREACHED at {_iso(record.breached_at)}"
        lines.append(f"    {name.label:<15} {how}")
    if s.escalations or s.commander:
        lines.append(f"  incident: commander {s.commander or 'not designated'}, escalation level {s.escalation_level}"
                     + (f", {s.status_updates_posted} status update(s) posted" if s.status_updates_posted else ""))
        for record in s.escalations.values():
            ack = f", acknowledged by {record.acked_by}" if record.acked_by else ""
            lines.append(f"    step {record.step:<17} fired {len(record.fired)}x, first {_iso(record.fired[0])}{ack}")
    for h in s.handoffs:
        verb = "escalated" if h.direction == "up" else "de-escalated"
        picked = f", picked up by {h.picked_up_by} at {_iso(h.picked_up_at)}" if h.picked_up_by else ", not picked up yet"
        lines.append(f"  handoff:  {_iso(h.at)} {verb} {h.from_tier or '-'} -> {h.to_tier} by {h.by}{picked}: {h.note}")
    for m in s.management_escalations:
        lines.append(f"  management: {_iso(m.at)} level {m.level} ({', '.join(m.roles)}) by {m.by}: {m.reason}")
    if s.post_incident:
        lines.append("  post-incident:")
        for item in s.post_incident:
            if item.waived_reason:
                how = f"waived by {item.done_by} at {_iso(item.done_at)}: {item.waived_reason}"
            elif item.done_at:
                how = f"met by {item.done_by} at {_iso(item.done_at)}" + "".join(f", {k} {v}" for k, v in item.detail.items())
            else:
                how = ("MISSED, was due " if item.due <= now else "open, due ") + f"{_iso(item.due)} ({_in(item.due - now)})"
            owner = f" [owner {item.owner}]" if item.owner else ""
            lines.append(f"    {item.id:<10} {item.title}{owner}: {how}")
    missed = sorted((f for f in s.fired if f.kind == "breach"), key=lambda f: f.due)
    if missed:
        lines.append("  missed:")
        for f in missed:
            note = " (withdrawn: a late message showed it was met)" if f.withdrawn else ""
            lines.append(f"    {_iso(f.due)}  {f.id.removeprefix(t.ticket_id + '/')}{note}")
    undelivered = sorted((f for f in s.fired if f.delivered is not True and not f.withdrawn
                          and set(f.outcomes.values()) != {"superseded"}), key=lambda f: f.due)
    if undelivered:
        lines.append("  notifications not (yet) delivered:")
        for f in undelivered:
            how = ", ".join(f"{role} {outcome}" for role, outcome in f.outcomes.items() if outcome not in ("delivered", "delivered_by_fallback"))
            lines.append(f"    {_iso(f.due)}  {f.id.removeprefix(t.ticket_id + '/')}: {how or 'being delivered'}")
    extra = [f"reopened {s.reopen_count}x"] if s.reopen_count else []
    extra += [f"CSAT {s.csat}"] if s.csat else []
    extra += [f"waiting on the customer since {_iso(s.waiting_since)}"] if s.waiting_since else []
    extra += [f"{c.severity_from.value} -> {c.severity_to.value} by {c.by} at {_iso(c.at)}" for c in s.severity_changes if c.severity_from != c.severity_to]
    if extra:
        lines.append(f"  notes:    {'; '.join(extra)}")
    if view.upcoming:
        lines.append("  upcoming:")
        for ob in view.upcoming[:6]:
            lines.append(f"    {_iso(ob.due)}  {ob.summary} ({_in(ob.due - now)})")
    else:
        lines.append("  upcoming: nothing due")
    lines.append(f"  ui:       {link}")
    return "\n".join(lines)


def render_state(state: TicketState) -> str:
    parts = [f"{state.ticket.ticket_id}: {state.status.value}", state.severity.label]
    if state.acknowledged_by:
        parts.append(f"owner {state.acknowledged_by}")
    if state.reopen_count:
        parts.append(f"reopened {state.reopen_count}x")
    if state.csat:
        parts.append(f"CSAT {state.csat}")
    if state.tier:
        parts.append(f"tier {state.tier}")
    if state.logged_minutes:
        parts.append(f"{state.logged_minutes} min logged")
    owed = [i.id for i in state.post_incident if i.open]
    if owed:
        parts.append(f"post-incident open: {', '.join(owed)}")
    return ", ".join(parts)


class _Planned:
    """Stands in for the client while a command builds its request: `plan.method(ticket, request)`
    returns what to send, so bad input is refused before any connection is made."""

    def __getattr__(self, method: str):
        return lambda ticket_id, request: (method, ticket_id, request)


def _who(args: argparse.Namespace) -> None:
    """--by: required, except on a terminal, where ESCALATOR_BY may name you; never `root`."""
    if getattr(args, "by", "-") is None:
        mine = os.environ.get("ESCALATOR_BY", "").strip()
        if not (mine and sys.stdin.isatty()):
            raise UsageError("--by: say who does it (required; on a terminal, ESCALATOR_BY may name you)")
        args.by = mine
    if isinstance(getattr(args, "by", None), str) and args.by.strip().lower() == "root":
        raise UsageError("--by: name the person who does it, not root")


async def _run(args: argparse.Namespace) -> Any:
    _who(args)
    if args.command in _UPDATES:
        try:
            method, ticket_id, request = _UPDATES[args.command](_Planned(), args)
        except ValidationError as exc:
            raise UsageError(_validation_line(exc)) from None
        if args.at is not None and args.at > datetime.now(UTC) + MAX_AHEAD:  # refused before anything is sent or queued
            raise UsageError(f"--at: {args.at.isoformat()} is more than 2 minutes in the future")
        if args.command == "pir" and args.held_on > datetime.now().astimezone().date():  # this machine's today
            raise UsageError(f"--held-on: {args.held_on.isoformat()} is in the future: record the review once it took place")
    elif args.command not in ("open", "show", "list"):
        raise UsageError(f"unknown command {args.command}")
    if args.command == "list":
        try:
            args.list_query = list_query(args, datetime.now(UTC))
        except ValueError as exc:
            raise UsageError(str(exc)) from None
    if args.command in ("show", "list"):
        try:
            args.display_zone = display_zone(args.tz, os.environ.get("ESCALATOR_POLICY"))
        except CommandError as exc:
            raise UsageError(str(exc)) from None
    if args.command == "open":
        if args.ticket_id is not None and not args.ticket_id.strip():
            raise UsageError("--id: must not be empty (leave it out for a new id)")
        try:
            ticket = TicketOpened(
                ticket_id=args.ticket_id if args.ticket_id is not None else f"T-{uuid.uuid4().hex[:10]}", customer=args.customer, title=args.title,
                severity=args.severity, channel=args.channel, plan=args.plan, category=args.category,
                opened_at=args.opened_at or datetime.now(UTC), follows=args.follows,
            )
        except ValidationError as exc:
            raise UsageError(_validation_line(exc)) from None
        if ticket.opened_at > datetime.now(UTC) + MAX_AHEAD:
            raise UsageError(f"--opened-at: {ticket.opened_at.isoformat()} is in the future (no message could apply to the ticket until then)")
        try:
            policy, _, _ = read_policy(args.policy)
            intake.check_opened(policy, ticket, datetime.now(UTC))
        except (CommandError, ValueError) as exc:
            raise UsageError(str(exc).replace("opened_at:", "--opened-at:", 1).replace("plan:", "--plan:", 1).replace("category:", "--category:", 1)) from None
    try:
        temporal = load_temporal(*flags_of(args))
    except CannotConnect as exc:
        raise UsageError(str(exc)) from None
    client = await TicketClient.connect(temporal, ui_url=args.ui_url)
    if args.command == "open":
        given = tuple(f for f, arg in (("channel", "channel"), ("opened_at", "opened_at")) if getattr(args, arg) not in (None, "cli"))
        opened = await client.open(ticket, compare=COMPARED_ON_REOPEN + given)
        doc = {"ticket_id": opened.ticket_id, "run_id": opened.run_id, "created": opened.created, "ui_url": opened.ui_url}
        verb = "opened" if opened.created else "already open"
        return doc, f"{verb}: {opened.ticket_id}\n  ui: {opened.ui_url}\n  next: escalator show{_given(args)} {opened.ticket_id}"
    if args.command == "list":
        return await run_list(client, args.list_query, args.limit, args.display_zone)
    if args.command == "show":
        _DISPLAY["zone"] = args.display_zone
        _, status = await client.execution(args.ticket_id)
        if status in ENDED_UNCLOSED:
            # Terminated, failed or timed out: its clocks no longer run, whatever its last state said.
            return await stale_view(client, args, f"the ticket's workflow was {status.name.lower().replace('_', ' ')}: "
                                                  "it acts on nothing any more", ended=status.name.lower())
        try:
            view = await client.view(args.ticket_id, wait=args.wait)
        except NoWorker as exc:
            return await stale_view(client, args, str(exc))
        return view.model_dump(mode="json"), render_view(view, client.link(args.ticket_id), datetime.now(UTC))
    if args.at is not None:
        request = request.model_copy(update={"occurred_at": args.at})
    sent = await client.send(ticket_id, method, request, wait=args.wait)
    if sent.queued:
        at = sent.request.occurred_at
        doc = {"queued": True, "ticket_id": ticket_id, "update": method, "event_id": sent.request.event_id,
               "occurred_at": at.isoformat(), "reason": sent.why}
        return doc, f"queued: {sent.why}; it applies at {_iso(at)} when one starts (event {sent.request.event_id})"
    text = render_state(sent.state)
    if args.command == "action" and not isinstance(args.due, datetime):
        item = [i for i in sent.state.post_incident if i.kind == "action"][-1]
        text += f"\n  {item.id} is due at the end of business day {args.due.isoformat()}: {_iso(item.due)}"
    return {**sent.state.model_dump(mode="json"), "queued": False}, text


def _escalate(client: TicketClient, a: argparse.Namespace):
    if a.to:
        if not a.note:
            raise UsageError("--note: a handoff to another tier needs a note (what was tried, what is needed)")
        return client.hand_off(a.ticket_id, HandOff(to=a.to, note=a.note, by=a.by, direction="up"))
    if not a.reason:
        raise UsageError(f"--reason: say why ({'--management' if a.management else '--step'} needs one)")
    if a.management:
        return client.escalate_to_management(a.ticket_id, EscalateToManagement(reason=a.reason, by=a.by))
    return client.jump_to_step(a.ticket_id, JumpToStep(step=a.step, reason=a.reason, by=a.by))


def _status(client: TicketClient, a: argparse.Namespace):
    return client.set_status(a.ticket_id, StatusChange(status=a.status, by=a.by, reason=a.reason))


# Each update command: how to build its request and send it (models validate before sending).
_UPDATES = {
    "ack": lambda c, a: (c.acknowledge_page(a.ticket_id, AcknowledgePage(step=a.page, by=a.by)) if a.page
                         else c.acknowledge(a.ticket_id, Acknowledge(by=a.by, note=a.note))),
    "commander": lambda c, a: c.designate_commander(a.ticket_id, DesignateCommander(name=a.name, by=a.by)),
    "status-update": lambda c, a: c.post_status_update(a.ticket_id, PostStatusUpdate(text=a.text, by=a.by)),
    "escalate": _escalate,
    "deescalate": lambda c, a: c.hand_off(a.ticket_id, HandOff(to=a.to, note=a.note, by=a.by, direction="down")),
    "pir": lambda c, a: c.record_review(a.ticket_id, RecordReview(held_on=a.held_on, attendees=a.attendees, by=a.by)),
    "rca": lambda c, a: c.record_rca(a.ticket_id, RecordRca(link=a.link, by=a.by)),
    "log-time": lambda c, a: c.log_time(a.ticket_id, LogTime(minutes=a.minutes, by=a.by)),
    "action": lambda c, a: c.add_action(a.ticket_id, AddAction(
        title=a.title, owner=a.owner, by=a.by, **({"due": a.due} if isinstance(a.due, datetime) else {"due_on": a.due}))),
    "done": lambda c, a: c.complete_obligation(a.ticket_id, CompleteObligation(item=a.item, by=a.by)),
    "waive": lambda c, a: c.complete_obligation(a.ticket_id, CompleteObligation(item=a.item, by=a.by, waive_reason=a.reason)),
    "respond": lambda c, a: c.respond(a.ticket_id, Respond(by=a.by, message_id=a.message_id)),
    "message": lambda c, a: c.customer_message(a.ticket_id, CustomerMessage(message_id=a.message_id)),
    "status": _status,
    "wait-customer": _status,
    "wait-third-party": _status,
    "resolve": lambda c, a: c.resolve(a.ticket_id, Resolve(by=a.by, resolution=a.resolution)),
    "reopen": lambda c, a: c.reopen(a.ticket_id, Reopen(by=a.by, reason=a.reason)),
    "csat": lambda c, a: c.record_csat(a.ticket_id, Csat(score=a.score, comment=a.comment)),
    "severity": lambda c, a: c.change_severity(a.ticket_id, SeverityPlanChange(by=a.by, severity=a.severity, plan=a.plan, reason=a.reason)),
}


def _validation_line(exc: ValidationError) -> str:
    return reason(exc)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] in (["watchdog"], ["doctor"]):
        # Processes beside the workers, which read the worker's settings: this process becomes
        # `python -m worker.watchdog` (a service manager's SIGTERM reaches it) or worker.doctor.
        sys.stdout.flush()
        os.execv(sys.executable, [sys.executable, "-m", f"worker.{argv[0]}", *argv[1:]])
    args = build_parser().parse_args(argv)
    if args.command == "dev":
        from starter.dev import run_dev

        return run_dev(args)
    if args.command == "temporal":
        return run_temporal_command(args)
    if args.command in ("codec-server", "codec-key"):
        return run_codec_command(args)
    if args.command in ("api", "api-key"):
        return run_api_command(args)
    if args.command == "hooks":
        return run_hooks_command(args)
    if args.command in ("mail-intake", "mail-user"):
        return run_mail_command(args)
    if args.command == "policy":
        ok, doc, text = run_policy_check(args)
        if args.json:
            print(json.dumps(doc, indent=2))
        else:
            out_lines = [line for line in text.splitlines() if line.startswith("ok:")]
            for line in text.splitlines():
                if not line.startswith("ok:"):
                    print(line, file=sys.stderr)
            if out_lines:
                print("\n".join(out_lines))
        return 0 if ok else 1
    if args.command == "replay":
        return main_replay(args)
    if args.command == "migrate":
        return main_migrate(args)
    if args.command == "simulate":
        return main_simulate(args)
    if args.command == "report":
        return main_report(args)
    if args.command == "schedule":
        return main_schedule(args)
    if args.command == "evidence":
        return main_evidence(args)
    if args.command == "drill":
        return main_drill(args)
    if args.command == "hours":
        try:
            doc, text = run_hours(args)
        except HoursError as exc:
            print(f"escalator: error: {exc}", file=sys.stderr)
            return 1
        print(json.dumps(doc, indent=2) if args.json else text)
        return 0
    if args.command in ("timeline", "db"):
        try:
            doc, text = run_store_command(args)
        except StoreError as exc:
            print(f"escalator: error: {exc}", file=sys.stderr)
            return 1
        print(json.dumps(doc, indent=2, default=str) if args.json else text)
        return 0
    if args.command == "plan":
        try:
            result = run_plan(args)
        except CommandError as exc:
            for line in str(exc).splitlines():
                print(f"escalator: error: {line}", file=sys.stderr)
            return 1
        print(json.dumps(result.doc, indent=2) if args.json else result.text)
        return 0
    try:
        doc, text = asyncio.run(_run(args))
    except (TicketError, UsageError) as exc:
        for line in str(exc).splitlines() or [""]:
            print(f"escalator: error: {line}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except Exception as exc:
        if (why := undecodable(exc)) is None:
            raise
        print(f"escalator: error: {why}", file=sys.stderr)
        return 1
    print(json.dumps(doc, indent=2) if args.json else text)
    return 0


def run() -> None:
    """Console-script entry: exit without interpreter finalization.

    The SDK's native client threads can abort a finishing interpreter (temporalio/sdk-python
    issue 300; seen here as exit code -6 on about one run in twenty), so once the command is
    done and its output flushed, the process ends at once.
    """
    try:
        code = main()
        sys.stdout.flush()
    except BrokenPipeError:
        # The reader went away (`escalator show T | head`): not worth a traceback. Exit code 1,
        # as the Python docs advise for SIGPIPE.
        code = 1
    sys.stderr.flush()
    os._exit(code)
