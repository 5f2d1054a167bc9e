"""`escalator hooks check FILE [--payload JSON_FILE] [--json]`: a webhook mapping file, offline.

It loads FILE as the server would (intake/hooks/mapping.py) and prints one line per problem
(`error: zendesk.toml: rules[2].fields.severity.map.URGENT: 'sev9' is not a valid severity
(...)`) and exits 1, or `FILE: ok (scheme zendesk, 8 rules; secrets from ZENDESK_WEBHOOK_SECRET,
...)` and exits 0. A secret variable not set in this environment is a note, not a failure: the
server's environment is what counts. With `--payload`, it also maps that delivery body and
prints each event it would make (`ZD-5158  open  {"customer": ...}`), or why it is ignored, or
the PayloadError (exit 1). `--json` prints one JSON document on stdout instead. A FILE or
JSON_FILE that cannot be read, or a JSON_FILE that is not JSON: one line on stderr, exit 2.
Problems and notes go to stderr, the verdict and the events to stdout (as `policy check`).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

from intake.hooks.mapping import HookSource, MappingError, load_source, secrets_of
from intake.hooks.payload import PayloadError


def add_hooks_commands(sub, parser_class) -> None:
    p = sub.add_parser("hooks", help="inbound helpdesk webhooks (POST /v1/hooks/{source}): mapping files")
    hooks_sub = p.add_subparsers(dest="hooks_command", required=True, metavar="SUBCOMMAND", parser_class=parser_class)
    check = hooks_sub.add_parser("check", help="validate a mapping file, and show what a delivery would do (no server needed)")
    check.add_argument("file", metavar="FILE", help="a mapping file (its name is the source's: zendesk.toml serves /v1/hooks/zendesk)")
    check.add_argument("--payload", metavar="JSON_FILE", help="a delivery's JSON body: print the events it would make")
    check.add_argument("--json", action="store_true", help="print one JSON document on stdout")


def run_hooks_command(args: argparse.Namespace) -> int:
    """`hooks check`: 0 ok, 1 problems in the file or a payload it cannot map, 2 unreadable input."""
    try:
        _readable(args.file)
        payload = _read_payload(args.payload) if args.payload else None
    except _Unreadable as exc:
        print(f"escalator: error: {exc}", file=sys.stderr)
        return 2
    doc: dict[str, Any] = {"file": args.file, "ok": False, "problems": [], "notes": []}
    try:
        source = load_source(Path(args.file))
    except MappingError as exc:
        doc["problems"] = exc.problems
        return _report(args, doc, [])
    doc.update(source=source.name, scheme=source.verify.scheme, rules=len(source.rules), secrets_env=source.verify.secrets_env)
    doc["notes"] = _secret_notes(source)
    lines: list[str] = []
    if args.payload:
        doc["payload"], lines = _mapped(source, payload, args.payload)
    doc["ok"] = not doc.get("payload", {}).get("error")
    return _report(args, doc, lines)


class _Unreadable(Exception):
    pass


def _readable(name: str) -> None:
    try:
        Path(name).read_bytes()
    except FileNotFoundError:
        raise _Unreadable(f"{name}: no such file") from None
    except OSError as exc:
        raise _Unreadable(f"cannot read {name}: {exc.strerror}") from None


def _read_payload(name: str) -> Any:
    try:
        return json.loads(Path(name).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise _Unreadable(f"--payload: {name}: no such file") from None
    except OSError as exc:
        raise _Unreadable(f"--payload: cannot read {name}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise _Unreadable(f"--payload: {name} is not JSON (not UTF-8 text)") from None
    except json.JSONDecodeError as exc:
        raise _Unreadable(f"--payload: {name} is not JSON: {exc}") from None


def _secret_notes(source: HookSource) -> list[str]:
    try:
        secrets_of(source, os.environ)
    except MappingError as exc:
        return [f"in this environment: {exc}"]
    return []


def _mapped(source: HookSource, payload: Any, name: str) -> tuple[dict[str, Any], list[str]]:
    """(the JSON document's `payload` part, the text lines)"""
    try:
        mapped = source.map(payload)
    except PayloadError as exc:
        return {"file": name, "events": [], "ignored": None, "error": str(exc)}, [f"error: {name}: {exc}"]
    lines = [f"{e.ticket_id}  {e.type}  {json.dumps(e.fields, ensure_ascii=False)}" for e in mapped.events]
    if mapped.ignored:
        lines.append(f"{name}: ignored: {mapped.ignored}")
    return {"file": name, "events": [e.model_dump() for e in mapped.events], "ignored": mapped.ignored, "error": None}, lines


def _report(args: argparse.Namespace, doc: dict[str, Any], lines: list[str]) -> int:
    if args.json:
        print(json.dumps(doc, indent=2, ensure_ascii=False))
        return 0 if doc["ok"] else 1
    for problem in doc["problems"]:
        print(f"error: {problem}", file=sys.stderr)
    for note in doc["notes"]:
        print(f"note: {note}", file=sys.stderr)
    if not doc["problems"]:
        print(f"{args.file}: ok (scheme {doc['scheme']}, {doc['rules']} rule{'s' if doc['rules'] != 1 else ''}; "
              f"secrets from {', '.join(doc['secrets_env'])})")
    for line in lines:
        print(line, file=sys.stderr if line.startswith("error: ") else sys.stdout)
    return 0 if doc["ok"] else 1
