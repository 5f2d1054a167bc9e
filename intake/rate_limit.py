"""A per-key rate limit (token bucket): `rate` requests a second on average, bursts of `2 * rate`.

Kept in the process: with several replicas behind a balancer each allows `rate`, which is what
a limit against a runaway client needs (it guards the workers, not a billing quota). Past the
limit a request gets 429 with `Retry-After`, before its body is read.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable


class RateLimit:
    def __init__(self, rate: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.rate, self.burst, self.clock = rate, max(1.0, 2 * rate), clock
        self._buckets: dict[str, tuple[float, float]] = {}  # principal -> (tokens, at)

    def take(self, principal: str) -> float | None:
        """None when the request may go ahead; else the seconds until it may (for Retry-After)."""
        if self.rate <= 0:
            return None
        now = self.clock()
        tokens, at = self._buckets.get(principal, (self.burst, now))
        tokens = min(self.burst, tokens + (now - at) * self.rate)
        if tokens >= 1:
            self._buckets[principal] = (tokens - 1, now)
            return None
        self._buckets[principal] = (tokens, now)
        return (1 - tokens) / self.rate

    @staticmethod
    def retry_after(seconds: float) -> str:
        return str(max(1, math.ceil(seconds)))
