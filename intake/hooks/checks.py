"""What can be checked in a mapping file without a payload (intake/hooks/mapping.py's format).

Each check answers problem lines `location: reason`, the location in the file's own terms
(`rules[2].fields.severity.map.URGENT`), so a file is fixed from the message alone: unknown keys
(with the allowed ones), event types not in `{"open"} | EVENT_BODIES`, fields that are not the
event model's or are the server's (`type`, `event_id`, `via`, `ticket_id`), required fields no
rule fills, selectors that do not parse, and each constant, map target and default validated
against the target model's own field (`TypeAdapter` of its annotation and constraints).
"""

from __future__ import annotations

import re
import types
from functools import lru_cache
from typing import TYPE_CHECKING, Annotated, Any, Union, get_args, get_origin

from pydantic import BaseModel, Field, TypeAdapter, ValidationError

from intake.hooks.payload import compiled
from intake.wire import EVENT_BODIES, OpenTicket
from sla.messages import TicketMessage
from sla.ticket import ID_PATTERN

if TYPE_CHECKING:
    from intake.hooks.mapping import FieldSpec, HookSource, Rule

NOT_MAPPED = {
    "type": "it is the rule's `event`",
    "event_id": "the server makes it from the delivery id",
    "via": "the server sets it (hook:<source>)",
    "ticket_id": "it is [ticket].id",
}
SET_STATUS_TAKES = ("pending", "waiting_on_customer", "waiting_on_third_party")  # docs/api.md, set_status
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_HEADER_NAME = re.compile(r"[A-Za-z0-9!#$%&'*+.^_`|~-]+")  # an HTTP token (RFC 9110)


def target_model(event: str) -> type[BaseModel]:
    """The model an event's fields validate as: OpenTicket for "open", else its body model."""
    return OpenTicket if event == "open" else EVENT_BODIES[event]


@lru_cache(maxsize=256)
def _adapter(model: type[BaseModel], name: str) -> TypeAdapter:
    info = model.model_fields[name]
    return TypeAdapter(Annotated[info.annotation, info])


_TICKET_ID = TypeAdapter(Annotated[str, Field(pattern=ID_PATTERN)])


def _loc(parts: tuple) -> str:
    out = ""
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        elif re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", str(part)):
            out += f".{part}" if out else str(part)
        else:
            out += f"[{str(part)!r}]"
    return out


def _keys_at(root: type[BaseModel], parts: tuple) -> list[str]:
    """The keys the table at `parts` takes (for "unknown key" problems)."""
    kind: Any = root
    try:
        for part in parts:
            kind = kind.model_fields[part].annotation if isinstance(kind, type) and issubclass(kind, BaseModel) else get_args(kind)[-1]
            if get_origin(kind) in (Union, types.UnionType):
                kind = next(a for a in get_args(kind) if a is not type(None))
        return [name for name in kind.model_fields if name != "name"]
    except (AttributeError, KeyError, IndexError, StopIteration, TypeError):
        return []


def structure_problems(exc: ValidationError, root: type[BaseModel]) -> list[str]:
    """pydantic's errors for the file's shape (unknown keys, missing tables, wrong types) as problem lines."""
    out = []
    for error in exc.errors():
        loc = _loc(error["loc"]) or "(top)"
        if error["type"] == "extra_forbidden":
            keys = _keys_at(root, error["loc"][:-1])
            out.append(f"{loc}: unknown key" + (f" (allowed: {', '.join(keys)})" if keys else ""))
        elif error["type"] == "missing":
            out.append(f"{loc}: missing")
        elif error["type"] == "literal_error":
            out.append(f"{loc}: {error['input']!r}: {error['msg']}")
        else:
            out.append(f"{loc}: {error['msg']}")
    return out


def problems(source: "HookSource") -> list[str]:
    """Every problem of a source that has the right shape; [] when it can be used."""
    out = []
    verify = source.verify
    for n, name in enumerate(verify.secrets_env):
        if not _ENV_NAME.fullmatch(name):
            out.append(f"verify.secrets_env[{n}]: {name!r} is not an environment variable's name (the secret itself never goes in the file)")
    for key in ("header",):
        value = getattr(verify, key)
        if key in verify.model_fields_set and verify.scheme != "shared-secret":
            out.append(f"verify.{key}: only for scheme shared-secret ({verify.scheme} has its own headers)")
        elif value is not None and not _HEADER_NAME.fullmatch(value):
            out.append(f"verify.{key}: {value!r} is not an HTTP header name")
    if source.ticket.id.value is not None:
        out.append("ticket.id: needs a path (a constant id would put every delivery on one ticket)")
    out += _spec_problems("ticket.id", source.ticket.id, "ticket id", _TICKET_ID)
    if source.ticket.occurred_at is not None:
        out += _spec_problems("ticket.occurred_at", source.ticket.occurred_at, "occurred_at", _adapter(TicketMessage, "occurred_at"))
    if source.ticket.event_id is not None:
        if source.ticket.event_id.path is None:
            out.append("ticket.event_id: needs a path (a constant would make every delivery the same event)")
        out += _spec_problems("ticket.event_id", source.ticket.event_id, "event id", _TICKET_ID)
    for n, rule in enumerate(source.rules):
        out += _rule_problems(f"rules[{n}]", rule)
    return out


def _rule_problems(at: str, rule: "Rule") -> list[str]:
    out = []
    for path, accepted in rule.when.items():
        loc = f"{at}.when[{path!r}]"
        try:
            compiled(path)
        except ValueError as exc:
            out.append(f"{loc}: {exc}")
        options = accepted if isinstance(accepted, list) else [accepted]
        if not options or not all(isinstance(a, (str, int)) for a in options):  # bool is an int
            out.append(f"{loc}: compare with text, true/false or a whole number (or a list of them)")
    events = ["open", *EVENT_BODIES]
    if rule.event not in events:
        return out + [f"{at}.event: {rule.event!r} is not an event ({', '.join(events)})"]
    model = target_model(rule.event)
    names = [name for name in model.model_fields if name not in NOT_MAPPED]
    for name, spec in rule.fields.items():
        loc = f"{at}.fields.{name}"
        if name in NOT_MAPPED:
            out.append(f"{loc}: may not be mapped: {NOT_MAPPED[name]}")
        elif name not in names:
            out.append(f"{loc}: not a field of {rule.event} (it has {', '.join(names)})")
        else:
            out += _spec_problems(loc, spec, name, _adapter(model, name))
            if rule.event == "set_status" and name == "status":
                for target in [spec.value, spec.default, *(spec.map or {}).values()]:
                    if target is not None and target not in SET_STATUS_TAKES:
                        out.append(f"{loc}: {target!r} is not a status set_status takes ({', '.join(SET_STATUS_TAKES)}); "
                                   "resolve and reopen are events of their own")
    needed = [name for name in names if model.model_fields[name].is_required() and name not in rule.fields]
    if needed:
        out.append(f"{at}.fields: {rule.event} needs {', '.join(needed)}")
    return out


def _spec_problems(loc: str, spec: "FieldSpec", label: str, adapter: TypeAdapter) -> list[str]:
    if (spec.path is None) == (spec.value is None):
        return [f"{loc}: give either path (a JSONPath) or value (a constant)"]
    if spec.value is not None:
        extra = [key for key in ("map", "prefix", "epoch", "default") if getattr(spec, key) is not None]
        return [f"{loc}: {', '.join(extra)} only go with path"] if extra else _target_problems(f"{loc}.value", spec.value, label, adapter)
    out = []
    try:
        compiled(spec.path)
    except ValueError as exc:
        out.append(f"{loc}.path: {exc}")
    ways = [key for key in ("map", "prefix", "epoch") if getattr(spec, key) is not None]
    if len(ways) > 1:
        out.append(f"{loc}: one of map, prefix or epoch, not {' and '.join(ways)}")
    for key, target in (spec.map or {}).items():
        out += _target_problems(f"{loc}.map[{key!r}]" if not key.isidentifier() else f"{loc}.map.{key}", target, label, adapter)
    if spec.map == {}:
        out.append(f"{loc}.map: empty")
    if spec.prefix is not None:
        try:
            adapter.validate_python(spec.prefix + "1")
        except ValidationError as exc:
            out.append(f"{loc}.prefix: {spec.prefix!r} and a value is never a valid {label} ({exc.errors()[0]['msg']})")
    if spec.epoch is not None and not _is_instant(adapter):
        out.append(f"{loc}.epoch: {label} is not an instant (epoch is for occurred_at, opened_at, due)")
    if spec.default is not None:
        out += _target_problems(f"{loc}.default", spec.default, label, adapter)
    return out


def _is_instant(adapter: TypeAdapter) -> bool:
    """Whether a field takes an ISO 8601 instant and refuses plain text (a text field takes both)."""
    try:
        adapter.validate_python("2026-11-29T20:00:00Z")
    except ValidationError:
        return False
    try:
        adapter.validate_python("x")
    except ValidationError:
        return True
    return False


def _target_problems(loc: str, value: Any, label: str, adapter: TypeAdapter) -> list[str]:
    if not (isinstance(value, str) or isinstance(value, list) and all(isinstance(v, str) for v in value)):
        return [f"{loc}: {value!r}: a constant is text (or a list of text), as JSON would carry it"]
    try:
        adapter.validate_python(value)
    except ValidationError as exc:
        return [f"{loc}: {value!r} is not a valid {label} ({exc.errors()[0]['msg']})"]
    return []
