"""The layer workers are given the first (largest) layer as soon as the image's manifest and
config are read: the parent's own set-up (redacting history and labels, the progress
display) runs while they read, not before. The tree and the SBOM still get the redacted
history, and a bad layer still fails the run in one line, whichever layer it is."""

from __future__ import annotations

import concurrent.futures
import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from hullcheck import filetree, pipeline
from hullcheck.cli.main import main
from hullcheck.filetree import analysis
from hullcheck.image import open_image
from hullcheck.image.writer import ImageBuilder
from hullcheck.model import Layer
from hullcheck.pipeline import images, redaction
from tests.fixtures.images import write
from tests.secrets import fakes

TOKEN = "ghp_" + fakes.rand(fakes.ALNUM, 36, 12)  # a GitHub token's shape, not a real one
SIZES = (3_000, 90_000, 30_000)  # incompressible bytes per layer: layer 1 is the largest


def _ref(tmp_path: Path) -> str:
    b = ImageBuilder()
    for i, size in enumerate(SIZES):
        files: dict[str, bytes | str] = {f"srv/{i}.bin": random.Random(i).randbytes(size)}
        if i == 0:
            files["etc/os-release"] = "ID=debian\nVERSION_ID=12\n"
        b.add_layer(files, created_by=f"RUN TOKEN={TOKEN} make step{i}")
    return write(b.build(), tmp_path)


@pytest.fixture
def workers(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, Any]]:
    """Layers read by two worker processes, however small; what happens, in order: each
    job given to the pool (its layer's description) and each redaction of the image."""
    monkeypatch.setattr(analysis, "MIN_PARALLEL_BYTES", 0)
    monkeypatch.setenv(analysis.ENV_WORKERS, "2")
    events: list[tuple[str, Any]] = []
    submit = concurrent.futures.ProcessPoolExecutor.submit

    def submitted(pool: Any, fn: Callable[..., Any], *args: Any, **kw: Any) -> Any:
        events.append(("submit", args[3]))  # _work_stored(blob, out, analysis, what, size)
        return submit(pool, fn, *args, **kw)

    monkeypatch.setattr(concurrent.futures.ProcessPoolExecutor, "submit", submitted)
    real = redaction.redactor

    def redactor() -> Any:
        events.append(("redact", None))
        return real()

    monkeypatch.setattr(images, "redactor", redactor)
    return events


def test_the_largest_layer_goes_to_a_worker_before_the_image_is_redacted(
        tmp_path: Path, workers: list[tuple[str, Any]]) -> None:
    ref = _ref(tmp_path)
    shown: list[tuple[Layer, ...]] = []
    progress = images.Progress(on_image=shown.append)
    read = pipeline.read_image(pipeline.SbomRequest(image=ref), progress)
    # Every layer given, the largest first (the rest by size: the last to finish is
    # small), and only then the parent's set-up.
    layers = open_image(ref).layers
    by_size = [f"layer {la.index} ({la.digest})"
               for la in sorted(layers, key=lambda la: -la.size)]
    assert [la.index for la in sorted(layers, key=lambda la: -la.size)] == [1, 2, 0]
    assert workers == [*(("submit", what) for what in by_size), ("redact", None)]
    # The progress display and the tree have the redacted layers.
    assert len(shown) == 1 and shown[0] == read.image.layers == read.tree.layers
    assert all(TOKEN not in la.created_by and "make step" in la.created_by
               for la in read.tree.layers)


def test_the_sbom_keeps_no_secret_of_the_history_when_workers_read(
        tmp_path: Path, workers: list[tuple[str, Any]],
        capsys: pytest.CaptureFixture[str]) -> None:
    for fmt in ("json", "cyclonedx-json", "spdx-json"):
        assert main(["sbom", _ref(tmp_path / fmt), "-o", fmt, "-q", "--no-cache"]) == 0
        out, _ = capsys.readouterr()
        assert TOKEN not in out and "make step1" in out, fmt
    assert ("redact", None) in workers and workers[0][0] == "submit"


@pytest.mark.parametrize("bad", [0, 1, 2])
def test_a_bad_layer_still_fails_the_run_in_one_line(
        bad: int, tmp_path: Path, workers: list[tuple[str, Any]],
        capsys: pytest.CaptureFixture[str]) -> None:
    """A layer whose bytes are not its digest's, the first given to the workers or not:
    one line naming it, exit 2, nothing written."""
    ref = _ref(tmp_path)
    layer = open_image(ref).layers[bad]
    blob = tmp_path / "oci" / "blobs" / "sha256" / layer.digest.split(":")[1]
    data = bytearray(blob.read_bytes())
    data[len(data) // 2] ^= 0xFF
    blob.write_bytes(bytes(data))
    out = tmp_path / "sbom.json"
    assert main(["sbom", ref, "-o", "json", "--file", str(out), "-q", "--no-cache"]) == 2
    _, err = capsys.readouterr()
    lines = err.strip().splitlines()
    assert lines[0].startswith("hullcheck: error: ") and f"layer {bad}" in lines[0], err
    assert all(line.startswith(("hullcheck: error: ", "hint: ")) for line in lines), err
    assert not out.exists()


class _Store:
    def __init__(self) -> None:
        self.data: dict[str, bytes] = {}

    def get(self, key: str) -> bytes | None:
        return self.data.get(key)

    def put(self, key: str, data: bytes, label: str = "") -> None:
        self.data[key] = data


@pytest.mark.parametrize("how", ["workers", "one process", "cached", "rootfs"])
def test_meanwhile_is_called_once_whichever_way_the_layers_are_read(
        how: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ref = _ref(tmp_path)
    monkeypatch.setattr(analysis, "MIN_PARALLEL_BYTES", 0 if how == "workers" else 1 << 40)
    monkeypatch.setenv(analysis.ENV_WORKERS, "2")
    image = open_image(ref)
    store = _Store()
    if how == "cached":
        filetree.build(image, store=store)
    elif how == "rootfs":
        root = tmp_path / "root"
        (root / "etc").mkdir(parents=True)
        (root / "etc" / "os-release").write_text("ID=debian\n")
        image = open_image(f"dir:{root}")
    calls: list[int] = []

    def meanwhile() -> Any:
        calls.append(len(store.data))
        return image

    tree = filetree.build(image, store=store, meanwhile=meanwhile)
    # Once, before any layer read was stored (all of them were, before, when cached).
    assert calls == [len(SIZES) if how == "cached" else 0]
    assert tree.view().entry("/etc/os-release") is not None


def test_an_error_in_meanwhile_stops_the_workers(tmp_path: Path,
                                                 workers: list[tuple[str, Any]]) -> None:
    image = open_image(_ref(tmp_path))

    def meanwhile() -> Any:
        raise RuntimeError("set-up failed")

    with pytest.raises(RuntimeError, match="set-up failed"):
        filetree.build(image, meanwhile=meanwhile)
    assert [e for e, _ in workers] == ["submit"] * len(SIZES)


def test_the_fingerprints_are_computed_once_per_image(tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """The cache keys of every layer share one fingerprint of the analysis (the secret
    scanner's hashes its whole configuration), computed once, not twice per layer."""
    image = open_image(_ref(tmp_path))
    computed: list[str] = []
    real = filetree.Analysis.fingerprint

    def fingerprint(self: filetree.Analysis) -> str:
        computed.append("entries")
        return real(self)

    monkeypatch.setattr(filetree.Analysis, "fingerprint", fingerprint)
    store = _Store()
    filetree.build(image, store=store)
    assert computed == ["entries"] and len(store.data) == len(SIZES)

