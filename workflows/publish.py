"""What a ticket shows operators in the Temporal UI: search attributes and the current details.

Search attributes are ids and enums only (docs/api.md), with `Owner` the one exception (a
handle); they are upserted only when a value changed. The current details say the status, the
next deadline in the policy's zone, the owner, escalation and handoff, in words.
"""

from __future__ import annotations

from datetime import datetime

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from sla.planner import Obligation
    from sla.ticket import TicketStatus
    from workflows import search_attributes as sa



class TicketPublisher:
    """Mixed into TicketWorkflow: `_publish` after every plan."""

    def _publish(self, upcoming: list[Obligation], now: datetime) -> None:
        """Keep search attributes and the current details in step with the state."""
        state = self._state
        nxt = upcoming[0] if upcoming else None
        values = {
            "ticket_id": state.ticket.ticket_id, "customer": state.ticket.customer, "severity": state.severity.value,
            "status": state.status.value, "sla_state": state.sla_state.value, "next_due": nxt.due if nxt else None,
            "level": state.escalation_level, "commander": state.commander is not None,
        }
        tier = state.tier if state.handoffs else None  # set once a ticket has been handed off
        if tier:
            values["tier"] = tier
        owner = state.owner_handle
        if owner:
            values["owner"] = owner
        if values != self._published:
            workflow.upsert_search_attributes([
                sa.TICKET_ID.value_set(state.ticket.ticket_id),
                sa.CUSTOMER.value_set(state.ticket.customer),
                sa.SEVERITY.value_set(state.severity.value),
                sa.TICKET_STATUS.value_set(state.status.value),
                sa.OWNER.value_set(owner) if owner else sa.OWNER.value_unset(),
                sa.SLA_STATE.value_set(state.sla_state.value),
                sa.NEXT_DUE_AT.value_set(nxt.due) if nxt else sa.NEXT_DUE_AT.value_unset(),
                sa.ESCALATION_LEVEL.value_set(state.escalation_level),
                sa.COMMANDER_ASSIGNED.value_set(state.commander is not None),
                *([sa.SUPPORT_TIER.value_set(tier)] if tier else []),
            ])
            self._published = values
        lines = [f"**{state.status.label}**, {state.severity.label}, SLA {state.sla_state.value}."]
        if nxt:
            lines.append(f"Waiting for: {nxt.summary}, at {self._local(nxt.due)}.")
        elif state.status is not TicketStatus.CLOSED:
            lines.append("Nothing due: waiting for the next message.")
        if state.acknowledged_by:
            lines.append(f"Owner: {state.acknowledged_by}.")
        if state.escalation_level:
            lines.append(f"Escalation level {state.escalation_level}; incident commander: {state.commander or 'none yet'}.")
        if state.handoffs:
            last = state.handoffs[-1]
            picked = f"picked up by {last.picked_up_by}" if last.picked_up_by else "not picked up yet"
            lines.append(f"With tier {last.to_tier} since {self._local(last.at)} ({picked}).")
        if self._runs:
            lines.append(f"History {self._runs + 1} of this ticket (continued as new).")
        workflow.set_current_details("\n\n".join(lines))

    def _local(self, instant: datetime) -> str:
        """An instant for the UI's current details: the policy's zone, to the minute, with its offset.
        No "in 29m": the details are read long after they are written."""
        zone = self._policy.calendar(None).zone if self._snapshot else None
        local = instant.astimezone(zone) if zone else instant
        return local.strftime("%Y-%m-%d %H:%M ") + local.strftime("%z")[:3] + ":" + local.strftime("%z")[3:] + (f" ({zone.key})" if zone else "")

