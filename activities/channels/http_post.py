"""One guarded HTTP POST, with the status code sorted into permanent or transient failure."""

from __future__ import annotations

import functools
import ssl

import httpx

from activities.channels.delivery import PermanentDeliveryError, TransientDeliveryError
from activities.channels.url_guard import check_url


@functools.cache
def tls_context() -> ssl.SSLContext:
    """The TLS settings every outgoing POST uses (the system CA bundle, loaded once)."""
    # Loading the CA bundle costs ~20 ms of CPU: measured as a fifth of a busy worker's time
    # when every delivery built its own (bench/notify_latency.py). One context serves them all.
    return httpx.create_ssl_context()


async def post(url: str, *, content: bytes, headers: dict[str, str], allow_private: bool, timeout: float = 10.0) -> httpx.Response:
    check_url(url, allow_private=allow_private)
    try:
        async with httpx.AsyncClient(follow_redirects=False, timeout=timeout, verify=tls_context()) as client:
            response = await client.post(url, content=content, headers=headers)
    except httpx.HTTPError as exc:
        raise TransientDeliveryError(f"{type(exc).__name__}: {exc}") from None
    if response.is_redirect:
        raise PermanentDeliveryError(f"HTTP {response.status_code}: redirects are not followed")
    if response.status_code == 429 or response.status_code >= 500:
        raise TransientDeliveryError(f"HTTP {response.status_code}")
    if response.status_code >= 400:
        raise PermanentDeliveryError(f"HTTP {response.status_code}: {response.text[:200]}")
    return response
