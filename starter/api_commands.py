"""`escalator api` (the HTTP intake) and `escalator api-key create|list` (who may use it)."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from connection.client import add_arguments as add_temporal_arguments
from starter.dev import tcp_port

DEFAULT_API_PORT = 8000


def _number(kind):
    def parse(text: str):
        try:
            return kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    return parse


def add_api_commands(sub, parser_class) -> None:
    env = os.environ.get
    p = sub.add_parser("api", help="serve the HTTP intake: open and drive tickets over HTTP, take signed helpdesk webhooks (docs/intake.md)")
    p.add_argument("--port", type=tcp_port, default=env("ESCALATOR_API_PORT", str(DEFAULT_API_PORT)),
                   help=f"port (env ESCALATOR_API_PORT; default {DEFAULT_API_PORT})")
    p.add_argument("--bind", default=env("ESCALATOR_API_BIND", "127.0.0.1"),
                   help="address to listen on (env ESCALATOR_API_BIND; default 127.0.0.1; 0.0.0.0 behind a TLS proxy)")
    p.add_argument("--keys-file", metavar="FILE", default=env("ESCALATOR_API_KEYS_FILE"),
                   help="the API keys (hashes and scopes) made by `escalator api-key create` (env ESCALATOR_API_KEYS_FILE; required)")
    p.add_argument("--hooks-dir", metavar="DIR", default=env("ESCALATOR_HOOKS_DIR"),
                   help="webhook sources: one mapping TOML per source, served at /v1/hooks/<file stem> (env ESCALATOR_HOOKS_DIR; default none)")
    p.add_argument("--database-url", default=None,
                   help="the ticket store, which keeps each Idempotency-Key's answer (env DATABASE_URL; default the embedded SQLite store)")
    p.add_argument("--policy", default=env("ESCALATOR_POLICY"),
                   help="the workers' policy, to refuse an unknown plan or category before opening (env ESCALATOR_POLICY; default the bundled one)")
    p.add_argument("--rate-limit", type=_number(float), default=env("ESCALATOR_API_RATE_LIMIT", "50"), metavar="PER_SECOND",
                   help="requests a second per key and per webhook source, bursts of twice that; 0: no limit (env ESCALATOR_API_RATE_LIMIT; default 50)")
    p.add_argument("--max-body-bytes", type=_number(int), default=env("ESCALATOR_API_MAX_BODY", "65536"), metavar="BYTES",
                   help="largest body accepted (env ESCALATOR_API_MAX_BODY; default 65536)")
    p.add_argument("--wait", type=_number(float), default=env("ESCALATOR_API_WAIT", "5"), metavar="SECONDS",
                   help="how long an event waits for a worker before it is queued and answered 202 (env ESCALATOR_API_WAIT; default 5)")
    p.add_argument("--ui-url", default=env("ESCALATOR_UI_URL", "http://localhost:8233"),
                   help="Temporal UI base URL for the links in answers (env ESCALATOR_UI_URL; default http://localhost:8233)")
    p.add_argument("--access-log", action="store_true", help="log each request (method, path, status; never a key)")
    add_temporal_arguments(p)

    p = sub.add_parser("api-key", help="API keys for `escalator api`")
    keys = p.add_subparsers(dest="api_key_command", required=True, metavar="SUBCOMMAND", parser_class=parser_class)
    create = keys.add_parser("create", help="add a key to the keys file and print it on stdout, once (only its hash is kept)")
    create.add_argument("name", metavar="NAME", help="who uses it, e.g. helpdesk or billing-backend (letters, digits, . _ -)")
    create.add_argument("--scope", required=True, help="read, write, admin, comma-separated (admin: every scope)")
    create.add_argument("--keys-file", metavar="FILE", default=env("ESCALATOR_API_KEYS_FILE"),
                        help="the keys file, made if missing with mode 0600 (env ESCALATOR_API_KEYS_FILE; required)")
    listing = keys.add_parser("list", help="the keys' names, scopes and creation times (never the keys)")
    listing.add_argument("--keys-file", metavar="FILE", default=env("ESCALATOR_API_KEYS_FILE"), help="the keys file (env ESCALATOR_API_KEYS_FILE)")
    listing.add_argument("--json", action="store_true", help="print one JSON document")


def run_api_command(args: argparse.Namespace) -> int:
    from intake.api_keys import KeysFileError, create_key, parse_scopes, read_keys

    if args.command == "api":
        from intake.server import run_api

        return run_api(args)
    if not args.keys_file:
        print("escalator: error: --keys-file: required (or ESCALATOR_API_KEYS_FILE)", file=sys.stderr)
        return 2
    path = Path(args.keys_file)
    try:
        if args.api_key_command == "create":
            key = create_key(path, args.name, parse_scopes(args.scope))
            print(key)
            print(f"escalator: key {args.name!r} added to {path}; it is shown this once: send it as `Authorization: Bearer KEY`", file=sys.stderr)
            return 0
        keys = sorted(read_keys(path).values(), key=lambda k: k.name)
    except (ValueError, KeysFileError) as exc:
        print(f"escalator: error: {exc}", file=sys.stderr)
        return 2
    rows = [{"name": k.name, "scopes": sorted(k.scopes), "created_at": k.created_at} for k in keys]
    if args.json:
        print(json.dumps({"keys": rows}, indent=2))
    else:
        print("\n".join(f"{r['name']:<24} {','.join(r['scopes']):<18} {r['created_at']}" for r in rows) or "no keys")
    return 0
