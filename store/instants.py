"""Instants as the store reads and writes them."""

from __future__ import annotations

from datetime import UTC, datetime


def as_utc(value: datetime | None) -> datetime | None:
    """The instant in UTC. SQLite keeps no offset: everything is written in UTC and read back
    naive, so a naive value is UTC; None stays None."""
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
