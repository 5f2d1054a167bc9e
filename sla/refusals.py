"""Bad input said in one line a person can act on: the field, and what it may hold.

Pydantic's own wording ("String should match pattern '^[A-Za-z0-9]...'") names a regular
expression, not a rule. Every edge (the CLI, the client, the workflow's start and update
validation) says it this way instead.
"""

from __future__ import annotations

from pydantic import ValidationError

from sla.ticket import ID_PATTERN

_PATTERNS = {
    ID_PATTERN: "an id: 1-128 letters, digits and . _ : -, starting with a letter or digit (no spaces, no names)",
    r"^[a-z][a-z0-9_]{0,63}$": "a lower-case name: letters, digits and _, starting with a letter (e.g. enterprise)",
    r"^[a-z][a-z0-9_-]{0,31}$": "a lower-case name: letters, digits, _ and -, starting with a letter (e.g. email)",
    r"^https?://": "an http:// or https:// link",
}
_ISO = "an ISO 8601 instant with a UTC offset, e.g. 2026-11-30T10:00:00+01:00"


def explain(error: dict) -> str:
    """One pydantic error as 'field: what is wrong'."""
    field = ".".join(str(p) for p in error.get("loc", ())) or "input"
    kind, ctx = error.get("type", ""), error.get("ctx") or {}
    if kind == "missing":
        what = "is required"
    elif kind == "string_pattern_mismatch":
        what = f"must be {_PATTERNS.get(ctx.get('pattern'), 'in the documented form')}"
    elif kind == "string_too_short":
        what = "must not be empty"
    elif kind == "string_too_long":
        what = f"is too long (at most {ctx.get('max_length')} characters)"
    elif kind in ("timezone_aware", "datetime_from_date_parsing", "datetime_parsing", "datetime_type"):
        what = f"must be {_ISO}" + (" (this one has no offset)" if kind == "timezone_aware" else "")
    elif kind in ("enum", "literal_error"):
        what = f"must be one of {ctx.get('expected', 'the documented values')}"
    elif kind == "string_type":
        what = "must be text (a JSON string)"
    elif kind in ("int_type", "int_parsing", "float_type", "float_parsing"):
        what = "must be a number"
    elif kind in ("bool_type", "bool_parsing"):
        what = "must be true or false"
    elif kind in ("list_type",):
        what = "must be a list"
    elif kind == "extra_forbidden":
        what = "is not a field of this message"
    elif kind in ("model_type", "dict_type", "model_attributes_type"):
        what = "must be a JSON object of the documented shape (docs/api.md)"
    elif kind == "value_error":
        what = str(ctx.get("error") or error.get("msg", "")).removeprefix("Value error, ")
        if not error.get("loc"):
            return what  # a whole-model rule: its message names its own field
    else:
        what = error.get("msg", "is not valid")
    return f"{field}: {what}"


def reason(err: Exception) -> str:
    """A refusal in one line naming the field (a pydantic error's first, or the message itself)."""
    if isinstance(err, ValidationError):
        return explain(err.errors()[0])
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__
