"""E-mail over SMTP (aiosmtplib): plain text and HTML, STARTTLS and login when configured."""

from __future__ import annotations

import hashlib
import html
from email.message import EmailMessage
from email.utils import formatdate

import aiosmtplib
from pydantic import BaseModel

from activities.channels.delivery import OutboundMessage, PermanentDeliveryError, TransientDeliveryError


class SmtpSettings(BaseModel):
    host: str = "localhost"
    port: int = 25
    starttls: bool = False
    use_tls: bool = False
    username: str | None = None
    password: str | None = None
    sender: str = "escalator@localhost"
    timeout: float = 15.0


def _header(value: str) -> str:
    if "\r" in value or "\n" in value:
        raise PermanentDeliveryError("an e-mail header may not contain a line break")
    return value


def render(to: str, message: OutboundMessage, sender: str) -> EmailMessage:
    mail = EmailMessage()
    mail["From"] = _header(sender)
    mail["To"] = _header(to)
    mail["Subject"] = _header(f"[{message.severity.upper()}] {message.ticket_id} {message.customer}: {message.summary}"[:200])
    mail["Message-ID"] = _header(f"<{message.obligation_id.replace('/', '.')}@escalator>")
    text = f"{message.summary}\n\nTicket: {message.ticket_id} ({message.customer}, {message.severity})\nDue: {message.due.isoformat()}\n{message.ticket_url}\n"
    mail.set_content(text)
    mail.add_alternative(
        f"<p><strong>{html.escape(message.summary)}</strong></p>"
        f"<p>Ticket {html.escape(message.ticket_id)} ({html.escape(message.customer)}, {html.escape(message.severity)})<br>"
        f"Due {html.escape(message.due.isoformat())}</p><p><a href=\"{html.escape(message.ticket_url)}\">Open the ticket</a></p>",
        subtype="html",
    )
    return mail


async def send(to: str, message: OutboundMessage, smtp: SmtpSettings) -> str:
    return await _submit(render(to, message, smtp.sender), to, smtp)


async def send_report(to: str, subject: str, text: str, attachment: tuple[str, str] | None, smtp: SmtpSettings, message_id: str) -> str:
    """A scheduled review: `text` as the body, `attachment` (file name, HTML page) attached; same
    errors as `send`. `message_id` (the delivery's key) lets receivers drop a duplicate."""
    mail = EmailMessage()
    mail["From"] = _header(smtp.sender)
    mail["To"] = _header(to)
    mail["Subject"] = _header(subject[:200])
    mail["Date"] = formatdate(localtime=False)
    # The key holds an address ('@'): a digest of it makes a valid, stable Message-ID.
    mail["Message-ID"] = f"<review.{hashlib.sha256(message_id.encode()).hexdigest()[:32]}@escalator>"
    mail.set_content(text + "\n")
    if attachment is not None:
        name, page = attachment
        mail.add_attachment(page.encode("utf-8"), maintype="text", subtype="html", filename=name)
    return await _submit(mail, to, smtp)


async def _submit(mail: EmailMessage, to: str, smtp: SmtpSettings) -> str:
    try:
        await aiosmtplib.send(
            mail, hostname=smtp.host, port=smtp.port, start_tls=smtp.starttls, use_tls=smtp.use_tls,
            username=smtp.username, password=smtp.password, timeout=smtp.timeout,
        )
    except aiosmtplib.SMTPRecipientsRefused as exc:
        raise PermanentDeliveryError(f"recipient refused: {exc}") from None
    except aiosmtplib.SMTPResponseException as exc:
        # SMTP's own rule: 5xx is permanent, 4xx is worth another try.
        if exc.code >= 500:
            raise PermanentDeliveryError(f"SMTP {exc.code}: {exc.message}") from None
        raise TransientDeliveryError(f"SMTP {exc.code}: {exc.message}") from None
    except (aiosmtplib.SMTPException, OSError) as exc:
        raise TransientDeliveryError(f"{type(exc).__name__}: {exc}") from None
    return f"SMTP accepted for {to}"
