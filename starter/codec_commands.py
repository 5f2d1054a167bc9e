"""`escalator codec-server` and `escalator codec-key new`: payload encryption for operators."""

from __future__ import annotations

import argparse
import os
import re
import sys

from connection.keys import CodecKeyError, load_keys, new_key
from starter.dev import bind_error, tcp_port

DEFAULT_CODEC_PORT = 8234
ORIGIN = re.compile(r"https?://[A-Za-z0-9.\-\[\]:]+")  # what a browser sends in Origin: no path
ENV_TOKEN = "ESCALATOR_CODEC_TOKEN"


def add_codec_commands(sub, parser_class) -> None:
    env = os.environ.get
    p = sub.add_parser("codec-server", help="serve /encode and /decode so the Temporal UI and CLI show encrypted payloads")
    p.add_argument("--port", type=tcp_port, default=env("ESCALATOR_CODEC_PORT", str(DEFAULT_CODEC_PORT)),
                   help=f"port (env ESCALATOR_CODEC_PORT; default {DEFAULT_CODEC_PORT})")
    p.add_argument("--bind", default=env("ESCALATOR_CODEC_BIND", "127.0.0.1"), help="address to listen on (env ESCALATOR_CODEC_BIND; default 127.0.0.1)")
    p.add_argument("--cors-origin", action="append", metavar="URL",
                   help="an origin allowed to call from a browser: the Temporal UI's, e.g. http://localhost:8233 (repeatable; "
                        "env ESCALATOR_CODEC_CORS_ORIGINS, comma-separated; default http://localhost:8233)")
    p.add_argument("--token-file", metavar="FILE",
                   help=f"require `Authorization: Bearer TOKEN`, TOKEN read from FILE (or env {ENV_TOKEN}; default no token: bind to loopback)")
    p.add_argument("--codec-keys-file", metavar="FILE", help="KEYID:BASE64KEY lines (env ESCALATOR_CODEC_KEYS_FILE or ESCALATOR_CODEC_KEYS; required)")

    p = sub.add_parser("codec-key", help="payload encryption keys")
    key_sub = p.add_subparsers(dest="codec_key_command", required=True, metavar="SUBCOMMAND", parser_class=parser_class)
    new = key_sub.add_parser("new", help="print a new KEYID:BASE64KEY pair (32 random bytes) to append to the keys")
    new.add_argument("--id", dest="key_id", required=True, help="the key's id, e.g. 2026-12 (letters, digits, . _ -)")


def run_codec_command(args: argparse.Namespace) -> int:
    if args.command == "codec-key":
        try:
            print(new_key(args.key_id))
        except CodecKeyError as exc:
            print(f"escalator: error: --id: {exc}", file=sys.stderr)
            return 2
        return 0
    return _serve(args)


def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    from starter.codec_server import codec_app
    from worker.logs import configure_logging

    try:
        keys = load_keys(args.codec_keys_file)
        token = _token(args.token_file)
    except (CodecKeyError, ValueError) as exc:
        print(f"escalator: error: {exc}", file=sys.stderr)
        return 2
    if keys is None:
        print("escalator: error: no keys: set ESCALATOR_CODEC_KEYS or give --codec-keys-file (make one with `escalator codec-key new --id ID`)",
              file=sys.stderr)
        return 2
    origins = args.cors_origin or [o.strip() for o in os.environ.get("ESCALATOR_CODEC_CORS_ORIGINS", "http://localhost:8233").split(",") if o.strip()]
    for origin in origins:
        if not ORIGIN.fullmatch(origin):
            print(f"escalator: error: --cors-origin: {origin!r} is not an origin like https://temporal.example.com or "
                  "http://localhost:8233 (scheme, host, optional port; no path, no trailing slash)", file=sys.stderr)
            return 2
    error = bind_error(args.bind, args.port)
    if error is not None:
        print(f"escalator: error: cannot listen on {args.bind}:{args.port}: {error.strerror} (choose another with --port)", file=sys.stderr)
        return 1
    configure_logging("INFO")
    print(f"escalator: codec server on http://{args.bind}:{args.port} ({keys.describe()}; browsers from {', '.join(origins)}"
          f"{'; bearer token required' if token else ''})", file=sys.stderr, flush=True)
    uvicorn.run(codec_app(keys, origins, token), host=args.bind, port=args.port, log_level="warning")
    return 0


def _token(token_file: str | None) -> str | None:
    if token_file is None:
        return os.environ.get(ENV_TOKEN) or None
    try:
        token = open(token_file, encoding="utf-8").read().strip()
    except OSError as exc:
        raise ValueError(f"--token-file: cannot read {token_file}: {exc.strerror}") from None
    if not token:
        raise ValueError(f"--token-file: {token_file} is empty")
    return token
