"""Databases built once per session for the matching tests (see support.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.match.support import build_fixture_db, build_match_db


@pytest.fixture(scope="session")
def match_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_match_db(tmp_path_factory.mktemp("matchdb"))


@pytest.fixture(scope="session")
def fixture_only_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_fixture_db(tmp_path_factory.mktemp("fixdb"))
