"""Slack incoming webhook with a Block Kit message; ticket text cannot ping or link."""

from __future__ import annotations

import json

from activities.channels.delivery import OutboundMessage, PermanentDeliveryError
from activities.channels.http_post import post


def escape(text: str) -> str:
    """Slack's own escaping: with & < > escaped, `<!channel>`, `<@U123>` and `<url|x>` are plain text."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def blocks(message: OutboundMessage) -> dict:
    title = f"{message.severity.upper()} · {message.customer} · {message.kind.replace('_', ' ')}"
    return {
        "text": escape(f"{title}: {message.summary}"),
        "blocks": [
            {"type": "header", "text": {"type": "plain_text", "text": title[:150]}},
            {"type": "section", "fields": [
                {"type": "mrkdwn", "text": f"*Ticket*\n{escape(message.ticket_id)}"},
                {"type": "mrkdwn", "text": f"*Due*\n{message.due.isoformat()}"},
                {"type": "mrkdwn", "text": f"*What*\n{escape(message.summary)}"},
                {"type": "mrkdwn", "text": f"*Customer*\n{escape(message.customer)}"},
            ]},
            {"type": "actions", "elements": [
                {"type": "button", "text": {"type": "plain_text", "text": "Open in Temporal UI"}, "url": message.ticket_url},
            ]},
        ],
    }


async def send(channel: str, message: OutboundMessage, webhook_url: str | None, *, allow_private: bool) -> str:
    if not webhook_url:
        raise PermanentDeliveryError(f"Slack webhook URL for {channel} is not set (the contact's secret_env names an empty variable)")
    response = await post(webhook_url, content=json.dumps(blocks(message)).encode(),
                          headers={"content-type": "application/json"}, allow_private=allow_private)
    return f"HTTP {response.status_code} {response.text[:20]}"


async def send_summary(channel: str, title: str, text: str, webhook_url: str | None, *, allow_private: bool) -> str:
    """A scheduled review's summary as a Slack message (a header and the lines, as plain text)."""
    if not webhook_url:
        raise PermanentDeliveryError(f"Slack webhook URL for {channel} is not set (the contact's secret_env names an empty variable)")
    body = {"text": escape(f"{title}\n{text}"), "blocks": [
        {"type": "header", "text": {"type": "plain_text", "text": title[:150]}},
        {"type": "section", "text": {"type": "mrkdwn", "text": "```" + escape(text)[:2900] + "```"}},
    ]}
    response = await post(webhook_url, content=json.dumps(body).encode(), headers={"content-type": "application/json"}, allow_private=allow_private)
    return f"HTTP {response.status_code} {response.text[:20]}"
