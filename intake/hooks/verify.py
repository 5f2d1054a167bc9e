"""Is a webhook delivery from the helpdesk it claims, and which delivery is it?

A verifier checks one request (its headers and its raw body bytes, before any JSON parsing:
a re-serialised body no longer matches its signature) and answers the **delivery id**, the id
that stays the same across the sender's retries of that delivery, so a replay is recognised;
or it raises `DeliveryRefused` with one line that names the header and never a secret or an
expected signature (the route answers 401).

Schemes (`VerifyConfig.scheme`); each accepts several secrets (any one passes) so a secret can
be rotated without losing deliveries, and compares in constant time (`hmac.compare_digest`):

- `standard-webhooks` (https://www.standardwebhooks.com, spec/standard-webhooks.md):
  `webhook-signature: v1,<base64 HMAC-SHA256(key, "{webhook-id}.{webhook-timestamp}.{body}")>`
  (space-separated, several allowed), `webhook-timestamp` in Unix seconds within 5 minutes,
  key = base64 after `whsec_`. Delivery id: `webhook-id`.
- `zendesk` (developer.zendesk.com/documentation/webhooks/verifying/ and
  .../anatomy-of-a-webhook-request): `X-Zendesk-Webhook-Signature: base64(HMAC-SHA256(secret,
  TIMESTAMP + BODY))` with TIMESTAMP the `X-Zendesk-Webhook-Signature-Timestamp` header as sent
  (ISO 8601, `2026-11-29T20:00:00Z`), the secret used as text (not base64-decoded), within 5
  minutes. Delivery id: the body's digest (below).
- `jira` (developer.atlassian.com/cloud/jira/platform/webhooks/, "secure admin webhooks";
  WebSub's `method=signature`): `X-Hub-Signature: sha256=<hex HMAC-SHA256(secret, body)>`.
  Delivery id: the body's digest (below).
- `shared-secret`: for a helpdesk that does not sign: a header (default `X-Webhook-Secret`)
  whose value is one of the secrets. Delivery id: the body's digest (below).

Only standard-webhooks signs its delivery id. The others' id headers
(`X-Zendesk-Webhook-Invocation-Id`, `X-Atlassian-Webhook-Identifier`) are not covered by the
signature: a captured delivery re-sent under a new id would be a new delivery and apply again.
So their delivery id is the digest of what the signature covers, the body (`sha256:<hex>`): a
sender's retry (the same body) and an attacker's replay (the same body, any headers) are both
the same delivery. Two genuine deliveries differ in their bodies (each carries its event's time).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Mapping, Protocol

from standardwebhooks import Webhook

if TYPE_CHECKING:
    from intake.hooks.mapping import VerifyConfig

TOLERANCE = timedelta(minutes=5)
"""How far a signed timestamp may be from now, either way (Standard Webhooks' recommendation)."""

_UNMATCHED = "no signature matches (secret rotated? wrong secret?)"


class DeliveryRefused(Exception):
    """A delivery that is not proven to come from the source: one line naming the header."""


class Verifier(Protocol):
    def verify(self, headers: Mapping[str, str], body: bytes, now: datetime) -> str:
        """The delivery id, or DeliveryRefused. `headers` may be a starlette `Headers` or a dict."""
        ...


def body_digest(body: bytes) -> str:
    """`sha256:<hex>`: the delivery id of a sender that names none."""
    return "sha256:" + hashlib.sha256(body).hexdigest()


def _lower(headers: Mapping[str, str]) -> dict[str, str]:
    # starlette's Headers is case-insensitive already; a plain dict (tests, other callers) is not.
    return {key.lower(): value for key, value in headers.items()}


def _required(headers: dict[str, str], name: str) -> str:
    value = headers.get(name, "").strip()
    if not value:
        raise DeliveryRefused(f"{name}: missing")
    return value


def _delivery_id(headers: dict[str, str], name: str | None, body: bytes) -> str:
    value = headers.get(name, "").strip() if name else ""
    if not value:
        return body_digest(body)
    if len(value) > 200 or not value.isascii() or not value.isprintable():
        raise DeliveryRefused(f"{name}: not a delivery id (1-200 printable ASCII characters)")
    return value


def _within_tolerance(name: str, shown: str, at: datetime, now: datetime) -> None:
    off = at - now
    if abs(off) > TOLERANCE:
        where = "before" if off < timedelta(0) else "after"
        raise DeliveryRefused(f"{name}: {shown} is {_span(abs(off))} {where} now (more than 5 min: a replay or a wrong clock)")


def _span(delta: timedelta) -> str:
    """6 min, 5 min 30 s, 2 h 5 min, 3 d 4 h."""
    s = int(delta.total_seconds())
    if s >= 86400:
        return f"{s // 86400} d {s % 86400 // 3600} h"
    if s >= 3600:
        return f"{s // 3600} h {s % 3600 // 60} min"
    return f"{s // 60} min {s % 60} s" if s % 60 else f"{s // 60} min"


def _any_equal(expected: list[bytes], given: bytes) -> bool:
    # Every candidate is compared (no early exit), so the time taken does not tell which matched.
    return sum(hmac.compare_digest(e, given) for e in expected) > 0


@dataclass(frozen=True)
class StandardWebhooks:
    """Standard Webhooks, with the `standardwebhooks` package's own secret decoding and signing.

    Its `Webhook.verify` is not called: it checks the timestamp against the wall clock (not the
    `now` given), parses the body as JSON, and raises other exceptions than its own on a
    malformed signature list; the tolerance and the header parsing are done here instead.
    """

    hooks: tuple[Webhook, ...]

    def verify(self, headers: Mapping[str, str], body: bytes, now: datetime) -> str:
        h = _lower(headers)
        _required(h, "webhook-id")
        msg_id = _delivery_id(h, "webhook-id", body)
        stamp = _required(h, "webhook-timestamp")
        signatures = _required(h, "webhook-signature")
        try:
            at = datetime.fromtimestamp(int(stamp), UTC) if stamp.isascii() and stamp.isdigit() else None
        except (OverflowError, OSError, ValueError):
            at = None
        if at is None:
            raise DeliveryRefused(f"webhook-timestamp: {stamp[:40]!r} is not Unix seconds")
        _within_tolerance("webhook-timestamp", f"{stamp} ({at:%Y-%m-%dT%H:%M:%SZ})", at, now)
        given = []
        for part in signatures.split():
            version, _, encoded = part.partition(",")
            if version == "v1":  # v1a (asymmetric) and unknown versions are not ours to check
                try:
                    given.append(base64.b64decode(encoded, validate=True))
                except (binascii.Error, ValueError):
                    continue
        if not given:
            raise DeliveryRefused("webhook-signature: no v1 signature (expected v1,<base64>)")
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            raise DeliveryRefused("body: not UTF-8 text, so not what was signed") from None
        expected = [base64.b64decode(hook.sign(msg_id, at, text).partition(",")[2]) for hook in self.hooks]
        if not any(_any_equal(expected, g) for g in given):
            raise DeliveryRefused(f"webhook-signature: {_UNMATCHED}")
        return msg_id


@dataclass(frozen=True)
class Zendesk:
    secrets: tuple[str, ...]

    SIGNATURE = "x-zendesk-webhook-signature"
    TIMESTAMP = "x-zendesk-webhook-signature-timestamp"

    def verify(self, headers: Mapping[str, str], body: bytes, now: datetime) -> str:
        h = _lower(headers)
        signature = _required(h, self.SIGNATURE)
        stamp = _required(h, self.TIMESTAMP)
        try:
            at = datetime.fromisoformat(stamp)
        except ValueError:
            raise DeliveryRefused(f"{self.TIMESTAMP}: {stamp[:40]!r} is not an ISO 8601 instant") from None
        if at.tzinfo is None:
            raise DeliveryRefused(f"{self.TIMESTAMP}: {stamp!r} has no UTC offset")
        _within_tolerance(self.TIMESTAMP, stamp, at, now)
        signed = stamp.encode() + body  # the header exactly as sent, then the raw body
        expected = [base64.b64encode(hmac.new(s.encode(), signed, hashlib.sha256).digest()) for s in self.secrets]
        if not _any_equal(expected, signature.encode()):
            raise DeliveryRefused(f"{self.SIGNATURE}: {_UNMATCHED}")
        return body_digest(body)  # not the invocation id: the signature does not cover it


@dataclass(frozen=True)
class Jira:
    """Jira Cloud webhooks registered with a secret. The signature covers the body only: there
    is no signed timestamp, so replay protection is the body's digest alone (the route's store of
    deliveries seen, 48 hours, and the ticket's event ids after that)."""

    secrets: tuple[str, ...]

    SIGNATURE = "x-hub-signature"

    def verify(self, headers: Mapping[str, str], body: bytes, now: datetime) -> str:
        h = _lower(headers)
        if not h.get(self.SIGNATURE, "").strip():
            raise DeliveryRefused(f"{self.SIGNATURE}: missing (is the webhook registered with a secret?)")
        method, _, digest = h[self.SIGNATURE].strip().partition("=")
        if method.lower() != "sha256" or not digest:
            raise DeliveryRefused(f"{self.SIGNATURE}: not sha256=<hex>")
        expected = [hmac.new(s.encode(), body, hashlib.sha256).hexdigest().encode() for s in self.secrets]
        if not _any_equal(expected, digest.strip().lower().encode()):
            raise DeliveryRefused(f"{self.SIGNATURE}: {_UNMATCHED}")
        return body_digest(body)  # not X-Atlassian-Webhook-Identifier: the signature does not cover it


@dataclass(frozen=True)
class SharedSecret:
    """No signature: the secret itself travels in a header (so only ever over HTTPS). Nothing
    ties it to the body or to a time: replay protection is the body's digest alone."""

    secrets: tuple[str, ...]
    header: str

    def verify(self, headers: Mapping[str, str], body: bytes, now: datetime) -> str:
        h = _lower(headers)
        name = self.header.lower()
        given = _required(h, name)
        if not _any_equal([s.encode() for s in self.secrets], given.encode()):
            raise DeliveryRefused(f"{name}: does not match (secret rotated? wrong secret?)")
        return body_digest(body)


def verifier_for(config: "VerifyConfig", secrets: list[str]) -> Verifier:
    """The verifier of a source's `[verify]` table with its secrets (in order; any one passes).

    ValueError without secrets, with an empty one (anyone could sign with it), or with a
    standard-webhooks secret that is not `whsec_` + base64 (it names the secret's position,
    never its value).
    """
    if not secrets or any(not s for s in secrets):
        raise ValueError(f"{config.scheme}: no secret (an empty secret would let anyone sign)")
    if config.scheme == "standard-webhooks":
        return StandardWebhooks(tuple(standard_webhook(s, n) for n, s in enumerate(secrets, 1)))
    if config.scheme == "zendesk":
        return Zendesk(tuple(secrets))
    if config.scheme == "jira":
        return Jira(tuple(secrets))
    return SharedSecret(tuple(secrets), config.header)


def standard_webhook(secret: str, position: int = 1) -> Webhook:
    """The package's Webhook for a `whsec_<base64>` secret; ValueError naming its position."""
    encoded = secret.removeprefix("whsec_")
    try:
        if not secret.startswith("whsec_") or not base64.b64decode(encoded + "=" * (-len(encoded) % 4), validate=True):
            raise ValueError
        return Webhook(secret)
    except (ValueError, binascii.Error):
        raise ValueError(f"standard-webhooks secret #{position} is not whsec_ followed by base64") from None
