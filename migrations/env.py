"""Alembic environment: the URL comes from the caller's Config (escalator db upgrade)."""

from alembic import context
from sqlalchemy import create_engine

from store.schema import metadata

url = context.config.get_main_option("sqlalchemy.url")
engine = create_engine(url)
with engine.connect() as connection:
    context.configure(connection=connection, target_metadata=metadata, render_as_batch=connection.dialect.name == "sqlite")
    with context.begin_transaction():
        context.run_migrations()
engine.dispose()
