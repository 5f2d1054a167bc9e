"""TicketWorkflow: a thin durable loop around the planner.

Wait until the first obligation is due or a message arrives; act on what is due (notify
through an activity, apply lifecycle rules); ask the planner again. The rules themselves live
in the pure `sla` package; this module only makes them durable.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

from temporalio import workflow
from temporalio.common import RawValue, RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from sla import event_time, intake, lifecycle, refusals
    from sla.digest import LATE_AFTER_SECONDS, digests, superseded
    from sla.messages import (
        Acknowledge, AcknowledgePage, AddAction, CompleteObligation, Csat, CustomerMessage, Delivery, DeliveryRecord, DesignateCommander,
        EscalateToManagement, EventBatch, HandOff, JumpToStep, Notification, PostStatusUpdate, QueuedMessage, RecordRca,
        PendingDelivery, RecordReview, Reopen, Resolve, Respond, SeverityPlanChange, SnapshotRequest, StatusChange, TicketContinued, TicketEvent,
        TicketMessage, TicketView,
    )
    from sla.planner import Obligation, ObligationKind, effective_target, plan
    from sla.policy import PolicySnapshot
    from sla.ticket import ClockName, FiredObligation, TicketState, TicketStatus
    from workflows import contract
from workflows.inbox import LIFECYCLE_PATCH, MESSAGES, OUTBOX_PATCH, TicketInbox
from workflows.outbox import TicketOutbox
from workflows.publish import TicketPublisher

NOTIFY_RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_interval=timedelta(minutes=1), maximum_attempts=10)

# Tickets started before this patch wrote no timeline to the ticket store.
STORE_PATCH = "ticket-store-v1"
# Tickets started before this patch had no escalation matrix and no stakeholder cadence.
ESCALATION_PATCH = "escalation-v1"
# Before this patch, obligations found late were notified one by one; now one digest per role.
DIGEST_PATCH = "overdue-digest-v1"
# Before this patch, the stakeholder cadence reminded and escalated once per cycle, then went quiet.
BEAT_PATCH = "status-beat-v1"
# OUTBOX_PATCH (workflows/inbox.py): before it, the loop awaited each notification (10 activity
# attempts, then lost) and each timeline write; now both run beside the loop (workflows/outbox.py).
STORE_RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_interval=timedelta(seconds=30), maximum_attempts=5)
FLUSH_RETRY = timedelta(minutes=1)  # a timeline write that failed is tried again this much later
# With the outbox, the loop retries a failed write on its own clock (FLUSH_RETRY): one quick retry here.
BACKGROUND_STORE_RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_attempts=2)


@workflow.defn(name=contract.WORKFLOW_TYPE)
class TicketWorkflow(TicketInbox, TicketOutbox, TicketPublisher):
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
        self._events: list[TicketEvent] = []
        self._announcements: list[Obligation] = []  # messages from updates (status updates, handoffs) waiting to be sent
        self._deliveries: list[PendingDelivery] = []  # notifications still being delivered (workflows/outbox.py)
        self._delivery_log: list[DeliveryRecord] = []  # delivery log lines the notifier could not write
        self._in_flight: set[str] = set()  # keys of deliveries with an attempt running
        self._superseded: set[str] = set()  # in-flight deliveries whose breach went out meanwhile
        self._flushing = False
        self._flush_retry_at: datetime | None = None
        self._wakes: dict[datetime, asyncio.Task] | None = None  # with the outbox: wake-up timers by instant, never cancelled
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
        self._beat = True  # the stakeholder beat (BEAT_PATCH), decided in run()
        if not isinstance(start, TicketContinued) and self._refused_start is None:
            t = start
            self._event("opened", at=t.opened_at, severity=t.severity.value, customer=t.customer, channel=t.channel,
                        plan=t.plan, category=t.category, follows=t.follows)

    def _event(self, kind: str, at: datetime | None = None, **detail) -> None:
        """Queue a timeline event for the store, dated when it happened (`at`) and recorded now;
        its id (ticket id + sequence) makes the write idempotent."""
        self._state.event_seq += 1
        seq = self._state.event_seq
        if self._source_event:
            detail["event"] = self._source_event
        now = workflow.now()
        self._events.append(TicketEvent(event_id=f"{self._state.ticket.ticket_id}/{seq}", seq=seq, at=at or now, recorded_at=now,
                                        kind=kind, detail=detail))

    async def _flush_events(self, retry: RetryPolicy = STORE_RETRY) -> bool:
        """Write the queued timeline events (and delivery log lines written late); True when it
        awaited an activity to do so and it succeeded."""
        if not self._events and not self._delivery_log:
            return False
        if not workflow.patched(STORE_PATCH):
            self._events.clear()
            return False
        batch, self._events = self._events, []
        log = self._take_delivery_log()
        state = self._state
        try:
            await workflow.execute_activity(
                contract.ACTIVITY_RECORD_EVENTS,
                EventBatch(ticket=state.ticket, status=state.status, severity=state.severity, plan=state.plan, events=batch, deliveries=log),
                start_to_close_timeout=timedelta(seconds=30),
                retry_policy=retry,
                summary=f"record {len(batch)} timeline event(s)",
            )
        except ActivityError as err:
            # The store is down: keep the events and try again at the next flush, but keep the clocks going.
            self._events, self._delivery_log = batch + self._events, log + self._delivery_log
            workflow.logger.error("timeline not recorded yet", extra={"events": len(batch), "error": str(err.cause)})
            return False  # not again before the next wake-up
        return True

    def _start_flush(self) -> None:
        """Write the timeline beside the loop: a slow or absent store delays no deadline."""
        due = self._flush_retry_at is None or workflow.now() >= self._flush_retry_at
        if self._flushing or not due or not (self._events or self._delivery_log):
            return
        self._flushing = True

        async def flush() -> None:
            try:
                written = await self._flush_events(BACKGROUND_STORE_RETRY)
                self._flush_retry_at = None if written else workflow.now() + FLUSH_RETRY
            finally:
                self._flushing = False
                self._changed = True

        asyncio.create_task(flush())

    @workflow.run
    async def run(self, raw: RawValue) -> TicketState:
        if self._refused_start is not None:
            raise ApplicationError(f"the ticket was not opened: {self._refused_start}", type="InvalidTicket", non_retryable=True)
        outbox = workflow.patched(OUTBOX_PATCH)
        if self._snapshot is None:
            self._snapshot = await workflow.execute_activity(
                contract.ACTIVITY_SNAPSHOT_POLICY,
                SnapshotRequest(ticket_id=self._state.ticket.ticket_id, opened_at=self._state.ticket.opened_at),
                result_type=PolicySnapshot,
                start_to_close_timeout=timedelta(seconds=30),
                summary="snapshot the SLA policy",
            )
        if outbox:
            if self._runs == 0 and not self._state.fired:  # a new ticket: what only the policy and the clock can tell
                try:
                    intake.check_opened(self._snapshot.policy, self._state.ticket, workflow.now())
                except ValueError as err:
                    raise ApplicationError(f"the ticket was not opened: {refusals.reason(err)}", type="InvalidTicket", non_retryable=True) from None
            self._wakes = {}
            # Messages that came before the policy (queued while no worker ran) apply before
            # anything is acted on: a response queued at 10:12 must prevent a breach due at 10:13.
            await workflow.wait_condition(workflow.all_handlers_finished)
        while self._state.status is not TicketStatus.CLOSED:
            if self._state.status is TicketStatus.SOLVED and not workflow.patched(LIFECYCLE_PATCH):
                break
            self._changed = False  # set by any message from here on: the plan below may be stale then
            if self._announcements:
                await self._announce()
                continue
            now = workflow.now()
            escalation = workflow.patched(ESCALATION_PATCH)
            if escalation:
                lifecycle.sync_cadence(self._snapshot.policy, self._state, now)
            self._beat = workflow.patched(BEAT_PATCH)
            upcoming = plan(self._snapshot.policy, self._state, now, escalation=escalation, beat=self._beat)
            self._publish(upcoming, now)
            due = [ob for ob in upcoming if ob.due <= now]
            if due:
                late = [ob for ob in due if (now - ob.due).total_seconds() > LATE_AFTER_SECONDS]
                # With the outbox, one late obligation goes through the digest too: acting on it can
                # make the next ones due (a repeat, the next beat), and they belong in the same digest.
                if (len(late) > 1 or (late and outbox)) and workflow.patched(DIGEST_PATCH):
                    await self._act_in_digest(late)
                    due = [ob for ob in due if ob not in late]
                for ob in due:
                    await self._act(ob)
                continue
            if outbox:
                self._start_due_deliveries()
                self._start_flush()
            elif await self._flush_events():
                continue  # time has passed and messages may have arrived: plan again before waiting
            if self._history_is_long():
                await workflow.wait_condition(workflow.all_handlers_finished)
                if outbox:
                    await self._drain_deliveries(closing=False)
                    await workflow.wait_condition(lambda: not self._flushing)
                await self._flush_events()
                workflow.continue_as_new(TicketContinued(
                    state=self._state.compacted(), snapshot=self._snapshot, runs=self._runs + 1, pending_events=self._events,
                    pending_announcements=self._announcements, pending_deliveries=self._deliveries, pending_delivery_log=self._delivery_log,
                ))
            await self._wait(upcoming[0] if upcoming else None)
        self._publish([], workflow.now())
        await workflow.wait_condition(workflow.all_handlers_finished)
        if outbox:
            await self._drain_deliveries(closing=True)
            await workflow.wait_condition(lambda: not self._flushing)
        await self._flush_events()
        return self._state

    def _history_is_long(self) -> bool:
        info = workflow.info()
        limit = self._snapshot.policy.lifecycle.continue_as_new_after_events
        return info.get_current_history_length() >= limit or info.is_continue_as_new_suggested()

    async def _wait(self, nxt: Obligation | None) -> None:
        # The timer runs from this task's time: a `now` from before an await would make it late.
        wake, summary = (nxt.due, nxt.summary) if nxt else (None, None)
        flush_retry = None if self._flushing else self._flush_retry_at
        for at, why in ((self._next_delivery_at(), "retry a notification"), (flush_retry, "retry the timeline write")):
            if at is not None and (wake is None or at < wake):
                wake, summary = at, why
        if wake is not None and wake <= workflow.now():
            return  # already due: the loop acts on it now, with no zero-length timer
        if self._wakes is not None:
            await self._wait_without_cancelling(wake, summary)
            return
        try:
            await workflow.wait_condition(
                lambda: self._changed,
                timeout=(wake - workflow.now()) if wake else None,
                timeout_summary=summary,
            )
        except asyncio.TimeoutError:
            pass

    async def _wait_without_cancelling(self, wake: datetime | None, summary: str | None) -> None:
        """Wait for a message, a finished delivery or `wake`, leaving timers to run out.

        With deliveries finishing beside the loop, a timer cancelled because something else woke
        the loop often races its own firing; the time-skipping test server then fails the task
        ("invalid history builder state"). A timer that is never cancelled cannot race: at most
        one runs per wake-up instant, and one that fires late just wakes the loop once more.
        """
        if wake is not None and wake not in self._wakes:
            def woke(_task, at=wake) -> None:
                self._wakes.pop(at, None)
                self._changed = True

            timer = asyncio.create_task(workflow.sleep(wake - workflow.now(), summary=summary))
            timer.add_done_callback(woke)
            self._wakes[wake] = timer
        await workflow.wait_condition(lambda: self._changed)

    async def _act(self, ob: Obligation) -> None:
        roles = self._apply(ob)
        delivered = await self._notify(ob, roles, fired_ids=[ob.id]) if ob.kind is not ObligationKind.AUTO_CLOSE else True
        self._record(ob, roles, delivered)

    async def _act_in_digest(self, late: list[Obligation]) -> None:
        """Act on obligations found late together: each role gets one message listing its share."""
        roles_of = {ob.id: self._apply(ob) for ob in late}
        now = workflow.now()
        while True:
            # Acting on one may make others due at once (a step anchored on another, the next missed
            # beat): same digest. The planner sees the ones taken as acted on.
            taken = [FiredObligation(id=oid, kind="taken", due=now, fired_at=now) for oid in roles_of]
            probe = self._state.model_copy(update={"fired": self._state.fired + taken})
            more = [ob for ob in plan(self._policy, probe, now, beat=self._beat)
                    if (now - ob.due).total_seconds() > LATE_AFTER_SECONDS and ob.id not in roles_of]
            if not more:
                break
            late = late + more
            roles_of |= {ob.id: self._apply(ob) for ob in more}
        quiet = superseded(late)
        sent = {ob.id: [] if ob.id in quiet else roles_of[ob.id] for ob in late}
        delivered: bool | None = True
        for digest in digests(self._state.ticket.ticket_id, late, sent):
            first = digest.obligations[0]
            many = len(digest.obligations) > 1
            note = first.model_copy(update={"id": digest.key, "summary": digest.summary, "roles": digest.roles})
            outcome = await self._notify(note, digest.roles, kind="digest" if many else None, fired_ids=[o.id for o in digest.obligations])
            delivered = None if outcome is None else (delivered and outcome)
        for ob in late:
            # With the outbox, each obligation's delivery is settled when its digests are.
            self._record(ob, sent[ob.id], delivered if (delivered is not None or sent[ob.id]) else True, digest=True, superseded=ob.id in quiet)

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
        self._event(ob.kind.value, at=ob.due, obligation=ob.id, clock=ob.clock.value if ob.clock else None,
                    summary=ob.summary, delivered=delivered, notified=",".join(roles) or None, **extra)
        workflow.logger.info("obligation acted on", extra={"obligation": ob.id, "due": ob.due.isoformat(), "digest": digest})

    async def _notify(self, ob: Obligation, roles: list[str], kind: str | None = None, fired_ids: list[str] = ()) -> bool | None:
        """Send a notification: with the outbox, queue it and return None (settled later, per role);
        before it, await the activity and return whether it went out."""
        state = self._state
        note = Notification(
            idempotency_key=self._delivery_key(ob.id), ticket_id=state.ticket.ticket_id, customer=state.ticket.customer,
            severity=state.severity, kind=kind or ob.kind.value, clock=ob.clock, due=ob.due, summary=ob.summary, roles=roles,
        )
        if workflow.patched(OUTBOX_PATCH):
            if not roles:
                return True
            self._enqueue(note, list(fired_ids))
            return None
        try:
            await workflow.execute_activity(
                contract.ACTIVITY_NOTIFY,
                note,
                result_type=Delivery,
                start_to_close_timeout=timedelta(seconds=30),
                retry_policy=NOTIFY_RETRY,
                summary=f"notify: {ob.summary}",
            )
            return True
        except ActivityError as err:
            # A notifier down for good must not stop the ticket's other clocks.
            workflow.logger.error("notification failed for good", extra={"obligation": ob.id, "error": str(err.cause)})
            return False

    def _delivery_key(self, obligation_id: str) -> str:
        """The obligation id; after a withdrawal, a fresh key per re-firing, or the notifier would
        take the message for one it already delivered."""
        again = sum(1 for f in self._state.fired if f.withdrawn and f.id == obligation_id)
        return f"{obligation_id}/again{again}" if again else obligation_id

    async def _announce(self) -> None:
        """Send what updates asked to announce (posted status updates, handoffs, manual escalations),
        from the loop rather than the handler, so an update returns at once."""
        while self._announcements:
            ob = self._announcements[0]
            delivered = await self._notify(ob, ob.roles or [])
            self._announcements.pop(0)
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

    # --- messages: each update is a thin door into _receive (rules in workflows/inbox.py) ---------

    def _validate(self, name: str, request: TicketMessage) -> None:
        """Refuse before anything is written: event-time bounds, then the message's own rules."""
        if self._refused_start is not None:
            raise ValueError(f"the ticket was not opened: {self._refused_start}")
        if not isinstance(request, MESSAGES[name].model):  # e.g. sent as binary/plain: the SDK hands over bytes
            raise ValueError(f"the payload must be JSON (json/plain) of the {MESSAGES[name].model.__name__} shape in docs/api.md")
        if MESSAGES[name].checks_policy:
            self._require_snapshot()
        if event_time.is_duplicate(self._state, request):
            return  # applied already: the handler answers with the state as it is
        now = workflow.now()
        event_time.check_event_time(self._state, request, now)
        getattr(self, f"_check_{name}")(request, now)

    async def _receive(self, name: str, request: TicketMessage) -> TicketState:
        """Apply a message at the instant it happened, once per event id; withdraw what it overtook."""
        rule = MESSAGES[name]
        if rule.needs_policy and self._snapshot is None:
            await self._snapshot_ready()
            if event_time.is_duplicate(self._state, request):
                return self._state
            try:  # other messages may have applied meanwhile: the order rule and the message's own, again
                self._validate(name, request)
            except ValueError as err:
                raise ApplicationError(refusals.reason(err), type="MessageRefused", non_retryable=True) from None
        if event_time.is_duplicate(self._state, request):
            return self._state
        now = workflow.now()
        at = event_time.applied_at(request, now, self._state.ticket.opened_at)
        self._source_event = request.event_id
        try:
            getattr(self, f"_apply_{name}")(request, at)
        finally:
            self._source_event = None
        what = rule.says(request)
        event_time.record_message(self._state, request, at, what)
        if at < now and self._snapshot is not None:
            self._withdraw_overtaken(at, now, what)
        workflow.logger.info("message applied", extra={"update": name, "occurred_at": at.isoformat(), "event_id": request.event_id})
        return self._touch()

    def _withdraw_overtaken(self, at: datetime, now: datetime, what: str) -> None:
        zone = self._policy.calendar(None).zone
        for fired in event_time.withdraw_overtaken(self._policy, self._state, at, now, what,
                                                   escalation=workflow.patched(ESCALATION_PATCH), beat=self._beat):
            summary = event_time.correction(fired.kind, what, at, now, zone)
            fired.withdrawn_reason = summary
            self._event("withdrawn", at=at, obligation=fired.id, clock=fired.clock.value if fired.clock else None, summary=summary)
            if fired.roles:
                self._announcements.append(Obligation(
                    id=f"{fired.id}/withdrawn", kind=ObligationKind.CORRECTION, clock=fired.clock, due=now, summary=summary, roles=fired.roles,
                ))

    async def _receive_signalled(self, name: str, raw: object) -> None:
        """A message that came as a signal (queued, or the customer-message signal): validated here,
        since signals have no validators; a refused one is recorded in the timeline with the reason."""
        await self._snapshot_ready()
        try:
            rule = MESSAGES.get(name)
            if rule is None:
                raise ValueError(f"update: no update named {name!r}")
            request = rule.model.model_validate(raw)
            self._validate(name, request)
        except ValueError as err:
            reason = refusals.reason(err)
            self._event("refused", update=name, event=raw.get("event_id") if isinstance(raw, dict) else None, reason=reason)
            workflow.logger.warning("message refused", extra={"update": name, "reason": reason})
            self._touch()
            return
        await self._receive(name, request)

    # Signals take their payload raw: one that does not decode is refused in the timeline, like any
    # other refusal, instead of being dropped by the SDK's decoder with nothing recorded.

    @workflow.signal(name=contract.SIGNAL_QUEUED_MESSAGE)
    async def queued_message(self, raw: RawValue) -> None:
        """An update recorded while no worker answered (a `QueuedMessage`): applied at its occurred_at when a worker runs."""
        value = _decoded(raw)
        try:
            message = QueuedMessage.model_validate(value)
        except ValueError as err:
            await self._snapshot_ready()
            self._event("refused", update=contract.SIGNAL_QUEUED_MESSAGE, event=None, reason=refusals.reason(err))
            self._touch()
            return
        await self._receive_signalled(message.update, message.request)

    @workflow.signal(name=contract.SIGNAL_CUSTOMER_MESSAGE)
    async def customer_message_received(self, raw: RawValue) -> None:
        """Fire-and-forget twin of the customer_message update (e.g. from a mail gateway): a `CustomerMessage`."""
        await self._receive_signalled(contract.UPDATE_CUSTOMER_MESSAGE, _decoded(raw))

    @workflow.update(name=contract.UPDATE_ACKNOWLEDGE)
    async def acknowledge(self, request: Acknowledge) -> TicketState:
        """An agent takes the ticket (Open -> Pending); it meets no clock."""
        return await self._receive(contract.UPDATE_ACKNOWLEDGE, request)

    @acknowledge.validator
    def _validate_acknowledge(self, request: Acknowledge) -> None:
        self._validate(contract.UPDATE_ACKNOWLEDGE, request)

    @workflow.update(name=contract.UPDATE_RESPOND)
    async def respond(self, request: Respond) -> TicketState:
        """Support wrote to the customer: the response clocks are met."""
        return await self._receive(contract.UPDATE_RESPOND, request)

    @respond.validator
    def _validate_respond(self, request: Respond) -> None:
        self._validate(contract.UPDATE_RESPOND, request)

    @workflow.update(name=contract.UPDATE_SET_STATUS)
    async def set_status(self, request: StatusChange) -> TicketState:
        """Pending or waiting: clocks pause and resume as the policy says."""
        return await self._receive(contract.UPDATE_SET_STATUS, request)

    @set_status.validator
    def _validate_set_status(self, request: StatusChange) -> None:
        self._validate(contract.UPDATE_SET_STATUS, request)

    @workflow.update(name=contract.UPDATE_CUSTOMER_MESSAGE)
    async def customer_message(self, request: CustomerMessage) -> TicketState:
        """The customer wrote: resumes a wait, reopens a Solved ticket, starts the next-response clock."""
        return await self._receive(contract.UPDATE_CUSTOMER_MESSAGE, request)

    @customer_message.validator
    def _validate_customer_message(self, request: CustomerMessage) -> None:
        self._validate(contract.UPDATE_CUSTOMER_MESSAGE, request)

    @workflow.update(name=contract.UPDATE_RESOLVE)
    async def resolve(self, request: Resolve) -> TicketState:
        """The fix is in: Solved; resolution is met and every other running clock stops."""
        return await self._receive(contract.UPDATE_RESOLVE, request)

    @resolve.validator
    def _validate_resolve(self, request: Resolve) -> None:
        self._validate(contract.UPDATE_RESOLVE, request)

    @workflow.update(name=contract.UPDATE_REOPEN)
    async def reopen(self, request: Reopen) -> TicketState:
        """A Solved ticket back to Pending; the resolution clock resumes."""
        return await self._receive(contract.UPDATE_REOPEN, request)

    @reopen.validator
    def _validate_reopen(self, request: Reopen) -> None:
        self._validate(contract.UPDATE_REOPEN, request)

    @workflow.update(name=contract.UPDATE_RECORD_CSAT)
    async def record_csat(self, request: Csat) -> TicketState:
        """Customer satisfaction, once Solved."""
        return await self._receive(contract.UPDATE_RECORD_CSAT, request)

    @record_csat.validator
    def _validate_record_csat(self, request: Csat) -> None:
        self._validate(contract.UPDATE_RECORD_CSAT, request)

    @workflow.update(name=contract.UPDATE_CHANGE_SEVERITY)
    async def change_severity(self, request: SeverityPlanChange) -> TicketState:
        """Re-plan every clock from the original open time under the new severity and/or plan."""
        return await self._receive(contract.UPDATE_CHANGE_SEVERITY, request)

    @change_severity.validator
    def _validate_change_severity(self, request: SeverityPlanChange) -> None:
        self._validate(contract.UPDATE_CHANGE_SEVERITY, request)

    @workflow.update(name=contract.UPDATE_POST_STATUS)
    async def post_status_update(self, request: PostStatusUpdate) -> TicketState:
        """A stakeholder update: meets this cycle of the cadence and goes to the stakeholders' roles."""
        return await self._receive(contract.UPDATE_POST_STATUS, request)

    @post_status_update.validator
    def _validate_post_status_update(self, request: PostStatusUpdate) -> None:
        self._validate(contract.UPDATE_POST_STATUS, request)

    @workflow.update(name=contract.UPDATE_COMMANDER)
    async def designate_commander(self, request: DesignateCommander) -> TicketState:
        """Name the incident commander."""
        return await self._receive(contract.UPDATE_COMMANDER, request)

    @designate_commander.validator
    def _validate_designate_commander(self, request: DesignateCommander) -> None:
        self._validate(contract.UPDATE_COMMANDER, request)

    @workflow.update(name=contract.UPDATE_ACK_PAGE)
    async def acknowledge_page(self, request: AcknowledgePage) -> TicketState:
        """Someone paged by an escalation step takes it; steps with stop_on_ack stop repeating."""
        return await self._receive(contract.UPDATE_ACK_PAGE, request)

    @acknowledge_page.validator
    def _validate_acknowledge_page(self, request: AcknowledgePage) -> None:
        self._validate(contract.UPDATE_ACK_PAGE, request)

    @workflow.update(name=contract.UPDATE_HAND_OFF)
    async def hand_off(self, request: HandOff) -> TicketState:
        """Functional escalation (or de-escalation): another tier takes over; its response target starts."""
        return await self._receive(contract.UPDATE_HAND_OFF, request)

    @hand_off.validator
    def _validate_hand_off(self, request: HandOff) -> None:
        self._validate(contract.UPDATE_HAND_OFF, request)

    @workflow.update(name=contract.UPDATE_ESCALATE_MANAGEMENT)
    async def escalate_to_management(self, request: EscalateToManagement) -> TicketState:
        """Hierarchical escalation: the next level of the management chain hears, with the reason."""
        return await self._receive(contract.UPDATE_ESCALATE_MANAGEMENT, request)

    @escalate_to_management.validator
    def _validate_escalate_to_management(self, request: EscalateToManagement) -> None:
        self._validate(contract.UPDATE_ESCALATE_MANAGEMENT, request)

    @workflow.update(name=contract.UPDATE_JUMP_TO_STEP)
    async def jump_to_step(self, request: JumpToStep) -> TicketState:
        """Fire an escalation step of the matrix now; later steps anchored on it count from now."""
        return await self._receive(contract.UPDATE_JUMP_TO_STEP, request)

    @jump_to_step.validator
    def _validate_jump_to_step(self, request: JumpToStep) -> None:
        self._validate(contract.UPDATE_JUMP_TO_STEP, request)

    @workflow.update(name=contract.UPDATE_RECORD_REVIEW)
    async def record_review(self, request: RecordReview) -> TicketState:
        """The post-incident review took place."""
        return await self._receive(contract.UPDATE_RECORD_REVIEW, request)

    @record_review.validator
    def _validate_record_review(self, request: RecordReview) -> None:
        self._validate(contract.UPDATE_RECORD_REVIEW, request)

    @workflow.update(name=contract.UPDATE_RECORD_RCA)
    async def record_rca(self, request: RecordRca) -> TicketState:
        """The root-cause analysis is written."""
        return await self._receive(contract.UPDATE_RECORD_RCA, request)

    @record_rca.validator
    def _validate_record_rca(self, request: RecordRca) -> None:
        self._validate(contract.UPDATE_RECORD_RCA, request)

    @workflow.update(name=contract.UPDATE_ADD_ACTION)
    async def add_action(self, request: AddAction) -> TicketState:
        """A corrective action with an owner and a deadline; reminded and escalated like the review."""
        return await self._receive(contract.UPDATE_ADD_ACTION, request)

    @add_action.validator
    def _validate_add_action(self, request: AddAction) -> None:
        self._validate(contract.UPDATE_ADD_ACTION, request)

    @workflow.update(name=contract.UPDATE_COMPLETE_OBLIGATION)
    async def complete_obligation(self, request: CompleteObligation) -> TicketState:
        """Mark a corrective action done, or waive any post-incident obligation with a reason."""
        return await self._receive(contract.UPDATE_COMPLETE_OBLIGATION, request)

    @complete_obligation.validator
    def _validate_complete_obligation(self, request: CompleteObligation) -> None:
        self._validate(contract.UPDATE_COMPLETE_OBLIGATION, request)

    def _require_snapshot(self) -> None:
        """For validators whose check needs the policy: refuse, rather than wait, while it loads."""
        if self._snapshot is None:
            raise ValueError("the ticket is still starting (its policy is being loaded): try again in a moment")

    async def _snapshot_ready(self) -> None:
        if self._snapshot is None:
            await workflow.wait_condition(lambda: self._snapshot is not None)

    @workflow.query(name=contract.QUERY_STATE)
    def state(self) -> TicketView:
        now = workflow.now()
        policy = self._snapshot.policy if self._snapshot else None
        upcoming = plan(policy, self._state, now, beat=self._beat) if policy else []
        targets = [t for r in self._state.clocks.values() if r.running and policy and (t := effective_target(policy, self._state, r))]
        return TicketView(
            state=self._state, sla_state=self._state.sla_state, upcoming=upcoming, targets=targets,
            next_due=upcoming[0] if upcoming else None, policy_digest=self._snapshot.digest if self._snapshot else None,
            runs=self._runs + 1,
        )


def _decoded(raw: RawValue) -> object:
    """A signal's payload as JSON data, or None when it is not JSON (then it is refused as not an object)."""
    try:
        return workflow.payload_converter().from_payload(raw.payload)
    except Exception:  # the converter's own errors for an encoding or a body it cannot read
        return None
