"""Who is behind each role: the contacts file, kept apart from the policy and never snapshotted.

Notifiers read it when they send, so a fixed contact reaches running tickets at once, and no
address or secret ever enters a workflow's history.
"""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

import tomllib
from datetime import date
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from sla.policy import Policy, PolicyError, _field_path

STALE_AFTER_DAYS = 90
"""Contacts not reviewed for this long are reported: stale lists are a known cause of late escalations."""


class Channel(StrEnum):
    CONSOLE = "console"
    EMAIL = "email"
    SLACK = "slack"
    WEBHOOK = "webhook"
    PAGERDUTY = "pagerduty"


class Contact(BaseModel):
    """One way to reach a role (for a per-customer role: for one customer)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    role: str
    name: str | None = None
    channel: Channel
    address: str = Field(min_length=1, description="E-mail address, webhook URL, Slack channel or PagerDuty service.")
    customer: str | None = None
    secret_env: str | None = Field(
        default=None, pattern=r"^[A-Z_][A-Z0-9_]*$",
        description="Name of the environment variable holding the secret (never the secret itself).",
    )
    reviewed_on: date
    fallback: bool = Field(default=False, description="Used only when a primary contact of the role refuses a message (4xx).")


class Contacts(BaseModel):
    model_config = ConfigDict(extra="forbid")

    contacts: list[Contact] = Field(default_factory=list)

    @model_validator(mode="after")
    def _email_headers_are_safe(self) -> "Contacts":
        for i, c in enumerate(self.contacts):
            if any(ch in c.address for ch in "\r\n"):
                raise ValueError(f"contacts.{i}.address: must not contain a line break")
        return self


def parse_contacts(text: str, source: str) -> Contacts:
    """Parse and validate a contacts file; errors name the file, the field and the reason."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise PolicyError(f"{source}: not valid TOML: {exc}") from None
    try:
        return Contacts.model_validate(data)
    except ValidationError as exc:
        raise PolicyError("\n".join(
            f"{source}: {_field_path(e['loc']) or '(top level)'}: {e['msg'].removeprefix('Value error, ')}" for e in exc.errors()
        )) from None


def contacts_for(contacts: Contacts, role: str, customer: str) -> tuple[list[Contact], list[Contact]]:
    """(primary, fallback) contacts of a role; for a per-customer entry, only that customer's."""
    matching = [c for c in contacts.contacts if c.role == role and c.customer in (None, customer)]
    return [c for c in matching if not c.fallback], [c for c in matching if c.fallback]


NEEDS_SECRET = {"webhook": "a Standard Webhooks signing secret", "slack": "the incoming-webhook URL", "pagerduty": "the Events API routing key"}


def undeliverable(contact: Contact, allow_private: bool) -> str | None:
    """Why a contact can never be delivered, told from the file alone (no DNS: the send-time guard
    also resolves names); None when nothing is wrong. Mirrors activities/channels/url_guard.py."""
    channel = contact.channel.value
    if channel in NEEDS_SECRET and not contact.secret_env:
        return f"a {channel} contact needs secret_env, naming the variable that holds {NEEDS_SECRET[channel]}"
    if contact.channel is Channel.WEBHOOK:
        return url_refusal(contact.address, allow_private)
    return None


def url_refusal(url: str, allow_private: bool) -> str | None:
    """The send-time guard's reason for refusing `url`, where the URL itself shows it."""
    parts = urlsplit(url)
    allowed = {"https", "http"} if allow_private else {"https"}
    if parts.scheme not in allowed:
        return f"URL scheme {parts.scheme or '(none)'!r} refused: use {' or '.join(sorted(allowed))}"
    if not parts.hostname:
        return "URL has no host"
    if allow_private:
        return None
    host = parts.hostname
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        address = ipaddress.ip_address("127.0.0.1") if host == "localhost" or host.endswith(".localhost") else None
    if address is not None and not address.is_global:
        return f"{host} is a private/loopback/link-local address: refused (ESCALATOR_ALLOW_PRIVATE_URLS=true allows it)"
    return None


def check_contacts(policy: Policy, contacts: Contacts, source: str, today: date, allow_private: bool = False) -> tuple[list[str], list[str]]:
    """(errors, warnings) of a contacts file against a policy, as lines naming file and entry;
    `allow_private` as the worker's ESCALATOR_ALLOW_PRIVATE_URLS."""
    errors, warnings = [], []
    for i, c in enumerate(contacts.contacts):
        where = f"{source}: contacts.{i} ({c.role}, {c.channel.value})"
        why = undeliverable(c, allow_private)
        if why:
            errors.append(f"{where}: can never be delivered: {why}")
        role = policy.roles.get(c.role)
        if role is None:
            errors.append(f"{where}: role {c.role!r} is not in the policy (have {', '.join(sorted(policy.roles))})")
            continue
        if role.per_customer and not c.customer:
            errors.append(f"{where}: role {c.role} is per customer: set customer")
        age = (today - c.reviewed_on).days
        if age > STALE_AFTER_DAYS:
            warnings.append(f"{where}: last reviewed {c.reviewed_on.isoformat()}, {age} days ago (over {STALE_AFTER_DAYS})")
    covered = {c.role for c in contacts.contacts}
    for name in sorted(set(policy.roles) - covered):
        warnings.append(f"{source}: role {name} has no contact: notifications to it reach nobody")
    return errors, warnings
