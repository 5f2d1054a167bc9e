"""Alembic migrations of the ticket store; `escalator db upgrade` applies them."""
