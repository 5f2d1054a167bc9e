"""`escalator mail-intake` (an SMTP server that turns mail into tickets) and `escalator mail-user add`."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from connection.client import add_arguments as add_temporal_arguments
from starter.dev import tcp_port

DEFAULT_MAIL_PORT = 2525


def _size(text: str) -> int:
    if not text.isdigit() or int(text) < 1024:
        raise argparse.ArgumentTypeError(f"{text!r}: give a number of bytes, at least 1024")
    return int(text)


def add_mail_commands(sub, parser_class) -> None:
    env = os.environ.get
    p = sub.add_parser("mail-intake", help="serve SMTP for a mail gateway: new mail opens tickets, replies become customer messages")
    p.add_argument("--port", type=tcp_port, default=env("ESCALATOR_MAIL_PORT", str(DEFAULT_MAIL_PORT)),
                   help=f"port (env ESCALATOR_MAIL_PORT; default {DEFAULT_MAIL_PORT})")
    p.add_argument("--bind", default=env("ESCALATOR_MAIL_BIND", "127.0.0.1"), help="address to listen on (env ESCALATOR_MAIL_BIND; default 127.0.0.1)")
    p.add_argument("--allow-from", action="append", metavar="CIDR",
                   default=[c for c in env("ESCALATOR_MAIL_ALLOW_FROM", "").split(",") if c.strip()],
                   help="a gateway's address or network allowed to send without AUTH, e.g. 10.0.0.5/32 (repeatable; env ESCALATOR_MAIL_ALLOW_FROM, comma-separated)")
    p.add_argument("--users-file", metavar="FILE", default=env("ESCALATOR_MAIL_USERS_FILE"),
                   help="SMTP AUTH users (scrypt hashes; escalator mail-user add makes them) (env ESCALATOR_MAIL_USERS_FILE)")
    p.add_argument("--plain-auth", action="store_true",
                   help="allow AUTH without TLS (only on loopback or a private link: the password travels in the clear)")
    p.add_argument("--rules", metavar="FILE", default=env("ESCALATOR_MAIL_RULES"),
                   help="mail rules TOML: sender domains to customers, subject keywords to severities, who may open Sev-1 (env ESCALATOR_MAIL_RULES; docs/intake.md)")
    p.add_argument("--max-size", type=_size, default=env("ESCALATOR_MAIL_MAX_SIZE", str(10 * 1024 * 1024)), metavar="BYTES",
                   help="largest message accepted (env ESCALATOR_MAIL_MAX_SIZE; default 10485760); larger ones get 552")
    p.add_argument("--policy", default=env("ESCALATOR_POLICY"), help="the workers' policy (env ESCALATOR_POLICY; default the bundled one)")
    p.add_argument("--ui-url", default=env("ESCALATOR_UI_URL", "http://localhost:8233"), help="Temporal UI base URL (env ESCALATOR_UI_URL)")
    add_temporal_arguments(p)

    p = sub.add_parser("mail-user", help="SMTP AUTH users for `escalator mail-intake`")
    users = p.add_subparsers(dest="mail_user_command", required=True, metavar="SUBCOMMAND", parser_class=parser_class)
    add = users.add_parser("add", help="add a user with a new password, printed on stdout once (the file keeps its scrypt hash)")
    add.add_argument("name", metavar="NAME")
    add.add_argument("--users-file", metavar="FILE", default=env("ESCALATOR_MAIL_USERS_FILE"), help="the users file (made with mode 0600)")


def run_mail_command(args: argparse.Namespace) -> int:
    if args.command == "mail-intake":
        from intake.mail.serve import run_mail_intake

        return run_mail_intake(args)
    from intake.mail.gate import UsersFileError, add_user

    if not args.users_file:
        print("escalator: error: --users-file: required (or ESCALATOR_MAIL_USERS_FILE)", file=sys.stderr)
        return 2
    try:
        password = add_user(Path(args.users_file), args.name)
    except (ValueError, UsersFileError) as exc:
        print(f"escalator: error: {exc}", file=sys.stderr)
        return 2
    print(password)
    print(f"escalator: user {args.name!r} added to {args.users_file}; the password is shown this once", file=sys.stderr)
    return 0
