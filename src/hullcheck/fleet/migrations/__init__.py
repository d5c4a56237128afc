"""Alembic migrations of the fleet store, applied by ``fleet.db.migrate`` (package data)."""
