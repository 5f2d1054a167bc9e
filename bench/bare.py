"""Bare Temporal for the benchmarks: a workflow that sleeps until an instant and POSTs once.

In a module of its own, as small as it can be: the SDK re-imports a workflow's module for each
workflow it starts, and bare Temporal should not pay for the benchmark's own code.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta

from temporalio import activity, workflow


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
