"""Overdue obligations found at once become one digest per recipient role, not a burst of messages.

After an outage, or when a severity raise moves deadlines into the past, several obligations
are already late when the workflow looks. Each role hears about all of its late obligations
in one message. Roles with the same share get the same message; a share of one obligation is
sent as that obligation itself. Keys derive from the obligation ids, so a retried or replayed
digest is the same digest.
"""

from __future__ import annotations

import hashlib

from pydantic import BaseModel

from sla.planner import Obligation, ObligationKind

LATE_AFTER_SECONDS = 60
"""An obligation is found late, not merely due, when the workflow sees it this long after its due instant."""


class Digest(BaseModel):
    """One message: the late obligations a group of roles hears about together."""

    key: str
    roles: list[str]
    summary: str
    obligations: list[Obligation]


def superseded(late: list[Obligation]) -> set[str]:
    """Warnings whose own breach is late too: the breach says more, so they are not sent."""
    breached = {ob.id.rsplit("/", 1)[0] for ob in late if ob.kind is ObligationKind.BREACH}
    return {ob.id for ob in late if ob.kind is ObligationKind.WARNING and ob.id.rsplit("/", 1)[0] in breached}


def digests(ticket_id: str, late: list[Obligation], roles_of: dict[str, list[str]]) -> list[Digest]:
    """Group `late` by recipient role; `roles_of` maps each obligation id to the roles it notifies."""
    share: dict[str, list[Obligation]] = {}
    for ob in late:
        for role in roles_of.get(ob.id, []):
            share.setdefault(role, []).append(ob)
    groups: dict[tuple[str, ...], list[str]] = {}
    for role, obs in share.items():
        groups.setdefault(tuple(ob.id for ob in obs), []).append(role)
    found = []
    for ids, roles in groups.items():
        obs = share[roles[0]]
        if len(obs) == 1:
            found.append(Digest(key=obs[0].id, roles=roles, summary=obs[0].summary, obligations=obs))
            continue
        batch = hashlib.sha256("\n".join(sorted(ids)).encode()).hexdigest()[:16]
        found.append(Digest(key=f"{ticket_id}/digest/{batch}", roles=roles, obligations=obs,
                            summary=f"{len(obs)} overdue: " + "; ".join(ob.summary for ob in obs)))
    return found
