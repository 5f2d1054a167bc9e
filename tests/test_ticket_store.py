"""The ticket store on real SQLite and PostgreSQL: migrations from empty, idempotent writes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import inspect
from sqlalchemy.exc import IntegrityError

from sla.messages import EventBatch, TicketEvent
from sla.ticket import TicketOpened
from store.ticket_store import StoreConfigError, TicketStore, engine_url, revisions, upgrade

T0 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request, tmp_path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'store.db'}"
    return request.getfixturevalue("postgres_url")


def batch(*kinds: str, start: int = 1, status: str = "open") -> EventBatch:
    ticket = TicketOpened(ticket_id="T-store", customer="ACME", title="t", severity="sev2", opened_at=T0)
    events = [TicketEvent(event_id=f"T-store/{start + i}", seq=start + i, at=T0 + timedelta(minutes=start + i), kind=k, detail={"n": i})
              for i, k in enumerate(kinds)]
    return EventBatch(ticket=ticket, status=status, severity="sev2", events=events)


def test_migrations_run_from_empty(database_url: str) -> None:
    assert revisions(database_url)[0] is None
    before, after = upgrade(database_url)
    assert (before, after) == (None, "0007")
    assert upgrade(database_url) == ("0007", "0007")  # a second run changes nothing
    store = TicketStore(database_url)
    try:
        names = set(inspect(store.engine).get_table_names())
    finally:
        store.close()
    assert {"tickets", "ticket_events", "deliveries", "alembic_version"} <= names


def test_writes_are_idempotent_by_event_id(database_url: str) -> None:
    upgrade(database_url)
    store = TicketStore(database_url)
    try:
        assert store.record_events(batch("opened", "acknowledged")) == 2
        assert store.record_events(batch("opened", "acknowledged")) == 0  # the retried activity
        assert store.record_events(batch("resolved", start=3, status="solved")) == 1
        ticket, rows = store.timeline("T-store")
        assert ticket["status"] == "solved"
        assert [r["kind"] for r in rows] == ["opened", "acknowledged", "resolved"]
        assert rows[0]["at"] == T0 + timedelta(minutes=1)

        record = dict(key="T-store/x|support_l1|webhook|https://h", ticket_id="T-store", obligation_id="T-store/x",
                      role="support_l1", channel="webhook", recipient="https://h")
        assert not store.delivered(record["key"])
        store.record_delivery(**record, status="failed", detail="HTTP 503")
        assert not store.delivered(record["key"])
        store.record_delivery(**record, status="sent", detail="HTTP 200")
        store.record_delivery(**record, status="sent", detail="HTTP 200")
        assert store.delivered(record["key"]) and store.count("deliveries") == 1
    finally:
        store.close()


def test_the_delivery_log_has_a_unique_key(database_url: str) -> None:
    from store.schema import deliveries

    upgrade(database_url)
    store = TicketStore(database_url)
    row = {"idempotency_key": "k", "ticket_id": "T", "obligation_id": "o", "role": "r", "channel": "c", "recipient": "x", "status": "sent", "at": T0}
    try:
        with store.engine.begin() as conn:
            conn.execute(deliveries.insert().values(row))
        with pytest.raises(IntegrityError):
            with store.engine.begin() as conn:
                conn.execute(deliveries.insert().values(row))
    finally:
        store.close()


def test_plain_postgresql_urls_use_the_bundled_driver() -> None:
    assert engine_url("postgresql://postgres@127.0.0.1:5432/test") == "postgresql+psycopg://postgres@127.0.0.1:5432/test"
    with pytest.raises(StoreConfigError, match="mysql is not supported"):
        engine_url("mysql://root@localhost/db")
    with pytest.raises(StoreConfigError, match="is not a database URL"):
        engine_url("not a url")


def test_an_older_store_gains_recorded_at_and_keeps_its_events(database_url: str) -> None:
    from alembic import command

    from store.ticket_store import _alembic_config

    command.upgrade(_alembic_config(database_url), "0001")
    old = TicketStore(database_url)
    try:
        with old.engine.begin() as conn:  # a row as revision 0001 wrote it: no recorded_at column yet
            conn.exec_driver_sql(
                "INSERT INTO ticket_events (event_id, ticket_id, seq, at, kind, detail) VALUES ('T-store/1', 'T-store', 1, '2026-11-23 09:01:00', 'opened', '{}')"
            )
    finally:
        old.close()
    assert upgrade(database_url) == ("0001", "0007")
    store = TicketStore(database_url)
    try:
        late = batch("responded", start=2)
        late.events[0].recorded_at = late.events[0].at + timedelta(minutes=5)
        store.record_events(late)
        _, rows = store.timeline("T-store")
    finally:
        store.close()
    assert [(r["kind"], r["recorded_at"]) for r in rows] == [("opened", None), ("responded", T0 + timedelta(minutes=7))]
