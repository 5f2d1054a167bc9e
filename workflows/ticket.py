"""TicketWorkflow: a thin durable loop around the planner.

Wait until the first obligation is due or a message arrives; act on what is due (notify
through an activity, record it in the state); ask the planner again.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from sla.messages import Acknowledge, Delivery, Notification, Resolve, SnapshotRequest, TicketView
    from sla.planner import Obligation, ObligationKind, effective_target, plan
    from sla.policy import PolicySnapshot
    from sla.ticket import ClockName, FiredObligation, TicketOpened, TicketState, TicketStatus
    from workflows import contract
    from workflows import search_attributes as sa

NOTIFY_RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_interval=timedelta(minutes=1), maximum_attempts=10)


@workflow.defn(name=contract.WORKFLOW_TYPE)
class TicketWorkflow:
    @workflow.init
    def __init__(self, opened: TicketOpened) -> None:
        # Handlers may run before run() starts: everything they touch exists from here.
        self._state = TicketState.opened(opened)
        self._snapshot: PolicySnapshot | None = None
        self._changed = False
        self._published: dict[str, object] = {}

    @workflow.run
    async def run(self, opened: TicketOpened) -> TicketState:
        self._snapshot = await workflow.execute_activity(
            contract.ACTIVITY_SNAPSHOT_POLICY,
            SnapshotRequest(ticket_id=opened.ticket_id, opened_at=opened.opened_at),
            result_type=PolicySnapshot,
            start_to_close_timeout=timedelta(seconds=30),
            summary="snapshot the SLA policy",
        )
        while self._state.status not in (TicketStatus.SOLVED, TicketStatus.CLOSED):
            now = workflow.now()
            upcoming = plan(self._snapshot.policy, self._state, now)
            self._publish(upcoming, now)
            due = [ob for ob in upcoming if ob.due <= now]
            if due:
                for ob in due:
                    await self._act(ob)
                continue
            await self._wait(upcoming[0] if upcoming else None, now)
        self._publish([], workflow.now())
        await workflow.wait_condition(workflow.all_handlers_finished)
        return self._state

    async def _wait(self, nxt: Obligation | None, now: datetime) -> None:
        self._changed = False
        try:
            await workflow.wait_condition(
                lambda: self._changed,
                timeout=(nxt.due - now) if nxt else None,
                timeout_summary=nxt.summary if nxt else None,
            )
        except asyncio.TimeoutError:
            pass

    async def _act(self, ob: Obligation) -> None:
        state = self._state
        delivered = True
        try:
            await workflow.execute_activity(
                contract.ACTIVITY_NOTIFY,
                Notification(
                    idempotency_key=ob.id, ticket_id=state.ticket.ticket_id, customer=state.ticket.customer,
                    severity=state.severity, kind=ob.kind.value, clock=ob.clock, due=ob.due, summary=ob.summary,
                ),
                result_type=Delivery,
                start_to_close_timeout=timedelta(seconds=30),
                retry_policy=NOTIFY_RETRY,
                summary=f"notify: {ob.summary}",
            )
        except ActivityError as err:
            # A notifier down for good must not stop the ticket's other clocks.
            delivered = False
            workflow.logger.error("notification failed for good", extra={"obligation": ob.id, "error": str(err.cause)})
        state.fired.append(
            FiredObligation(id=ob.id, kind=ob.kind.value, clock=ob.clock, due=ob.due, fired_at=workflow.now(), delivered=delivered)
        )
        if ob.kind is ObligationKind.BREACH and state.clocks[ob.clock].breached_at is None:
            state.clocks[ob.clock].breached_at = ob.due
        workflow.logger.info("obligation acted on", extra={"obligation": ob.id, "due": ob.due.isoformat()})

    def _publish(self, upcoming: list[Obligation], now: datetime) -> None:
        """Keep search attributes and the current details in step with the state."""
        state = self._state
        nxt = upcoming[0] if upcoming else None
        values = {
            "ticket_id": state.ticket.ticket_id, "customer": state.ticket.customer, "severity": state.severity.value,
            "status": state.status.value, "sla_state": state.sla_state.value, "next_due": nxt.due if nxt else None,
        }
        if values != self._published:
            workflow.upsert_search_attributes([
                sa.TICKET_ID.value_set(state.ticket.ticket_id),
                sa.CUSTOMER.value_set(state.ticket.customer),
                sa.SEVERITY.value_set(state.severity.value),
                sa.STATUS.value_set(state.status.value),
                sa.SLA_STATE.value_set(state.sla_state.value),
                sa.NEXT_DUE_AT.value_set(nxt.due) if nxt else sa.NEXT_DUE_AT.value_unset(),
            ])
            self._published = values
        lines = [f"**{state.status.label}**, SLA {state.sla_state.value}."]
        if nxt:
            lines.append(f"Waiting for: {nxt.summary}, at {nxt.due.isoformat()} (in {_words(nxt.due - now)}).")
        elif state.status not in (TicketStatus.SOLVED, TicketStatus.CLOSED):
            lines.append("Nothing due: waiting for the next message.")
        if state.acknowledged_by:
            lines.append(f"Acknowledged by {state.acknowledged_by}.")
        workflow.set_current_details("\n\n".join(lines))

    def _touch(self) -> TicketState:
        self._changed = True
        return self._state

    @workflow.update(name=contract.UPDATE_ACKNOWLEDGE)
    def acknowledge(self, request: Acknowledge) -> TicketState:
        """An agent takes the ticket; in this first version it also meets the first response."""
        now = workflow.now()
        self._state.acknowledged_by = request.by.strip()
        self._state.acknowledged_at = now
        first = self._state.clocks[ClockName.FIRST_RESPONSE]
        if first.met_at is None:
            first.met_at = now
        workflow.logger.info("acknowledged", extra={"by": self._state.acknowledged_by})
        return self._touch()

    @acknowledge.validator
    def _validate_acknowledge(self, request: Acknowledge) -> None:
        if not request.by.strip():
            raise ValueError("by: must name who acknowledges")
        self._refuse_when_finished("acknowledge")
        if self._state.acknowledged_by is not None:
            raise ValueError(f"already acknowledged by {self._state.acknowledged_by} at {self._state.acknowledged_at:%Y-%m-%dT%H:%M:%SZ}")

    @workflow.update(name=contract.UPDATE_RESOLVE)
    def resolve(self, request: Resolve) -> TicketState:
        """The fix is in: Solved; resolution is met and every other running clock stops."""
        now = workflow.now()
        self._state.status = TicketStatus.SOLVED
        self._state.solved_at = now
        for record in self._state.clocks.values():
            if record.running:
                if record.clock is ClockName.RESOLUTION:
                    record.met_at = now
                else:
                    record.stopped_at = now
        workflow.logger.info("resolved", extra={"by": request.by})
        return self._touch()

    @resolve.validator
    def _validate_resolve(self, request: Resolve) -> None:
        if not request.by.strip():
            raise ValueError("by: must name who resolves")
        self._refuse_when_finished("resolve")

    def _refuse_when_finished(self, action: str) -> None:
        if self._state.status in (TicketStatus.SOLVED, TicketStatus.CLOSED):
            raise ValueError(f"cannot {action}: ticket {self._state.ticket.ticket_id} is {self._state.status.value}")

    @workflow.query(name=contract.QUERY_STATE)
    def state(self) -> TicketView:
        now = workflow.now()
        policy = self._snapshot.policy if self._snapshot else None
        upcoming = plan(policy, self._state, now) if policy else []
        targets = [t for r in self._state.clocks.values() if r.running and policy and (t := effective_target(policy, self._state, r))]
        return TicketView(
            state=self._state, sla_state=self._state.sla_state, upcoming=upcoming, targets=targets,
            next_due=upcoming[0] if upcoming else None, policy_digest=self._snapshot.digest if self._snapshot else None,
        )


def _words(delta: timedelta) -> str:
    seconds = max(0, int(delta.total_seconds()))
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes = rest // 60
    parts = [f"{days}d" if days else "", f"{hours}h" if hours else "", f"{minutes}m" if minutes or not (days or hours) else ""]
    return " ".join(p for p in parts if p)
