"""What the HTTP intake adds: the same operations at the same rate through the API and the Python client.

`python -m bench.api_latency [--rate 20] [--seconds 60]` (part of `make bench`). One dev server
(SQLite WAL), one escalator worker on the tickets' task queue; `escalator api` runs as its own
process (uvicorn, as deployed, with its SQLite idempotency store). At `--rate` requests a second,
alternately `open` (a Sev-4 ticket, so nothing is notified) and `respond` (one event on the ticket
just opened, once it is open), first through `TicketClient` for `--seconds`, then through the API over HTTP
(httpx, one connection pool) for as long. Each request's latency is from send to answer. Rows:
p50/p99/max per operation and path, and what the API adds at p99 (the issue's bar: 20 ms).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime

import httpx

from bench.harness import bench_environment, header, percentiles, ratio_line
from sla.messages import Respond
from sla.severity import Severity
from sla.ticket import TicketOpened
from starter.client import TicketClient
from workflows import contract


async def paced(rate: float, seconds: float, op) -> dict[str, list[float]]:
    """Call `op(i)` at `rate` a second for `seconds` without waiting for answers (an open loop, as
    independent callers would). `op` returns (operation, latency in seconds)."""
    loop = asyncio.get_running_loop()
    latencies: dict[str, list[float]] = {"open": [], "respond": []}
    start, tasks = loop.time() + 0.5, []

    async def timed(i: int) -> None:
        kind, latency = await op(i)
        latencies[kind].append(latency)

    for i in range(int(rate * seconds)):
        await asyncio.sleep(max(0.0, start + i / rate - loop.time()))
        tasks.append(asyncio.create_task(timed(i)))
    await asyncio.gather(*tasks)
    return latencies


class Tickets:
    """Tickets opened at even ticks; the odd tick after responds to it once it is open (each
    ticket takes one event, so two events never race for the order rule of docs/api.md)."""

    def __init__(self) -> None:
        self.opened: dict[int, asyncio.Future] = {}

    def future(self, i: int) -> asyncio.Future:
        return self.opened.setdefault(i, asyncio.get_running_loop().create_future())


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used (Linux /proc)."""
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _wait_ready(url: str, proc: subprocess.Popen) -> None:
    for _ in range(300):
        if proc.poll() is not None:
            raise SystemExit(f"escalator api exited ({proc.returncode})")
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise SystemExit("escalator api did not become ready in 30 s")


async def main(rate: float, seconds: float) -> None:
    from intake.api_keys import create_key
    from tests.intake_server import free_port
    from worker.main import build_worker

    header(f"HTTP intake against the Python client, {rate:g} requests/s for {seconds:g} s each")
    async with bench_environment() as bench:
        run = uuid.uuid4().hex[:6]
        client = TicketClient(bench.client)
        key = create_key(bench.work / "api-keys.json", "bench", ["read", "write"])
        port = free_port()
        target = bench.client.service_client.config.target_host
        api = subprocess.Popen([sys.executable, "-m", "starter", "api", "--port", str(port), "--keys-file", str(bench.work / "api-keys.json"),
                                "--database-url", f"sqlite:///{bench.work / 'api.db'}", "--address", target, "--rate-limit", "0"],
                               env={k: v for k, v in os.environ.items() if not k.startswith("TEMPORAL_")})
        try:
            _wait_ready(f"http://127.0.0.1:{port}/v1/readyz", api)
            async with build_worker(bench.client, task_queue=contract.TASK_QUEUE, store=bench.store, sandboxed=False):
                tickets = Tickets()

                async def direct(i: int) -> tuple[str, float]:
                    if i % 2 == 0:
                        ticket_id = f"T-c{run}-{i}"
                        t0 = time.perf_counter()
                        await client.open(TicketOpened(ticket_id=ticket_id, customer="BENCH", title="t", severity=Severity.SEV4,
                                                       opened_at=datetime.now(UTC)))
                        latency = time.perf_counter() - t0
                        tickets.future(i).set_result(ticket_id)
                        return "open", latency
                    ticket_id = await tickets.future(i - 1)
                    t0 = time.perf_counter()
                    await client.respond(ticket_id, Respond(by="bench", event_id=f"E-c{run}-{i}"))
                    return "respond", time.perf_counter() - t0

                via_client = await paced(rate, seconds, direct)
                tickets = Tickets()
                headers = {"Authorization": f"Bearer {key}"}
                async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", headers=headers, timeout=60) as http:

                    async def over_http(i: int) -> tuple[str, float]:
                        if i % 2 == 0:
                            t0 = time.perf_counter()
                            answer = await http.post("/v1/tickets", json={"ticket_id": f"T-a{run}-{i}", "customer": "BENCH", "title": "t", "severity": "sev4"},
                                                     headers={"Idempotency-Key": f"o-{run}-{i}"})
                            latency = time.perf_counter() - t0
                            assert answer.status_code == 201, answer.text
                            tickets.future(i).set_result(answer.json()["ticket_id"])
                            return "open", latency
                        ticket_id = await tickets.future(i - 1)
                        t0 = time.perf_counter()
                        answer = await http.post(f"/v1/tickets/{ticket_id}/events", json={"type": "respond", "by": "bench"},
                                                 headers={"Idempotency-Key": f"E-a{run}-{i}"})
                        latency = time.perf_counter() - t0
                        assert answer.status_code == 200, answer.text
                        return "respond", latency

                    cpu_before = cpu_seconds(api.pid)
                    via_api = await paced(rate, seconds, over_http)
                    api_cpu = (cpu_seconds(api.pid) - cpu_before) / (rate * seconds)
        finally:
            api.terminate()
            api.wait(15)
    for kind in ("open", "respond"):
        c50, c99, cmax = percentiles(via_client[kind])
        a50, a99, amax = percentiles(via_api[kind])
        print(f"{kind} ({len(via_client[kind])} through the client, {len(via_api[kind])} through the API)")
        print(ratio_line("p50", c50, a50).replace("bare", "client").replace("escalator", "api"))
        print(ratio_line("p99", c99, a99).replace("bare", "client").replace("escalator", "api"))
        print(ratio_line("max", cmax, amax).replace("bare", "client").replace("escalator", "api"))
        print(f"  the API adds {1000 * (a99 - c99):+.1f} ms at p99 (bar: at most +20 ms)")
    print(f"the API process used {1000 * api_cpu:.1f} ms of CPU per request")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=20.0, help="requests a second (default 20)")
    parser.add_argument("--seconds", type=float, default=60.0, help="seconds per path (default 60)")
    options = parser.parse_args()
    asyncio.run(main(options.rate, options.seconds))
