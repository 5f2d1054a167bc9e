"""The `send_review` activity: build a scheduled review from the store and send it to its roles.

E-mail contacts get the summary with the HTML page attached, Slack contacts the summary, console
contacts a log line; pages (PagerDuty) and webhooks are for tickets, not reports, and are named
in the result instead. Each (review, period, role, channel, recipient) is delivered at most once:
the delivery log is checked before sending and written right after, as for notifications.
"""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path

import structlog
from temporalio import activity

from activities.channels import email, slack
from activities.channels.delivery import PermanentDeliveryError
from activities.notify import ContactsFile, NotifierSettings
from reports.reviews import Review, build_review
from sla.contacts import Channel, Contact, contacts_for
from sla.messages import ReviewOrder, ReviewSent
from sla.policy import parse_policy
from store.ticket_store import TicketStore

log = structlog.get_logger("escalator.reviews")
REPORT_CHANNELS = (Channel.EMAIL, Channel.SLACK, Channel.CONSOLE)
_DRAWING = threading.Lock()  # matplotlib's pyplot keeps global state: one page at a time


class ReviewSender:
    def __init__(self, store: TicketStore, policy_path: Path, settings: NotifierSettings, environ: Mapping[str, str] = os.environ) -> None:
        self.store = store
        self.policy_path = policy_path
        self.settings = settings
        self.contacts = ContactsFile(settings.contacts_path)
        self.environ = environ

    def _build(self, order: ReviewOrder) -> Review:
        policy = parse_policy(self.policy_path.read_text(encoding="utf-8"), str(self.policy_path))
        with _DRAWING:
            return build_review(order.kind, self.store.engine, policy, order.made_at.astimezone(UTC), order.tz)

    async def _send(self, contact: Contact, review: Review, key: str) -> str:
        match contact.channel:
            case Channel.EMAIL:
                return await email.send_report(contact.address, review.subject, review.text,
                                               (f"{review.kind}-{review.period}.html", review.html), self.settings.smtp, key)
            case Channel.SLACK:
                secret = self.environ.get(contact.secret_env) if contact.secret_env else None
                return await slack.send_summary(contact.address, review.subject, review.text, secret,
                                                allow_private=self.settings.allow_private_urls)
            case _:
                log.info("review", to=contact.address, kind=review.kind, period=review.period, subject=review.subject, summary=review.text)
                return "logged"

    @activity.defn(name="send_review")
    async def send_review(self, order: ReviewOrder) -> ReviewSent:
        """Build the review and deliver it once per contact; TransientDeliveryError (retried) when
        a receiver is down, a refused address is logged as failed and counted."""
        review = await asyncio.to_thread(self._build, order)
        result = ReviewSent(period=review.period, counts=review.counts)
        contacts = self.contacts.current()
        for role in order.to:
            primary, fallback = contacts_for(contacts, role, customer="")
            usable = [c for c in primary + fallback if c.channel in REPORT_CHANNELS]
            if not usable:
                result.no_contact.append(role)
                continue
            for contact in usable:
                # The zone too: October in Tokyo and October in UTC are different days, sent apart.
                key = f"review/{review.kind}/{review.period}/{order.tz}/{role}/{contact.channel.value}/{contact.address}"
                if await asyncio.to_thread(self.store.delivered, key):
                    result.already_sent += 1
                    continue
                try:
                    detail, status = await self._send(contact, review, key), "sent"
                    result.sent += 1
                except PermanentDeliveryError as exc:
                    detail, status = str(exc), "failed"
                    result.failed += 1
                    log.error("review refused", kind=review.kind, role=role, channel=contact.channel.value, error=detail)
                await asyncio.to_thread(self.store.record_delivery, key=key, ticket_id=f"review:{review.kind}", obligation_id=key,
                                        role=role, channel=contact.channel.value, recipient=contact.address, status=status, detail=detail)
        log.info("review sent", kind=review.kind, period=review.period, sent=result.sent, already_sent=result.already_sent,
                 failed=result.failed, no_contact=result.no_contact, at=datetime.now(UTC).isoformat())
        return result
