"""Reading one e-mail: who sent it, what it is about, which ticket it answers, whether it is authentic.

Text is decoded by its declared charset (ISO-8859-1, Windows-1252 and others are ordinary
mail); only bytes that are not that charset, an unknown charset or MIME that cannot be taken
apart are refused (`Unreadable`, answered 554). Attachments are not kept: their names and
sizes are reported. Authenticity comes from the gateway's `Authentication-Results` header
(RFC 8601): the topmost one (a gateway adds its own on top; a sender can forge only lower
ones), and only from `authserv_id` when that is configured.
"""

from __future__ import annotations

import email
import email.policy
import hashlib
import re
from dataclasses import dataclass, field
from datetime import datetime
from email import errors as mime_errors
from email.message import EmailMessage
from email.utils import getaddresses

TICKET_TAG = re.compile(r"\[([A-Za-z0-9][A-Za-z0-9._:-]{0,127})\]")
MESSAGE_ID = re.compile(r"<([^<>\s]{1,500})>")
BROKEN_MIME = (mime_errors.NoBoundaryInMultipartDefect, mime_errors.StartBoundaryNotFoundDefect,
               mime_errors.MultipartInvariantViolationDefect, mime_errors.InvalidMultipartContentTransferEncodingDefect)


class Unreadable(ValueError):
    """Mail that cannot be read as sent: one line saying why (answered 554 5.6.0)."""


@dataclass
class Mail:
    message_id: str
    sender: str
    domain: str
    subject: str
    date: datetime | None
    references: list[str]
    text: str
    attachments: list[tuple[str, int]] = field(default_factory=list)
    authenticated: bool = False  # the gateway says DKIM or SPF passed

    @property
    def key(self) -> str:
        """A stable id of this message, usable as an event id (`mail-<32 hex>`)."""
        return mail_key(self.message_id)

    def tagged(self) -> list[str]:
        """Ticket ids written in the subject as `[T-123]`, first first."""
        return TICKET_TAG.findall(self.subject)


def mail_key(message_id: str) -> str:
    return "mail-" + hashlib.sha256(message_id.encode()).hexdigest()[:32]


def ticket_of(message_id: str) -> str:
    """The ticket a message opens (`M-<16 hex>`): a reply naming it in In-Reply-To finds it again."""
    return "M-" + hashlib.sha256(message_id.encode()).hexdigest()[:16]


def read(raw: bytes, authserv_id: str | None = None) -> Mail:
    """The parts of a message this intake uses; Unreadable when it cannot be read."""
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(msg, EmailMessage)
    if any(isinstance(d, BROKEN_MIME) for part in msg.walk() for d in part.defects):
        raise Unreadable("malformed MIME: its parts cannot be taken apart")
    senders = [address for _, address in getaddresses([str(msg.get("From", ""))]) if "@" in address]
    if not senders:
        raise Unreadable("From: no sender address")
    sender = senders[0].lower()
    found = MESSAGE_ID.search(str(msg.get("Message-ID", "")))
    message_id = found.group(1) if found else "sha256:" + hashlib.sha256(raw).hexdigest()
    try:
        date = msg["Date"].datetime if msg.get("Date") else None
    except (TypeError, ValueError, AttributeError):
        date = None
    references = MESSAGE_ID.findall(" ".join(str(msg.get(h, "")) for h in ("In-Reply-To", "References")))
    text, attachments = _contents(msg)
    return Mail(message_id=message_id, sender=sender, domain=sender.rsplit("@", 1)[1], subject=str(msg.get("Subject", "")).strip(),
                date=date if date and date.tzinfo else None, references=references, text=text, attachments=attachments,
                authenticated=_authenticated(msg, authserv_id, sender.rsplit("@", 1)[1]))


def _contents(msg: EmailMessage) -> tuple[str, list[tuple[str, int]]]:
    texts, attachments = [], []
    for part in msg.walk():
        if part.is_multipart():
            continue
        payload = part.get_payload(decode=True) or b""
        if part.get_content_disposition() == "attachment" or part.get_filename() or part.get_content_maintype() != "text":
            attachments.append((part.get_filename() or part.get_content_type(), len(payload)))
            continue
        charset = part.get_content_charset() or "us-ascii"
        try:
            texts.append(payload.decode(charset))
        except LookupError:
            raise Unreadable(f"Content-Type: unknown charset {charset!r}") from None
        except UnicodeDecodeError as exc:
            raise Unreadable(f"body: not {charset} text (byte {exc.start})") from None
    return "\n".join(texts), attachments


def _authenticated(msg: EmailMessage, authserv_id: str | None, from_domain: str) -> bool:
    """Whether the topmost Authentication-Results (RFC 8601) holds a `dkim=pass` or `spf=pass`
    result for the From domain (or a parent of it: DMARC's relaxed alignment). Each result is
    read as `method=result` with its properties (`header.d`, `smtp.mailfrom`), comments removed:
    a pass for another domain, or the words "dkim=pass" inside a property or comment, count not."""
    headers = msg.get_all("Authentication-Results") or []
    if not headers:
        return False
    parts = [part.strip() for part in re.sub(r"\([^()]*\)", " ", str(headers[0])).split(";")]
    server = parts[0].split()[0] if parts[0].split() else ""
    if authserv_id is not None and server.lower() != authserv_id.lower():
        return False
    for result in parts[1:]:
        tokens = result.split()
        if not tokens:
            continue
        method, _, outcome = tokens[0].lower().partition("=")
        if method not in ("dkim", "spf") or outcome != "pass":
            continue
        props = dict(token.split("=", 1) for token in tokens[1:] if "=" in token)
        domain = props.get("header.d", "") if method == "dkim" else props.get("smtp.mailfrom", "").rsplit("@", 1)[-1]
        domain = domain.strip().strip('"').lower()
        if domain and (from_domain == domain or from_domain.endswith("." + domain)):
            return True
    return False
