"""A layer as a compact index: its wire form, the tree made of indexes (no object per
entry), and the analysis in worker processes giving what one process gives."""

from __future__ import annotations

import gc
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from hullcheck import catalog, filetree, pipeline
from hullcheck.errors import DigestMismatch, UnsafeLayer
from hullcheck.filetree import FileEntry, LayerIndex, analysis
from hullcheck.filetree.index import CorruptIndex
from hullcheck.image import open_image
from hullcheck.image.writer import file, hardlink, opaque, symlink, whiteout
from tests.fixtures.hostile import traversal
from tests.fixtures.images import build, write
from tests.fixtures.rootfs import layer

ALL = ["/**"]


def _index(tmp: Path, *entries: Any) -> LayerIndex:
    ref = write(build(list(entries)), tmp)
    [index] = filetree.index_layers(open_image(ref), filetree.Analysis(globs=("/**",)))
    return index


def test_the_wire_form_gives_back_every_column(tmp_path: Path) -> None:
    index = _index(tmp_path, file("etc/a", "x"), file("usr/bin/tool", b"\x7fELF" + bytes(60), 0o755),
                   symlink("lib", "usr/lib"), hardlink("etc/b", "etc/a"), whiteout("gone"),
                   opaque("var"), file("caf\udce9/n", "non-UTF-8 name"))
    back = LayerIndex.from_bytes(index.to_bytes())
    assert [back.entry(r, 0) for r in range(len(back))] == \
        [index.entry(r, 0) for r in range(len(index))]
    assert (back.whiteouts, back.opaque) == (["/gone"], ["/var"])
    assert back.entry(back.names.index("n"), 0).path == "/caf\udce9/n"


@pytest.mark.parametrize("damage", [
    lambda b: b[: len(b) // 2],  # truncated
    lambda b: b"\x00" + b[1:],  # not what was written
    lambda b: b[:-3] + b"\xff\xff\xff",
    lambda b: b"",
])
def test_damaged_bytes_are_refused(tmp_path: Path, damage: Any) -> None:
    data = _index(tmp_path, file("etc/a", "x"), symlink("l", "etc/a")).to_bytes()
    with pytest.raises(CorruptIndex):
        LayerIndex.from_bytes(damage(data))


def test_a_row_out_of_range_is_refused(tmp_path: Path) -> None:
    index = _index(tmp_path, file("etc/a", "x"))
    index.links[5] = "/nowhere"  # a link on a row the index does not have
    with pytest.raises(CorruptIndex, match="row out of range"):
        LayerIndex.from_bytes(index.to_bytes())


def test_a_nul_in_a_name_is_an_unsafe_layer() -> None:
    import io
    import tarfile

    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tf:
        info = tarfile.TarInfo("ok")
        info.pax_headers = {"path": "etc/a\x00b"}
        tf.addfile(info, io.BytesIO(b""))
    with pytest.raises(UnsafeLayer, match="NUL byte in path"):
        filetree.read_tar(iter([buf.getvalue()]), index=0, what="layer 0", wanted=None)


def test_the_tree_keeps_no_object_per_entry(tmp_path: Path) -> None:
    """The merged tree holds columns and refs: building it makes no FileEntry per file
    (the old tree kept one per file and version), and asking for one makes it then."""
    files = {f"srv/d{i // 100}/f{i}": "x" for i in range(3000)}
    ref = write(build(files, {"srv/d0/f0": "y"}), tmp_path)
    image = open_image(ref)
    gc.collect()
    before = sum(isinstance(o, FileEntry) for o in gc.get_objects())
    tree = filetree.build(image, ["/srv/d0/*"])
    gc.collect()
    after = sum(isinstance(o, FileEntry) for o in gc.get_objects())
    assert after - before == 0
    assert tree.entry_count() == 3001 and len(tree.final) == 3000  # no directory entries
    assert [layer for layer, _ in tree.versions["/srv/d0/f0"]] == [0, 1]
    assert tree.view().read("/srv/d0/f0") == b"y"


def _workers(monkeypatch: pytest.MonkeyPatch, calls: dict[str, int]) -> None:
    """Worker processes even for tiny layers, counting how often they are used."""
    monkeypatch.setattr(analysis, "MIN_PARALLEL_BYTES", 0)
    real = analysis._in_workers

    def counting(*a: Any, **kw: Any) -> Any:
        calls["workers"] += 1
        return real(*a, **kw)

    monkeypatch.setattr(analysis, "_in_workers", counting)


def _realistic(tmp: Path) -> str:
    return write(build(layer("dpkg/bookworm"), layer("python/system"),
                       {"srv/a.txt": "a", "etc/os-release": "ID=debian\nVERSION_ID=12\n"},
                       [whiteout("srv/a.txt")]), tmp)


def test_worker_processes_give_what_one_process_gives(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        layer_dirs_left: Callable[[], list[str]]) -> None:
    ref = _realistic(tmp_path)
    one = pipeline.read_image(pipeline.SbomRequest(image=ref)).inventory("all-layers")
    calls = {"workers": 0}
    _workers(monkeypatch, calls)
    many = pipeline.read_image(pipeline.SbomRequest(image=ref)).inventory("all-layers")
    assert calls["workers"] == 1
    assert many == one and len(one.packages) > 5
    assert not layer_dirs_left()


def test_a_tampered_blob_read_for_a_worker_is_a_digest_mismatch(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ref = write(build({"a/x": "1" * 5000}, {"b/y": "2" * 5000}), tmp_path)
    image = open_image(ref)
    blob = tmp_path / "oci" / "blobs" / "sha256" / image.layers[1].digest.split(":")[1]
    data = bytearray(blob.read_bytes())
    data[-9] ^= 1  # the gzip trailer: the tar still parses, the digest does not match
    blob.write_bytes(bytes(data))
    _workers(monkeypatch, {"workers": 0})
    with pytest.raises(DigestMismatch):
        filetree.build(open_image(ref), catalog.globs_for())


def test_a_hostile_layer_in_a_worker_is_one_clear_error(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        layer_dirs_left: Callable[[], list[str]]) -> None:
    ref = traversal(tmp_path)
    _workers(monkeypatch, {"workers": 0})
    with pytest.raises(UnsafeLayer, match="escapes the image root"):
        filetree.build(open_image(ref), catalog.globs_for())
    assert not layer_dirs_left()


def _die(*_args: Any) -> None:
    os._exit(9)  # a worker killed (out of memory, a signal)


def test_a_worker_that_dies_is_one_clear_error(tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    from hullcheck.errors import ImageError

    ref = write(build({"a/x": "1"}, {"b/y": "2"}), tmp_path)
    _workers(monkeypatch, {"workers": 0})
    monkeypatch.setattr(analysis, "_work", _die)
    monkeypatch.setattr(analysis, "_work_stored", _die)
    with pytest.raises(ImageError, match="the worker process reading it died") as err:
        filetree.build(open_image(ref), catalog.globs_for())
    assert "HULLCHECK_LAYER_WORKERS=1" in err.value.hint


def test_worker_processes_have_exited_before_the_indexes_load(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A worker's heap (a large layer's index, built then encoded) is not held beside the
    indexes the parent loads: the pool is shut down first (bench/README.md: peaks)."""
    import multiprocessing

    ref = write(build({"a/x": "1" * 5000}, {"b/y": "2" * 5000}, {"c/z": "3"}), tmp_path)
    _workers(monkeypatch, {"workers": 0})
    alive: list[int] = []
    real = LayerIndex.from_bytes

    def loading(data: bytes) -> LayerIndex:
        alive.append(len(multiprocessing.active_children()))
        return real(data)

    monkeypatch.setattr(LayerIndex, "from_bytes", staticmethod(loading))
    tree = filetree.build(open_image(ref), catalog.globs_for())
    assert alive == [0, 0, 0]
    assert "/c/z" in tree.final and "/a/x" in tree.final


def test_workers_report_each_layer_read_before_the_indexes_load(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Progress goes on while the workers read (the indexes load only once all are read)."""
    ref = write(build({"a/x": "1" * 5000}, {"b/y": "2" * 5000}, {"c/z": "3"}), tmp_path)
    _workers(monkeypatch, {"workers": 0})
    events: list[str] = []
    real = LayerIndex.from_bytes

    def loading(data: bytes) -> LayerIndex:
        events.append("load")
        return real(data)

    monkeypatch.setattr(LayerIndex, "from_bytes", staticmethod(loading))
    image = open_image(ref)
    filetree.build(image, catalog.globs_for(),
                   on_layer=lambda la: events.append(f"read {la.index}"))
    assert sorted(events[:3]) == ["read 0", "read 1", "read 2"]
    assert events[3:] == ["load"] * 3
