"""Worker memory with many parked tickets, against a bare worker parking as many timers.

`python -m bench.worker_memory [--tickets 10000]` (part of `make bench`; it takes minutes).
Starts a dev server, then, one after the other, a worker process for each contestant
(bench/harness.py) with temporalio's default workflow cache; opens `--tickets` workflows that
each wait on a timer an hour away, waits until every one is parked, and reads the worker's
resident memory (VmRSS, and its peak VmHWM) from /proc. The workers are separate processes so
that one's memory never counts for the other.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta


def rss_mib(pid: int) -> tuple[float, float]:
    fields = dict(line.split(":", 1) for line in open(f"/proc/{pid}/status") if ":" in line)
    return int(fields["VmRSS"].split()[0]) / 1024, int(fields["VmHWM"].split()[0]) / 1024


async def child(who: str, address: str, work: str, run_id: str) -> None:
    """A worker process: serves its task queue until killed."""
    from pathlib import Path

    from temporalio.client import Client
    from temporalio.contrib.pydantic import pydantic_data_converter

    from bench.harness import Bench
    from store.ticket_store import TicketStore

    import structlog

    # The parent reads only "ready" from stdout: the worker's own logs would fill the pipe and stall it.
    structlog.configure(logger_factory=structlog.PrintLoggerFactory(file=open(os.devnull, "w")))
    client = await Client.connect(address, data_converter=pydantic_data_converter)
    store = TicketStore(f"sqlite:///{work}/tickets.db")
    bench = Bench(client, None, store, Path(work), run_id=run_id)
    async with (bench.bare_worker() if who == "bare" else bench.escalator_worker()):
        print("ready", flush=True)
        await asyncio.Event().wait()


async def contest(count: int) -> dict[str, tuple[float, float, float]]:
    from bench.harness import bench_environment

    results = {}
    async with bench_environment() as bench:
        address = bench.client.service_client.config.target_host
        for who in ("bare", "escalator"):
            proc = subprocess.Popen([sys.executable, "-m", "bench.worker_memory", "--child", who, address, str(bench.work), bench.run_id],
                                    stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
            try:
                assert proc.stdout.readline().strip() == "ready"
                idle = rss_mib(proc.pid)[0]
                due = datetime.now(UTC) + timedelta(hours=1)
                t0, ids, batch = time.monotonic(), [], 200
                for start in range(0, count, batch):
                    ids += await asyncio.gather(*(bench.start(who, f"mem{i}", due) for i in range(start, min(count, start + batch))))
                    print(f"  {who}: {len(ids)} started", end="\r", flush=True)
                for wid in ids[-50:]:  # the last ones started are parked last
                    while await bench.first_timer_at(wid) is None:
                        await asyncio.sleep(0.5)
                await asyncio.sleep(5)
                rss, peak = rss_mib(proc.pid)
                print(f"  {who}: {count} parked in {time.monotonic() - t0:.0f} s" + " " * 20)
                results[who] = (idle, rss, peak)
            finally:
                proc.kill()
                proc.wait()
    return results


def main() -> None:
    if sys.argv[1:2] == ["--child"]:
        asyncio.run(child(*sys.argv[2:6]))
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tickets", type=int, default=10000)
    args = parser.parse_args()
    results = asyncio.run(contest(args.tickets))
    print(f"worker memory with {args.tickets} parked, default workflow cache ({os.cpu_count()} cores):")
    for who, (idle, rss, peak) in results.items():
        print(f"  {who:<10} idle {idle:6.0f} MiB   parked {rss:6.0f} MiB   peak {peak:6.0f} MiB")
    print(f"  ratio escalator / bare, parked RSS: {results['escalator'][1] / results['bare'][1]:.2f}x")


if __name__ == "__main__":
    main()
    sys.stdout.flush()
    os._exit(0)  # skip finalization: temporalio/sdk-python issue 300 aborts it at random
