"""Reading a helpdesk's JSON payload: JSONPath selectors, conditions and field values.

Selectors are JSONPath (`jsonpath-ng`'s extended syntax, so filters work:
`$.changelog.items[?(@.field == 'status')].toString`) and always start at the root, `$`.

A selector's **value** is what it matches, leaving out JSON null and the empty string (a
helpdesk sends `"organization_id": null` or `""` for "none"): nothing left is *missing*. Its
**text** is the string form used for comparisons, map keys and prefixes: strings as they are,
`true`/`false`, numbers as JSON writes them (`5158`, `1.5`). Comparisons are case-sensitive.

`PayloadError` is one line naming the selector and the reason (`$.detail.priority: 'CRITICAL'
is not in the map (URGENT, HIGH, NORMAL, LOW)`); the route answers it with 422.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from jsonpath_ng import JSONPath
from jsonpath_ng.ext import parse

if TYPE_CHECKING:
    from intake.hooks.mapping import FieldSpec

MISSING: Any = object()
"""What `fill` answers for a selector that matches nothing and has no default."""

SCALARS = (str, int, float, bool)


class PayloadError(ValueError):
    """A payload a matching rule cannot be filled from: one line naming the JSONPath."""


@lru_cache(maxsize=1024)
def compiled(path: str) -> JSONPath:
    """The parsed selector; ValueError (with the parser's reason) for one that does not parse."""
    if not path.startswith("$"):
        raise ValueError("a JSONPath starts at the root: $.…")
    try:
        return parse(path)
    except Exception as exc:  # the parser raises its own errors, and ply's for odd input
        raise ValueError(f"not a JSONPath: {str(exc).strip() or type(exc).__name__}") from None


def text(value: Any) -> str:
    """The string form of a JSON scalar (or of a TOML condition value)."""
    if isinstance(value, str):
        return value
    return json.dumps(value)  # true/false, 5158, 1.5


def values(path: str, payload: Any) -> list[Any]:
    """Everything `path` matches, leaving out null and ""."""
    return [m.value for m in compiled(path).find(payload) if m.value is not None and m.value != ""]


def matches(when: dict[str, Any], payload: Any) -> bool:
    """Every selector matches one of its accepted values (one value or a list: any of them)."""
    for path, accepted in when.items():
        wanted = {text(a) for a in (accepted if isinstance(accepted, list) else [accepted])}
        if not any(isinstance(v, SCALARS) and text(v) in wanted for v in values(path, payload)):
            return False
    return True


def fill(spec: "FieldSpec", payload: Any) -> Any:
    """A field's value from the payload: the constant `value`; else what `path` matches, through
    `epoch`, `map` or `prefix`; else `default`; else MISSING. PayloadError when the selector
    matches several values, a list or object where text is needed, or a value not in the map."""
    if spec.path is None:
        return list(spec.value) if isinstance(spec.value, list) else spec.value  # never the file's own list
    found = values(spec.path, payload)
    if len(found) > 1:
        raise PayloadError(f"{spec.path}: matches {len(found)} values, a field takes one (make the path select one)")
    if not found:
        return spec.default if spec.default is not None else MISSING
    raw = found[0]
    if not isinstance(raw, SCALARS):
        if spec.epoch or spec.map is not None or spec.prefix is not None:
            raise PayloadError(f"{spec.path}: is a JSON {'list' if isinstance(raw, list) else 'object'}, not a value")
        return raw
    if spec.epoch:
        return _instant(spec.path, raw, 1000 if spec.epoch == "ms" else 1)
    if spec.map is not None:
        if text(raw) in spec.map:
            return spec.map[text(raw)]
        if spec.default is not None:
            return spec.default
        raise PayloadError(f"{spec.path}: {text(raw)!r} is not in the map ({', '.join(spec.map)})")
    return (spec.prefix or "") + text(raw)


def _instant(path: str, raw: Any, per_second: int) -> str:
    """Unix time (seconds or milliseconds) as an ISO 8601 UTC instant, the wire's form."""
    try:
        if isinstance(raw, bool) or not (isinstance(raw, (int, float)) or raw.isascii() and raw.isdigit()):
            raise ValueError
        number = raw if isinstance(raw, (int, float)) else int(raw)
        return datetime.fromtimestamp(number / per_second, UTC).isoformat().replace("+00:00", "Z")
    except (ValueError, OverflowError, OSError):
        unit = "milliseconds" if per_second == 1000 else "seconds"
        raise PayloadError(f"{path}: {text(raw)[:40]!r} is not Unix time in {unit}") from None
