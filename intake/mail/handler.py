"""The SMTP side of mail intake (aiosmtpd): who may send, and what each message does to tickets.

- MAIL FROM from a peer that is neither an allowed gateway nor authenticated: 550 5.7.1.
- DATA that cannot be read (`message.Unreadable`): 554 5.6.0; over the size limit: aiosmtpd's 552.
- A reply (a ticket id in the subject as `[T-1]`, or In-Reply-To/References naming a message that
  opened a ticket) from a domain of the ticket's customer is a customer message on it, at the message's Date (clamped to now when ahead,
  and to when the ticket handles it when the ticket refuses that instant). A reply to a closed
  ticket opens a follow-up ticket.
- Anything else opens a ticket: customer from the sender's domain (rules), severity from the
  subject, never above Sev-2 unless the domain is on `high_severity.domains` and the gateway
  says DKIM or SPF passed. Its id comes from the Message-ID, so the same message twice opens
  one ticket; a reply's event id comes from its Message-ID too, so it applies once.
- Temporal unavailable: 451 4.3.0 (the gateway retries). Every refusal is also a log line.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

import structlog

from intake.mail.gate import Gate
from intake.mail.message import TICKET_TAG, Mail, Unreadable, read, ticket_of
from intake.mail.rules import MailRules
from sla import intake as start_rules
from sla.event_time import MAX_AHEAD
from sla.messages import CustomerMessage
from sla.policy import Policy
from sla.severity import Severity
from sla.ticket import TicketOpened
from workflows import contract
from workflows import search_attributes as sa
from starter.client import OpenConflict, Refused, TicketClient, TicketClosed, TicketError, UnknownTicket, Unavailable

log = structlog.get_logger("escalator.mail")


class Rejected(Exception):
    """Mail this intake will not take (an unknown sender's domain)."""


class MailHandler:
    def __init__(self, client: TicketClient, rules: MailRules, policy: Policy, gate: Gate) -> None:
        self.client, self.rules, self.policy, self.gate = client, rules, policy, gate

    async def handle_MAIL(self, server, session, envelope, address, mail_options):  # noqa: N802 (aiosmtpd's name)
        if not (session.authenticated or self.gate.peer_allowed(session.peer)):
            log.warning("mail refused: peer not allowed", peer=str(session.peer[0] if session.peer else "?"), mail_from=address)
            return "550 5.7.1 Not accepted from this address: send through the configured gateway, or authenticate"
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):  # noqa: N802
        via = f"mail:{session.auth_data}" if session.authenticated and isinstance(session.auth_data, str) else "mail:gateway"
        try:
            mail = read(envelope.original_content or envelope.content, self.rules.authserv_id)
        except Unreadable as exc:
            log.warning("mail refused: unreadable", reason=str(exc), mail_from=envelope.mail_from)
            return f"554 5.6.0 {exc}"
        if mail.attachments:
            log.info("attachments not stored", message_id=mail.message_id, attachments=[f"{n} ({s} bytes)" for n, s in mail.attachments])
        try:
            answer = await self._apply(mail, via)
        except Unavailable as exc:
            log.warning("mail deferred: Temporal unavailable", message_id=mail.message_id, reason=str(exc))
            return "451 4.3.0 Tickets cannot be reached now: try again later"
        except Rejected as exc:
            log.warning("mail refused", message_id=mail.message_id, sender=mail.sender, reason=str(exc))
            return f"550 5.7.1 {exc}"
        except TicketError as exc:
            log.warning("mail refused by the ticket", message_id=mail.message_id, reason=str(exc))
            return f"550 5.6.0 {exc}"
        log.info("mail applied", message_id=mail.message_id, sender=mail.sender, answer=answer)
        return f"250 2.0.0 {answer}"

    async def _apply(self, mail: Mail, via: str) -> str:
        for ticket_id in mail.tagged() + [ticket_of(m) for m in mail.references]:
            try:
                return await self._reply(mail, ticket_id, via)
            except UnknownTicket:
                continue
            except TicketClosed:
                return await self._open(mail, via, follows=ticket_id)
        return await self._open(mail, via)

    async def _reply(self, mail: Mail, ticket_id: str, via: str) -> str:
        described = await self.client.describe(ticket_id)  # UnknownTicket: not ours
        if described.status is not None and described.status.name != "RUNNING":
            raise TicketClosed(f"ticket {ticket_id} is closed")
        owner = described.typed_search_attributes.get(sa.CUSTOMER)
        if self.rules.customer_of(mail.domain) != owner:  # only the ticket's customer may write to it
            raise Rejected(f"{mail.domain} is not a domain of ticket {ticket_id}'s customer")
        at = _clamped(mail.date)
        message = CustomerMessage(message_id=mail.message_id[:200], event_id=mail.key, occurred_at=at, via=via)
        try:
            sent = await self.client.send(ticket_id, contract.UPDATE_CUSTOMER_MESSAGE, message)
        except Refused as exc:
            if "occurred_at" not in str(exc):
                raise
            # Its Date is before what the ticket already has: it counts when the ticket reads it.
            sent = await self.client.send(ticket_id, contract.UPDATE_CUSTOMER_MESSAGE, message.model_copy(update={"occurred_at": None}))
        return f"{'queued for' if sent.queued else 'added to'} {ticket_id}"

    async def _open(self, mail: Mail, via: str, follows: str | None = None) -> str:
        customer = self.rules.customer_of(mail.domain)
        if customer is None:
            raise Rejected(f"{mail.domain} is not a customer's domain (mail rules: [domains])")
        severity = self.rules.severity_of(mail.subject)
        trusted = self.rules.high_severity.allows(mail.domain) and mail.authenticated
        if severity is Severity.SEV1 and not trusted:  # above Sev-2 only from an authenticated, allow-listed domain
            severity = Severity.SEV2
        title = _title(mail.subject)
        now = datetime.now(UTC)
        opened_at = _clamped(mail.date) or now
        ticket = TicketOpened(ticket_id=ticket_of(mail.message_id), customer=customer, title=title, severity=severity, channel="email",
                              opened_at=opened_at, follows=follows, via=via)
        try:
            start_rules.check_opened(self.policy, ticket, now)
        except ValueError:  # a Date too far back (or ahead): opened when it arrived
            ticket = ticket.model_copy(update={"opened_at": now})
        try:
            opened = await self.client.open(ticket)
        except (TicketClosed, OpenConflict):  # this Message-ID opened a ticket already (since closed, or edited): nothing to do
            return f"already handled: {ticket.ticket_id}"
        return f"{'opened' if opened.created else 'already opened'} {opened.ticket_id}" + (f" (follows {follows})" if follows else "")


def _clamped(date: datetime | None) -> datetime | None:
    if date is None:
        return None
    now = datetime.now(UTC)
    return now if date > now + MAX_AHEAD else date


def _title(subject: str) -> str:
    untagged = TICKET_TAG.sub("", subject)  # a follow-up's title is the conversation's, not its reference
    bare = re.sub(r"^\s*((re|fwd?|aw|wg)\s*:\s*)+", "", untagged, flags=re.IGNORECASE).strip()
    return (bare or "(no subject)")[:300]
