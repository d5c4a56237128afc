"""A site for the pages' tests: the real service with a small fleet. ``site`` is shared by
the tests that only look (built once per module); ``fresh`` is a new one for tests that
change things (triage, tokens, channels), on SQLite, and ``fresh_both`` on each backend."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.pages.support import Site, fill, running


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    tmp = tmp_path_factory.mktemp("site")
    with pytest.MonkeyPatch.context() as mp, running(tmp) as s:
        fill(s, tmp, mp)
        yield s


@pytest.fixture
def fresh(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Site]:
    with running(tmp_path) as s:
        fill(s, tmp_path, monkeypatch)
        yield s


@pytest.fixture(params=["sqlite", "postgresql"])
def fresh_both(request: pytest.FixtureRequest, tmp_path: Path,
               monkeypatch: pytest.MonkeyPatch) -> Iterator[Site]:
    url = None
    if request.param == "postgresql":
        server = request.getfixturevalue("postgres_server")
        name = server.create_database()
        url = server.url(name)
    try:
        with running(tmp_path, database_url=url) as s:
            fill(s, tmp_path, monkeypatch)
            yield s
    finally:
        if url is not None:
            server.drop_database(name)
