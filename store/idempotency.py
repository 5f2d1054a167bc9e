"""The answer given to each Idempotency-Key (and webhook delivery id), kept in the ticket store.

Kept in the database, never only in a process: a restart of the API or a second replica
answers a repeat from here instead of applying it again (docs/intake.md, "Idempotency").
The operations behind it are idempotent by themselves too (the ticket id is derived from the
key, the key is the event id), so a request whose first try died half-way is simply done again.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import and_, delete, select, text, update
from sqlalchemy.exc import IntegrityError

from store.schema import idempotency_keys
from store.ticket_store import TicketStore

KEEP = timedelta(hours=48)
"""How long an answer is kept: the 24 hours clients may retry within, and a day's margin."""


def fingerprint(body: bytes) -> str:
    """SHA-256 (hex) of the request body as sent: the same key with other bytes is another request."""
    return hashlib.sha256(body).hexdigest()


@dataclass(frozen=True)
class Claim:
    """What the store knows of a (principal, key) pair when a request claims it.

    `outcome` is `new` (go ahead), `repeat` (answer `status_code`/`response`), `unfinished` (the
    first request has not recorded an answer: it is running elsewhere or died; the operation is
    idempotent, so go ahead) or `conflict` (the key was used for `request` with another body).
    """

    outcome: str
    request: str | None = None
    status_code: int | None = None
    response: Any = None


class IdempotencyRecords(TicketStore):
    """The `idempotency_keys` table. Raises SQLAlchemyError when the store cannot be reached."""

    def claim(self, principal: str, key: str, request: str, body: bytes, now: datetime | None = None) -> Claim:
        digest = fingerprint(body)
        row = {"principal": principal, "idempotency_key": key, "request": request, "fingerprint": digest,
               "created_at": now or datetime.now(UTC)}
        try:
            with self._write() as conn:
                conn.execute(idempotency_keys.insert().values(**row))
            return Claim("new")
        except IntegrityError:
            pass
        with self.engine.connect() as conn:
            found = conn.execute(select(idempotency_keys).where(self._pair(principal, key))).mappings().first()
        if found is None:  # pruned between the two statements: as good as new
            return self.claim(principal, key, request, body, now)
        if found["request"] != request or found["fingerprint"] != digest:
            return Claim("conflict", request=found["request"])
        if found["status_code"] is None:
            return Claim("unfinished")
        return Claim("repeat", request=found["request"], status_code=found["status_code"], response=found["response"])

    def answer(self, principal: str, key: str, status_code: int, response: Any) -> None:
        """Record the answer a repeat of the request will get."""
        with self._write() as conn:
            conn.execute(update(idempotency_keys).where(self._pair(principal, key)).values(status_code=status_code, response=response))

    def release(self, principal: str, key: str) -> None:
        """Forget a claim whose request did not reach a ticket (Temporal unavailable, unknown ticket):
        the client may send it again with the same key and another body."""
        with self._write() as conn:
            conn.execute(delete(idempotency_keys).where(and_(self._pair(principal, key), idempotency_keys.c.status_code.is_(None))))

    def prune(self, now: datetime | None = None, keep: timedelta = KEEP) -> int:
        """Delete answers older than `keep`; returns how many."""
        with self._write() as conn:
            return conn.execute(delete(idempotency_keys).where(idempotency_keys.c.created_at < (now or datetime.now(UTC)) - keep)).rowcount

    def ping(self) -> None:
        with self.engine.connect() as conn:
            conn.execute(text("SELECT 1 FROM idempotency_keys WHERE 1 = 0"))

    @staticmethod
    def _pair(principal: str, key: str):
        return and_(idempotency_keys.c.principal == principal, idempotency_keys.c.idempotency_key == key)
