"""What every request of the HTTP intake needs: keys, the policy, the store, the Temporal client."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Awaitable, Callable

from sqlalchemy.exc import SQLAlchemyError

from intake.api_keys import KeyRing
from intake.body import MAX_BODY
from intake.problems import Problem
from intake.rate_limit import RateLimit
from sla.policy import Policy
from starter.client import TicketClient
from store.idempotency import Claim, IdempotencyRecords


@dataclass
class Intake:
    """Held in `app.state.intake`. `client` is None until connected (the lifespan connects it)."""

    keys: KeyRing
    policy: Policy
    records: IdempotencyRecords
    rate_limit: RateLimit
    connect: Callable[[], Awaitable[TicketClient]]
    max_body: int = MAX_BODY
    event_wait: float = 5.0
    hooks: dict[str, Any] = field(default_factory=dict)  # source name -> (HookSource, secrets, verifier)
    client: TicketClient | None = None

    def ticket_client(self) -> TicketClient:
        if self.client is None:
            raise Problem(503, "unavailable", "Temporal: not connected yet (see /v1/readyz)")
        return self.client

    async def store(self, call: Callable[..., Any], *args: Any) -> Any:
        """Run a (blocking) store call in a thread; Problem 503 when the store cannot be reached."""
        try:
            return await asyncio.to_thread(call, *args)
        except SQLAlchemyError as exc:
            raise Problem(503, "unavailable", f"ticket store: {str(exc).splitlines()[0][:200]}") from None

    async def claim(self, principal: str, key: str, request: str, body: bytes, now: datetime) -> Claim:
        return await self.store(self.records.claim, principal, key, request, body, now)
