"""One guarded HTTP POST, with the status code sorted into permanent or transient failure."""

from __future__ import annotations

import httpx

from activities.channels.delivery import PermanentDeliveryError, TransientDeliveryError
from activities.channels.url_guard import check_url


async def post(url: str, *, content: bytes, headers: dict[str, str], allow_private: bool, timeout: float = 10.0) -> httpx.Response:
    check_url(url, allow_private=allow_private)
    try:
        async with httpx.AsyncClient(follow_redirects=False, timeout=timeout) as client:
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
