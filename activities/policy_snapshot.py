"""The opening activity: the policy file as it is now, with its holidays resolved, and the
ticket's first timeline events in the store.

Run by each new ticket as a local activity, inside its first workflow task, which then sets
the ticket's first timer. That task must be short: the server starts a timer when the task
completes, so every millisecond the task is held makes the timer fire that much later
(docs/performance.md). So the opening is written here, with the snapshot, rather than by a
second local activity after it; and the file is parsed, and three years of holidays resolved,
once per (file contents, opening year), not once per ticket. The file is read at every call:
an edit reaches the next ticket.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path

import structlog
from sqlalchemy.exc import SQLAlchemyError
from temporalio import activity

from sla import intake
from sla.messages import Opening, SnapshotRequest
from sla.policy import PolicySnapshot, digest, parse_policy, take_snapshot

log = structlog.get_logger(__name__)


class PolicySnapshots:
    """Takes snapshots of the policy file at `path`; `writer` (a TimelineWriter) writes openings."""

    def __init__(self, path: Path, writer=None) -> None:
        self.path = path
        self.writer = writer

    def warm(self) -> None:
        """Parse the file and resolve this year's holidays now, at worker start, not in the first ticket's task."""
        self._current(datetime.now(UTC).year)

    def _current(self, year: int) -> PolicySnapshot:
        """The file as it is now, resolved from `year` (cached per file contents and year)."""
        text = self.path.read_text(encoding="utf-8")
        return _snapshot(text, str(self.path), digest(text), year)

    @activity.defn(name="snapshot_policy")
    async def snapshot_policy(self, request: SnapshotRequest) -> Opening:
        """Raises PolicyError (the ticket's first task retries) when the file does not parse; a store
        that is down only leaves the opening to the workflow (`timeline_written` false)."""
        snapshot = self._current(request.opened_at.year)
        await self._keep(snapshot)
        log.info("policy snapshot taken", ticket_id=request.ticket_id, policy=snapshot.policy.name,
                 version=snapshot.policy.version, digest=snapshot.digest[:12])
        written = await self._write_opening(request, snapshot)
        return Opening(snapshot=snapshot, timeline_written=written, answered_at=datetime.now(UTC))

    async def _keep(self, snapshot: PolicySnapshot) -> None:
        """The snapshot into the store, for `escalator simulate`'s baseline: once per worker process
        (the store remembers), so the first ticket of a policy pays one write and the rest nothing.
        A store that is down costs the ticket nothing: the next opening tries again."""
        store = getattr(self.writer, "store", None)
        if store is None or store.snapshot_kept(snapshot.key):
            return
        try:
            await asyncio.to_thread(store.keep_snapshot, snapshot)
        except SQLAlchemyError as exc:
            log.error("policy snapshot not kept in the store yet", key=snapshot.key[:20], error=str(exc).splitlines()[0])

    async def _write_opening(self, request: SnapshotRequest, snapshot: PolicySnapshot) -> bool:
        if request.opening is None or self.writer is None:
            return False
        try:
            # Never the opening of a ticket the workflow will refuse: a refused start writes nothing.
            intake.check_opened_anywhen(snapshot.policy, request.opening.ticket, datetime.now(UTC))
        except ValueError:
            return False
        try:
            await self.writer.write(request.opening.model_copy(update={"policy_snapshot": snapshot.key}))
            return True
        except SQLAlchemyError as exc:
            log.error("opening not recorded yet", ticket_id=request.ticket_id, error=str(exc).splitlines()[0])
            return False


@lru_cache(maxsize=16)
def _snapshot(text: str, source: str, text_digest: str, year: int) -> PolicySnapshot:
    # Keyed by the text itself (and its digest): an edited file is a new entry, never a stale one.
    # take_snapshot reads only the year of the opening instant.
    return take_snapshot(parse_policy(text, source), source, text_digest, datetime(year, 1, 1, tzinfo=UTC))
