"""Shared pytest configuration. Fixture modules live in tests/fixtures/ and are plugged in here."""

import pytest

pytest_plugins = [
    "tests.fixtures.images",
    "tests.fixtures.keys",
    "tests.fixtures.postgres",
    "tests.fixtures.registry",
]


@pytest.fixture(autouse=True)
def _own_layer_cache(tmp_path_factory: pytest.TempPathFactory,
                     monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test its own, empty layer cache (the CLI's default one): a layer one test read
    is read again by the next, and nothing is left in the user's cache."""
    monkeypatch.setenv("HULLCHECK_CACHE_DIR", str(tmp_path_factory.mktemp("layer-cache")))
