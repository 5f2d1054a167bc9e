"""Who may do what: `Authorization: Bearer KEY`, the key's scope, then its rate limit.

Checked before the body is read, so a caller without a key learns nothing else and costs
nothing. The key itself is never logged or echoed; only its name is (and is recorded with each
event it sends, as `via: api:<name>`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from starlette.requests import Request

from intake.api_keys import ApiKey
from intake.context import Intake
from intake.problems import Problem
from intake.rate_limit import RateLimit

CHALLENGE = {"WWW-Authenticate": 'Bearer realm="escalator"'}


def require(scope: str) -> Callable[[Request], Awaitable[ApiKey]]:
    """A FastAPI dependency: the acting key, or Problem 401 / 403 / 429."""

    async def acting_key(request: Request) -> ApiKey:
        intake: Intake = request.app.state.intake
        header = request.headers.get("authorization")
        if header is None:
            raise Problem(401, "unauthorized", "Authorization: missing: send `Authorization: Bearer KEY` (escalator api-key create makes a key)", headers=CHALLENGE)
        scheme, _, presented = header.partition(" ")
        if scheme.lower() != "bearer" or not presented.strip():
            raise Problem(401, "unauthorized", "Authorization: must be `Bearer KEY`", headers=CHALLENGE)
        key = intake.keys.lookup(presented.strip())
        if key is None:
            raise Problem(401, "unauthorized", "Authorization: unknown key (revoked, mistyped, or from another keys file)", headers=CHALLENGE)
        if not key.allows(scope):
            raise Problem(403, "forbidden", f"key {key.name!r} lacks the {scope!r} scope (it has {', '.join(sorted(key.scopes))})")
        limited(intake.rate_limit, f"api:{key.name}", f"key {key.name!r}")
        return key

    return acting_key


def limited(rate_limit: RateLimit, principal: str, who: str) -> None:
    """Problem 429 with Retry-After when `principal` is over its rate."""
    wait = rate_limit.take(principal)
    if wait is not None:
        after = RateLimit.retry_after(wait)
        raise Problem(429, "rate-limited", f"{who} is over its limit of {rate_limit.rate:g} requests a second: retry after {after} s",
                      headers={"Retry-After": after})
