"""Licences detected in free-form Debian copyright files are kept in the layer cache by the
text's digest: a warm run classifies nothing and answers exactly as the cold one did."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import licenseclassifier
import pytest

from hullcheck.catalog import license as lic
from hullcheck.cli.main import main
from hullcheck.layercache import LayerCache
from tests.fixtures.images import build, write
from tests.fixtures.rootfs import layer

OS = {"etc/os-release": "ID=debian\nVERSION_ID=12\n"}


@pytest.fixture
def classified(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[int]]:
    """The length of each text the real classifier was given."""
    seen: list[int] = []
    real = licenseclassifier.identify_license

    def counting(text: str, *args: Any, **kwargs: Any) -> Any:
        seen.append(len(text))
        return real(text, *args, **kwargs)

    monkeypatch.setattr(licenseclassifier, "identify_license", counting)
    yield seen


def _sbom(ref: str, cache: Path, capsys: pytest.CaptureFixture[str]) -> Any:
    capsys.readouterr()
    assert main(["sbom", ref, "-o", "json", "--cache-dir", str(cache)]) == 0
    return json.loads(capsys.readouterr()[0])


def _licences(doc: Any) -> dict[str, Any]:
    return {p["name"]: (p["licenses"], p.get("detectedLicenses", p.get("detected_licenses")))
            for p in doc["packages"]}


def test_a_warm_run_classifies_nothing_and_answers_the_same(
        tmp_path: Path, classified: list[int], capsys: pytest.CaptureFixture[str]) -> None:
    ref = write(build(layer("dpkg/bookworm"), OS), tmp_path / "img")
    cold = _sbom(ref, tmp_path / "cache", capsys)
    assert classified  # the fixture has free-form copyright files
    detected = {n: d for n, (_, d) in _licences(cold).items() if d}
    assert detected and all(0 < x["confidence"] <= 1 for d in detected.values() for x in d)
    classified.clear()
    warm = _sbom(ref, tmp_path / "cache", capsys)
    assert classified == []
    assert _licences(warm) == _licences(cold)
    assert warm["packages"] == cold["packages"]

    # Another image whose layer differs but holds the same copyright texts: none classified.
    other = write(build(layer("dpkg/bookworm"), {**OS, "srv/x": "1"}), tmp_path / "other")
    assert _licences(_sbom(other, tmp_path / "cache", capsys)) == _licences(cold)
    assert classified == []


def test_a_new_version_or_a_damaged_entry_classifies_again(
        tmp_path: Path, classified: list[int], monkeypatch: pytest.MonkeyPatch) -> None:
    cache = LayerCache(tmp_path / "cache")
    text = (Path(__file__).parent / "fixtures/rootfs/dpkg/bookworm/usr/share/doc/base-files"
            / "copyright").read_text()
    with lic.detections_in(cache):
        first = lic.detect(text)
        assert lic.detect(text) == first and len(classified) == 1
        monkeypatch.setattr(lic, "__version__", "99.0")
        assert lic.detect(text) == first and len(classified) == 2
        # a stored answer that is not one (a foreign or older format) is computed again
        cache.put(lic._store_key(text), b'{"ids": "GPL", "confidence": 7}')
        assert lic.detect(text) == first and len(classified) == 3
        assert lic.detect(text) == first and len(classified) == 3  # and rewritten
    assert first.ids and 0 < first.confidence <= 1
