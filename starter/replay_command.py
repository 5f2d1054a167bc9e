"""`escalator replay`: replay ticket histories against the workflow code installed here, before a deploy.

Sources: `--dir PATH` (exported history JSON files, as `temporal workflow show --output json`
writes them and tests/histories holds them), `--ticket ID` (one ticket's current run from the
server) or `--query QUERY` (every run a visibility query finds, `--limit N`). One line per
history (`ok`, or the nondeterminism the code hit), a total with the replay rate in events/s,
and exit 1 when any failed, so it can gate a pipeline. Progress on stderr: a bar on a terminal,
a line every 5 s otherwise. Encrypted histories are decoded with the codec keys when set.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from temporalio.api.common.v1 import Payload
from temporalio.client import Client, WorkflowHistory
from temporalio.runtime import LoggingConfig, Runtime, TelemetryConfig, TelemetryFilter
from temporalio.worker import Replayer

from connection.client import CannotConnect, connect, flags_of, load
from connection.codec import data_converter
from workflows.sandbox import workflow_runner
from workflows.review import ScheduledReviewWorkflow
from workflows.ticket import TicketWorkflow


class ReplayError(Exception):
    """The histories cannot be fetched or read: one line."""


def add_replay_arguments(p: argparse.ArgumentParser) -> None:
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("--dir", metavar="PATH", type=Path, help="replay every *.json history file in PATH")
    source.add_argument("--ticket", metavar="ID", help="replay one ticket's current run, fetched from the server")
    source.add_argument("--query", metavar="QUERY", help="replay the runs a visibility query finds, e.g. \"ExecutionStatus = 'Running'\"")
    p.add_argument("--limit", type=int, default=None, metavar="N", help="with --query: at most N histories (default all)")
    p.add_argument("--allow-empty", action="store_true",
                   help="exit 0 when nothing matches (default: exit 1, so a mistyped query or folder cannot pass a pipeline)")


class Progress:
    """A bar on a terminal; otherwise a line every 5 s (CI logs)."""

    def __init__(self, total: int | None, done_what: str = "replayed {} histories so far") -> None:
        self.total, self.done, self.tty, self.last = total, 0, sys.stderr.isatty(), time.monotonic()
        self.done_what = done_what

    def step(self) -> None:
        self.done += 1
        if self.tty and self.total:
            filled = int(30 * self.done / self.total)
            print(f"\r[{'#' * filled}{' ' * (30 - filled)}] {self.done}/{self.total}", end="", file=sys.stderr, flush=True)
        elif time.monotonic() - self.last >= 5:
            self.last = time.monotonic()
            print(self.done_what.format(f"{self.done}{f'/{self.total}' if self.total else ''}"), file=sys.stderr, flush=True)

    def end(self) -> None:
        if self.tty and self.total:
            print(file=sys.stderr)


async def _history(doc: dict[str, Any], converter) -> WorkflowHistory:
    """A file's history under the workflow id it ran with: its start input's ticket_id (decoded
    when encrypted), since the workflow refuses a start whose ticket_id is not its id."""
    events = WorkflowHistory.from_json("file", doc).events
    payload: Payload = events[0].workflow_execution_started_event_attributes.input.payloads[0]
    if converter.payload_codec is not None:
        payload = (await converter.payload_codec.decode([payload]))[0]
    try:
        ticket_id = json.loads(payload.data)["ticket_id"]
    except (ValueError, KeyError, TypeError):
        raise ReplayError(f"its start input has no ticket_id (encoding {payload.metadata.get('encoding', b'?').decode()}; codec keys?)") from None
    return WorkflowHistory(ticket_id, events)


async def _from_dir(path: Path, converter) -> AsyncIterator[tuple[str, WorkflowHistory]]:
    for file in sorted(path.glob("*.json")):
        try:
            yield file.name, await _history(json.loads(file.read_text(encoding="utf-8")), converter)
        except ReplayError as exc:
            raise ReplayError(f"{file.name}: {exc}") from None
        except (OSError, ValueError, KeyError, IndexError) as exc:
            raise ReplayError(f"{file.name}: not a history JSON file ({str(exc).splitlines()[0][:120]})") from None


async def _from_server(client: Client, args) -> AsyncIterator[tuple[str, WorkflowHistory]]:
    if args.ticket:
        yield args.ticket, await client.get_workflow_handle(args.ticket).fetch_history()
        return
    async for execution in client.list_workflows(args.query, limit=args.limit):
        yield execution.id, await client.get_workflow_handle(execution.id, run_id=execution.run_id).fetch_history()


async def run_replay(args: argparse.Namespace) -> tuple[dict[str, Any], str, bool]:
    """(JSON document, text, every history replayed)."""
    try:
        settings = load(*flags_of(args))
    except CannotConnect as exc:
        raise ReplayError(str(exc)) from None
    if args.limit is not None and args.limit < 1:
        raise ReplayError(f"--limit: {args.limit} is not 1 or more")
    converter = data_converter(settings.keys)
    if args.dir is not None:
        if not args.dir.is_dir():
            raise ReplayError(f"--dir: {args.dir} is not a folder")
        total = len(list(args.dir.glob("*.json")))
        source = _from_dir(args.dir, converter)
    else:
        try:
            client = await connect(settings)
        except CannotConnect as exc:
            raise ReplayError(str(exc)) from None
        total = 1 if args.ticket else args.limit
        source = _from_server(client, args)
    # The core would print each nondeterminism as a WARN line on stdout; this command reports them itself.
    quiet = Runtime(telemetry=TelemetryConfig(logging=LoggingConfig(filter=TelemetryFilter(core_level="ERROR", other_level="ERROR"))))
    replayer = Replayer(workflows=[TicketWorkflow, ScheduledReviewWorkflow], data_converter=converter, workflow_runner=workflow_runner(), runtime=quiet)
    rows, events, progress, started = [], 0, Progress(total), time.monotonic()
    try:
        async for name, history in source:
            result = await replayer.replay_workflow(history, raise_on_replay_failure=False)
            failure = result.replay_failure
            rows.append({"history": name, "events": len(history.events), "ok": failure is None,
                         "failure": None if failure is None else _why(failure)})
            events += len(history.events)
            progress.step()
    except Exception as exc:  # an RPC error fetching, or a file that is not a history
        if isinstance(exc, ReplayError):
            raise
        raise ReplayError(f"cannot fetch the histories: {str(exc).splitlines()[0][:200]}") from None
    finally:
        progress.end()
    seconds = time.monotonic() - started
    failed = [r for r in rows if not r["ok"]]
    rate = events / seconds if seconds > 0 else 0.0
    lines = [f"{r['history']}  {'ok' if r['ok'] else 'FAIL: ' + r['failure']}" for r in rows]
    lines.append(f"{len(rows)} {'history' if len(rows) == 1 else 'histories'}, {events} events replayed in {seconds:.1f} s "
                 f"({rate:,.0f} events/s): " + ("all replay" if not failed else f"{len(failed)} FAILED") if rows
                 else "no history found" + ("" if args.allow_empty else ": nothing was replayed (--allow-empty accepts that)"))
    doc = {"histories": rows, "replayed": len(rows), "failed": len(failed), "events": events, "seconds": round(seconds, 3),
           "events_per_second": round(rate)}
    return doc, "\n".join(lines), not failed and (bool(rows) or args.allow_empty)


def _why(failure: BaseException) -> str:
    """The core's own message (it names the history event and what the code did instead), not its debug dump."""
    text = str(failure)
    found = re.search(r'message: "(.*?)", source', text)
    return (found.group(1) if found else (text.strip().splitlines() or [type(failure).__name__])[0])[:500]


def main_replay(args: argparse.Namespace) -> int:
    try:
        doc, text, ok = asyncio.run(run_replay(args))
    except ReplayError as exc:
        print(f"escalator: error: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(doc, indent=2) if args.json else text)
    return 0 if ok else 1
