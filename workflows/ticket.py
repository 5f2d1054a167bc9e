"""TicketWorkflow: a thin durable loop around the planner.

Wait until the first obligation is due or a message arrives; act on what is due (queue its
notification, apply the lifecycle rules); ask the planner again. The rules live in the pure
`sla` package. Around the loop, each in a module of its own: the doors messages come in by
(doors.py, inbox.py), notifications delivered beside the loop (outbox.py), the timeline batched
to the store (timeline.py), late obligations as one digest (overdue.py), the one timer
(alarm.py), what operators see in the UI (publish.py) and what they count (measure.py).
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RawValue
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from sla import intake, lifecycle, refusals
    from sla.messages import DeliveryRecord, Notification, Opening, PendingDelivery, SnapshotRequest, TicketContinued, TicketEvent
    from sla.planner import Obligation, ObligationKind, plan
    from sla.ticket import ClockName, FiredObligation, TicketState, TicketStatus
    from workflows import contract
from workflows.alarm import TicketAlarm
from workflows.doors import TicketDoors
from workflows.inbox import TicketInbox
from workflows.ledger import TicketLedger
from workflows.measure import TicketMeasures
from workflows.outbox import TicketOutbox
from workflows.overdue import TicketOverdue
from workflows.publish import TicketPublisher
from workflows.timeline import TicketTimeline

# A local activity: the snapshot is taken (and the opening written) inside the ticket's first
# workflow task, which then sets the first timer (activities/policy_snapshot.py says why).
SNAPSHOT_TIMEOUT = timedelta(seconds=10)
CONTINUE_AS_NEW_AT = 0.95  # of lifecycle.continue_as_new_after_events


@workflow.defn(name=contract.WORKFLOW_TYPE)
class TicketWorkflow(TicketDoors, TicketInbox, TicketOutbox, TicketTimeline, TicketLedger, TicketOverdue, TicketAlarm, TicketPublisher,
                     TicketMeasures):
    @workflow.init
    def __init__(self, raw: RawValue) -> None:
        # The input is checked here, not by the SDK's decoder: a bad start must fail the ticket at
        # once (run() raises), not retry its first task forever while holding the id (sla/intake.py).
        self._refused_start: str | None = None
        try:
            start = intake.decode_start(workflow.payload_converter().from_payload(raw.payload), workflow.info().workflow_id)
        except Exception as err:  # a ValueError, or the converter's own for a payload that is not JSON
            self._refused_start = refusals.reason(err)
            start = intake.placeholder(workflow.info().workflow_id, workflow.now())
        # Handlers may run before run() starts: everything they touch exists from here.
        self._events: list[TicketEvent] = []  # timeline events not yet in the store (timeline.py)
        self._announcements: list[Obligation] = []  # messages from updates (status updates, handoffs) waiting to be sent
        self._deliveries: list[PendingDelivery] = []  # notifications still being delivered (outbox.py)
        self._delivery_log: list[DeliveryRecord] = []  # delivery log lines the notifier could not write
        self._in_flight: set[str] = set()  # keys of deliveries with an attempt running
        self._superseded: set[str] = set()  # in-flight deliveries whose breach went out meanwhile
        self._flushing, self._flush_retry_at = False, None
        self._wakes = {}  # the running timers by instant (alarm.py)
        self._clock_hint = None  # (task time, a local activity's clock) in this task (alarm.py)
        if isinstance(start, TicketContinued):
            self._state, self._snapshot, self._runs = start.state, start.snapshot, start.runs
            self._events = list(start.pending_events)
            self._announcements = list(start.pending_announcements)
            self._deliveries = list(start.pending_deliveries)
            self._delivery_log = list(start.pending_delivery_log)
        else:
            self._state, self._snapshot, self._runs = TicketState.opened(start), None, 0
        self._changed = False
        self._published: dict[str, object] = {}
        self._source_event: str | None = None  # the event id of the message being applied, for its timeline lines
        self._source_via: str | None = None  # and the door it came in by (api:<key>, hook:<source>)
        if not isinstance(start, TicketContinued) and self._refused_start is None:
            t = start
            self._event("opened", at=t.opened_at, severity=t.severity.value, customer=t.customer, channel=t.channel,
                        plan=t.plan, category=t.category, follows=t.follows, **({"via": t.via} if t.via else {}))

    @workflow.run
    async def run(self, raw: RawValue) -> TicketState:
        if self._refused_start is not None:
            raise ApplicationError(f"the ticket was not opened: {self._refused_start}", type="InvalidTicket", non_retryable=True)
        if self._snapshot is None:
            opening = self._take_timeline()
            answer = await workflow.execute_local_activity(
                contract.ACTIVITY_SNAPSHOT_POLICY,
                SnapshotRequest(ticket_id=self._state.ticket.ticket_id, opened_at=self._state.ticket.opened_at, opening=opening),
                result_type=Opening, start_to_close_timeout=SNAPSHOT_TIMEOUT, summary="snapshot the SLA policy",
            )
            self._snapshot = answer.snapshot
            self._heard_clock(answer.answered_at)
            if opening and not answer.timeline_written:
                self._put_back(opening)  # the loop writes them
        if self._runs == 0 and not self._state.fired:  # a new ticket: what only the policy and the clock can tell
            try:
                intake.check_opened(self._snapshot.policy, self._state.ticket, workflow.now())
            except ValueError as err:
                raise ApplicationError(f"the ticket was not opened: {refusals.reason(err)}", type="InvalidTicket", non_retryable=True) from None
        # Messages that came before the policy (queued while no worker ran) apply before anything
        # is acted on: a response queued at 10:12 must prevent a breach due at 10:13.
        await workflow.wait_condition(workflow.all_handlers_finished)
        while self._state.status is not TicketStatus.CLOSED:
            self._changed = False  # set by any message from here on: the plan below may be stale then
            self._announce()
            now = workflow.now()
            lifecycle.sync_cadence(self._policy, self._state, now)
            upcoming = plan(self._policy, self._state, now)
            self._publish(upcoming, now)
            due = [ob for ob in upcoming if ob.due <= now]
            if due:
                self._act_on(due, now)
                continue  # acting may make more due (a repeat, the next beat): plan again
            self._account_support_hours()
            self._start_due_deliveries()
            self._start_flush()
            if self._history_is_long():
                await self._continue_as_new()
            await self._wait(upcoming[0] if upcoming else None)
        self._publish([], workflow.now())
        await workflow.wait_condition(workflow.all_handlers_finished)
        # A solve that closed the ticket at once (backdated past the reopen window) and time
        # logged after the last solve are charged now; nothing to charge: no event, as before.
        self._account_support_hours(closing=True)
        await self._drain_deliveries(closing=True)
        await self._flush_before_leaving(closing=True)
        if self._announcements:  # a support-hours threshold that last write crossed
            self._announce()
            await self._drain_deliveries(closing=True)
            await self._flush_before_leaving(closing=True)
        return self._state

    def _history_is_long(self) -> bool:
        # Checked on every pass, messages included: a steady stream of updates must not defer it.
        # Begun at 95% of the limit: messages keep arriving while deliveries in flight finish.
        info = workflow.info()
        limit = self._policy.lifecycle.continue_as_new_after_events * CONTINUE_AS_NEW_AT
        return info.get_current_history_length() >= limit or info.is_continue_as_new_suggested()

    async def _continue_as_new(self) -> None:
        await workflow.wait_condition(workflow.all_handlers_finished)
        await self._drain_deliveries(closing=False)
        await self._flush_before_leaving(closing=False)
        workflow.continue_as_new(TicketContinued(
            state=self._state.compacted(), snapshot=self._snapshot, runs=self._runs + 1, pending_events=self._events,
            pending_announcements=self._announcements, pending_deliveries=self._deliveries, pending_delivery_log=self._delivery_log,
        ))

    def _act(self, ob: Obligation) -> None:
        roles = self._apply(ob)
        self._record(ob, roles, self._notify(ob, roles, fired_ids=[ob.id]) if ob.kind is not ObligationKind.AUTO_CLOSE else True)

    def _apply(self, ob: Obligation) -> list[str]:
        """The state change an obligation makes when it falls due; returns the roles it notifies."""
        roles = lifecycle.apply_obligation(self._policy, self._state, ob)
        if ob.kind is ObligationKind.AUTO_SOLVE:
            self._open_post_incident(ob.due)
            self._resolve_pages()
        return roles

    def _record(self, ob: Obligation, roles: list[str], delivered: bool | None, digest: bool = False, superseded: bool = False) -> None:
        self._state.fired.append(FiredObligation(id=ob.id, kind=ob.kind.value, clock=ob.clock, due=ob.due, fired_at=workflow.now(),
                                                 delivered=delivered, roles=roles))
        extra = {"digest": True} if digest else {}
        if superseded:
            extra["superseded"] = True  # a warning whose breach went out in the same digest
        if ob.kind is ObligationKind.AUTO_SOLVE:
            extra.update(self._measured(ClockName.RESOLUTION, ob.due))
        self._event(ob.kind.value, at=ob.due, obligation=ob.id, clock=ob.clock.value if ob.clock else None,
                    summary=ob.summary, delivered=delivered, notified=",".join(roles) or None, **extra)
        workflow.logger.info("obligation acted on", extra={"obligation": ob.id, "due": ob.due.isoformat(), "digest": digest})
        self._measure_acted(ob.kind.value, ob.clock.value if ob.clock else None, ob.due, digest)

    def _notify(self, ob: Obligation, roles: list[str], kind: str | None = None, fired_ids: list[str] = ()) -> bool | None:
        """Queue a notification for the outbox; None (settled later, per role), or True when nobody is to hear."""
        if not roles:
            return True
        state = self._state
        self._enqueue(Notification(
            idempotency_key=self._delivery_key(ob.id), ticket_id=state.ticket.ticket_id, customer=state.ticket.customer,
            severity=state.severity, kind=kind or ob.kind.value, clock=ob.clock, due=ob.due, summary=ob.summary, roles=roles,
        ), list(fired_ids))
        return None

    def _delivery_key(self, obligation_id: str) -> str:
        """The obligation id; after a withdrawal, a fresh key per re-firing, or the notifier would
        take the message for one it already delivered."""
        again = sum(1 for f in self._state.fired if f.withdrawn and f.id == obligation_id)
        return f"{obligation_id}/again{again}" if again else obligation_id

    def _announce(self) -> None:
        """Send what updates asked to announce (posted status updates, handoffs, manual escalations),
        from the loop rather than the handler, so an update returns at once."""
        while self._announcements:
            ob = self._announcements.pop(0)
            delivered = self._notify(ob, ob.roles or [])
            kind = ("correction_sent" if ob.kind is ObligationKind.CORRECTION
                    else "status_update_sent" if ob.clock is ClockName.STATUS_UPDATE else "escalation_sent")
            self._event(kind, at=ob.due, obligation=ob.id, delivered=delivered, notified=",".join(ob.roles or []) or None)

    def _touch(self) -> TicketState:
        self._changed = True
        return self._state

    @property
    def _policy(self):
        # Messages can arrive before the snapshot does; rules that need the policy wait for it.
        return self._snapshot.policy
