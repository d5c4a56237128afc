"""The monitor's tests run on both backends: SQLite in the data dir, and the real PostgreSQL
of tests/fixtures/postgres.py (a fresh database per test)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.fixtures.postgres import PostgresServer


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest) -> Iterator[str | None]:
    """None (SQLite in the data dir) or a fresh PostgreSQL database."""
    if request.param == "sqlite":
        yield None
        return
    server: PostgresServer = request.getfixturevalue("postgres_server")
    name = server.create_database()
    try:
        yield server.url(name)
    finally:
        server.drop_database(name)
