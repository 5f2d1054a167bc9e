"""Due instant -> receipt at a local webhook receiver, against bare Temporal in the same run.

`python -m bench.notify_latency [--rates 5,10,20] [--count 200] [--rounds 3] [--drain 1000]
[--max-rate]` (part of `make bench`). The contestants are in bench/harness.py. Rows:
- **parked**, at each rate: every workflow waits on its first timer before the first due instant
  (checked from the histories: a row says how many were parked late), then due instants follow
  at that rate; `--rounds` rounds (a p99 of 200 is the second worst: one stall moves it), the
  median round's figures printed with each round's p99;
- **start-up included**, at 10/s: each workflow is opened one second before its due instant, at
  the same rate, so its start-up cost is inside the measurement;
- **drain**: `--drain` workflows parked, all due in the same second; obligations per second from
  the first due instant to the last receipt;
- **highest sustained rate** (`--max-rate`, slow): the rate is stepped up (`--count` parked per
  step) until p99 exceeds 1 s twice in a row; the highest rate under it.
Every notification must arrive: a row that lost one says so.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
from datetime import UTC, datetime, timedelta

from bench.harness import bench_environment, header, percentiles, ratio_line

PARK_MARGIN = 5.0  # seconds between the last start and the first due instant, beyond the measured start-up rate


async def parked_run(bench, who: str, count: int, rate: float, key: str) -> tuple[list[float], int]:
    """(latencies, how many were parked after the first due instant)."""
    first = datetime.now(UTC) + timedelta(seconds=PARK_MARGIN + count / 15)  # ~15 starts/s at worst
    dues = [first + timedelta(seconds=i / rate) for i in range(count)]
    ids = await asyncio.gather(*(bench.start(who, f"{key}{i}", due) for i, due in enumerate(dues)))
    await bench.received(count, (dues[-1] - datetime.now(UTC)).total_seconds() + 60)
    parked = await asyncio.gather(*(bench.first_timer_at(w) for w in ids))
    late = sum(1 for at in parked if at is None or at > first)
    return bench.latencies(), late


async def started_run(bench, who: str, count: int, rate: float, key: str) -> list[float]:
    loop = asyncio.get_running_loop()
    t0 = loop.time() + 1.0
    for i in range(count):
        await asyncio.sleep(max(0.0, t0 + i / rate - loop.time()))
        await bench.start(who, f"{key}{i}", datetime.now(UTC) + timedelta(seconds=1))
    await bench.received(count, 60)
    return bench.latencies()


async def drain_run(bench, who: str, count: int) -> float:
    """Obligations per second from the first due instant to the last receipt."""
    first = datetime.now(UTC) + timedelta(seconds=PARK_MARGIN + count / 12)
    await asyncio.gather(*(bench.start(who, f"drain{i}", first + timedelta(seconds=i / count)) for i in range(count)))
    await bench.received(count, (first - datetime.now(UTC)).total_seconds() + 300)
    got = bench.latencies()
    last = max(got) + 1.0  # the last due instant is first + ~1 s
    return len(got) / last


async def contest(bench, run, *args) -> dict[str, object]:
    results = {}
    async with bench.bare_worker():
        results["bare"] = await run(bench, "bare", *args)
    async with bench.escalator_worker():
        results["escalator"] = await run(bench, "escalator", *args)
    return results


def latency_rows(label: str, count: int, results: dict[str, list]) -> None:
    """One row each for p50 and p99; with several rounds (lists of lists), the median round's figure."""
    rounds = {who: got if got and isinstance(got[0], list) else [got] for who, got in results.items()}
    fig = {who: [percentiles(r)[:2] for r in rs] for who, rs in rounds.items()}
    (b50, b99), (e50, e99) = ((statistics.median(p[0] for p in fig[w]), statistics.median(p[1] for p in fig[w])) for w in ("bare", "escalator"))
    lost = {who: sum(count - len(r) for r in rs) for who, rs in rounds.items()}
    note = f"   LOST bare {lost['bare']}, escalator {lost['escalator']}" if any(lost.values()) else ""
    many = len(rounds["bare"]) > 1
    print(ratio_line(f"{label} p50", b50, e50))
    print(ratio_line(f"{label} p99", b99, e99) + note)
    if many:
        print("    p99 per round, bare: " + ", ".join(f"{p[1] * 1000:.0f}" for p in fig["bare"])
              + " ms; escalator: " + ", ".join(f"{p[1] * 1000:.0f}" for p in fig["escalator"]) + " ms")


async def run(args) -> None:
    async with bench_environment() as bench:
        header(f"due -> received at a local webhook, {args.count} obligations per row")
        for rate in args.rates:
            rounds = [await contest(bench, parked_run, args.count, rate, f"p{rate}-{n}-") for n in range(args.rounds)]
            late = {who: sum(r[who][1] for r in rounds) for who in ("bare", "escalator")}
            latency_rows(f"parked, {rate:g}/s", args.count, {who: [r[who][0] for r in rounds] for who in ("bare", "escalator")})
            if any(late.values()):
                print(f"    parked after the first due instant: bare {late['bare']}, escalator {late['escalator']}")
        results = await contest(bench, started_run, args.count, 10.0, "s10-")
        latency_rows("start-up included, 10/s", args.count, results)
        if args.max_rate:
            best = {}
            for who in ("bare", "escalator"):
                best[who], misses = 0.0, 0
                for rate in (10, 20, 30, 40, 50, 60, 80, 100):
                    await asyncio.sleep(10)  # let the server settle after the last row
                    async with (bench.bare_worker() if who == "bare" else bench.escalator_worker()):
                        got, _ = await parked_run(bench, who, args.count, float(rate), f"m{rate}-")
                    p99 = percentiles(got)[1] if len(got) == args.count else float("inf")
                    print(f"    {who} at {rate}/s: p99 {p99 * 1000:.0f} ms", flush=True)
                    if p99 < 1.0:
                        best[who], misses = float(rate), 0
                    else:
                        misses += 1
                        if misses == 2:
                            break
            print(ratio_line("highest rate with p99 < 1 s (per s)", best["bare"], best["escalator"], "/s", 1.0))
        if args.drain:
            await asyncio.sleep(10)
            results = await contest(bench, drain_run, args.drain)
            print(ratio_line(f"drain, {args.drain} due in 1 s (per s)", results["bare"], results["escalator"], "/s", 1.0))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rates", default="5,10,20", help="due instants per second for the parked rows (default 5,10,20)")
    parser.add_argument("--count", type=int, default=200, help="obligations per row (default 200)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of each parked row, bare and escalator taking turns; "
                                                             "the median round's p50 and p99 are printed (default 3)")
    parser.add_argument("--drain", type=int, default=1000, help="obligations due in the same second (default 1000; 0: skip)")
    parser.add_argument("--max-rate", action="store_true", help="also step the rate up to find the highest with p99 under 1 s")
    args = parser.parse_args()
    args.rates = [float(r) for r in args.rates.split(",") if r]
    asyncio.run(run(args))


if __name__ == "__main__":
    main()
    sys.stdout.flush()
    os._exit(0)  # skip finalization: temporalio/sdk-python issue 300 aborts it at random
