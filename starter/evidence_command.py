"""`escalator evidence`: a ticket's evidence pack, and its verification.

`escalator evidence TICKET --out FILE.zip` writes, from the ticket store and the Temporal server:
`ticket.json`, `timeline.json` (every event with its content and chain hash), `deliveries.json`,
`policy.json` (the snapshot it opened with), `history/NN-<run id>.json` (every run, across
continue-as-new, as the server stores it) and `manifest.json` (each file's SHA-256, the chain's
head). `escalator evidence verify FILE.zip [--against-server]` recomputes the file hashes and the
chain and, with `--against-server`, compares the chain with the heads the ticket's own history
witnessed (each update's answer, each continue-as-new, the final result carry the state's
`chain_head` at its `event_seq`): a pack whose events were changed and whose chain and manifest
were rebuilt is caught there.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import sys
import zipfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy.exc import SQLAlchemyError
from temporalio.api.enums.v1 import EventType

from connection.client import CannotConnect, connect, flags_of, load
from connection.codec import data_converter
from sla.evidence import check_chain
from store.evidence import ticket_record
from store.ticket_store import StoreConfigError, engine_url, open_current, printable

FORMAT = 1


class EvidenceError(Exception):
    """The pack cannot be made or read: one line."""


def add_evidence_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("target", metavar="TICKET|verify", help="the ticket to pack, or `verify` to check a pack")
    p.add_argument("pack", nargs="?", metavar="FILE.zip", help="with verify: the pack to check")
    p.add_argument("--out", metavar="FILE.zip", help="where to write the pack (refused if it exists)")
    p.add_argument("--against-server", action="store_true", help="with verify: compare the chain with the ticket's history on the server")


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _dump(value: Any) -> bytes:
    return (json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode()


async def _histories(args: argparse.Namespace, ticket_id: str):
    """[(run id, WorkflowHistory)] of every run of the ticket, oldest first, and the converter."""
    try:
        settings = load(*flags_of(args))
        client = await connect(settings)
    except CannotConnect as exc:
        raise EvidenceError(str(exc)) from None
    try:
        runs = [e async for e in client.list_workflows(f"WorkflowId = '{ticket_id}'")]
        runs.sort(key=lambda e: e.start_time)
        found = [(e.run_id, await client.get_workflow_handle(ticket_id, run_id=e.run_id).fetch_history()) for e in runs]
    except Exception as exc:  # RPC errors: one line
        raise EvidenceError(f"cannot fetch the ticket's history: {str(exc).splitlines()[0][:200]}") from None
    return found, data_converter(settings.keys)


async def make_pack(args: argparse.Namespace) -> tuple[dict[str, Any], str]:
    ticket_id, out = args.target, Path(args.out)
    if out.exists():
        raise EvidenceError(f"--out: {out} exists (an evidence pack is never overwritten)")
    if not out.parent.is_dir():
        raise EvidenceError(f"--out: the folder {out.parent} does not exist")
    try:
        store = open_current(args.database_url)
    except StoreConfigError as exc:
        raise EvidenceError(str(exc)) from None
    try:
        record = ticket_record(store.engine, ticket_id)
    except SQLAlchemyError as exc:
        raise EvidenceError(f"cannot read the ticket store at {printable(engine_url(args.database_url))}: {str(exc).splitlines()[0]}") from None
    finally:
        store.close()
    if record is None:
        raise EvidenceError(f"no ticket {ticket_id!r} in the ticket store at {printable(engine_url(args.database_url))}")
    histories, _ = await _histories(args, ticket_id)
    if not histories:
        raise EvidenceError(f"the Temporal server has no workflow {ticket_id!r} (its history may be past the namespace's retention)")
    files = {"ticket.json": _dump(record["ticket"]), "timeline.json": _dump(record["timeline"]),
             "deliveries.json": _dump(record["deliveries"]), "policy.json": _dump(record["policy"])}
    for n, (run_id, history) in enumerate(histories, start=1):
        files[f"history/{n:02d}-{run_id}.json"] = (history.to_json() + "\n").encode()
    head, problems = check_chain(_parsed(record["timeline"]))
    manifest = {"format": FORMAT, "ticket_id": ticket_id, "made_at": datetime.now(UTC).isoformat(timespec="seconds"),
                "files": {name: _sha(data) for name, data in sorted(files.items())},
                "chain": {"head": head, "events": len(record["timeline"]),
                          "covered": sum(1 for e in record["timeline"] if e["content_sha256"]), "problems": problems},
                "runs": len(histories)}
    tmp = out.with_name(out.name + ".partial")
    with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as pack:
        for name, data in sorted(files.items()):
            pack.writestr(name, data)
        pack.writestr("manifest.json", _dump(manifest))
    tmp.replace(out)  # a pack is whole or absent
    text = (f"{out}: {len(record['timeline'])} timeline events ({manifest['chain']['covered']} in the hash chain), "
            f"{len(record['deliveries'])} deliveries, {len(histories)} run(s) of history; chain head {head or 'none'}")
    if problems:
        text += "\nthe store's chain is already broken:\n" + "\n".join(f"  {p}" for p in problems)
    return manifest, text


def _parsed(timeline: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Timeline rows with their instants as datetimes, as the chain was computed over them."""
    return [e | {"at": datetime.fromisoformat(e["at"]), "recorded_at": datetime.fromisoformat(e["recorded_at"]) if e["recorded_at"] else None}
            for e in timeline]


def _read_pack(path: Path) -> tuple[dict[str, Any], list[dict[str, Any]], dict[str, bytes]]:
    """(manifest, timeline, the other members) of a pack; EvidenceError when it is not one."""
    try:
        with zipfile.ZipFile(path) as pack:
            contents = {name: pack.read(name) for name in pack.namelist()}
    except (OSError, zipfile.BadZipFile) as exc:
        raise EvidenceError(f"{path}: cannot read it as a zip file ({exc})") from None
    try:
        manifest = json.loads(contents.pop("manifest.json"))
        timeline = json.loads(contents["timeline.json"])
    except (KeyError, ValueError) as exc:
        raise EvidenceError(f"{path}: not an evidence pack (manifest.json or timeline.json missing or not JSON: {exc})") from None
    shape = (isinstance(manifest, dict) and isinstance(manifest.get("files"), dict) and isinstance(manifest.get("chain"), dict)
             and isinstance(timeline, list) and all(isinstance(e, dict) for e in timeline))
    if not shape:
        raise EvidenceError(f"{path}: not an evidence pack (manifest.json needs files and chain objects, timeline.json a list of events)")
    needed = {"event_id", "seq", "at", "recorded_at", "kind", "detail", "content_sha256", "chain_sha256"}
    for i, e in enumerate(timeline):
        if missing := needed - set(e):
            raise EvidenceError(f"{path}: timeline.json event {i + 1} lacks {', '.join(sorted(missing))}")
        if not isinstance(e["seq"], int) or not isinstance(e["detail"], dict):
            raise EvidenceError(f"{path}: timeline.json event {i + 1}: seq must be a number and detail an object")
    return manifest, timeline, contents


async def verify_pack(args: argparse.Namespace) -> tuple[dict[str, Any], str, bool]:
    if not args.pack:
        raise EvidenceError("verify: give the pack, e.g. escalator evidence verify T-1.zip")
    path = Path(args.pack)
    manifest, timeline, contents = _read_pack(path)
    problems: list[str] = []
    notes: list[str] = []
    for name, digest in sorted(manifest["files"].items()):
        if name not in contents:
            problems.append(f"{name}: missing from the pack")
        elif _sha(contents[name]) != digest:
            problems.append(f"{name}: changed (its SHA-256 is not the manifest's)")
    problems += [f"{name}: not in the manifest (added)" for name in sorted(set(contents) - set(manifest["files"]))]
    try:
        head, chain_problems = check_chain(_parsed(timeline))
    except (TypeError, ValueError) as exc:
        raise EvidenceError(f"{path}: timeline.json: an event's instants are not ISO 8601 text ({exc})") from None
    problems += [f"timeline.json: {p}" for p in chain_problems]
    if head != manifest["chain"].get("head"):
        problems.append(f"timeline.json: the chain's head is {head}, the manifest says {manifest['chain'].get('head')}")
    last = max((e["seq"] for e in timeline), default=0)
    doc = {"pack": str(path), "ticket_id": manifest.get("ticket_id"), "head": head, "events": len(timeline)}
    lines = [f"{path}: ticket {manifest.get('ticket_id')}, {len(timeline)} events, chain head {head or 'none'}"]
    compared = False
    if args.against_server:
        compared = await _against_server(args, manifest, timeline, contents, last, problems, notes, doc, lines)
    notes.append("deliveries.json (the store's delivery log: recipients, answers) is covered by the manifest only: "
                 "it is not in the hash chain, and the history holds no addresses")
    doc |= {"problems": problems, "notes": notes}
    lines += [f"FAIL {p}" for p in problems] + [f"note: {n}" for n in notes]
    if not problems:
        lines.append("ok: every file matches the manifest and the chain is whole"
                     + (f"; the history agrees up to event {doc['checked_up_to']}" if compared else ""))
    return doc, "\n".join(lines), not problems


async def _against_server(args, manifest, timeline, contents, last: int, problems: list[str], notes: list[str], doc, lines) -> bool:
    """Compare the pack with the ticket's history now on the server; True when some point was compared."""
    histories, witnessed = await _witnessed(args, manifest.get("ticket_id"))
    by_seq = {e["seq"]: e for e in timeline}
    made_at = _when(manifest.get("made_at"))
    for seq, (chain, when) in sorted(witnessed.items()):
        event = by_seq.get(seq)
        if event is not None:
            if event["chain_sha256"] != chain:
                problems.append(f"server: event {seq} ({event['kind']}): the history witnessed chain hash {chain[:16]}..., "
                                f"the pack has {str(event['chain_sha256'])[:16]}... (the timeline was changed and its chain rebuilt)")
        elif seq > last and made_at is not None and when > made_at:
            continue  # the ticket went on after the pack was made: said below
        else:
            problems.append(f"server: the history witnessed event {seq} at {when.isoformat(timespec='seconds')}, "
                            f"before the pack was made, and the pack {'ends at event ' + str(last) if seq > last else 'lacks it'}: events were removed")
    inside = [seq for seq in witnessed if seq <= last]
    doc["witnessed"], doc["checked_up_to"] = len(witnessed), max(inside, default=0)
    lines.append(f"server: the history witnesses the chain at {len(witnessed)} point(s)"
                 + (f", the last at event {max(witnessed)}" if witnessed else ""))
    removed = any("events were removed" in p for p in problems)
    if not witnessed:
        notes.append("the history witnesses no chain head yet (no update answered, no continue-as-new, not closed): "
                     "nothing in the timeline could be compared with the server")
    elif not inside and not removed:
        notes.append(f"no head the history witnessed falls within the pack's events 1..{last}: they are checked by the chain and the manifest only")
    elif inside and max(inside) < last:
        notes.append(f"events {max(inside) + 1}..{last} come after the last head the history witnessed within the pack (event {max(inside)}): "
                     "they are checked by the chain and the manifest only")
    later = [seq for seq in witnessed if seq > last]
    if later and not removed:
        notes.append(f"the ticket went on after the pack was made: the history has events up to {max(later)}, the pack ends at {last}")
    # The history files: each must be the server's history of that run (a prefix, for a run still going).
    server = {run_id: json.loads(history.to_json()).get("events", []) for run_id, history in histories}
    for name in sorted(n for n in contents if n.startswith("history/")):
        run_id = name.removesuffix(".json").split("-", 1)[-1]
        try:
            packed = json.loads(contents[name]).get("events", [])
        except (ValueError, AttributeError):
            problems.append(f"{name}: not a history (JSON with events)")
            continue
        if run_id not in server:
            problems.append(f"{name}: the server has no run {run_id} of this ticket")
        elif packed != server[run_id][:len(packed)]:
            differs = next(i for i, (a, b) in enumerate(zip(packed, server[run_id] + [None] * len(packed))) if a != b)
            problems.append(f"{name}: differs from the server's history of that run at its event {differs + 1}")
    return bool(witnessed)


def _when(text) -> datetime | None:
    try:
        return datetime.fromisoformat(text) if isinstance(text, str) else None
    except ValueError:
        return None


def _ticket_states(value: Any):
    """Every TicketState-shaped object (with event_seq and chain_head) inside decoded JSON."""
    if isinstance(value, dict):
        if "event_seq" in value and "chain_head" in value:
            yield value
        for v in value.values():
            yield from _ticket_states(v)
    elif isinstance(value, list):
        for v in value:
            yield from _ticket_states(v)


async def _witnessed(args: argparse.Namespace, ticket_id: str | None):
    """(the ticket's histories, {event seq: (chain hash, when the history recorded it)}) as the
    history recorded them in its states."""
    if not ticket_id:
        raise EvidenceError("the manifest names no ticket")
    histories, converter = await _histories(args, ticket_id)
    if not histories:
        raise EvidenceError(f"the Temporal server has no workflow {ticket_id!r} to compare with")
    found: dict[int, tuple[str, datetime]] = {}
    for _, history in histories:
        for event in history.events:
            payloads = None
            if event.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_COMPLETED:
                outcome = event.workflow_execution_update_completed_event_attributes.outcome
                payloads = outcome.success.payloads if outcome.HasField("success") else None
            elif event.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW:
                payloads = event.workflow_execution_continued_as_new_event_attributes.input.payloads
            elif event.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED:
                payloads = event.workflow_execution_completed_event_attributes.result.payloads
            if not payloads:
                continue
            if converter.payload_codec is not None:
                payloads = await converter.payload_codec.decode(list(payloads))
            when = event.event_time.ToDatetime(tzinfo=UTC)
            for payload in payloads:
                try:
                    value = json.loads(payload.data)
                except ValueError:
                    continue
                for state in _ticket_states(value):
                    if state["chain_head"]:
                        found[state["event_seq"]] = (state["chain_head"], when)
    return histories, found


def main_evidence(args: argparse.Namespace) -> int:
    try:
        if args.target == "verify":
            doc, text, ok = asyncio.run(verify_pack(args))
        else:
            if args.pack is not None or args.against_server:
                raise EvidenceError("a pack is made with: escalator evidence TICKET --out FILE.zip (verify takes FILE.zip)")
            if not args.out:
                raise EvidenceError("--out: give the pack's file, e.g. --out T-1.zip")
            doc, text = asyncio.run(make_pack(args))
            ok = True
    except EvidenceError as exc:
        print(f"escalator: error: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(doc, indent=2) if args.json else text)
    return 0 if ok else 1
