"""Due instant -> receipt at a local webhook receiver, against bare Temporal in the same run.

`python -m bench.notify_latency [--tickets 300] [--rate 10]` (or `make bench`). Starts an
in-memory Temporal dev server and a local HTTP receiver, then:
- bare: a workflow that sleeps until an instant and then runs one activity POSTing to the
  receiver (the least Temporal can do for "act at a due instant");
- escalator: Sev-1 tickets whose 75% first-response warning falls due at the same kind of
  instants, notified through the real notify activity (Standard Webhooks signing, delivery
  log in SQLite, timeline writes) to the same receiver. The policy is the default one without
  the Sev-1 stakeholder cadence and the on-call page at open, so that the warning is the first
  thing each ticket owes (with them, a ticket opened 90 minutes ago would first owe late status
  updates, their escalations and pages, sent as a digest just before the warning).
Due instants are paced at --rate per second. Prints p50/p99/max latency of each and the ratios.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import sys
import tempfile
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from temporalio import activity, workflow

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


def policy_text_page_on_call() -> str:
    """The default policy's on-call page step, as written there."""
    from policies import DEFAULT_POLICY

    text = DEFAULT_POLICY.read_text()
    start = text.index('[[escalation.sev1]]\nid = "page_on_call"')
    return text[start:text.index("[[escalation.sev1]]", start + 1)]


@activity.defn(name="bare_post")
async def bare_post(args: list[str]) -> None:
    import httpx

    from activities.channels.http_post import tls_context

    url, due = args
    async with httpx.AsyncClient(verify=tls_context()) as client:  # the same TLS setup cost as the notifier
        await client.post(url, content=json.dumps({"due": due}).encode(), headers={"content-type": "application/json"})


@workflow.defn(name="BareTimer")
class BareTimer:
    @workflow.run
    async def run(self, args: list[str]) -> None:
        url, due = args
        delay = datetime.fromisoformat(due) - workflow.now()
        if delay.total_seconds() > 0:
            await workflow.sleep(delay)
        await workflow.execute_activity(bare_post, [url, due], start_to_close_timeout=timedelta(seconds=30))


def percentiles(values: list[float]) -> tuple[float, float, float]:
    ordered = sorted(values)
    p99 = ordered[min(len(ordered) - 1, int(round(0.99 * (len(ordered) - 1))))]
    return statistics.median(ordered), p99, ordered[-1]


async def wait_for(receiver, count: int, deadline: float) -> None:
    loop = asyncio.get_running_loop()
    while len(receiver.requests) < count and loop.time() < deadline:
        await asyncio.sleep(0.2)


async def run(tickets: int, rate: float) -> None:
    from temporalio.contrib.pydantic import pydantic_data_converter
    from temporalio.testing import WorkflowEnvironment
    from temporalio.worker import Worker

    from activities.notify import NotifierSettings
    from sla.ticket import TicketOpened
    from store.ticket_store import TicketStore, upgrade
    from tests.receivers import HttpReceiver
    from worker.main import build_worker
    from workflows import search_attributes
    from workflows.ticket import TicketWorkflow

    temporal = str(Path(sys.executable).parent / "temporal") if (Path(sys.executable).parent / "temporal").exists() else shutil.which("temporal")
    work = Path(tempfile.mkdtemp())
    url = f"sqlite:///{work / 'tickets.db'}"
    upgrade(url)
    store = TicketStore(url)
    receiver = HttpReceiver()
    contacts = work / "contacts.toml"
    contacts.write_text(f'[[contacts]]\nrole = "support_l1"\nchannel = "webhook"\naddress = "{receiver.url()}"\nsecret_env = "BENCH_SECRET"\nreviewed_on = {datetime.now(UTC).date()}\n')
    os.environ["BENCH_SECRET"] = SECRET
    results = {}
    async with await WorkflowEnvironment.start_local(
        dev_server_existing_path=temporal, data_converter=pydantic_data_converter,
        search_attributes=list(search_attributes.ALL), dev_server_log_level="error",
        dev_server_extra_args=["--sqlite-pragma", "journal_mode=wal", "--sqlite-pragma", "synchronous=1"],
    ) as env:
        client = env.client
        # bare Temporal
        first = datetime.now(UTC) + timedelta(seconds=10)
        dues = [first + timedelta(seconds=i / rate) for i in range(tickets)]
        async with Worker(client, task_queue="bare", workflows=[BareTimer], activities=[bare_post]):
            for due in dues:
                await client.start_workflow(BareTimer.run, [receiver.url("/bare"), due.isoformat()], id=f"bare-{uuid.uuid4()}", task_queue="bare")
            await wait_for(receiver, tickets, asyncio.get_running_loop().time() + tickets / rate + 60)
        results["bare Temporal"] = [r.at - datetime.fromisoformat(json.loads(r.body)["due"]).timestamp() for r in receiver.requests]
        receiver.requests.clear()

        # escalator: the 75% warning of a Sev-1 first response (2h) falls 90 minutes after opening.
        settings = NotifierSettings(contacts_path=contacts, allow_private_urls=True)
        first = datetime.now(UTC) + timedelta(seconds=15)
        dues = [first + timedelta(seconds=i / rate) for i in range(tickets)]
        from policies import DEFAULT_POLICY

        cadence = 'targets.status_update = { within = "30m", calendar = "24x7" }\n'
        # The on-call page at open (and its repeats) would be owed, late, before the warning too.
        page = policy_text_page_on_call()
        policy_text = DEFAULT_POLICY.read_text()
        assert cadence in policy_text and page in policy_text, "the default policy's Sev-1 cadence or on-call page moved: update the benchmark"
        (work / "policy.toml").write_text(policy_text.replace(cadence, "").replace(page, ""))
        async with build_worker(client, task_queue="esc", policy_path=work / "policy.toml", store=store, notifier=settings):
            for i, due in enumerate(dues):
                ticket = TicketOpened(ticket_id=f"B-{i}-{uuid.uuid4().hex[:6]}", customer="BENCH", title="bench", severity="sev1",
                                      opened_at=due - timedelta(minutes=90))
                await client.start_workflow(TicketWorkflow.run, ticket, id=ticket.ticket_id, task_queue="esc")
            await wait_for(receiver, tickets, asyncio.get_running_loop().time() + tickets / rate + 60)
        results["escalator"] = [r.at - datetime.fromisoformat(json.loads(r.body)["due"]).timestamp() for r in receiver.requests]
    receiver.close()
    store.close()

    print(f"{tickets} due instants at {rate}/s, receipt at a local webhook receiver (dev server, SQLite WAL):")
    rows = {}
    for name, latencies in results.items():
        p50, p99, worst = percentiles(latencies)
        rows[name] = (p50, p99)
        print(f"  {name:<14} received {len(latencies):>4}  p50 {p50 * 1000:7.1f} ms  p99 {p99 * 1000:7.1f} ms  max {worst * 1000:7.1f} ms")
    (b50, b99), (e50, e99) = rows["bare Temporal"], rows["escalator"]
    print(f"  ratio escalator / bare: p50 {e50 / b50:.2f}x  p99 {e99 / b99:.2f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tickets", type=int, default=300)
    parser.add_argument("--rate", type=float, default=10.0, help="due instants per second")
    args = parser.parse_args()
    asyncio.run(run(args.tickets, args.rate))


if __name__ == "__main__":
    main()
    sys.stdout.flush()
    os._exit(0)  # skip finalization: temporalio/sdk-python issue 300 aborts it at random
