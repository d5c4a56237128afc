"""Alembic's entry point: runs the migrations on the connection ``fleet.db.migrate`` passes
(already in a transaction, holding the migration lock). Logging is left to the program."""

from __future__ import annotations

from alembic import context
from sqlalchemy.engine import Connection

from hullcheck.fleet.db import VERSION_TABLE
from hullcheck.fleet.schema import metadata

connection = context.config.attributes["connection"]
assert isinstance(connection, Connection)
context.configure(
    connection=connection,
    target_metadata=metadata,
    version_table=VERSION_TABLE,
    transactional_ddl=True,
    render_as_batch=connection.dialect.name == "sqlite",  # SQLite alters by copying tables
)
with context.begin_transaction():
    context.run_migrations()
