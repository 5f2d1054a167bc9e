"""PagerDuty Events API v2: trigger, acknowledge and resolve with a dedup key."""

from __future__ import annotations

import json
from typing import Literal

from activities.channels.delivery import OutboundMessage, PermanentDeliveryError
from activities.channels.http_post import post

DEFAULT_EVENTS_URL = "https://events.pagerduty.com/v2/enqueue"
_SEVERITY = {"sev1": "critical", "sev2": "error", "sev3": "warning", "sev4": "info"}


def event(message: OutboundMessage, routing_key: str, action: Literal["trigger", "acknowledge", "resolve"]) -> dict:
    doc: dict = {"routing_key": routing_key, "event_action": action, "dedup_key": dedup_key(message)}
    if action == "trigger":
        doc["payload"] = {
            "summary": f"{message.ticket_id} ({message.customer}): {message.summary}"[:1024],
            "source": "escalation-orchestrator",
            "severity": _SEVERITY.get(message.severity, "error"),
            "custom_details": {"ticket_id": message.ticket_id, "obligation_id": message.obligation_id, "due": message.due.isoformat()},
        }
        doc["links"] = [{"href": message.ticket_url, "text": "Ticket in the Temporal UI"}]
    return doc


def dedup_key(message: OutboundMessage) -> str:
    """One incident per ticket and escalation step (or per ticket, clock and cycle): the
    obligation id without its last part, so a step's repeats re-alert the same incident
    (`T-1/escalation/engineering/3` -> `T-1/escalation/engineering`), and its acknowledgement
    (`.../engineering/ack`) and resolution (`.../engineering/resolve1`) reach it."""
    return incident_of(message.obligation_id)


def incident_of(obligation_id: str) -> str:
    return obligation_id.rsplit("/", 1)[0]


def is_follow_up(obligation_id: str) -> bool:
    """An acknowledge or resolve sent to an incident, not a trigger that opened one."""
    last = obligation_id.rsplit("/", 1)[-1]
    return (last.startswith("ack") and last[3:].isdigit()) or (last.startswith("resolve") and last[7:].isdigit())


async def send(service: str, message: OutboundMessage, routing_key: str | None, *, events_url: str,
               allow_private: bool, action: Literal["trigger", "acknowledge", "resolve"] = "trigger") -> str:
    if not routing_key:
        raise PermanentDeliveryError(f"PagerDuty routing key for {service} is not set (the contact's secret_env names an empty variable)")
    response = await post(events_url, content=json.dumps(event(message, routing_key, action)).encode(),
                          headers={"content-type": "application/json"}, allow_private=allow_private)
    return f"HTTP {response.status_code}"
