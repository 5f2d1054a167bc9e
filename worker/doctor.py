"""`escalator doctor` (`python -m worker.doctor`): check a deployment end to end, one line per check.

Reads the worker's own settings (flags and environment, as `python -m worker` does) and checks:
the settings and codec keys, the connection, the namespace, the search attributes the code
needs, a worker polling the task queue, the ticket store's schema, the policy and contacts, and
each contact's channel, reached by TCP connection and TLS handshake only: it sends no message
and pages nobody. Exit 0 when every check passed (warnings allowed), 1 otherwise.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import ssl
import sys
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit

from temporalio.api.enums.v1 import IndexedValueType, TaskQueueType
from temporalio.api.operatorservice.v1 import ListSearchAttributesRequest
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeNamespaceRequest, DescribeTaskQueueRequest, GetSystemInfoRequest

from connection.client import CannotConnect, add_arguments as add_temporal_arguments, connect, flags_of, load
from sla.contacts import Channel, parse_contacts
from store.dev_state import default_database_url
from store.ticket_store import revisions
from worker.settings import ConfigError, WorkerSettings, setting_problems
from workflows import search_attributes

REACH_TIMEOUT = 5.0
POLLER_FRESH = timedelta(seconds=90)


@dataclass
class Check:
    check: str
    status: str  # ok, warn, FAIL
    detail: str


async def run_checks(settings: WorkerSettings, args: argparse.Namespace, environ=os.environ) -> list[Check]:
    out: list[Check] = []
    try:
        policy, warnings = settings.check(dict(environ))
        out.append(Check("policy", "ok", f"{settings.policy_path}: {policy.name} {policy.version}"))
        if not policy.notifications.watchdog:
            out.append(Check("policy", "warn", "notifications.watchdog names no role: the watchdog would tell nobody of an outage"))
        out.append(Check("contacts", "ok" if settings.contacts else "warn",
                         str(settings.contacts) if settings.contacts else "none: every role goes to the worker's log"))
        out += [Check("contacts", "warn", w) for w in warnings]
    except ConfigError as exc:
        out += [Check("settings", "FAIL", line) for line in str(exc).splitlines()]
    try:
        temporal = load(*flags_of(args), environ=environ)
        out.append(Check("codec keys", "ok", temporal.keys.describe() if temporal.keys else "none: payloads are not encrypted"))
    except CannotConnect as exc:
        return out + [Check("settings", "FAIL", line) for line in str(exc).splitlines()]
    try:
        client = await connect(temporal)
        info = await client.workflow_service.get_system_info(GetSystemInfoRequest())
        out.append(Check("connection", "ok", f"{temporal.connection.where}; server {info.server_version or 'unknown version'}"))
    except Exception as exc:  # CannotConnect, or the RPC failing after connecting
        return out + [Check("connection", "FAIL", str(exc))]
    out += await _temporal_checks(client, settings.task_queue)
    out.append(await asyncio.to_thread(_store_check, settings.database_url))
    if settings.contacts is not None and all(c.check != "settings" for c in out):
        out += await _channel_checks(settings, environ)
    elif settings.contacts is not None:
        out.append(Check("channel", "warn", "not checked: fix the settings above first"))
    return out


async def _temporal_checks(client, task_queue: str) -> list[Check]:
    namespace = client.namespace
    out = []
    try:
        ns = await client.workflow_service.describe_namespace(DescribeNamespaceRequest(namespace=namespace))
        days = ns.config.workflow_execution_retention_ttl.ToTimedelta().days
        out.append(Check("namespace", "ok", f"{namespace} (closed tickets kept {days} days)"))
        have = (await client.operator_service.list_search_attributes(ListSearchAttributesRequest(namespace=namespace))).custom_attributes
    except Exception as exc:
        return out + [Check("namespace", "FAIL", f"{namespace}: {str(exc)[:200]}")]
    wrong = [k.name for k in search_attributes.ALL if have.get(k.name) != IndexedValueType.ValueType(k.indexed_value_type)]
    out.append(Check("search attributes", "FAIL" if wrong else "ok",
                     f"missing or of another type: {', '.join(wrong)} (run `escalator temporal setup`)" if wrong
                     else f"all {len(search_attributes.ALL)} registered"))
    seen = (await client.workflow_service.describe_task_queue(DescribeTaskQueueRequest(
        namespace=namespace, task_queue=TaskQueue(name=task_queue), task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW))).pollers
    # The server lists pollers for minutes after their last poll; a live worker polls at least
    # once a minute (long polls), so older ones are gone.
    now = datetime.now(UTC)
    pollers = [p for p in seen if now - p.last_access_time.ToDatetime(UTC) <= POLLER_FRESH]
    out.append(Check("worker", "ok" if pollers else "FAIL",
                     f"{len(pollers)} polling task queue {task_queue}: {', '.join(sorted({p.identity for p in pollers}))}" if pollers
                     else f"no worker polls task queue {task_queue}: tickets wait (start one: python -m worker)"))
    return out


def _store_check(database_url: str) -> Check:
    shown = database_url.split("@")[-1]
    if database_url.startswith("sqlite:///"):
        path = Path(database_url.removeprefix("sqlite:///"))
        if not path.exists():  # opening it would create it: the doctor writes nothing
            where = "its folder does not exist" if not path.parent.exists() else "no such file"
            return Check("ticket store", "FAIL", f"{shown}: {where} (a worker creates and migrates the SQLite store on start; "
                                                 "give the workers' DATABASE_URL or --database-url)")
    try:
        current, head = revisions(database_url)
    except Exception as exc:
        return Check("ticket store", "FAIL", f"{shown}: {str(exc).splitlines()[0][:200]}")
    if current != head:
        return Check("ticket store", "FAIL", f"{shown}: schema {current or 'empty'}, this code needs {head} (run `escalator db upgrade`)")
    return Check("ticket store", "ok", f"{shown}: schema {current} (current)")


def _endpoint(settings: WorkerSettings, contact, environ) -> tuple[str, int, bool] | None:
    """(host, port, TLS) a contact's channel connects to; None for the console."""
    if contact.channel is Channel.CONSOLE:
        return None
    if contact.channel is Channel.EMAIL:
        return settings.smtp_host, settings.smtp_port, settings.smtp_tls
    url = {Channel.WEBHOOK: contact.address, Channel.PAGERDUTY: settings.pagerduty_events_url,
           Channel.SLACK: environ.get(contact.secret_env or "", "")}[contact.channel]
    parts = urlsplit(url)
    return parts.hostname or "", parts.port or (443 if parts.scheme == "https" else 80), parts.scheme == "https"


async def _reach(host: str, port: int, tls: bool) -> str | None:
    """None when a TCP connection (and TLS handshake) succeeds; else why not. Nothing is sent."""
    try:
        context = ssl.create_default_context() if tls else None
        _, writer = await asyncio.wait_for(asyncio.open_connection(host, port, ssl=context, server_hostname=host if tls else None),
                                           REACH_TIMEOUT)
        writer.close()
        return None
    except ssl.SSLCertVerificationError as exc:
        return f"TLS: the certificate is not trusted ({exc.verify_message})"
    except ssl.SSLError as exc:
        return f"TLS handshake failed ({exc.reason or exc})"
    except ConnectionRefusedError:
        return "connection refused"
    except socket.gaierror as exc:
        return f"the name does not resolve ({exc.strerror})"
    except asyncio.TimeoutError:
        return f"no answer within {REACH_TIMEOUT:g} s"
    except OSError as exc:
        return exc.strerror or str(exc)


async def _channel_checks(settings: WorkerSettings, environ) -> list[Check]:
    contacts = parse_contacts(settings.contacts.read_text(encoding="utf-8"), str(settings.contacts))
    endpoints: dict[tuple[str, int, bool], list[str]] = {}
    for c in contacts.contacts:
        if (where := _endpoint(settings, c, environ)) is not None:
            endpoints.setdefault(where, []).append(f"{c.role} ({c.channel.value})")
    results = await asyncio.gather(*(_reach(*where) for where in endpoints))
    return [Check("channel", "FAIL" if why else "ok",
                  f"{host}:{port}{' TLS' if tls else ''} for {', '.join(who)}: " + (why or "reachable (nothing sent)"))
            for (host, port, tls), who, why in zip(endpoints, endpoints.values(), results)]


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="escalator doctor", description=__doc__.split("\n\n")[1].replace("\n", " "),
                                     epilog="example: escalator doctor --contacts /etc/escalator/contacts.toml --database-url postgresql://escalator@db/tickets")
    add = parser.add_argument
    add("--task-queue", help="the workers' task queue (ESCALATOR_TASK_QUEUE; default escalator-tickets)")
    add("--policy", help="policy TOML (ESCALATOR_POLICY; default the bundled one)")
    add("--contacts", help="contacts TOML (ESCALATOR_CONTACTS)")
    add("--database-url", help="the ticket store (DATABASE_URL; default .escalator/tickets.db here, else the last `escalator dev`'s)")
    add("--json", action="store_true", help="print one JSON document: {ok, checks: [{check, status, detail}]}")
    add_temporal_arguments(parser)
    return parser.parse_args(argv)


async def main(argv: list[str] | None = None) -> int:
    args = _arguments(argv)
    try:
        # The store as `escalator timeline` finds it: DATABASE_URL, else this folder's, else the last `escalator dev`'s.
        settings = WorkerSettings.from_args(args, database_url=default_database_url())
    except ValueError as exc:
        for line in setting_problems(exc):
            print(f"escalator doctor: error: {line}", file=sys.stderr)
        return 2
    checks = await run_checks(settings, args)
    ok = all(c.status != "FAIL" for c in checks)
    if args.json:
        print(json.dumps({"ok": ok, "checks": [asdict(c) for c in checks]}, indent=2))
    else:
        for c in checks:
            print(f"{c.status:<5} {c.check:<18} {c.detail}")
        print("all checks passed" if ok else f"{sum(c.status == 'FAIL' for c in checks)} check(s) failed")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main()))
