"""Server-side request forgery guard for user-configured URLs (webhooks, Slack, PagerDuty)."""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit

from activities.channels.delivery import PermanentDeliveryError


def check_url(url: str, *, allow_private: bool) -> None:
    """Refuse non-HTTPS schemes and private, loopback, link-local or reserved addresses.

    `allow_private` (for tests on loopback and for receivers inside a private network) also
    allows plain http. The host is resolved here and the request resolves it again: DNS that
    changes in between (rebinding) is not covered; a resolver you trust is.
    """
    parts = urlsplit(url)
    allowed = {"https", "http"} if allow_private else {"https"}
    if parts.scheme not in allowed:
        raise PermanentDeliveryError(f"URL scheme {parts.scheme or '(none)'!r} refused: use {' or '.join(sorted(allowed))}")
    if not parts.hostname:
        raise PermanentDeliveryError("URL has no host")
    if allow_private:
        return
    try:
        infos = socket.getaddrinfo(parts.hostname, parts.port or 443, proto=socket.IPPROTO_TCP)
    except socket.gaierror as exc:
        raise PermanentDeliveryError(f"cannot resolve {parts.hostname}: {exc.strerror}") from None
    for info in infos:
        address = ipaddress.ip_address(info[4][0])
        if not address.is_global:
            raise PermanentDeliveryError(
                f"{parts.hostname} resolves to {address}, a private/loopback/link-local address: refused (ESCALATOR_ALLOW_PRIVATE_URLS=true allows it)"
            )
