"""`escalator mail-intake`: check the settings, connect, and serve SMTP until SIGTERM or Ctrl-C."""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from functools import partial
from pathlib import Path

from aiosmtpd.smtp import SMTP

from intake.mail.gate import Gate, UsersFileError, read_users
from intake.mail.handler import MailHandler, log
from intake.mail.rules import MailRulesError, load_rules
from starter.client import TicketClient, TicketError
from intake.startup import common_problems

MAX_SIZE = 10 * 1024 * 1024
"""Bytes a message may have by default (`--max-size`); larger ones get 552 from aiosmtpd."""


class IntakeSMTP(SMTP):
    """aiosmtpd's server, with a log line for the refusals it makes itself (oversize): every
    refusal of mail is logged, whoever makes it."""

    async def push(self, status):
        text = status.decode(errors="replace") if isinstance(status, bytes) else status
        if text.startswith("552"):
            log.warning("mail refused: over the size limit", peer=str(self.session.peer[0]) if self.session and self.session.peer else "?",
                        answer=text)
        await super().push(status)


def smtp_factory(handler: MailHandler, gate: Gate, max_size: int, plain_auth: bool):
    """What asyncio's create_server calls per connection: aiosmtpd's SMTP with our handler."""
    return partial(IntakeSMTP, handler, data_size_limit=max_size, authenticator=gate.authenticate if gate.users else None,
                   auth_require_tls=not plain_auth, hostname="escalator-mail-intake", ident="escalator mail intake")


def run_mail_intake(args: argparse.Namespace) -> int:
    problems: list[str] = []
    rules = gate = None
    try:
        rules = load_rules(Path(args.rules) if args.rules else None)
    except MailRulesError as exc:
        problems.extend(str(exc).splitlines())
    users: dict[str, str] = {}
    if args.users_file:
        try:
            users = read_users(Path(args.users_file))
        except UsersFileError as exc:
            problems.append(f"--users-file: {exc}")
    try:
        gate = Gate(args.allow_from or [], users)
    except ValueError as exc:
        problems.append(str(exc))
    if args.users_file and not args.plain_auth:
        problems.append("--users-file: SMTP AUTH needs --plain-auth: this server has no TLS of its own (run it on loopback or a "
                        "private link to the gateway), and aiosmtpd offers AUTH only over TLS otherwise")
    if not (args.allow_from or args.users_file):
        problems.append("--allow-from or --users-file: say who may send (a gateway's address, or SMTP AUTH users); nobody could otherwise")
    policy, settings, more = common_problems(args)
    problems += more
    if problems:
        for line in problems:
            print(f"escalator mail-intake: error: {line}", file=sys.stderr)
        return 2
    try:
        return asyncio.run(_serve(args, rules, policy, gate, settings))
    except TicketError as exc:
        print(f"escalator mail-intake: error: {exc}", file=sys.stderr)
        return 1


async def _serve(args, rules, policy, gate, settings) -> int:
    client = await TicketClient.connect(settings, ui_url=args.ui_url)
    handler = MailHandler(client, rules, policy, gate)
    loop = asyncio.get_running_loop()
    server = await loop.create_server(smtp_factory(handler, gate, args.max_size, args.plain_auth), host=args.bind, port=args.port)
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    print(f"escalator mail-intake: listening on {args.bind}:{args.port} (SMTP); gateways {', '.join(args.allow_from or []) or 'none'}, "
          f"{len(gate.users)} AUTH user(s); {len(rules.domains)} customer domain(s)", file=sys.stderr, flush=True)
    await stop.wait()
    server.close()
    await server.wait_closed()
    return 0
