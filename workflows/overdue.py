"""Obligations found late (after an outage, a backdated ticket, a severity raise): one digest per role.

An obligation is late when the loop finds it more than `LATE_AFTER_SECONDS` past its due
instant (sla/digest.py). Acting on one can make others due at once (a step anchored on it, the
next missed beat): they go in the same digest. A warning whose breach is in the same digest is
recorded as superseded and not sent. On-time obligations are acted on one by one.
"""

from __future__ import annotations

from datetime import datetime

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from sla.digest import LATE_AFTER_SECONDS, digests, superseded
    from sla.planner import Obligation, plan
    from sla.ticket import FiredObligation


class TicketOverdue:
    """Mixed into TicketWorkflow: `_act_on(due, now)` from the loop."""

    def _act_on(self, due: list[Obligation], now: datetime) -> None:
        late = [ob for ob in due if (now - ob.due).total_seconds() > LATE_AFTER_SECONDS]
        if late:
            self._act_in_digest(late, now)
        for ob in due:
            if ob not in late:
                self._act(ob)

    def _act_in_digest(self, late: list[Obligation], now: datetime) -> None:
        roles_of = {ob.id: self._apply(ob) for ob in late}
        # The planner sees the ones taken as acted on. Grown as they are taken, not rebuilt each
        # round: a Sev-1 found 12 days late has over a thousand missed beats, one round each.
        taken = [FiredObligation(id=oid, kind="taken", due=now, fired_at=now) for oid in roles_of]
        while True:
            probe = self._state.model_copy(update={"fired": self._state.fired + taken})
            more = [ob for ob in plan(self._policy, probe, now)
                    if (now - ob.due).total_seconds() > LATE_AFTER_SECONDS and ob.id not in roles_of]
            if not more:
                break
            late = late + more
            roles_of |= {ob.id: self._apply(ob) for ob in more}
            taken += [FiredObligation(id=ob.id, kind="taken", due=now, fired_at=now) for ob in more]
        quiet = superseded(late)
        sent = {ob.id: [] if ob.id in quiet else roles_of[ob.id] for ob in late}
        for digest in digests(self._state.ticket.ticket_id, late, sent):
            first = digest.obligations[0]
            many = len(digest.obligations) > 1
            note = first.model_copy(update={"id": digest.key, "summary": digest.summary, "roles": digest.roles})
            self._notify(note, digest.roles, kind="digest" if many else None, fired_ids=[o.id for o in digest.obligations])
        for ob in late:
            # Each obligation's delivery is settled when its digests are (workflows/outbox.py).
            self._record(ob, sent[ob.id], None if sent[ob.id] else True, digest=True, superseded=ob.id in quiet)
