"""Reading a request body safely: JSON only, bounded in size and depth, strict UTF-8.

Checked in this order, each with its own status (docs/intake.md, "Errors"): the media type
(415), the size, from Content-Length before reading and while reading (413), UTF-8 (400), JSON
syntax (400), nesting depth (400). Only then does anything look at the fields.
"""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import ClientDisconnect, Request

from intake.problems import Problem

MAX_BODY = 64 * 1024
"""Bytes a body may have by default (`--max-body-bytes`): a ticket or an event is well under 4 KiB."""

MAX_DEPTH = 32
"""Nesting a JSON body may have: our own bodies need 3; helpdesk payloads rarely pass 8."""


def _is_json(content_type: str) -> bool:
    media = content_type.split(";", 1)[0].strip().lower()
    return media == "application/json" or (media.startswith("application/") and media.endswith("+json"))


async def read_body(request: Request, limit: int = MAX_BODY) -> bytes:
    """The raw body, at most `limit` bytes; Problem 415 or 413."""
    content_type = request.headers.get("content-type", "")
    if not _is_json(content_type):
        shown = content_type.split(";", 1)[0].strip() or "none"
        raise Problem(415, "unsupported-media-type", f"Content-Type: {shown}: send application/json")
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise Problem(413, "too-large", f"body: {int(declared)} bytes is over the limit of {limit} bytes")
    chunks, size = [], 0
    try:
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise Problem(413, "too-large", f"body: over the limit of {limit} bytes")
            chunks.append(chunk)
    except ClientDisconnect:
        raise Problem(400, "malformed-body", "body: the client went away before sending all of it") from None
    return b"".join(chunks)


def parse_json(body: bytes, max_depth: int = MAX_DEPTH) -> Any:
    """The decoded JSON value; Problem 400 naming what is wrong with it."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise Problem(400, "malformed-body", f"body: not UTF-8 (byte {exc.start}: {body[exc.start:exc.start + 1]!r})") from None
    if not text.strip():
        raise Problem(400, "malformed-body", "body: empty: send a JSON object")
    try:
        value = json.loads(text, parse_constant=_not_json, object_pairs_hook=_unique_keys)
    except ValueError as exc:  # json.JSONDecodeError is one; so are the two hooks' refusals
        if not isinstance(exc, json.JSONDecodeError):
            raise Problem(400, "malformed-body", f"body: {exc}") from None
        raise Problem(400, "malformed-body", f"body: not JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from None
    except RecursionError:
        raise Problem(400, "malformed-body", f"body: nested deeper than {max_depth} levels") from None
    depth, nul = _shape(value)
    if depth > max_depth:
        raise Problem(400, "malformed-body", f"body: nested deeper than {max_depth} levels")
    if nul:  # PostgreSQL cannot store U+0000 in text: refused here rather than by the store, later
        raise Problem(400, "malformed-body", "body: a string holds U+0000 (NUL), which no field may hold")
    return value


def _not_json(constant: str) -> Any:
    raise ValueError(f"not JSON: {constant} is not a JSON number")


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """An object whose key appears twice is refused: which one a reader keeps is not defined (RFC 8259)."""
    value = dict(pairs)
    if len(value) != len(pairs):
        seen: set[str] = set()
        twice = next(k for k, _ in pairs if k in seen or seen.add(k))
        raise ValueError(f"not JSON this API takes: key {twice!r} appears twice in one object")
    return value


def canonical(value: Any) -> bytes:
    """The JSON value in one spelling (sorted keys, no spaces): what the same request is, for the
    Idempotency-Key, however a client orders or spaces it."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def _shape(value: Any) -> tuple[int, bool]:
    """(how deeply lists and objects nest, a scalar being 0; whether a string or key holds NUL), without recursion."""
    deepest, nul, stack = 0, False, [(value, 1)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, str):
            nul = nul or "\x00" in item
            continue
        children = list(item.values()) + list(item) if isinstance(item, dict) else item if isinstance(item, list) else None
        if children is None:
            continue
        deepest = max(deepest, level)
        stack.extend((child, level + 1) for child in children)
    return deepest, nul


async def read_json(request: Request, limit: int = MAX_BODY) -> tuple[bytes, Any]:
    """(raw body, decoded JSON) of a request; Problem 415, 413 or 400."""
    body = await read_body(request, limit)
    return body, parse_json(body)
