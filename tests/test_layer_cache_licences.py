"""Licences detected in free-form Debian copyright files, and those DEP-5 files declare, are
kept in the layer cache by the text's digest: a warm run classifies and parses nothing and
answers exactly as the cold one did."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import licenseclassifier
import pytest

from hullcheck.catalog import dpkg
from hullcheck.catalog import license as lic
from hullcheck.cli.main import main
from hullcheck.layercache import LayerCache
from tests.fixtures.images import build, write
from tests.fixtures.rootfs import layer

OS = {"etc/os-release": "ID=debian\nVERSION_ID=12\n"}


@pytest.fixture
def classified(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[int]]:
    """The length of each text the real classifier was given: here, or in the helper process
    that classifies texts ahead (``lic.Ahead``) when its answer was taken."""
    seen: list[int] = []
    real = licenseclassifier.identify_license
    real_answer = lic.Ahead.answer

    def counting(text: str, *args: Any, **kwargs: Any) -> Any:
        seen.append(len(text))
        return real(text, *args, **kwargs)

    def answered(self: lic.Ahead, text: str) -> list[lic.Region] | None:
        found = real_answer(self, text)
        if found is not None:
            seen.append(len(text))
        return found

    monkeypatch.setattr(licenseclassifier, "identify_license", counting)
    monkeypatch.setattr(lic.Ahead, "answer", answered)
    yield seen


@pytest.fixture
def parsed(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """The DEP-5 copyright texts parsed (not the in-process memo: each call counts)."""
    seen: list[str] = []
    real = dpkg.copyright_licenses.__wrapped__

    def counting(text: str) -> tuple[str, ...]:
        seen.append(text)
        return real(text)

    monkeypatch.setattr(dpkg, "copyright_licenses", counting)
    yield seen


def _sbom(ref: str, cache: Path, capsys: pytest.CaptureFixture[str]) -> Any:
    capsys.readouterr()
    assert main(["sbom", ref, "-o", "json", "--cache-dir", str(cache)]) == 0
    return json.loads(capsys.readouterr()[0])


def _licences(doc: Any) -> dict[str, Any]:
    return {p["name"]: (p["licenses"], p.get("detectedLicenses", p.get("detected_licenses")))
            for p in doc["packages"]}


def test_a_warm_run_classifies_nothing_and_answers_the_same(
        tmp_path: Path, classified: list[int], parsed: list[str],
        capsys: pytest.CaptureFixture[str]) -> None:
    ref = write(build(layer("dpkg/bookworm"), OS), tmp_path / "img")
    cold = _sbom(ref, tmp_path / "cache", capsys)
    assert classified and parsed  # the fixture has free-form and DEP-5 copyright files
    declared = {n: ls for n, (ls, d) in _licences(cold).items() if ls and not d}
    assert declared
    detected = {n: d for n, (_, d) in _licences(cold).items() if d}
    assert detected and all(0 < x["confidence"] <= 1 for d in detected.values() for x in d)
    classified.clear()
    parsed.clear()
    warm = _sbom(ref, tmp_path / "cache", capsys)
    assert classified == [] and parsed == []
    assert _licences(warm) == _licences(cold)
    assert warm["packages"] == cold["packages"]

    # Another image whose layer differs but holds the same copyright texts: none classified.
    other = write(build(layer("dpkg/bookworm"), {**OS, "srv/x": "1"}), tmp_path / "other")
    assert _licences(_sbom(other, tmp_path / "cache", capsys)) == _licences(cold)
    assert classified == [] and parsed == []


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
