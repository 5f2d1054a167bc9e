"""What every intake server checks before it listens: the policy, the connection settings, its port."""

from __future__ import annotations

import argparse
import errno

from connection.client import CannotConnect, Settings, flags_of, load
from sla.policy import Policy
from starter.dev import bind_error
from starter.policy_commands import CommandError, read_policy


def common_problems(args: argparse.Namespace) -> tuple[Policy | None, Settings | None, list[str]]:
    """(policy, connection settings, one line per problem) from `--policy`, the connection flags,
    `--bind` and `--port`."""
    problems: list[str] = []
    policy = settings = None
    try:
        policy, _, _ = read_policy(args.policy)
    except CommandError as exc:
        problems.append(f"--policy: {exc}")
    try:
        settings = load(*flags_of(args))
    except CannotConnect as exc:
        problems.extend(str(exc).splitlines())
    error = bind_error(args.bind, args.port)
    if error is not None:  # the OS's reason: a port in use, or a --bind that is not this machine's
        why = "in use (another server?)" if error.errno == errno.EADDRINUSE else f"{error.strerror or error} (is --bind an address of this machine?)"
        problems.append(f"--port: cannot listen on {args.bind}:{args.port}: {why}")
    return policy, settings, problems
