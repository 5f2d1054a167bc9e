"""The ticket's side of the support-hours ledger (sla/support_hours.py, docs/policy.md).

Each solve that charges becomes one `support_hours_deducted` timeline event; the store turns
it into a ledger entry (idempotent by the event's id) and answers, in the write's result, the
thresholds the customer's contract year crossed with it, which this ticket then announces to
the policy's `support_hours.notify` roles. No command of its own: the event travels in the
timeline batch the solve writes anyway (the timeline's write or a notification's, whose
answers both carry the crossings), and an announcement follows only an answer that names a
crossing, so histories recorded before the ledger replay unchanged.
"""

from __future__ import annotations

from temporalio import workflow

from sla import support_hours
from sla.messages import HoursCrossed
from sla.planner import Obligation, ObligationKind


class TicketLedger:
    """Mixed into TicketWorkflow."""

    def _account_support_hours(self, closing: bool = False) -> None:
        """Once per solve, what it deducts, as a timeline event dated at the solve; and when the
        ticket closes, time logged since its last charge (wrap-up after solving)."""
        state = self._state
        if self._snapshot is None:
            return
        if state.support_hours_solves < state.solve_count:
            state.support_hours_solves = state.solve_count
            at = state.solved_at or workflow.now()
        elif closing and state.support_hours_deductions and state.logged_minutes > state.deducted_logged_minutes:
            at = state.closed_at or workflow.now()
        else:
            return
        entry = support_hours.deduction(self._policy, state, at)
        if entry is None:
            return
        state.support_hours_deductions += 1
        state.deducted_logged_minutes = state.logged_minutes
        self._event("support_hours_deducted", at=at, minutes=entry.minutes, logged_minutes=entry.logged_minutes,
                    contract_year=entry.contract_year, contracted_minutes=entry.contracted_minutes, plan=entry.plan,
                    thresholds=",".join(str(t) for t in sorted(set(self._policy.support_hours.thresholds))))

    def _announce_hours(self, crossed: list[HoursCrossed]) -> None:
        """Thresholds the store says this ticket's deduction crossed, from whichever write carried
        it (the timeline's own, or a notification's): tell the account's roles. The store answers
        each (customer, year, threshold) once, so each is told once a year."""
        if not crossed:
            return
        tid = self._state.ticket.ticket_id
        for alert in crossed:
            self._announcements.append(Obligation(
                id=f"{tid}/support_hours/{alert.contract_year}/{alert.threshold}", kind=ObligationKind.WARNING, due=alert.at,
                summary=(f"support hours: {alert.customer} passed {alert.threshold}% of contract year {alert.contract_year}: "
                         f"{alert.used_minutes / 60:.1f} h of {alert.contracted_minutes / 60:.1f} h used "
                         f"({100 * alert.used_minutes / alert.contracted_minutes:.0f}%)"),
                roles=list(self._policy.support_hours.notify),
            ))
        self._changed = True
