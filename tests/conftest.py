"""Shared pytest configuration. Fixture modules live in tests/fixtures/ and are plugged in here."""

from __future__ import annotations

import json
import os
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import settings

pytest_plugins = [
    "tests.fixtures.images",
    "tests.fixtures.keys",
    "tests.fixtures.postgres",
    "tests.fixtures.registry",
]

# Under mutmut (`make mutate`), a mutant must be killed or not the same way every run:
# Hypothesis draws the same examples each time and remembers none between mutants.
MUTATING = "MUTANT_UNDER_TEST" in os.environ
if MUTATING:
    settings.register_profile("mutmut", derandomize=True, database=None, deadline=None)
    settings.load_profile("mutmut")


def pytest_sessionstart(session: pytest.Session) -> None:
    """Under mutmut, each mutant's run starts with empty caches: its process is forked from the
    one that ran every test once, and a cached answer (``versions.key``'s lru_cache) would hide
    the mutant from the tests."""
    if not MUTATING:
        return
    for name, module in list(sys.modules.items()):
        if name.startswith("hullcheck.") and module is not None:
            for value in list(vars(module).values()):
                clear = getattr(value, "cache_clear", None)
                if callable(clear):
                    clear()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Under mutmut, the quickest tests first: it stops at the first failure (-x)."""
    stats = Path("mutmut-stats.json")  # mutmut runs the tests from its mutants/ directory
    if not MUTATING or not stats.is_file():
        return
    durations: dict[str, float] = json.loads(stats.read_text(encoding="utf-8"))["duration_by_test"]
    items.sort(key=lambda item: durations.get(item.nodeid, 0.0))


@pytest.fixture(autouse=True)
def _own_layer_cache(tmp_path_factory: pytest.TempPathFactory,
                     monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test its own, empty layer cache (the CLI's default one): a layer one test read
    is read again by the next, and nothing is left in the user's cache."""
    monkeypatch.setenv("HULLCHECK_CACHE_DIR", str(tmp_path_factory.mktemp("layer-cache")))


@pytest.fixture
def layer_dirs_left(tmp_path_factory: pytest.TempPathFactory,
                    monkeypatch: pytest.MonkeyPatch) -> Callable[[], list[str]]:
    """Temporary directories made in a private folder, not the shared /tmp where other runs'
    come and go; the layer readers' ``hullcheck-layers-*`` directories left in it."""
    private = tmp_path_factory.mktemp("tmp")
    monkeypatch.setattr(tempfile, "tempdir", str(private))
    return lambda: sorted(d for d in os.listdir(private) if d.startswith("hullcheck-layers-"))


@pytest.fixture
def opened(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """The digests of the layer blobs opened (read and analysed), in order: what the layer
    cache spared shows as a layer missing here."""
    from hullcheck.image import Image

    seen: list[str] = []
    real = Image.open_layer

    def open_layer(self: Image, layer: Any) -> Any:
        seen.append(layer.digest)
        return real(self, layer)

    monkeypatch.setattr(Image, "open_layer", open_layer)
    yield seen
