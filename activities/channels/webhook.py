"""Generic webhook, signed per the Standard Webhooks specification (docs/webhooks.md)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from standardwebhooks.webhooks import Webhook

from activities.channels.delivery import OutboundMessage, PermanentDeliveryError
from activities.channels.http_post import post

SCHEMA = "escalator.notification/v1"


def body(message: OutboundMessage) -> dict:
    """The versioned JSON body; fields are only ever added within a version."""
    return {
        "schema": SCHEMA,
        "type": f"obligation.{message.kind}",
        "obligation_id": message.obligation_id,
        "ticket": {"id": message.ticket_id, "customer": message.customer, "severity": message.severity, "url": message.ticket_url},
        "clock": message.clock,
        "due": message.due.isoformat(),
        "summary": message.summary,
    }


async def send(url: str, message: OutboundMessage, secret: str | None, *, allow_private: bool) -> str:
    if not secret:
        raise PermanentDeliveryError("webhook secret is not set (the contact's secret_env names an empty variable)")
    try:
        signer = Webhook(secret)
    except Exception as exc:  # the library rejects malformed secrets with assorted errors
        raise PermanentDeliveryError(f"webhook secret is not a Standard Webhooks secret (whsec_...): {exc}") from None
    payload = json.dumps(body(message), separators=(",", ":"))
    now = datetime.now(UTC)
    headers = {
        "content-type": "application/json",
        "webhook-id": message.obligation_id,
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": signer.sign(message.obligation_id, now, payload),
    }
    response = await post(url, content=payload.encode(), headers=headers, allow_private=allow_private)
    return f"HTTP {response.status_code}"
