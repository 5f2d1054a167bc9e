"""The timeline's hash chain: what makes a ticket's record tamper-evident.

Each timeline event has a content hash (SHA-256 of its canonical JSON: id, sequence, when it
happened, when it was recorded, kind, detail) and a chain hash (SHA-256 of the previous event's
chain hash and this content hash), computed by the workflow when it makes the event. The store
keeps both on each row; the workflow keeps the last chain hash (the head) in its state, so the
Temporal history witnesses it independently of the store (`escalator evidence verify
--against-server`). Changing, removing or reordering a stored event breaks the chain from there;
rebuilding the chain after a change gives a head the history does not have.

Pure and deterministic (it runs inside the workflow sandbox too).
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from typing import Any

GENESIS = "0" * 64
"""The chain hash before a ticket's first hashed event."""


def _instant(value: datetime | None) -> str | None:
    return None if value is None else value.astimezone(UTC).isoformat(timespec="microseconds")


def canonical(event_id: str, seq: int, at: datetime, recorded_at: datetime | None, kind: str, detail: dict[str, Any]) -> bytes:
    """The bytes an event's content hash is taken over: compact JSON, keys sorted, instants in UTC
    with microseconds (what both SQLite and PostgreSQL keep)."""
    body = {"event_id": event_id, "seq": seq, "at": _instant(at), "recorded_at": _instant(recorded_at), "kind": kind, "detail": detail}
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def content_hash(event_id: str, seq: int, at: datetime, recorded_at: datetime | None, kind: str, detail: dict[str, Any]) -> str:
    return hashlib.sha256(canonical(event_id, seq, at, recorded_at, kind, detail)).hexdigest()


def chained(previous: str, content: str) -> str:
    """The chain hash of an event whose content hash is `content`, after `previous`'s."""
    return hashlib.sha256(f"{previous}:{content}".encode()).hexdigest()


def check_chain(events: list[dict[str, Any]]) -> tuple[str | None, list[str]]:
    """Recompute the chain over stored events (dicts with event_id, seq, at, recorded_at, kind,
    detail, content_sha256, chain_sha256), in sequence order. Returns (the recomputed head, the
    problems found: one line each naming the event). Events recorded before the chain existed
    (no hashes) may only come first; they are not covered."""
    problems: list[str] = []
    previous: str | None = None
    expected_seq = None
    for e in sorted(events, key=lambda e: e["seq"]):
        if expected_seq is not None and e["seq"] != expected_seq:
            problems.append(f"event {expected_seq}: missing (the next stored event is {e['seq']})")
        expected_seq = e["seq"] + 1
        if e.get("content_sha256") is None:
            if previous is not None:
                problems.append(f"event {e['seq']} ({e['kind']}): has no hash, after hashed events")
            continue
        content = content_hash(e["event_id"], e["seq"], e["at"], e["recorded_at"], e["kind"], e["detail"])
        if content != e["content_sha256"]:
            problems.append(f"event {e['seq']} ({e['kind']}): its content does not match its hash (changed after it was recorded)")
        link = chained(previous or GENESIS, e["content_sha256"])
        if link != e["chain_sha256"]:
            problems.append(f"event {e['seq']} ({e['kind']}): its chain hash does not follow from the event before it")
        previous = e["chain_sha256"]
    return previous, problems
