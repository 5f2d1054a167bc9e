"""`escalator watchdog` (`python -m worker.watchdog`): tell people when no worker is acting on tickets.

A ticket's workflow acts on its obligations only while a worker runs it. When every worker is
down (or stuck), nothing inside Temporal notices: the tickets just sit overdue. This process,
apart from the workers, asks Temporal's visibility every `--interval` for running tickets whose
`NextDueAt` is more than `--late-after` in the past, and tells the policy's
`notifications.watchdog` roles through the same notifiers and contacts as the workers: once when
such an outage begins, once when it is over. The alert's key is derived from the oldest overdue
ticket, so a watchdog restarted during an outage does not tell the same people twice (the
delivery log remembers). It exports `escalator_watchdog_late_tickets` for Prometheus
(deploy/prometheus/alerts.yml) on `--metrics-port`.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import signal
import sys
from datetime import UTC, datetime, timedelta

import structlog
from temporalio.client import Client

from activities.notify import Notifier
from connection.client import CannotConnect, add_arguments as add_temporal_arguments, flags_of, load as load_temporal
from sla.messages import Notification
from sla.policy import Policy
from sla.severity import Severity
from worker.health import operations_app, serve
from worker.logs import configure_logging
from worker.main import connect_instrumented, open_store
from worker.settings import ConfigError, WorkerSettings, setting_problems
from workflows.contract import WORKFLOW_TYPE
from workflows.search_attributes import NEXT_DUE_AT, SLA_STATE

log = structlog.get_logger("escalator.watchdog")
LATE = "escalator_watchdog_late_tickets"
KEY_PREFIX = "watchdog/"
MIN_INTERVAL = 1.0
SHOWN = 10  # overdue ticket ids named in an alert


def seconds(text: str) -> float:
    """'90s', '2m', '1h' or a number of seconds."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smh]?)\s*", text)
    if not match:
        raise argparse.ArgumentTypeError(f"{text!r} is not a duration like 30s, 2m or 1h")
    return float(match.group(1)) * {"": 1, "s": 1, "m": 60, "h": 3600}[match.group(2)]


class Watchdog:
    """One check at a time (`check`); the outage it is in, if any, between checks."""

    def __init__(self, client: Client, notifier: Notifier, policy: Policy, late_after: timedelta, meter, task_queue: str) -> None:
        self.client, self.notifier, self.policy, self.late_after = client, notifier, policy, late_after
        self.task_queue = task_queue
        self.outage: str | None = None  # the key of the alert that opened the current outage
        self.pending: Notification | None = None  # an alert a contact did not take yet: sent again next check
        self.late_gauge = meter.create_gauge(LATE, "running tickets overdue by more than --late-after")
        self.checks = meter.create_counter("escalator_watchdog_checks", "visibility checks, by result")
        self.last_ok: datetime | None = None

    async def check(self, now: datetime) -> int:
        """Query, then alert or clear; returns how many tickets are overdue."""
        cutoff = (now - self.late_after).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        # Overdue: past its NextDueAt, or never run by any worker (a worker sets SlaState on its
        # first task; a ticket opened while every worker was down has neither).
        # Tickets only: a scheduled review on the same queue has no SlaState and may retry for a day.
        query = (f"WorkflowType = '{WORKFLOW_TYPE}' AND TaskQueue = '{self.task_queue}' AND ExecutionStatus = 'Running' AND ({NEXT_DUE_AT.name} < '{cutoff}' "
                 f"OR ({SLA_STATE.name} IS NULL AND StartTime < '{cutoff}'))")
        try:
            late = (await self.client.count_workflows(query)).count
            oldest = [wf async for wf in self.client.list_workflows(query, limit=SHOWN)]
        except Exception as exc:  # Temporal unreachable: say so, keep the state, try again
            self.checks.add(1, {"result": "error"})
            log.error("visibility query failed", error=str(exc)[:200])
            return -1
        self.checks.add(1, {"result": "ok"})
        self.late_gauge.set(late)
        self.last_ok = now
        if late and self.outage is None:
            dues = sorted((wf.typed_search_attributes.get(NEXT_DUE_AT) or wf.start_time, wf.id) for wf in oldest)
            due, first = dues[0]
            also = f"; also {', '.join(i for _, i in dues[1:])}" if len(dues) > 1 else ""
            self.outage = f"{KEY_PREFIX}{first}@{due.astimezone(UTC):%Y%m%dT%H%M%SZ}"
            self.pending = self._note(self.outage, first, now, (
                f"{late} open ticket(s) overdue by more than {_words(self.late_after)}: no worker is acting on them "
                f"(oldest {first}, due {due.astimezone(UTC):%Y-%m-%d %H:%M:%SZ}{also}). Check the workers and their task queue."))
        elif not late and self.outage is not None:
            self.pending = self._note(f"{self.outage}/over", self.outage.split("/", 1)[1].split("@")[0], now,
                                      "overdue tickets are being acted on again: the outage is over.")
            self.outage = None
        if self.pending is not None:
            await self._send()
        return late

    def resume(self, last_key: str | None) -> None:
        """After a restart: the last alert in the delivery log opened an outage not yet over."""
        if last_key and last_key.startswith(KEY_PREFIX) and not last_key.endswith("/over"):
            self.outage = last_key

    def _note(self, key: str, ticket_id: str, now: datetime, summary: str) -> Notification:
        return Notification(idempotency_key=key, ticket_id=ticket_id, customer="-", severity=Severity.SEV1,
                            kind="watchdog", due=now, summary=summary, roles=list(self.policy.notifications.watchdog))

    async def _send(self) -> None:
        note = self.pending
        if not note.roles:
            log.error("no watchdog roles in the policy: nobody is told", summary=note.summary)
            self.pending = None
            return
        result = await self.notifier.announce(note)
        waiting = [o.role for o in result.outcomes if o.status == "pending"]
        # `already_sent`: a watchdog restarted mid-outage finds its alert in the delivery log.
        log.warning("watchdog alert", key=note.idempotency_key, summary=note.summary, sent=result.sent, already_sent=result.skipped,
                    outcomes={o.role: o.status for o in result.outcomes})
        self.pending = note.model_copy(update={"roles": waiting}) if waiting else None


def _words(delta: timedelta) -> str:
    s = int(delta.total_seconds())
    return f"{s // 60} min" if s >= 60 and s % 60 == 0 else f"{s} s"


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="escalator watchdog", description=__doc__.split("\n\n")[1].replace("\n", " "),
                                     epilog="example: escalator watchdog --late-after 2m --contacts /etc/escalator/contacts.toml --metrics-port 9465")
    add = parser.add_argument
    add("--late-after", type=seconds, default=None, metavar="DURATION",
        help="how far past its NextDueAt a running ticket counts as not acted on (ESCALATOR_WATCHDOG_LATE_AFTER; default 2m)")
    add("--interval", type=seconds, default=None, metavar="DURATION", help="between checks (ESCALATOR_WATCHDOG_INTERVAL; default 30s)")
    add("--once", action="store_true", help="check once (alerting as usual); exit 1 if tickets are overdue, 0 if not")
    add("--task-queue", help="the workers' task queue, whose tickets are watched (ESCALATOR_TASK_QUEUE; default escalator-tickets)")
    add("--policy", help="the policy whose notifications.watchdog roles are told (ESCALATOR_POLICY; default the bundled one)")
    add("--contacts", help="contacts TOML (ESCALATOR_CONTACTS; default none: roles are logged to the console)")
    add("--database-url", help="the ticket store, whose delivery log keeps alerts at most once (DATABASE_URL)")
    add("--ui-url", help="Temporal UI base URL for the link in alerts (ESCALATOR_UI_URL)")
    add("--metrics-port", type=int, help="serve /metrics, /healthz, /readyz here (ESCALATOR_METRICS_PORT; default off)")
    add("--metrics-bind", help="address of that port (ESCALATOR_METRICS_BIND; default 127.0.0.1)")
    add("--log-level", help="ESCALATOR_LOG_LEVEL (default INFO)")
    add_temporal_arguments(parser)
    return parser.parse_args(argv)


async def main(argv: list[str] | None = None) -> int:
    import os

    args = _arguments(argv)
    env = os.environ
    try:
        late_after = args.late_after if args.late_after is not None else seconds(env.get("ESCALATOR_WATCHDOG_LATE_AFTER", "2m"))
        interval = args.interval if args.interval is not None else seconds(env.get("ESCALATOR_WATCHDOG_INTERVAL", "30s"))
        if interval < MIN_INTERVAL:
            raise ValueError(f"--interval: {interval:g} s is too short: give at least {MIN_INTERVAL:g} s (each check is a visibility query)")
        settings = WorkerSettings.from_args(args)
    except (argparse.ArgumentTypeError, ValueError) as exc:
        for line in setting_problems(exc):
            print(f"escalator watchdog: error: {line}", file=sys.stderr)
        return 2
    configure_logging(settings.log_level)
    try:
        policy, _ = settings.check()
        temporal = load_temporal(*flags_of(args))
    except (ConfigError, CannotConnect) as exc:
        log.error("the watchdog will not start", problems=str(exc).splitlines())
        return 2
    connected = await connect_instrumented(temporal, with_metrics=settings.metrics_port is not None)
    if connected is None:
        return 2
    client, runtime, exporter = connected
    store = await open_store(settings.database_url)
    if store is None:
        return 2
    watchdog = Watchdog(client, Notifier(store, settings.notifier(temporal.connection.namespace)), policy,
                        timedelta(seconds=late_after), runtime.metric_meter, settings.task_queue)
    try:
        watchdog.resume(await asyncio.to_thread(store.last_obligation, KEY_PREFIX))
    except Exception as exc:  # the store is down: start without memory, the dedupe still holds
        log.warning("cannot read the last watchdog alert", error=str(exc)[:200])
    if not policy.notifications.watchdog:
        log.warning("the policy's notifications.watchdog names no role: an outage will be logged and counted, and nobody told")
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        asyncio.get_running_loop().add_signal_handler(sig, stop.set)
    operations = None
    if exporter:
        async def ready() -> str | None:
            fresh = watchdog.last_ok and datetime.now(UTC) - watchdog.last_ok < timedelta(seconds=3 * interval + 10)
            return None if fresh else "no successful visibility check lately"
        try:
            operations = await serve(operations_app(exporter, ready), settings.metrics_bind, settings.metrics_port)
        except OSError as exc:
            log.error("cannot serve the operations port", error=str(exc))
            store.close()
            return 2
    log.info("watchdog started", temporal=temporal.connection.where, task_queue=settings.task_queue, late_after_s=late_after, interval_s=interval,
             roles=policy.notifications.watchdog)
    try:
        while not stop.is_set():
            late = await watchdog.check(datetime.now(UTC))
            if args.once:
                return 1 if late else 0
            try:
                await asyncio.wait_for(stop.wait(), timeout=interval)
            except asyncio.TimeoutError:
                pass
        return 0
    finally:
        if operations:
            operations[0].should_exit = True
            await operations[1]
        store.close()


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main()))
