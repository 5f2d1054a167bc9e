"""What every timing benchmark shares: one dev server, one webhook receiver, both contestants.

- **bare**: `BareTimer` (bench/bare.py), a workflow that sleeps until an instant and runs one activity POSTing
  to the receiver: the least Temporal can do for "act at a due instant".
- **escalator**: Sev-1 tickets whose 75% first-response warning falls due at the same kind of
  instant, notified through the real notify activity (Standard Webhooks signing, delivery log
  and timeline in SQLite) to the same receiver. The policy is the default one without the Sev-1
  stakeholder cadence and the on-call page at open, so that the warning is the first thing each
  ticket owes (with them, a ticket opened 90 minutes ago would first owe late status updates
  and pages, sent as one digest just before the warning).

Both run on the same dev server (a SQLite file with the WAL pragmas, as `escalator dev` runs it), one
after the other, with the receiver in the worker's process.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bench.bare import BareTimer, bare_post

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
WARNING_AFTER = timedelta(minutes=90)  # the Sev-1 first response (2h) warns at 75%


def percentiles(values: list[float]) -> tuple[float, float, float]:
    """(p50, p99, max) of `values`; p99 is the nearest-rank value."""
    ordered = sorted(values)
    p99 = ordered[min(len(ordered) - 1, int(round(0.99 * (len(ordered) - 1))))]
    return statistics.median(ordered), p99, ordered[-1]


def bench_policy(path: Path) -> None:
    """The default policy without the Sev-1 cadence and the on-call page at open (see above)."""
    from policies import DEFAULT_POLICY

    text = DEFAULT_POLICY.read_text()
    cadence = 'targets.status_update = { within = "30m", calendar = "24x7" }\n'
    start = text.index('[[escalation.sev1]]\nid = "page_on_call"')
    page = text[start:text.index("[[escalation.sev1]]", start + 1)]
    assert cadence in text, "the default policy's Sev-1 cadence moved: update the benchmark"
    path.write_text(text.replace(cadence, "").replace(page, ""))


@dataclass
class Bench:
    client: object
    receiver: object
    store: object
    work: Path
    run_id: str = field(default_factory=lambda: uuid.uuid4().hex[:6])

    def settings(self):
        from activities.notify import NotifierSettings

        return NotifierSettings(contacts_path=self.work / "contacts.toml", allow_private_urls=True)

    def bare_worker(self, **options):
        from temporalio.worker import Worker

        return Worker(self.client, task_queue=f"bare-{self.run_id}", workflows=[BareTimer], activities=[bare_post], **options)

    def escalator_worker(self, **options):
        from worker.main import build_worker

        # As `python -m worker` runs it: without the sandbox (worker/main.py says why).
        return build_worker(self.client, task_queue=f"esc-{self.run_id}", policy_path=self.work / "policy.toml", store=self.store,
                            notifier=self.settings(), sandboxed=False, **options)

    async def start(self, who: str, key: str, due: datetime) -> str:
        """Start one bare timer or one ticket owing its first notification at `due`; returns its id."""
        if who == "bare":
            wid = f"bare-{key}-{self.run_id}"
            await self.client.start_workflow(BareTimer.run, [self.receiver.url("/bare"), due.isoformat()], id=wid,
                                             task_queue=f"bare-{self.run_id}")
            return wid
        from sla.ticket import TicketOpened
        from workflows.ticket import TicketWorkflow

        ticket = TicketOpened(ticket_id=f"B-{key}-{self.run_id}", customer="BENCH", title="bench", severity="sev1", opened_at=due - WARNING_AFTER)
        await self.client.start_workflow(TicketWorkflow.run, ticket, id=ticket.ticket_id, task_queue=f"esc-{self.run_id}")
        return ticket.ticket_id

    def latencies(self) -> list[float]:
        """Seconds from each received notification's due instant to its receipt, each obligation
        counted once (a retried attempt sends it again); clears the receiver."""
        first: dict[str, float] = {}
        for r in self.receiver.requests:
            try:
                due = json.loads(r.body)["due"]
            except (ValueError, KeyError):
                continue  # a request cut off mid-send (its attempt timed out and went again)
            first[due] = min(first.get(due, r.at), r.at)
        self.receiver.requests.clear()
        return [at - datetime.fromisoformat(due).timestamp() for due, at in first.items()]

    async def received(self, count: int, timeout: float) -> bool:
        """Wait until `count` distinct obligations have arrived, or `timeout` seconds."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while len({r.body for r in list(self.receiver.requests)}) < count and loop.time() < deadline:
            await asyncio.sleep(0.1)
        return len({r.body for r in list(self.receiver.requests)}) >= count

    async def first_timer_at(self, workflow_id: str) -> datetime | None:
        """When the workflow set its first timer (it is parked from then on)."""
        from temporalio.api.enums.v1 import EventType

        async for event in self.client.get_workflow_handle(workflow_id).fetch_history_events():
            if event.event_type == EventType.EVENT_TYPE_TIMER_STARTED:
                return event.event_time.ToDatetime(UTC)
        return None


@asynccontextmanager
async def bench_environment():
    """A dev server with the WAL pragmas, a webhook receiver, a SQLite ticket store and contacts."""
    from temporalio.contrib.pydantic import pydantic_data_converter
    from temporalio.testing import WorkflowEnvironment

    from store.ticket_store import TicketStore, upgrade
    from tests.conftest import binary
    from tests.receivers import HttpReceiver
    from workflows import search_attributes

    import logging
    import shutil

    import structlog

    # The worker's per-ticket INFO lines would bury the figures.
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    work = Path(tempfile.mkdtemp(prefix="escalator-bench-"))
    url = f"sqlite:///{work / 'tickets.db'}"
    upgrade(url)
    store = TicketStore(url)
    receiver = HttpReceiver()
    (work / "contacts.toml").write_text(
        f'[[contacts]]\nrole = "support_l1"\nchannel = "webhook"\naddress = "{receiver.url()}"\n'
        f'secret_env = "BENCH_SECRET"\nreviewed_on = {datetime.now(UTC).date()}\n')
    os.environ["BENCH_SECRET"] = SECRET
    bench_policy(work / "policy.toml")
    try:
        async with await WorkflowEnvironment.start_local(
            dev_server_existing_path=binary("temporal"), data_converter=pydantic_data_converter,
            search_attributes=list(search_attributes.ALL), dev_server_log_level="error",
            dev_server_extra_args=["--db-filename", str(work / "temporal.db"), "--sqlite-pragma", "journal_mode=wal", "--sqlite-pragma", "synchronous=1"],
        ) as env:
            yield Bench(env.client, receiver, store, work)
    finally:
        receiver.close()
        store.close()
        shutil.rmtree(work, ignore_errors=True)


def header(what: str) -> None:
    print(f"{what} ({os.cpu_count()} cores, dev server with SQLite WAL, started {datetime.now(UTC):%Y-%m-%d %H:%M} UTC)")


def ratio_line(label: str, bare: float, escalator: float, unit: str = "ms", scale: float = 1000.0) -> str:
    return (f"  {label:<34} bare {bare * scale:8.1f} {unit}   escalator {escalator * scale:8.1f} {unit}"
            f"   ratio {escalator / bare if bare else float('inf'):5.2f}x")


def timed_escalator(*args: str) -> tuple[float, int]:
    """Run `escalator ARGS...` as a user would, in a subprocess: (wall seconds, peak RSS in MiB of
    the largest process it ran, as /usr/bin/time counts it). SystemExit with its last error line
    when it fails."""
    escalator = Path(sys.executable).parent / "escalator"
    started = time.perf_counter()
    done = subprocess.run(["/usr/bin/time", "-f", "%M", str(escalator), *args], capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"escalator {args[0]} failed: {done.stderr.strip().splitlines()[-1:]}")
    return seconds, int(re.findall(r"^(\d+)$", done.stderr, re.M)[-1]) // 1024
