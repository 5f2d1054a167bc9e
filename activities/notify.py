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

from activities.channels import email, pagerduty, slack, webhook
from sqlalchemy.exc import SQLAlchemyError

from activities.channels.delivery import OutboundMessage, PermanentDeliveryError, TransientDeliveryError
from activities.channels.email import SmtpSettings
from store.ticket_store import TicketStore
from sla.contacts import Channel, Contact, Contacts, contacts_for, parse_contacts
from sla.policy import PolicyError
from sla.messages import Delivery, DeliveryRecord, HoursCrossed, Notification, RoleOutcome

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
            self._seen = (stat.st_mtime, stat.st_size)
            try:
                self._contacts = parse_contacts(self.path.read_text(encoding="utf-8"), str(self.path))
            except (PolicyError, UnicodeDecodeError) as exc:
                # A file broken while being edited must not stop every notification: keep the last good one.
                log.error("contacts file unusable, keeping the last good one", path=str(self.path), error=str(exc).splitlines()[0])
        return self._contacts


class Notifier:
    def __init__(self, store: TicketStore, settings: NotifierSettings, environ: Mapping[str, str] = os.environ, timeline=None) -> None:
        self.store = store
        self.timeline = timeline  # a TimelineWriter: timeline batches go in its group commits
        self.settings = settings
        self.contacts = ContactsFile(settings.contacts_path)
        self.environ = environ


    async def _send(self, contact: Contact, message: OutboundMessage, action: str = "trigger") -> str:
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
                return await pagerduty.send(contact.address, message, secret, events_url=self.settings.pagerduty_events_url,
                                            allow_private=allow, action=action)
        raise PermanentDeliveryError(f"unknown channel {contact.channel}")

    async def _deliver(self, note: Notification, role: str, contact: Contact, message: OutboundMessage, unlogged: list[DeliveryRecord],
                       *, late_ok: bool) -> tuple[str, str | None]:
        """('sent' | 'skipped' (already delivered) | 'failed' (refused for good), the answer); transient errors raise.

        With the delivery log unreadable (the store is down), receivers that dedupe by key
        (webhook-id, PagerDuty dedup_key) are sent to anyway; Slack and e-mail only when no
        earlier attempt of this activity can have sent it unlogged (its first attempt), or once
        the fallback window is over (`late_ok`): better twice than never (docs/notifications.md).
        """
        key = delivery_key(note, role, contact)
        try:
            if await asyncio.to_thread(self.store.delivered, key):
                return "skipped", None
        except SQLAlchemyError as exc:
            dedupes = contact.channel in (Channel.WEBHOOK, Channel.PAGERDUTY, Channel.CONSOLE)
            first_attempt = not activity.in_activity() or activity.info().attempt == 1
            if not (dedupes or first_attempt or late_ok):
                raise TransientDeliveryError(f"the delivery log cannot be read ({type(exc).__name__}): waiting rather than risk a duplicate") from None
        record = dict(key=key, ticket_id=note.ticket_id, obligation_id=note.idempotency_key, role=role,
                      channel=contact.channel.value, recipient=contact.address)
        try:
            detail = await self._send(contact, message, note.page_action)
            status = "sent"
        except PermanentDeliveryError as exc:
            detail, status = str(exc), "failed"
            log.error("delivery refused", obligation=note.idempotency_key, role=role, channel=contact.channel.value, error=detail)
        try:
            await asyncio.to_thread(self.store.record_delivery, **record, status=status, detail=detail)
        except SQLAlchemyError:
            unlogged.append(DeliveryRecord(**record, status=status, detail=detail, at=datetime.now(UTC)))
        return ("sent" if status == "sent" else "failed"), detail

    async def _role(self, note: Notification, role: str, contacts: Contacts, message: OutboundMessage,
                    counts: dict[str, int], unlogged: list[DeliveryRecord]) -> RoleOutcome:
        """One attempt at one role: its primary contacts, and its fallbacks when they refused, or
        when the workflow says the fallback window is over (`note.use_fallback`)."""
        primary, fallback = contacts_for(contacts, role, note.customer)
        if not primary and not fallback and self.settings.contacts_path is None:
            primary = [Contact(role=role, channel=Channel.CONSOLE, address=role, reviewed_on=datetime.now(UTC).date())]
        if note.page_action != "trigger":
            primary, fallback = [c for c in primary if c.channel is Channel.PAGERDUTY], []
            if not primary:
                return RoleOutcome(role=role, status="not_applicable")
        if not primary and not fallback:
            log.error("no contact for role", role=role, customer=note.customer, obligation=note.idempotency_key)
            return RoleOutcome(role=role, status="no_contact")
        late = role in note.use_fallback

        async def attempt(group: list[Contact]) -> tuple[list[str], bool, list[str], list[str]]:
            """(keys accepted now, whether one had accepted before, refusals, transient failures)."""
            accepted, before, refused, transient = [], False, [], []
            for contact in group:
                key = delivery_key(note, role, contact)
                if key in note.done:
                    before = True
                    continue
                try:
                    outcome, answer = await self._deliver(note, role, contact, message, unlogged, late_ok=late)
                except TransientDeliveryError as exc:
                    transient.append(f"{contact.channel.value} {contact.address}: {exc}")
                    _count(NOTIFICATIONS, "notifications by channel and outcome", channel=contact.channel.value, outcome="transient")
                    continue
                _count(NOTIFICATIONS, "notifications by channel and outcome", channel=contact.channel.value, outcome=outcome)
                counts[outcome] += 1
                if outcome == "failed":
                    refused.append(f"{contact.channel.value} {contact.address}: {answer}")
                else:
                    accepted.append(key)
            return accepted, before, refused, transient

        accepted, before, refused, transient = await attempt(primary)
        if accepted or before:
            return RoleOutcome(role=role, status="delivered", accepted=accepted, retry=bool(transient), detail="; ".join(transient) or None)
        if fallback and (not primary or (refused and not transient) or late):
            f_accepted, f_before, f_refused, f_transient = await attempt(fallback)
            if f_accepted or f_before:
                _count(FALLBACKS, "roles reached only through their fallback contacts", role=role)
                return RoleOutcome(role=role, status="delivered_by_fallback", accepted=f_accepted, retry=bool(transient),
                                   detail="; ".join(refused + transient) or None)
            refused, transient = refused + f_refused, transient + f_transient
        if transient:
            return RoleOutcome(role=role, status="pending", retry=True, detail="; ".join(transient))
        return RoleOutcome(role=role, status="refused", detail="; ".join(refused))

    @activity.defn(name="notify")
    async def notify(self, note: Notification) -> Delivery:
        """One attempt at every role of `note`; the workflow decides when to try again.

        Heartbeats every second, so a worker killed mid-send is noticed within the heartbeat
        timeout and the attempt goes to another worker under the same keys.
        """
        beat = asyncio.create_task(_heartbeat())
        try:
            if note.page_action == "resolve":
                result = await self._resolve_pages(note)
            else:
                result = await self.announce(note)
            result.timeline_written, result.hours_crossed = await self._write_timeline(note)
        finally:
            beat.cancel()
        return result

    async def announce(self, note: Notification) -> Delivery:
        """One attempt at every role of `note`, outside any workflow too (the watchdog): the same
        contacts, fallbacks and at-most-once delivery log as the `notify` activity."""
        message = outbound(note, self.settings)
        contacts = self.contacts.current()
        counts = {"sent": 0, "skipped": 0, "failed": 0}
        unlogged: list[DeliveryRecord] = []
        # Roles side by side: a receiver that is slow to answer delays only its own role.
        outcomes = list(await asyncio.gather(*(self._role(note, role, contacts, message, counts, unlogged) for role in note.roles)))
        return Delivery(idempotency_key=note.idempotency_key, channel=",".join(note.roles) or "none",
                        delivered_at=datetime.now(UTC), outcomes=outcomes, unlogged=unlogged, **counts)

    async def _write_timeline(self, note: Notification) -> tuple[bool, list[HoursCrossed]]:
        """The ticket's timeline events that came with this attempt, written after sending (the
        message first: it is what is late otherwise). Idempotent by event id. (written, the
        support-hours thresholds its ledger entries crossed: the workflow announces them)."""
        if note.timeline is None:
            return False, []
        try:
            if self.timeline is not None:
                written = await self.timeline.write(note.timeline)
            else:
                written = (await asyncio.to_thread(self.store.record_batches, [note.timeline]))[0]
            return True, written.crossed
        except SQLAlchemyError as exc:  # the workflow keeps them and writes them later
            log.error("timeline not recorded with the notification", ticket_id=note.ticket_id, error=str(exc).splitlines()[0])
            return False, []

    async def _resolve_pages(self, note: Notification) -> Delivery:
        """Resolve every PagerDuty incident the ticket opened (read from the delivery log)."""
        try:
            sent = await asyncio.to_thread(self.store.sent_to, note.ticket_id, Channel.PAGERDUTY.value)
        except SQLAlchemyError as exc:
            return Delivery(idempotency_key=note.idempotency_key, channel="pagerduty", delivered_at=datetime.now(UTC),
                            outcomes=[RoleOutcome(role="pagerduty", status="pending", retry=True, detail=f"the delivery log cannot be read: {exc}")])
        triggers = [(service, pagerduty.incident_of(oid)) for service, oid in sent if not pagerduty.is_follow_up(oid)]
        incidents = list(dict.fromkeys(triggers))  # each (service, incident) once, in the order they were opened
        contacts = {c.address: c for c in self.contacts.current().contacts if c.channel is Channel.PAGERDUTY}
        accepted, problems, counts = [], [], {"sent": 0, "skipped": 0, "failed": 0}
        unlogged: list[DeliveryRecord] = []
        solved = note.idempotency_key.rsplit("/", 2)[-2]  # {ticket}/solved/{n}/resolve_pages: once per resolution
        for service, incident in incidents:
            contact = contacts.get(service)
            if contact is None:
                problems.append(f"{service}: no longer in the contacts file")
                continue
            resolving = note.model_copy(update={"idempotency_key": f"{incident}/resolve{solved}"})
            try:
                outcome, _ = await self._deliver(resolving, "pagerduty", contact, outbound(resolving, self.settings), unlogged, late_ok=True)
            except TransientDeliveryError as exc:
                problems.append(f"{service}: {exc}")
                continue
            counts[outcome] += 1
            accepted.append(incident)
        status = "pending" if problems else ("delivered" if accepted else "not_applicable")
        return Delivery(idempotency_key=note.idempotency_key, channel="pagerduty", delivered_at=datetime.now(UTC), unlogged=unlogged,
                        outcomes=[RoleOutcome(role="pagerduty", status=status, retry=bool(problems), detail="; ".join(problems) or None)], **counts)


NOTIFICATIONS = "escalator_notifications"  # exported as ..._total; outcome sent, skipped (already sent), failed, transient
FALLBACKS = "escalator_fallbacks_used"


def _count(name: str, description: str, **labels: str) -> None:
    """A counter on the SDK's metric meter (exported with the worker's metrics); outside an
    activity (tests calling the notifier directly) there is nothing to count on."""
    if activity.in_activity():
        activity.metric_meter().create_counter(name, description).add(1, labels)


def delivery_key(note: Notification, role: str, contact: Contact) -> str:
    """At most one delivery per (obligation, role, channel, recipient)."""
    return f"{note.idempotency_key}|{role}|{contact.channel.value}|{contact.address}"


async def _heartbeat() -> None:
    # Not at once: a send that is over within a second costs the server no heartbeat at all (each
    # is a write to the workflow's state), and the heartbeat timeout counts from the start anyway.
    while activity.in_activity():  # (tests call the notifier directly too)
        await asyncio.sleep(1)
        activity.heartbeat()
