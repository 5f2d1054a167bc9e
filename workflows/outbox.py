"""How a ticket delivers its notifications: retried until delivered, in the background.

A notification is one `notify` activity attempt after another, each started by the ticket's
loop when its retry instant comes, never awaited by the loop itself: a channel that is down
delays nothing else. The workflow, not the activity, keeps time (sla/delivery.py): fallback
contacts after `notifications.fallback_after`, giving up after `give_up_after` (then the
`delivery_failed` roles are told). Pending deliveries are carried across continue-as-new and
are finished, or given up, before a closed ticket's workflow ends.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from sla import delivery
    from sla.messages import Delivery, EventBatch, Notification, PendingDelivery, RoleOutcome
    from workflows import contract

# Retries of one attempt for the worker's sake (killed, timed out), not the receiver's: the
# receiver's are the workflow's own, on its clock.
ATTEMPT_RETRY = RetryPolicy(initial_interval=timedelta(milliseconds=500), maximum_interval=timedelta(seconds=5), maximum_attempts=5)
# A worker killed mid-send stops heartbeating; another worker retries the attempt within this.
HEARTBEAT_TIMEOUT = timedelta(seconds=3)


class TicketOutbox:
    """Mixed into TicketWorkflow: `_enqueue` a notification, the loop calls `_start_due_deliveries`."""

    def _enqueue(self, note: Notification, fired_ids: list[str], alert: bool = True) -> None:
        now = workflow.now()
        for pending in delivery.superseded_by(note.idempotency_key, self._deliveries):
            if pending.note.idempotency_key in self._in_flight:
                self._superseded.add(pending.note.idempotency_key)  # settled when its attempt ends
            else:
                self._finish(pending, "superseded")
        self._deliveries.append(PendingDelivery(note=note, fired_ids=fired_ids, first_at=now, next_at=now, alert=alert))

    def _page_follow_up(self, key: str, summary: str, roles: list[str], action: str) -> None:
        """Acknowledge or resolve the PagerDuty incidents the ticket's pages opened (PagerDuty contacts only)."""
        state = self._state
        self._enqueue(Notification(
            idempotency_key=key, ticket_id=state.ticket.ticket_id, customer=state.ticket.customer, severity=state.severity,
            kind=f"page_{action}", due=workflow.now(), summary=summary, roles=roles, page_action=action,
        ), [], alert=False)

    def _start_due_deliveries(self) -> None:
        """Start the attempts that are due; the first carries the queued timeline events to the
        store (workflows/timeline.py), so a notification's own events cost no write of their own."""
        now = workflow.now()
        for pending in list(self._deliveries):
            key = pending.note.idempotency_key
            if key not in self._in_flight and pending.next_at <= now:
                self._in_flight.add(key)
                if pending.attempts:
                    self._measure_retry(pending.note.kind)
                asyncio.create_task(self._attempt(pending, self._take_timeline()))

    def _next_delivery_at(self) -> datetime | None:
        waiting = [p.next_at for p in self._deliveries if p.note.idempotency_key not in self._in_flight]
        return min(waiting, default=None)

    async def _attempt(self, pending: PendingDelivery, timeline: EventBatch | None) -> None:
        key = pending.note.idempotency_key
        written = False
        try:
            result = await workflow.execute_activity(
                contract.ACTIVITY_NOTIFY, pending.note.model_copy(update={"timeline": timeline}), result_type=Delivery,
                start_to_close_timeout=timedelta(seconds=60), heartbeat_timeout=HEARTBEAT_TIMEOUT, retry_policy=ATTEMPT_RETRY,
                summary=f"notify ({pending.attempts + 1}): {pending.note.summary}"[:200],
            )
            outcomes, self._delivery_log, written = result.outcomes, self._delivery_log + result.unlogged, result.timeline_written
            self._announce_hours(result.hours_crossed)
        except ActivityError as err:
            detail = str(err.cause or err)
            outcomes = [RoleOutcome(role=r, status="pending", retry=True, detail=detail) for r in pending.note.roles]
        finally:
            self._in_flight.discard(key)
        if timeline and not written:
            self._put_back(timeline)
        self._absorb(pending, outcomes)
        self._changed = True

    def _absorb(self, pending: PendingDelivery, outcomes: list[RoleOutcome]) -> None:
        """Take an attempt's outcomes in; finish, give up, or set the next attempt."""
        rules = self._policy.notifications
        now = workflow.now()
        pending.attempts += 1
        delivery.merge(pending, outcomes)
        again = delivery.to_retry(pending)
        if pending.note.idempotency_key in self._superseded:  # its breach went out while this attempt ran
            self._superseded.discard(pending.note.idempotency_key)
            self._finish(pending, "superseded")
            return
        if not again:
            self._finish(pending)
            refused = [role for role, o in pending.outcomes.items() if o.status == "refused"]
            if refused and pending.alert and rules.delivery_failed:
                self._alert_delivery_failed(pending, refused, "refused by every contact")
            return
        give_up_at = pending.first_at + timedelta(seconds=rules.give_up_after.seconds(0))
        if now >= give_up_at:
            given_up = delivery.give_up(pending, again)
            self._finish(pending)
            if given_up and pending.alert and rules.delivery_failed:
                self._alert_delivery_failed(pending, given_up, f"not delivered within {rules.give_up_after}")
            return
        fallback_at = pending.first_at + timedelta(seconds=rules.fallback_after.seconds(0))
        pending.next_at = delivery.next_attempt(pending.attempts, now, fallback_at, give_up_at)
        # The attempt at (or after) the end of the fallback window is the one that uses the fallbacks.
        pending.note = pending.note.model_copy(update={"roles": again, "use_fallback": again if pending.next_at >= fallback_at else []})
        self._settle_fired(pending)  # what is known already: a role reached, or refused, shows at once

    def _alert_delivery_failed(self, pending: PendingDelivery, roles: list[str], why: str) -> None:
        note = pending.note
        rules = self._policy.notifications
        self._enqueue(note.model_copy(update={
            "idempotency_key": f"{note.idempotency_key}/delivery_failed", "kind": "delivery_failed", "roles": list(rules.delivery_failed),
            "done": [], "use_fallback": [],
            "summary": f"{why}, to {', '.join(roles)}: {note.summary}",
        }), [], alert=False)

    def _finish(self, pending: PendingDelivery, override: str | None = None) -> None:
        """Settle a delivery: the fired obligations it served learn the truth per role, the timeline too."""
        self._deliveries.remove(pending)
        if override:
            for role in pending.note.roles:
                pending.outcomes[role] = RoleOutcome(role=role, status=override, detail=pending.outcomes.get(role, RoleOutcome(role=role, status="pending")).detail)
        words = self._settle_fired(pending)
        self._event("delivery", obligation=pending.note.idempotency_key, attempts=pending.attempts,
                    outcome="; ".join(f"{role} {text}" for role, text in words.items()) or None)

    def _settle_fired(self, pending: PendingDelivery) -> dict[str, str]:
        """Write what is known of each role into the fired obligations this delivery serves."""
        words = delivery.describe(pending.outcomes)
        for fired in self._state.fired:
            if fired.id in pending.fired_ids and not fired.withdrawn:
                fired.outcomes.update({role: words[role] for role in words if fired.roles is None or role in fired.roles})
                fired.delivered = delivery.all_reached(fired.roles or list(words), fired.outcomes)
        return words

    async def _drain_deliveries(self, closing: bool) -> None:
        """Before continue-as-new: let attempts in flight end (the rest travel on). Before the
        workflow ends: one last attempt at each, then what is still undelivered is given up."""
        if closing:
            for pending in self._deliveries:
                pending.next_at = workflow.now()
            self._start_due_deliveries()
        await workflow.wait_condition(lambda: not self._in_flight)
        if closing:
            for pending in list(self._deliveries):
                delivery.give_up(pending, delivery.to_retry(pending), reason="the ticket closed")
                self._finish(pending)
