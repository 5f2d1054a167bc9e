"""How long `escalator simulate` takes over 10,000 stored tickets (the issue's bar: under 60 s).

`make bench` (or `python -m bench.simulate_speed [--tickets 10000] [--postgres URL]`). Writes a
month of generated tickets (bench/ticket_month.py) into a fresh SQLite store (and PostgreSQL when
`--postgres` is given), then runs the command as a user would, in a subprocess, with a policy
that shortens Sev-2's first response: wall time, tickets/s and peak memory, with one and with
every CPU. For scale, the time of one bare workflow execution on the dev server in the same
run: simulating a ticket under two policies is that many bare workflows' worth of time.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
from pathlib import Path

from bench.harness import timed_escalator
from bench.plan_speed import bare_workflow_microseconds
from bench.ticket_month import write_month
from policies import DEFAULT_POLICY

TARGET_SECONDS = 60


def _run(url: str, policy: Path, jobs: int) -> tuple[float, int]:
    """(seconds, peak RSS in MiB of the largest process: the command or one of its workers)."""
    return timed_escalator("simulate", "--policy", str(policy), "--database-url", url, "--jobs", str(jobs), "--json")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tickets", type=int, default=10_000)
    parser.add_argument("--postgres", metavar="URL", help="also measure on this PostgreSQL database (its tables are replaced)")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-simulate-"))
    policy = work / "new.toml"
    policy.write_text(DEFAULT_POLICY.read_text().replace('targets.first_response = { within = "4 business hours" }',
                                                         'targets.first_response = { within = "2 business hours" }', 1))
    stores = [("SQLite", f"sqlite:///{work / 'month.db'}")]
    if args.postgres:
        from sqlalchemy import text

        from store.ticket_store import open_engine

        engine = open_engine(args.postgres)
        with engine.begin() as conn:
            conn.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
        engine.dispose()
        stores.append(("PostgreSQL", args.postgres))
    per_workflow = asyncio.run(bare_workflow_microseconds(30)) / 1e6
    print(f"escalator simulate over {args.tickets:,} stored tickets ({os.cpu_count()} cores)")
    for name, url in stores:
        write_month(url, args.tickets, progress=False)
        for jobs in sorted({1, os.cpu_count() or 1}):
            seconds, peak = _run(url, policy, jobs)
            verdict = "within" if seconds < TARGET_SECONDS else "OVER"
            per_ticket = seconds / args.tickets
            print(f"  {name:<10} --jobs {jobs}: {seconds:6.1f} s  {args.tickets / seconds:7.0f} tickets/s  peak {peak} MiB  "
                  f"({verdict} the {TARGET_SECONDS} s bar)  one ticket = {per_ticket / per_workflow:.2f} bare workflows")
    print(f"  bare Temporal workflow (start -> result, dev server): {per_workflow * 1e3:.2f} ms")


if __name__ == "__main__":
    main()
    sys.stdout.flush()
    os._exit(0)  # skip finalization: temporalio/sdk-python issue 300 aborts it at random
