"""The policy snapshot activity: reads the policy file once per ticket, resolves its holidays."""

from __future__ import annotations

from pathlib import Path

import structlog
from temporalio import activity

from sla.messages import SnapshotRequest
from sla.policy import PolicySnapshot, digest, parse_policy, take_snapshot

log = structlog.get_logger(__name__)


class PolicySnapshots:
    """Takes snapshots of the policy file at `path`; read at every call, so edits reach new tickets."""

    def __init__(self, path: Path) -> None:
        self.path = path

    @activity.defn(name="snapshot_policy")
    async def snapshot_policy(self, request: SnapshotRequest) -> PolicySnapshot:
        text = self.path.read_text(encoding="utf-8")
        policy = parse_policy(text, str(self.path))
        snapshot = take_snapshot(policy, str(self.path), digest(text), request.opened_at)
        log.info("policy snapshot taken", ticket_id=request.ticket_id, policy=policy.name,
                 version=policy.version, digest=snapshot.digest[:12])
        return snapshot
