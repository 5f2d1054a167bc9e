"""`escalator api`: check every setting, then serve the HTTP intake on uvicorn.

Everything that can be wrong before serving (the keys file, the hook sources and their
secrets, the policy, the database URL and its schema, the connection settings) is reported
one line each, and the command exits 2 without listening.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time
from pathlib import Path

import uvicorn

from intake.api_keys import ENV_FILE, KeyRing, KeysFileError
from intake.app import create_app
from intake.context import Intake
from intake.hooks.mapping import MappingError, load_sources, secrets_of
from intake.hooks.verify import verifier_for
from intake.hooks_route import HookDoor
from intake.rate_limit import RateLimit
from starter.client import TicketClient
from intake.startup import common_problems
from store.dev_state import default_database_url
from store.idempotency import IdempotencyRecords
from store.ticket_store import StoreConfigError, engine_url, printable, revisions, upgrade

DEFAULT_PORT = 8000


def _upgrade_beside_worker(url: str) -> None:
    """Migrate the embedded SQLite store, as the worker does at its start: `make dev` starts both
    at once, so one of the two may find the other migrating and waits for it to finish."""
    for attempt in range(20):
        try:
            upgrade(url)
            return
        except Exception:
            current, head = revisions(url)
            if current == head:
                return
            if attempt == 19:
                raise
            time.sleep(0.5)


def build(args: argparse.Namespace, environ=os.environ) -> tuple[Intake | None, list[str]]:
    """(the Intake, []) or (None, one line per problem)."""
    problems: list[str] = []
    keys = records = None
    hooks: dict[str, HookDoor] = {}
    if not args.keys_file:
        problems.append(f"--keys-file: required (or {ENV_FILE}): escalator api-key create NAME --scope read,write --keys-file FILE makes one")
    else:
        try:
            keys = KeyRing(Path(args.keys_file))
        except KeysFileError as exc:
            problems.append(f"--keys-file: {exc}")
    if args.hooks_dir:
        try:
            sources = load_sources(Path(args.hooks_dir))
        except MappingError as exc:
            problems.extend(f"--hooks-dir: {line}" for line in exc.problems)
            sources = {}
        for name, source in sources.items():
            try:
                hooks[name] = HookDoor(source, verifier_for(source.verify, secrets_of(source, environ)))
            except MappingError as exc:  # no secret set: its line names the source already
                problems.extend(f"--hooks-dir: {line}" for line in exc.problems)
            except ValueError as exc:  # a malformed secret
                problems.append(f"--hooks-dir: {name}: {exc}")
    policy, settings, more = common_problems(args)
    problems += more
    url = args.database_url or default_database_url()
    try:
        full = engine_url(url)
        if full.startswith("sqlite"):
            _upgrade_beside_worker(full)
        else:
            current, head = revisions(full)
            if current != head:
                problems.append(f"--database-url: the ticket store at {printable(full)} is at revision {current}, this code needs {head}: run `escalator db upgrade`")
        records = IdempotencyRecords(full)
    except StoreConfigError as exc:
        problems.append(f"--database-url: {exc}")
    except Exception as exc:  # the database is down or refuses us
        problems.append(f"--database-url: cannot open the ticket store at {printable(url)}: {str(exc).splitlines()[0][:200]}")
    for name, value, low in (("--rate-limit", args.rate_limit, 0), ("--max-body-bytes", args.max_body_bytes, 1024), ("--wait", args.wait, 0.5)):
        if value < low:
            problems.append(f"{name}: {value:g} is below {low}")
    if problems:
        return None, problems

    async def connect() -> TicketClient:
        return await TicketClient.connect(settings, ui_url=args.ui_url)

    return Intake(keys=keys, policy=policy, records=records, rate_limit=RateLimit(args.rate_limit), connect=connect,
                  max_body=args.max_body_bytes, event_wait=args.wait, hooks=hooks), []


def run_api(args: argparse.Namespace) -> int:
    intake, problems = build(args)
    if intake is None:
        for line in problems:
            print(f"escalator api: error: {line}", file=sys.stderr)
        return 2
    app = create_app(intake)
    hooks = ", ".join(f"/v1/hooks/{name}" for name in sorted(intake.hooks)) or "none (--hooks-dir)"
    print(f"escalator api: serving http://{args.bind}:{args.port}/v1 (OpenAPI at /v1/openapi.json); "
          f"{len(intake.keys.all())} key(s) from {args.keys_file}; webhooks: {hooks}", file=sys.stderr, flush=True)
    # uvicorn logs each request at info: the level is lowered only when they are asked for.
    config = uvicorn.Config(app, host=args.bind, port=args.port, log_level="info" if args.access_log else "warning", access_log=args.access_log,
                            server_header=False, timeout_graceful_shutdown=10)
    # uvicorn stops gracefully on SIGTERM and SIGINT, then raises the signal again under the handler
    # it found: with these, that ends in exit 0 (a clean stop) rather than death by the signal.
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: None)
    uvicorn.Server(config).run()  # on uvloop and httptools (dependencies): about half the CPU per request
    return 0
