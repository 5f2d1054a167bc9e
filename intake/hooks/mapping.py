"""A source's mapping file: how one helpdesk's webhook payloads become ticket events.

One TOML file per source; its stem is the source's name (`POST /v1/hooks/{source}`, `via`
`hook:{source}`), `^[a-z][a-z0-9_-]{0,31}$`. Shape (intake/mappings/zendesk.toml is a whole one):

    [verify]
    scheme = "zendesk"          # standard-webhooks | zendesk | jira | shared-secret (intake/hooks/verify.py)
    secrets_env = ["ZENDESK_WEBHOOK_SECRET", "ZENDESK_WEBHOOK_SECRET_PREVIOUS"]  # env var names, never secrets
    # shared-secret only: header = "X-Webhook-Secret"

    [ticket]
    id = { path = "$.detail.id", prefix = "ZD-" }      # our ticket id, for every event
    occurred_at = { path = "$.time" }                  # every event's occurred_at unless its rule sets one
                                                       # (not open's: it has opened_at)
    [[rules]]
    when = { "$.type" = "zen:event-type:ticket.created" }   # every selector equals one of its values
    event = "open"                                     # "open" or an event type of intake.wire.EVENT_BODIES
    [rules.fields]                                     # the fields of OpenTicket / of that event's body
    severity = { path = "$.detail.priority", map = { URGENT = "sev1", HIGH = "sev2" }, default = "sev3" }
    channel = { value = "portal" }

`when` maps JSONPaths to a value or a list of values (any of them): text, true/false or whole
numbers, compared with the payload's text form, case-sensitively (intake/hooks/payload.py); no
`when` matches every payload. A field is `{ value = CONSTANT }` or `{ path = JSONPATH }` with at
most one of `map = { TEXT = VALUE }`, `prefix = TEXT`, `epoch = "s" | "ms"` (Unix time to an ISO
8601 instant), and `default = VALUE`: used as it is when the path finds nothing (missing, null or
""), or finds a value the map lacks. A missing optional field is left out, a missing required one
is a PayloadError. `type`, `event_id` and `via` are the server's; an open's `ticket_id` is
`[ticket].id`.

**Every** matching rule makes an event, in file order: one delivery can say several things (a
Jira update that moves the status and the priority at once), and rules stay independent of
each other; write `when` so that rules meant to exclude each other do.

Everything that can be checked without a payload is checked at load time (`MappingError`):
unknown keys, event types and fields, selectors that do not parse, and every constant, map
target and default against the target model's field, so a map to `sev9` fails at startup, not
at the first delivery.
"""

from __future__ import annotations

import re
import tomllib
from datetime import UTC, datetime
from importlib.resources import files
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any, Literal, Mapping

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from intake.hooks.checks import problems, structure_problems, target_model
from intake.hooks.payload import MISSING, SCALARS, PayloadError, fill, matches, text, values  # PayloadError: re-exported
from intake.hooks.verify import standard_webhook
from intake.wire import OpenTicket, message
from sla.ticket import ID_PATTERN

SHIPPED: Traversable = files("intake") / "mappings"
"""The mappings that ship with the package: zendesk.toml, jira-service-management.toml."""

SOURCE_NAME = r"^[a-z][a-z0-9_-]{0,31}$"
_STRICT = ConfigDict(extra="forbid")


class MappingError(ValueError):
    """A mapping file that cannot be used: `problems` holds one line each (file, key, reason);
    the message is the first, with how many more."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        more = f" (and {len(problems) - 1} more problem{'s' if len(problems) > 2 else ''})" if len(problems) > 1 else ""
        super().__init__(problems[0] + more)


class VerifyConfig(BaseModel):
    """`[verify]`: how deliveries prove where they come from (intake/hooks/verify.py)."""

    model_config = _STRICT
    scheme: Literal["standard-webhooks", "zendesk", "jira", "shared-secret"]
    secrets_env: list[str] = Field(min_length=1, description="Env vars holding the secrets, in order; any set one verifies.")
    header: str = Field(default="X-Webhook-Secret", description="shared-secret: the header carrying the secret.")


class FieldSpec(BaseModel):
    """One field: a constant (`value`) or a JSONPath with `map`, `prefix` or `epoch`, and `default`."""

    model_config = _STRICT
    path: str | None = None
    value: Any = None
    map: dict[str, str] | None = None
    prefix: str | None = None
    epoch: Literal["s", "ms"] | None = None
    default: Any = None


class TicketSpec(BaseModel):
    """`[ticket]`: which ticket a delivery is about, and when its events happened."""

    model_config = _STRICT
    id: FieldSpec
    occurred_at: FieldSpec | None = None
    event_id: FieldSpec | None = Field(default=None, description=(
        "The helpdesk's own id of the event, when its payload has one: the events' ids are made "
        "from it rather than from the delivery id, so a retry the sender numbers anew applies nothing twice."))


class Rule(BaseModel):
    """`[[rules]]`: when the payload matches, one event of type `event` with these fields."""

    model_config = _STRICT
    when: dict[str, Any] = Field(default_factory=dict)
    event: str
    fields: dict[str, FieldSpec] = Field(default_factory=dict)


class MappedEvent(BaseModel):
    """One event a delivery makes. `fields` are JSON values: with `"ticket_id"` they validate as
    `OpenTicket` (type "open"), with `"type": type` as `EVENT_BODIES[type]`."""

    ticket_id: str
    type: str
    fields: dict[str, Any]
    rule: int = Field(description="The index of the rule that made it (rules[n]).")


class Mapped(BaseModel):
    """What a delivery means: its events in rule order, or (none) why it is ignored."""

    events: list[MappedEvent] = Field(default_factory=list)
    ignored: str | None = None
    event_key: str | None = Field(default=None, description="[ticket].event_id's value, when the mapping names one and the payload has it.")


class HookSource(BaseModel):
    """A source's mapping file, loaded (`load_source`) and checked."""

    model_config = _STRICT
    name: str = Field(pattern=SOURCE_NAME)
    verify: VerifyConfig
    ticket: TicketSpec
    rules: list[Rule] = Field(min_length=1)

    def map(self, payload: Any) -> Mapped:
        """The events of one parsed JSON payload; PayloadError when a matching rule cannot be
        filled (a missing required field, a value not in a map, a field its model refuses)."""
        matched = [(n, rule) for n, rule in enumerate(self.rules) if matches(rule.when, payload)]
        if not matched:
            return Mapped(ignored=self._why_ignored(payload))
        ticket_id = _filled(self.ticket.id, payload, "ticket.id")
        if ticket_id is MISSING:
            raise PayloadError(f"{self.ticket.id.path}: missing (ticket.id)")
        if not isinstance(ticket_id, str) or not re.fullmatch(ID_PATTERN, ticket_id):
            raise PayloadError(f"{self.ticket.id.path}: {str(ticket_id)[:80]!r} is not a ticket id (letters, digits, . _ : -, up to 128) (ticket.id)")
        occurred = _filled(self.ticket.occurred_at, payload, "ticket.occurred_at") if self.ticket.occurred_at else MISSING
        key = _filled(self.ticket.event_id, payload, "ticket.event_id") if self.ticket.event_id else MISSING
        return Mapped(events=[self._event(n, rule, ticket_id, occurred, payload) for n, rule in matched],
                      event_key=None if key is MISSING else text(key))

    def _event(self, n: int, rule: Rule, ticket_id: str, occurred: Any, payload: Any) -> MappedEvent:
        model = target_model(rule.event)
        fields: dict[str, Any] = {}
        for name, spec in rule.fields.items():
            value = _filled(spec, payload, f"rules[{n}].fields.{name}")
            if value is MISSING and model.model_fields[name].is_required():
                raise PayloadError(f"{spec.path}: missing (rules[{n}].fields.{name}: {rule.event} needs {name})")
            if value is not MISSING:
                fields[name] = value
        if rule.event != "open" and "occurred_at" not in fields and occurred is not MISSING:
            fields["occurred_at"] = occurred
        # Validated as the route will, down to the contract's own models (a blank title, add_action's
        # due or due_on), so a payload that cannot apply is a PayloadError here; `now` only stands in
        # for a missing opened_at, and the result is not kept.
        via = f"hook:{self.name}"
        try:
            if rule.event == "open":
                OpenTicket.model_validate({**fields, "ticket_id": ticket_id}).ticket(ticket_id, datetime.now(UTC), via)
            else:
                message(model.model_validate({**fields, "type": rule.event}), "E-mapped", via)
        except ValidationError as exc:
            error = exc.errors()[0]
            name = str(error["loc"][0]) if error["loc"] else None
            if name is None:
                raise PayloadError(f"rules[{n}] ({rule.event}): {error['msg']}") from None
            spec = rule.fields.get(name) or (self.ticket.occurred_at if name == "occurred_at" else None)
            where = (spec.path or "value") if spec else name
            origin = f"rules[{n}].fields.{name}" if name in rule.fields else f"ticket.{name}"
            raise PayloadError(f"{where}: {error['msg']} ({origin})") from None
        return MappedEvent(ticket_id=ticket_id, type=rule.event, fields=fields, rule=n)

    def _why_ignored(self, payload: Any) -> str:
        # The first condition of each rule is usually what tells deliveries apart ($.type, $.webhookEvent).
        paths = list(dict.fromkeys(next(iter(rule.when)) for rule in self.rules if rule.when))[:3]
        shown = []
        for path in paths:
            found = ", ".join(text(v) for v in values(path, payload) if isinstance(v, SCALARS)) or "missing"
            shown.append(f"{path} = {found[:80]}")
        return "no rule matches" + (f" ({'; '.join(shown)})" if shown else "")


def _filled(spec: FieldSpec, payload: Any, where: str) -> Any:
    try:
        return fill(spec, payload)
    except PayloadError as exc:
        raise PayloadError(f"{exc} ({where})") from None


def load_source(path: Path | Traversable) -> HookSource:
    """A mapping file, its name from the file's; MappingError listing every problem found."""
    label = path.name
    try:
        content = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise MappingError([f"{label}: cannot read it: {exc.strerror or exc}"]) from None
    except UnicodeDecodeError:
        raise MappingError([f"{label}: not a text file (TOML in UTF-8)"]) from None
    return parse_source(content, label.removesuffix(".toml"), label)


def parse_source(content: str, name: str, label: str | None = None) -> HookSource:
    """A mapping from TOML text; `label` (default NAME.toml) starts each problem line."""
    label = label or f"{name}.toml"
    if not re.fullmatch(SOURCE_NAME, name):
        raise MappingError([f"{label}: {name!r} is not a source name ({SOURCE_NAME}): the file name is the URL's /v1/hooks/{{source}}"])
    try:
        data = tomllib.loads(content)
    except tomllib.TOMLDecodeError as exc:
        raise MappingError([f"{label}: not TOML: {exc}"]) from None
    if "name" in data:
        raise MappingError([f"{label}: name: not a key: the source's name is the file's ({name})"])
    try:
        source = HookSource.model_validate({**data, "name": name})
    except ValidationError as exc:
        raise MappingError([f"{label}: {line}" for line in structure_problems(exc, HookSource)]) from None
    found = problems(source)
    if found:
        raise MappingError([f"{label}: {line}" for line in found])
    return source


def load_sources(directory: Path | Traversable) -> dict[str, HookSource]:
    """Every `*.toml` of a folder, by source name; MappingError listing every file's problems."""
    sources: dict[str, HookSource] = {}
    found: list[str] = []
    if not directory.is_dir():
        raise MappingError([f"{directory}: no such folder (one mapping TOML per webhook source)"])
    for path in sorted((p for p in directory.iterdir() if p.name.endswith(".toml")), key=lambda p: p.name):
        try:
            source = load_source(path)
            sources[source.name] = source
        except MappingError as exc:
            found += exc.problems
    if found:
        raise MappingError(found)
    return sources


def secrets_of(source: HookSource, environ: Mapping[str, str]) -> list[str]:
    """The secrets of the env vars that are set (not empty), in `secrets_env` order; MappingError
    naming the variables when none is, or naming one whose value the scheme cannot use."""
    names = source.verify.secrets_env
    found = [(name, environ[name]) for name in names if environ.get(name)]
    if not found:
        raise MappingError([f"{source.name}: no secret: set {' or '.join(names)} (verify.secrets_env)"])
    if source.verify.scheme == "standard-webhooks":
        for name, secret in found:
            try:
                standard_webhook(secret)
            except ValueError:
                raise MappingError([f"{source.name}: {name}: not a Standard Webhooks secret (whsec_ followed by base64)"]) from None
    return [secret for _, secret in found]
