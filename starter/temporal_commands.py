"""`escalator temporal setup`: make a Temporal namespace ready for tickets, from the code's own list.

Registers the search attributes of workflows/search_attributes.py (the list the workflow upserts
and `escalator list` filters by: there is no second copy in a compose file or a script), and
creates the namespace first when asked. Idempotent: attributes already registered with the same
type are fine; one registered with another type is an error. It waits for the server, so a
compose one-shot can start beside it; exit 0 means the namespace is ready for workers.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time

from google.protobuf.duration_pb2 import Duration
from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest, ListSearchAttributesRequest
from temporalio.api.workflowservice.v1 import DescribeNamespaceRequest, GetSystemInfoRequest, RegisterNamespaceRequest
from temporalio.service import RPCError, RPCStatusCode

from connection.client import CannotConnect, add_arguments as add_temporal_arguments, connect, flags_of, load
from starter.dev import retention_days
from workflows import search_attributes



def registrations() -> dict[str, int]:
    """Every search attribute the code uses, by name, with its indexed type: what a namespace must have."""
    return {key.name: IndexedValueType.ValueType(key.indexed_value_type) for key in search_attributes.ALL}

def add_temporal_commands(sub, parser_class) -> None:
    p = sub.add_parser("temporal", help="Temporal namespace commands")
    temporal_sub = p.add_subparsers(dest="temporal_command", required=True, metavar="SUBCOMMAND", parser_class=parser_class)
    setup = temporal_sub.add_parser("setup", help="register the search attributes tickets need (and create the namespace)",
                                    description="Register the search attributes the code needs in the namespace (from "
                                                "workflows/search_attributes.py), creating the namespace first with --create-namespace. "
                                                "Waits for the server; idempotent.")
    add_temporal_arguments(setup)
    setup.add_argument("--create-namespace", action="store_true", help="register the namespace when it does not exist")
    setup.add_argument("--retention-days", type=retention_days, default=30, help="retention of a namespace created here, 1-3650 (default 30)")
    setup.add_argument("--json", action="store_true", help="print one JSON document: {namespace, created, registered, already}")
    setup.add_argument("--wait", type=float, default=120, metavar="SECONDS", help="how long to wait for the server (default 120)")


def run_temporal_command(args: argparse.Namespace) -> int:
    try:
        settings = load(*flags_of(args))
    except CannotConnect as exc:
        for line in str(exc).splitlines():
            print(f"escalator: error: {line}", file=sys.stderr)
        return 2
    try:
        return asyncio.run(_setup(settings, args))
    except _SetupError as exc:
        print(f"escalator: error: {exc}", file=sys.stderr)
        return 1


class _SetupError(Exception):
    pass


async def _setup(settings, args: argparse.Namespace) -> int:
    namespace = settings.connection.namespace
    deadline = time.monotonic() + args.wait
    while True:  # the server may still be starting (a compose one-shot beside it)
        try:
            client = await connect(settings)
            await client.workflow_service.get_system_info(GetSystemInfoRequest())
            break
        except (CannotConnect, RPCError) as exc:
            if time.monotonic() > deadline:
                raise _SetupError(f"Temporal did not answer within {args.wait:g} s: {exc}") from None
            await asyncio.sleep(2)
    created = False
    try:
        await client.workflow_service.describe_namespace(DescribeNamespaceRequest(namespace=namespace))
    except RPCError as exc:
        if exc.status != RPCStatusCode.NOT_FOUND:
            raise _SetupError(f"namespace {namespace}: {exc}") from None
        if not args.create_namespace:
            raise _SetupError(f"namespace {namespace} does not exist: create it, or pass --create-namespace") from None
        await client.workflow_service.register_namespace(RegisterNamespaceRequest(
            namespace=namespace, workflow_execution_retention_period=Duration(seconds=args.retention_days * 86400)))
        print(f"escalator: namespace {namespace} created (retention {args.retention_days} days)", file=sys.stderr)
        created = True
    wanted = registrations()
    for _ in range(30):  # a namespace just created takes a moment to accept attributes
        try:
            have = (await client.operator_service.list_search_attributes(ListSearchAttributesRequest(namespace=namespace))).custom_attributes
            break
        except RPCError:
            await asyncio.sleep(1)
    clash = [f"{name} is {IndexedValueType.Name(have[name])}, the code needs {IndexedValueType.Name(kind)}"
             for name, kind in wanted.items() if name in have and have[name] != kind]
    if clash:
        raise _SetupError(f"namespace {namespace}: search attributes registered with another type: {'; '.join(clash)}")
    missing = {name: kind for name, kind in wanted.items() if name not in have}
    if missing:
        await client.operator_service.add_search_attributes(AddSearchAttributesRequest(namespace=namespace, search_attributes=missing))
    if args.json:
        print(json.dumps({"namespace": namespace, "created": created, "registered": sorted(missing), "already": sorted(set(wanted) - set(missing))}))
    else:
        print(f"ok: namespace {namespace} ready: {len(missing)} search attribute(s) registered, {len(wanted) - len(missing)} already there",
              flush=True)
    return 0
