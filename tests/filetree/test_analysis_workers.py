"""Layers read in worker processes: the jobs given to the pool only ahead of need (an
image of thousands of layers does not start thousands of feeder threads and FIFOs at
once), and failures mid-way stopping everything with one line."""

from __future__ import annotations

import dataclasses
import multiprocessing
import os
import stat
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from hullcheck import catalog, deadline, filetree
from hullcheck.errors import DeadlineExceeded, DigestMismatch, ImageError, UnsafeLayer
from hullcheck.filetree import analysis
from hullcheck.image import open_image
from hullcheck.image.model import Image
from tests.fixtures.images import build, write

WORKERS = 2
LAYERS = 300
AHEAD = 2  # feeds at most two per worker ahead of those completed (analysis.AHEAD)


@pytest.fixture(scope="module")
def many_layers(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An OCI layout of 300 tiny layers (each its own file, one of them also in the next)."""
    layers = [{f"d{i}/f": f"layer {i}\n" * (1 + i % 7), f"d{i + 1}/g": str(i)}
              for i in range(LAYERS)]
    ref = write(build(*layers), tmp_path_factory.mktemp("many"))
    return Path(ref.split(":")[1])  # oci:DIR:TAG


def _forced(monkeypatch: pytest.MonkeyPatch, workers: int = WORKERS) -> None:
    monkeypatch.setattr(analysis, "MIN_PARALLEL_BYTES", 0)
    monkeypatch.setenv(analysis.ENV_WORKERS, str(workers))


def _streamed(layout: Path) -> Image:
    """The image as a stream of each blob read here (as from a registry): fed to the
    workers through FIFOs."""
    return dataclasses.replace(open_image(f"oci:{layout}"), locator=None)


class _Watch:
    """At each feed started: the live feeder threads and the FIFOs that exist."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.feeds: list[int] = []
        self.fifos: list[int] = []
        real = analysis._Feeder.start

        def start(feeder: Any) -> None:
            real(feeder)
            self.feeds.append(sum(t.name.startswith("feed-") for t in threading.enumerate()))
            where = os.path.dirname(feeder._fifo)
            self.fifos.append(sum(stat.S_ISFIFO(os.lstat(os.path.join(where, f)).st_mode)
                                  for f in os.listdir(where)))

        monkeypatch.setattr(analysis._Feeder, "start", start)


# Temporary directories in a private folder (tests/conftest.py): ``_leftovers`` looks there.
pytestmark = pytest.mark.usefixtures("layer_dirs_left")


def _leftovers() -> list[str]:
    return [d for d in os.listdir(tempfile.gettempdir()) if d.startswith("hullcheck-layers-")]


def _indexes(image: Image) -> list[bytes]:
    found = filetree.index_layers(image, filetree.Analysis(globs=("/**",)))
    return [index.to_bytes() for index in found]


def test_feeds_are_started_only_ahead_of_need(many_layers: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    one = _indexes(open_image(f"oci:{many_layers}"))  # one process: no workers
    _forced(monkeypatch)
    watch = _Watch(monkeypatch)
    many = _indexes(_streamed(many_layers))
    assert len(watch.feeds) == LAYERS  # every layer fed once
    assert max(watch.feeds) <= AHEAD * WORKERS
    assert max(watch.fifos) <= AHEAD * WORKERS
    assert many == one
    assert not _leftovers()


def _size_order(image: Image) -> list[int]:
    return [la.index for la in sorted(image.layers, key=lambda la: -la.size)]


def test_a_digest_mismatch_mid_way_stops_the_rest(many_layers: Path, tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    import shutil

    layout = tmp_path / "oci"
    shutil.copytree(many_layers, layout)
    image = open_image(f"oci:{layout}")
    bad = image.layers[_size_order(image)[LAYERS // 2]]
    blob = layout / "blobs" / "sha256" / bad.digest.split(":")[1]
    data = bytearray(blob.read_bytes())
    data[-9] ^= 1  # the gzip trailer: the tar still parses, the digest does not match
    blob.write_bytes(bytes(data))
    _forced(monkeypatch)
    watch = _Watch(monkeypatch)
    with pytest.raises(DigestMismatch, match=f"layer {bad.index} {bad.digest}"):
        filetree.build(_streamed(layout), catalog.globs_for())
    # Those after it in the queue never started (a few may have, as others completed).
    assert LAYERS // 2 < len(watch.feeds) < LAYERS
    assert not _leftovers()


_VICTIM = -1  # the layer whose worker dies (set before the pool forks: workers inherit it)
_REAL_WORK = analysis._work


def _dying_work(fifo: str, what_analysis: Any, what: str, size: int) -> Any:
    if what.startswith(f"layer {_VICTIM} "):
        os._exit(9)  # a worker killed (out of memory, a signal)
    return _REAL_WORK(fifo, what_analysis, what, size)


def test_a_worker_killed_mid_way_stops_the_rest(many_layers: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    image = _streamed(many_layers)
    victim = _size_order(image)[LAYERS // 2]
    _forced(monkeypatch)
    monkeypatch.setattr(analysis, "_work", _dying_work)
    monkeypatch.setattr(sys.modules[__name__], "_VICTIM", victim)
    watch = _Watch(monkeypatch)
    with pytest.raises(ImageError, match="the worker process reading it died"):
        filetree.build(image, catalog.globs_for())
    assert len(watch.feeds) < LAYERS
    assert not _leftovers()


def _waits_for_stop(*_args: Any) -> Any:
    """A worker's job that runs until the parent says stop (a layer far larger than the
    deadline allows)."""
    while True:
        analysis._check_stop()
        time.sleep(0.005)


def _fails_or_waits(blob: Any, out: str, what_analysis: Any, what: str, size: int) -> Any:
    if what.startswith(f"layer {_VICTIM} "):
        raise UnsafeLayer(f"{what}: made up")
    return _waits_for_stop()


def test_the_deadline_stops_workers_reading_blobs_themselves(
        many_layers: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _forced(monkeypatch)
    monkeypatch.setattr(analysis, "_work_stored", _waits_for_stop)
    image = open_image(f"oci:{many_layers}")
    with deadline.within(0.3, "sbom"), pytest.raises(DeadlineExceeded, match="while reading layer"):
        filetree.build(image, catalog.globs_for())
    assert not multiprocessing.active_children()  # told to stop, they did
    assert not _leftovers()


def test_an_error_stops_the_workers_still_reading(many_layers: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    image = open_image(f"oci:{many_layers}")
    _forced(monkeypatch)
    monkeypatch.setattr(analysis, "_work_stored", _fails_or_waits)
    monkeypatch.setattr(sys.modules[__name__], "_VICTIM", _size_order(image)[1])
    with pytest.raises(UnsafeLayer, match="made up"):
        filetree.build(image, catalog.globs_for())
    assert not multiprocessing.active_children()
    assert not _leftovers()
