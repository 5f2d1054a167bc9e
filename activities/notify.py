"""The `notify` activity: route an obligation to its roles' contacts, at most once each.

Each (obligation, role, channel, recipient) is delivered at most once: the delivery log is
checked before sending and written right after. Channels that dedupe (webhook-id, PagerDuty
dedup_key) close the last window, sent-but-not-logged; for Slack and e-mail it stays open for
the time between the receiver's acceptance and the log write (docs/notifications.md).
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote

import structlog
from pydantic import BaseModel
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.channels import email, pagerduty, slack, webhook
from activities.channels.delivery import OutboundMessage, PermanentDeliveryError, TransientDeliveryError
from activities.channels.email import SmtpSettings
from store.ticket_store import TicketStore
from sla.contacts import Channel, Contact, Contacts, contacts_for, parse_contacts
from sla.messages import Delivery, Notification

log = structlog.get_logger("escalator.notify")


class NotifierSettings(BaseModel):
    contacts_path: Path | None = None
    allow_private_urls: bool = False
    smtp: SmtpSettings = SmtpSettings()
    pagerduty_events_url: str = pagerduty.DEFAULT_EVENTS_URL
    ui_url: str = "http://localhost:8233"
    namespace: str = "default"


def outbound(note: Notification, settings: NotifierSettings) -> OutboundMessage:
    """What the channels render: the notification plus a link to the ticket in the Temporal UI."""
    url = f"{settings.ui_url.rstrip('/')}/namespaces/{quote(settings.namespace)}/workflows/{quote(note.ticket_id, safe='')}"
    return OutboundMessage(
        obligation_id=note.idempotency_key, ticket_id=note.ticket_id, customer=note.customer,
        severity=note.severity.value, kind=note.kind, clock=note.clock.value if note.clock else None,
        due=note.due, summary=note.summary, ticket_url=url,
    )


class ContactsFile:
    """The contacts file, re-read when it changes: a fixed contact reaches running tickets at once."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._seen: tuple[float, int] | None = None
        self._contacts = Contacts()

    def current(self) -> Contacts:
        if self.path is None:
            return Contacts()
        stat = self.path.stat()
        if self._seen != (stat.st_mtime, stat.st_size):
            self._contacts = parse_contacts(self.path.read_text(encoding="utf-8"), str(self.path))
            self._seen = (stat.st_mtime, stat.st_size)
        return self._contacts


class Notifier:
    def __init__(self, store: TicketStore, settings: NotifierSettings, environ: Mapping[str, str] = os.environ) -> None:
        self.store = store
        self.settings = settings
        self.contacts = ContactsFile(settings.contacts_path)
        self.environ = environ


    async def _send(self, contact: Contact, message: OutboundMessage) -> str:
        secret = self.environ.get(contact.secret_env) if contact.secret_env else None
        allow = self.settings.allow_private_urls
        match contact.channel:
            case Channel.CONSOLE:
                log.warning("notification", to=contact.address, obligation=message.obligation_id, ticket_id=message.ticket_id,
                            customer=message.customer, severity=message.severity, kind=message.kind, due=message.due.isoformat(),
                            summary=message.summary)
                return "logged"
            case Channel.WEBHOOK:
                return await webhook.send(contact.address, message, secret, allow_private=allow)
            case Channel.SLACK:
                return await slack.send(contact.address, message, secret, allow_private=allow)
            case Channel.EMAIL:
                return await email.send(contact.address, message, self.settings.smtp)
            case Channel.PAGERDUTY:
                return await pagerduty.send(contact.address, message, secret, events_url=self.settings.pagerduty_events_url, allow_private=allow)
        raise PermanentDeliveryError(f"unknown channel {contact.channel}")

    async def _deliver(self, note: Notification, role: str, contact: Contact, message: OutboundMessage) -> str:
        """'sent', 'skipped' (already delivered), or 'failed' (refused for good); transient errors raise."""
        key = f"{note.idempotency_key}|{role}|{contact.channel.value}|{contact.address}"
        if await asyncio.to_thread(self.store.delivered, key):
            return "skipped"
        record = dict(key=key, ticket_id=note.ticket_id, obligation_id=note.idempotency_key, role=role,
                      channel=contact.channel.value, recipient=contact.address)
        try:
            detail = await self._send(contact, message)
        except PermanentDeliveryError as exc:
            await asyncio.to_thread(self.store.record_delivery, **record, status="failed", detail=str(exc))
            log.error("delivery refused", obligation=note.idempotency_key, role=role, channel=contact.channel.value, error=str(exc))
            return "failed"
        await asyncio.to_thread(self.store.record_delivery, **record, status="sent", detail=detail)
        return "sent"

    @activity.defn(name="notify")
    async def notify(self, note: Notification) -> Delivery:
        message = outbound(note, self.settings)
        contacts = self.contacts.current()
        counts = {"sent": 0, "skipped": 0, "failed": 0}
        transient: list[str] = []
        for role in note.roles:
            primary, fallback = contacts_for(contacts, role, note.customer)
            if not primary and not fallback and self.settings.contacts_path is None:
                primary = [Contact(role=role, channel=Channel.CONSOLE, address=role, reviewed_on=datetime.now(UTC).date())]
            if not primary and not fallback:
                log.error("no contact for role", role=role, customer=note.customer, obligation=note.idempotency_key)
            refused = False
            for contact in primary:
                try:
                    outcome = await self._deliver(note, role, contact, message)
                except TransientDeliveryError as exc:
                    transient.append(f"{role}/{contact.channel.value}: {exc}")
                    continue
                counts[outcome] += 1
                refused |= outcome == "failed"
            if refused or not primary:
                for contact in fallback:
                    try:
                        counts[await self._deliver(note, role, contact, message)] += 1
                    except TransientDeliveryError as exc:
                        transient.append(f"{role}/{contact.channel.value} (fallback): {exc}")
        if transient:
            # Delivered ones are in the log and skipped on the retry; only these go again.
            raise ApplicationError(f"will retry: {'; '.join(transient)}", type="TransientDelivery")
        return Delivery(idempotency_key=note.idempotency_key, channel=",".join(note.roles) or "none",
                        delivered_at=datetime.now(UTC), **counts)
