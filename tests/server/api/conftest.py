"""The API's tests run a real service behind uvicorn on 127.0.0.1; ``api`` on SQLite,
``api_both`` on SQLite and on the real PostgreSQL of tests/fixtures/postgres.py."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fixtures.postgres import PostgresServer
from tests.fixtures.registry import RunningRegistry
from tests.server.api.support import Running, running


@pytest.fixture
def api(tmp_path: Path, registry: RunningRegistry) -> Iterator[Running]:
    with running(tmp_path / "data", database_url=None, registry=registry.host) as r:
        yield r


@pytest.fixture(params=["sqlite", "postgresql"])
def api_both(request: pytest.FixtureRequest, tmp_path: Path,
             registry: RunningRegistry) -> Iterator[Running]:
    url = None
    if request.param == "postgresql":
        server: PostgresServer = request.getfixturevalue("postgres_server")
        name = server.create_database()
        url = server.url(name)
    try:
        with running(tmp_path / "data", database_url=url, registry=registry.host) as r:
            yield r
    finally:
        if url is not None:
            server.drop_database(name)
