"""The ticket store: tickets, their timeline, and the delivery log, in SQLite or PostgreSQL.

Every write is idempotent (by event id, by delivery key), so a retried activity changes nothing.
"""

from __future__ import annotations

from datetime import UTC, datetime
from importlib.resources import files
from pathlib import Path
from typing import Any, NamedTuple

import threading
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext

from sqlalchemy import Connection, Engine, create_engine, event, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from store import facts, ledger
from store.instants import as_utc as _utc
from store.schema import deliveries, policy_snapshots, ticket_events, tickets
from sla.messages import EventBatch, HoursCrossed

LEDGER_EVENT = "support_hours_deducted"
FACTS_REVISION = "0007"  # the revision that added each ticket's facts (store/facts.py)


class Written(NamedTuple):
    """What writing one batch did: events new to the store, thresholds its ledger entries crossed."""

    new: int
    crossed: list[HoursCrossed] = []

DEFAULT_URL = "sqlite:///.escalator/tickets.db"


class StoreConfigError(ValueError):
    """A database URL that cannot work, said in one line."""


def engine_url(url: str) -> str:
    """Accept plain `postgresql://user@host:port/db` (the psycopg 3 driver is a dependency)."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise StoreConfigError(f"DATABASE_URL {url!r} is not a database URL (e.g. sqlite:///.escalator/tickets.db or postgresql://user@host:5432/db)") from None
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    if parsed.get_backend_name() not in ("sqlite", "postgresql"):
        raise StoreConfigError(f"DATABASE_URL: {parsed.get_backend_name()} is not supported (use sqlite or postgresql)")
    return parsed.render_as_string(hide_password=False)


def printable(url: str) -> str:
    """The URL without its credentials: what messages may show."""
    return engine_url(url).split("@")[-1]


def sqlite_file_missing(url: str) -> bool:
    """True for a SQLite URL whose file does not exist (opening it would create an empty one)."""
    full = engine_url(url)
    return full.startswith("sqlite:///") and ":memory:" not in full and not Path(full.removeprefix("sqlite:///")).exists()


def open_engine(url: str) -> Engine:
    url = engine_url(url)
    if not url.startswith("sqlite"):
        return create_engine(url, pool_pre_ping=True)
    if url.startswith("sqlite:///") and not url.startswith("sqlite:///:memory:"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url)

    @event.listens_for(engine, "connect")
    def _pragmas(dbapi_connection, _record) -> None:
        # WAL: readers never wait for the writer; synchronous=NORMAL is durable against a crash of
        # the process (as the Temporal dev server is run here); busy_timeout waits for the lock
        # of another process rather than failing at once (docs/performance.md).
        cursor = dbapi_connection.cursor()
        # temp_store=MEMORY: the report's temporary table of a period's tickets (reports/queries.py) stays in memory.
        for pragma in ("journal_mode=WAL", "synchronous=NORMAL", "busy_timeout=10000", "temp_store=MEMORY"):
            cursor.execute(f"PRAGMA {pragma}")
        cursor.close()

    return engine


def _alembic_config(url: str):
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(files("migrations")))
    config.set_main_option("sqlalchemy.url", engine_url(url).replace("%", "%%"))
    return config


def revisions(url: str) -> tuple[str | None, str]:
    """(the store's schema revision, the newest this code knows)."""
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(_alembic_config(url)).get_current_head()
    engine = open_engine(url)
    try:
        with engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision(), head
    finally:
        engine.dispose()


def upgrade(url: str) -> tuple[str | None, str | None]:
    """Migrate the store to the newest schema; returns (revision before, revision after)."""
    from alembic import command

    before, _ = revisions(url)
    command.upgrade(_alembic_config(url), "head")
    after, _ = revisions(url)
    if before is not None and before < FACTS_REVISION <= (after or ""):
        # The columns are new: fill them from the timelines already stored.
        store = TicketStore(engine_url(url))
        try:
            facts.rebuild(store.engine, store._insert)
        finally:
            store.close()
    return before, after


def open_current(url: str) -> "TicketStore":
    """The store at `url` (as DATABASE_URL is written) for a command that reads it: StoreConfigError
    with one line when the URL is bad, a SQLite file is missing, or the schema is not the newest;
    SQLAlchemyError when it cannot be reached."""
    full = engine_url(url)
    if sqlite_file_missing(full):
        raise StoreConfigError(f"{full} does not exist: no ticket store there (--database-url or DATABASE_URL names it)")
    current, head = revisions(full)
    if current != head:
        newer = current is not None and current > head  # revisions are numbered 0001, 0002, ...
        raise StoreConfigError(f"the ticket store at {printable(full)} is at revision {current}, this needs {head}: "
                               + ("the store is newer than this code: upgrade escalator" if newer else "run `escalator db upgrade`"))
    return TicketStore(full)


class TicketStore:
    """Reads and writes the store; one instance per worker (it holds a connection pool)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = open_engine(url)
        # SQLite has one writer at a time: writers of this process queue here, in order, instead of
        # meeting on the file lock, whose busy handler sleeps and retries (milliseconds each).
        self._writing = threading.Lock() if self.engine.dialect.name == "sqlite" else None
        self._snapshots_kept: set[str] = set()  # written by this process: not sent again with every opening

    @contextmanager
    def _write(self) -> Iterator[Connection]:
        """A transaction for writing."""
        with self._writing or nullcontext(), self.engine.begin() as conn:
            yield conn

    def close(self) -> None:
        self.engine.dispose()

    def _insert(self, table):
        return (postgresql.insert if self.engine.dialect.name == "postgresql" else sqlite.insert)(table)

    def record_events(self, batch: EventBatch) -> int:
        """Upsert the ticket row and add the events not yet there; returns how many were new."""
        return self.record_events_together([batch])[0]

    def record_events_together(self, batches: list[EventBatch]) -> list[int]:
        """Several tickets' batches in one transaction (a group commit); how many events were new in each."""
        return [written.new for written in self.record_batches(batches)]

    def record_batches(self, batches: list[EventBatch]) -> list[Written]:
        """As record_events_together, with the support-hours thresholds each batch's ledger entries crossed."""
        with self._write() as conn:
            return [self._record_batch(conn, batch) for batch in batches]

    def _record_batch(self, conn: Connection, batch: EventBatch) -> Written:
        t = batch.ticket
        now = datetime.now(UTC)
        row = {
            "ticket_id": t.ticket_id, "customer": t.customer, "title": t.title, "severity": batch.severity.value,
            "status": batch.status.value, "plan": batch.plan, "category": t.category, "follows": t.follows,
            "opened_at": _utc(t.opened_at), "updated_at": now,
        }
        for record in batch.deliveries:  # written late: the notifier could not reach the store when it sent
            self._log_delivery(conn, key=record.key, ticket_id=record.ticket_id, obligation_id=record.obligation_id, role=record.role,
                               channel=record.channel, recipient=record.recipient, status=record.status, detail=record.detail, at=record.at)
        new: set[str] = set()
        if batch.events:  # first, to know which events are new: only those count in the ticket's facts
            values = [
                {"event_id": e.event_id, "ticket_id": t.ticket_id, "seq": e.seq, "at": _utc(e.at), "recorded_at": _utc(e.recorded_at),
                 "kind": e.kind, "detail": e.detail, "content_sha256": e.content_sha256, "chain_sha256": e.chain_sha256}
                for e in batch.events
            ]
            new = {r[0] for r in conn.execute(
                self._insert(ticket_events).values(values).on_conflict_do_nothing(index_elements=["event_id"]).returning(ticket_events.c.event_id)
            )}
        delta = facts.fold(_utc(t.opened_at), [e for e in batch.events if e.event_id in new]) if new else None
        changed = {"severity": row["severity"], "status": row["status"], "plan": row["plan"], "updated_at": now}
        stmt = self._insert(tickets).values(row | {"policy_snapshot": batch.policy_snapshot} | (facts.initial(delta) if delta else {}))
        if batch.policy_snapshot is not None:  # the first one known is the one it opened with; a policy change does not replace it
            changed["policy_snapshot"] = func.coalesce(tickets.c.policy_snapshot, stmt.excluded.policy_snapshot)
        params: dict = {}
        if delta is not None:
            expressions, params = facts.changes(delta)  # the ticket's facts, in the same statement
            changed |= expressions
        conn.execute(stmt.on_conflict_do_update(index_elements=["ticket_id"], set_=changed), params)
        if delta is not None and delta.items:
            facts.record_items(conn, self._insert, t.ticket_id, delta)
        if not batch.events:
            return Written(0)
        crossed = [c for e in batch.events if e.kind == LEDGER_EVENT and e.event_id in new for c in ledger.record(conn, self._insert, t, e)]
        return Written(len(new), crossed)

    def snapshot_kept(self, key: str) -> bool:
        """Whether this process has written the policy snapshot `key` (PolicySnapshot.key)."""
        return key in self._snapshots_kept

    def keep_snapshot(self, snapshot) -> str:
        """Store a policy snapshot (a PolicySnapshot) once; returns its key. Remembered per process
        once written, so a worker sends each snapshot once, not with every opening."""
        key = snapshot.key
        if not self.snapshot_kept(key):
            policy = snapshot.policy
            with self._write() as conn:
                conn.execute(self._insert(policy_snapshots).values(
                    snapshot_id=key, digest=snapshot.digest, source=snapshot.source[:500], name=policy.name, version=policy.version,
                    body=snapshot.model_dump(mode="json"), first_seen=datetime.now(UTC),
                ).on_conflict_do_nothing(index_elements=["snapshot_id"]))
            self._snapshots_kept.add(key)
        return key

    def delivered(self, key: str) -> bool:
        with self.engine.connect() as conn:
            return conn.execute(select(deliveries.c.id).where(deliveries.c.idempotency_key == key, deliveries.c.status == "sent")).first() is not None

    def record_delivery(self, *, key: str, ticket_id: str, obligation_id: str, role: str, channel: str,
                        recipient: str, status: str, detail: str | None = None) -> None:
        """Log a delivery; a key already logged as failed becomes sent when a retry succeeds."""
        with self._write() as conn:
            self._log_delivery(conn, key=key, ticket_id=ticket_id, obligation_id=obligation_id, role=role, channel=channel,
                               recipient=recipient, status=status, detail=detail, at=datetime.now(UTC))

    def _log_delivery(self, conn, *, key: str, ticket_id: str, obligation_id: str, role: str, channel: str, recipient: str,
                      status: str, detail: str | None, at: datetime) -> None:
        values = {"idempotency_key": key, "ticket_id": ticket_id, "obligation_id": obligation_id, "role": role,
                  "channel": channel, "recipient": recipient, "status": status, "detail": detail, "at": _utc(at)}
        inserted = conn.execute(
            self._insert(deliveries).values(values).on_conflict_do_nothing(index_elements=["idempotency_key"]).returning(deliveries.c.id)
        ).first()
        if inserted is None and status == "sent":
            conn.execute(update(deliveries).where(deliveries.c.idempotency_key == key).values(status="sent", detail=detail, at=values["at"]))

    def last_obligation(self, prefix: str) -> str | None:
        """The obligation id of the newest delivery whose obligation starts with `prefix`
        (the watchdog's last alert, to know after a restart whether an outage is open)."""
        with self.engine.connect() as conn:
            return conn.execute(select(deliveries.c.obligation_id).where(deliveries.c.obligation_id.startswith(prefix))
                                .order_by(deliveries.c.id.desc()).limit(1)).scalar()

    def sent_to(self, ticket_id: str, channel: str) -> list[tuple[str, str]]:
        """(recipient, obligation id) of every delivery of the ticket sent on `channel`, oldest first."""
        with self.engine.connect() as conn:
            rows = conn.execute(select(deliveries.c.recipient, deliveries.c.obligation_id).where(
                deliveries.c.ticket_id == ticket_id, deliveries.c.channel == channel, deliveries.c.status == "sent",
            ).order_by(deliveries.c.id)).all()
        return [(r.recipient, r.obligation_id) for r in rows]

    def timeline(self, ticket_id: str) -> tuple[dict[str, Any] | None, list[dict[str, Any]]]:
        """(ticket row, events and deliveries in time order) of one ticket."""
        with self.engine.connect() as conn:
            ticket = conn.execute(select(tickets).where(tickets.c.ticket_id == ticket_id)).mappings().first()
            events = conn.execute(select(ticket_events).where(ticket_events.c.ticket_id == ticket_id).order_by(ticket_events.c.seq)).mappings().all()
            sent = conn.execute(select(deliveries).where(deliveries.c.ticket_id == ticket_id).order_by(deliveries.c.at)).mappings().all()
        rows: list[dict[str, Any]] = [
            {"at": _utc(e["at"]), "recorded_at": _utc(e["recorded_at"]), "kind": e["kind"], "detail": e["detail"], "event_id": e["event_id"]}
            for e in events
        ] + [
            {"at": _utc(d["at"]), "recorded_at": _utc(d["at"]), "kind": f"delivery_{d['status']}", "event_id": d["idempotency_key"],
             "detail": {"obligation": d["obligation_id"], "role": d["role"], "channel": d["channel"], "recipient": d["recipient"],
                        ("answer" if d["status"] == "sent" else "error"): d["detail"]}}
            for d in sent
        ]
        rows.sort(key=lambda r: r["at"])
        return (dict(ticket) if ticket else None), rows

    def count(self, table_name: str) -> int:
        table = {"tickets": tickets, "ticket_events": ticket_events, "deliveries": deliveries}[table_name]
        with self.engine.connect() as conn:
            return conn.execute(select(func.count()).select_from(table)).scalar_one()

