"""Delivery rules: when to try a notification again, and what its outcome per role means.

Pure: the workflow's outbox (workflows/outbox.py) keeps time and runs the attempts. A
notification is retried until every role has it, it no longer matters, or it is given up
(docs/notifications.md, "Delivery guarantees").
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sla.messages import PendingDelivery, RoleOutcome

BACKOFF_SECONDS = (1, 2, 4, 8, 16, 30, 60, 60, 60, 120, 300)
"""Workflow-time waits between attempts: quick at first, every minute for the first ten or so,
then every 5 minutes until give-up (a day of outage is about 300 attempts, not 1,440)."""

REACHED = ("delivered", "delivered_by_fallback", "not_applicable")


def next_attempt(attempts: int, now: datetime, fallback_at: datetime, give_up_at: datetime) -> datetime:
    """The next attempt: a backoff after this one, but never later than the instant the fallback
    contacts become due or the notification is given up, so both happen on time."""
    wait = timedelta(seconds=BACKOFF_SECONDS[min(attempts, len(BACKOFF_SECONDS)) - 1])
    candidates = [now + wait, give_up_at] + ([fallback_at] if now < fallback_at else [])
    return min(candidates)


def merge(pending: PendingDelivery, outcomes: list[RoleOutcome]) -> None:
    """Fold an attempt's outcomes in: a role once reached stays reached (by fallback if that came
    first, even when its primary accepts later); accepted contacts are never sent to again."""
    for outcome in outcomes:
        before = pending.outcomes.get(outcome.role)
        status = outcome.status
        if before is not None and before.status in REACHED:
            if status not in REACHED or before.status == "delivered_by_fallback":
                status = before.status
        pending.outcomes[outcome.role] = outcome.model_copy(update={"status": status})
        pending.note.done = list(dict.fromkeys(pending.note.done + outcome.accepted))


def to_retry(pending: PendingDelivery) -> list[str]:
    """Roles with a contact to try again: nothing accepted yet, or a primary still failing for now."""
    return [role for role, outcome in pending.outcomes.items() if outcome.retry or outcome.status == "pending"]


def give_up(pending: PendingDelivery, roles: list[str], reason: str | None = None) -> list[str]:
    """Stop trying `roles`; returns those that were never reached (now `given_up`)."""
    never = []
    for role in roles:
        outcome = pending.outcomes[role]
        if outcome.status not in REACHED:
            never.append(role)
            detail = "; ".join(d for d in (reason, outcome.detail) if d) or None
            pending.outcomes[role] = outcome.model_copy(update={"status": "given_up", "retry": False, "detail": detail})
        else:
            pending.outcomes[role] = outcome.model_copy(update={"retry": False})
    return never


def describe(outcomes: dict[str, RoleOutcome]) -> dict[str, str]:
    """Per role, the outcome in words: `delivered`, `refused: HTTP 410: gone`, `given_up: ...`."""
    words = {}
    for role, outcome in outcomes.items():
        shows_detail = outcome.status in ("refused", "given_up") and outcome.detail
        words[role] = f"{outcome.status}: {outcome.detail}"[:300] if shows_detail else outcome.status
    return words


def all_reached(roles: list[str], outcomes: dict[str, str]) -> bool | None:
    """True when every role was reached, False when one was not for good, None while one is pending."""
    states = [outcomes.get(role) for role in roles]
    if any(s is None or s == "pending" for s in states):
        return None
    return all(s.split(":")[0] in REACHED for s in states)


def superseded_by(key: str, pending: list[PendingDelivery]) -> list[PendingDelivery]:
    """Deliveries that no longer matter once `key` is sent: a clock's warnings once its breach is."""
    if not key.endswith("/breach"):
        return []
    warnings = key.removesuffix("breach") + "warn"
    return [p for p in pending if p.note.idempotency_key.startswith(warnings)]
