"""Open -> parked: how long until every one of a burst of tickets waits on its first timer.

`python -m bench.startup [--tickets 200] [--rounds 3]` (part of `make bench`). Starts `--tickets`
bare timers as fast as one client can, then as many tickets (bench/harness.py), and reads from
each history when its first timer was set; `--rounds` times, taking turns. Prints, for each, the
median over the rounds of the time from the first start to the last workflow parked and of the
median start -> parked, and the ratios. A ticket parked late sets a late
timer: this is what a burst of tickets (an outage, a bulk import) costs before its first deadline.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta

from bench.harness import bench_environment, header, ratio_line


async def burst(bench, who: str, count: int, key: str) -> tuple[float, float]:
    """(seconds from the first start to the last parked, median seconds start -> parked)."""
    due = datetime.now(UTC) + timedelta(hours=1)  # far away: nothing fires during the measurement
    started_at: dict[str, datetime] = {}
    t0 = datetime.now(UTC)

    async def one(i: int) -> None:
        at = datetime.now(UTC)
        wid = await bench.start(who, f"{key}park{i}", due)
        started_at[wid] = at

    await asyncio.gather(*(one(i) for i in range(count)))
    parked: dict[str, datetime] = {}
    deadline = time.monotonic() + 120
    while len(parked) < count and time.monotonic() < deadline:
        for wid in [w for w in started_at if w not in parked]:
            at = await bench.first_timer_at(wid)
            if at:
                parked[wid] = at
        await asyncio.sleep(0.5)
    assert len(parked) == count, f"{who}: only {len(parked)} of {count} parked within 2 minutes"
    last = max(parked.values())
    return (last - t0).total_seconds(), statistics.median((parked[w] - started_at[w]).total_seconds() for w in parked)


async def run(count: int, rounds: int) -> dict[str, tuple[float, float]]:
    """The median over `rounds` bursts of each, bare and escalator taking turns."""
    async with bench_environment() as bench:
        found: dict[str, list[tuple[float, float]]] = {"bare": [], "escalator": []}
        for n in range(rounds):
            for who in found:
                async with (bench.bare_worker() if who == "bare" else bench.escalator_worker()):
                    found[who].append(await burst(bench, who, count, f"r{n}-"))
                    print(f"  round {n + 1}: {who} all parked in {found[who][-1][0]:.1f} s", flush=True)
    return {who: (statistics.median(a for a, _ in got), statistics.median(m for _, m in got)) for who, got in found.items()}


def report(count: int, results: dict[str, tuple[float, float]]) -> None:
    header(f"open -> parked, {count} opened at once (medians of the rounds)")
    (b_all, b_med), (e_all, e_med) = results["bare"], results["escalator"]
    print(ratio_line("all parked (first start -> last)", b_all, e_all, "s", 1.0))
    print(ratio_line("median start -> parked", b_med, e_med))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tickets", type=int, default=200, help="tickets (and bare timers) opened at once (default 200)")
    parser.add_argument("--rounds", type=int, default=3, help="bursts of each, taking turns; the medians are printed (default 3)")
    args = parser.parse_args()
    report(args.tickets, asyncio.run(run(args.tickets, args.rounds)))


if __name__ == "__main__":
    main()
    sys.stdout.flush()
    os._exit(0)  # skip finalization: temporalio/sdk-python issue 300 aborts it at random
