"""Layer workers that read their blobs themselves: for an OCI layout, an OCI archive and a
docker archive, a worker reads the blob's bytes where they are stored and checks their
digest; no FIFO, no feeder thread. The same indexes and SBOM as one process; a damaged,
truncated or swapped blob is one line, and no index of it is used or kept."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tarfile
import tempfile
from pathlib import Path
from typing import Any

import pytest

from hullcheck import catalog, filetree, pipeline, sbom
from hullcheck.errors import DigestMismatch, ImageError
from hullcheck.filetree import analysis
from hullcheck.image import open_image
from hullcheck.image.writer import whiteout
from tests.fixtures.images import build, write
from tests.fixtures.rootfs import layer

FORMS = ["oci", "oci-archive", "docker-archive"]


def _image(tmp: Path, form: str) -> str:
    return write(build(layer("dpkg/bookworm"), layer("python/system"),
                       {"srv/a.txt": "a" * 3000, "etc/os-release": "ID=debian\nVERSION_ID=12\n"},
                       [whiteout("srv/a.txt")]), tmp, form)


class _Feeds:
    """Counts the feeder threads started (none when workers read blobs themselves)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.started = 0
        self.used = 0  # times the layers went to worker processes
        real = analysis._Feeder.start

        def start(feeder: Any) -> None:
            self.started += 1
            real(feeder)

        monkeypatch.setattr(analysis._Feeder, "start", start)


def _workers(monkeypatch: pytest.MonkeyPatch) -> _Feeds:
    monkeypatch.setattr(analysis, "MIN_PARALLEL_BYTES", 0)
    monkeypatch.setenv(analysis.ENV_WORKERS, "2")
    feeds = _Feeds(monkeypatch)
    real = analysis._in_workers

    def counting(*a: Any, **kw: Any) -> Any:
        feeds.used += 1
        return real(*a, **kw)

    monkeypatch.setattr(analysis, "_in_workers", counting)
    return feeds


@pytest.fixture(autouse=True)
def _private_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Temporary directories made here, not in the shared /tmp, where other runs' come and
    go (``_leftovers`` looks here)."""
    private = tmp_path / "tmp"
    private.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(private))


def _leftovers() -> list[str]:
    return [d for d in os.listdir(tempfile.gettempdir()) if d.startswith("hullcheck-layers-")]


def _indexes(ref: str) -> list[bytes]:
    found = filetree.index_layers(open_image(ref), filetree.Analysis(globs=catalog.globs_for()))
    return [index.to_bytes() for index in found]


def _document(ref: str) -> dict[str, Any]:
    inventory = pipeline.read_image(pipeline.SbomRequest(image=ref)).inventory("all-layers")
    doc = json.loads(sbom.encode(inventory, "cyclonedx-json"))
    doc.pop("serialNumber", None)
    doc.get("metadata", {}).pop("timestamp", None)
    return doc


@pytest.mark.parametrize("form", FORMS)
def test_workers_reading_blobs_themselves_give_what_one_process_gives(
        form: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ref = _image(tmp_path, form)
    monkeypatch.setenv(analysis.ENV_WORKERS, "1")
    one, one_doc = _indexes(ref), _document(ref)
    feeds = _workers(monkeypatch)
    assert _indexes(ref) == one
    assert _document(ref) == one_doc and len(one_doc["components"]) > 5
    assert feeds.used == 2
    assert feeds.started == 0  # no FIFO, no feeder: the workers read the files
    assert not _leftovers()


def _member_offset(archive: Path, digest: str, image_ref: str) -> tuple[int, int]:
    """(offset, size) in ``archive`` of the layer blob with ``digest``."""
    hexpart = digest.split(":")[1]
    with tarfile.open(archive) as tf:
        for m in tf.getmembers():
            if m.isreg() and (hexpart in m.name or _hashes_to(tf, m, hexpart)):
                return m.offset_data, m.size
    raise AssertionError(f"{digest} not in {archive} ({image_ref})")


def _hashes_to(tf: tarfile.TarFile, m: tarfile.TarInfo, hexpart: str) -> bool:
    f = tf.extractfile(m)
    return f is not None and hashlib.sha256(f.read()).hexdigest() == hexpart


def _flip(path: Path, at: int) -> None:
    with open(path, "r+b") as f:
        f.seek(at)
        byte = f.read(1)
        f.seek(at)
        f.write(bytes([byte[0] ^ 0xFF]))


class _Store:
    def __init__(self) -> None:
        self.kept: dict[str, bytes] = {}

    def get(self, key: str) -> bytes | None:
        return self.kept.get(key)

    def put(self, key: str, data: bytes, label: str = "") -> None:
        self.kept[key] = data


@pytest.mark.parametrize("form", ["oci-archive", "docker-archive"])
@pytest.mark.parametrize("where", [0.5, 0.02])  # inside the stream; near its head
def test_a_blob_damaged_inside_an_archive_is_one_digest_error(
        form: str, where: float, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ref = _image(tmp_path, form)
    archive = Path(ref.split(":")[1])
    image = open_image(ref)
    bad = max(image.layers, key=lambda la: la.size)
    offset, size = _member_offset(archive, bad.digest, ref)
    _flip(archive, offset + int(size * where))
    feeds = _workers(monkeypatch)
    store = _Store()
    with pytest.raises(DigestMismatch) as err:
        filetree.build(open_image(ref), catalog.globs_for(), store=store)
    assert str(err.value).startswith(f"layer {bad.index} {bad.digest}: content hashes to sha256:")
    assert "\n" not in str(err.value)
    assert not [k for k in store.kept if k.startswith(bad.digest)]  # its index not kept
    assert feeds.started == 0 and not _leftovers()


@pytest.mark.parametrize("form", ["oci-archive", "docker-archive"])
def test_an_archive_truncated_after_it_was_opened_is_one_error(
        form: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ref = _image(tmp_path, form)
    archive = Path(ref.split(":")[1])
    image = open_image(ref)
    bad = max(image.layers, key=lambda la: la.size)
    offset, size = _member_offset(archive, bad.digest, ref)
    os.truncate(archive, offset + size // 2)  # the largest layer cut in half
    _workers(monkeypatch)
    cut = r"layer \d+ sha256:[0-9a-f]{64}: (truncated|content hashes)"
    with pytest.raises(DigestMismatch, match=cut) as err:
        filetree.build(image, catalog.globs_for())  # the first to finish of those cut
    assert "\n" not in str(err.value)
    assert not _leftovers()


def test_a_truncated_archive_is_refused_when_opened(tmp_path: Path) -> None:
    ref = _image(tmp_path, "oci-archive")
    archive = Path(ref.split(":")[1])
    os.truncate(archive, archive.stat().st_size // 3)
    with pytest.raises(ImageError, match="not a readable tar archive") as err:
        filetree.build(open_image(ref), catalog.globs_for())
    assert "\n" not in str(err.value)


def _rewrite_manifest(layout: Path, change: Any) -> None:
    """Change the layout's one manifest and point index.json at the new one."""
    index = json.loads((layout / "index.json").read_text())
    desc = index["manifests"][0]
    blobs = layout / "blobs" / "sha256"
    manifest = json.loads((blobs / desc["digest"].split(":")[1]).read_bytes())
    change(manifest)
    data = json.dumps(manifest).encode()
    hexpart = hashlib.sha256(data).hexdigest()
    (blobs / hexpart).write_bytes(data)
    desc.update(digest=f"sha256:{hexpart}", size=len(data))
    (layout / "index.json").write_text(json.dumps(index))


@pytest.mark.parametrize("delta", [1, -1])
def test_a_blob_whose_size_disagrees_with_the_manifest_is_refused(
        delta: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ref = _image(tmp_path, "oci")
    layout = Path(ref.split(":")[1])
    biggest = max(range(4), key=lambda i: open_image(ref).layers[i].size)

    def grow(manifest: dict[str, Any]) -> None:
        manifest["layers"][biggest]["size"] += delta

    _rewrite_manifest(layout, grow)
    _workers(monkeypatch)
    expected = "truncated" if delta > 0 else "longer than its declared size"
    with pytest.raises(DigestMismatch, match=f"layer {biggest} .*{expected}"):
        filetree.build(open_image(ref), catalog.globs_for())
    assert not _leftovers()


def test_a_swapped_archive_is_not_what_the_workers_read(tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """The workers read the archive the image was opened from (its open descriptor),
    whatever its name points to later."""
    (tmp_path / "a").mkdir()
    ref = _image(tmp_path / "a", "oci-archive")
    other = write(build({"x/other": "x" * 4000}, {"y/other": "y"}), tmp_path, "oci-archive")
    image = open_image(ref)
    before = [index.to_bytes() for index in filetree.index_layers(
        image, filetree.Analysis(globs=catalog.globs_for()), workers=1)]
    archive = Path(ref.split(":")[1])
    os.replace(Path(other.split(":")[1]), archive)  # another archive under the name
    _workers(monkeypatch)
    after = [index.to_bytes() for index in filetree.index_layers(
        image, filetree.Analysis(globs=catalog.globs_for()))]
    assert after == before


def test_a_blob_file_swapped_for_a_symlink_is_refused(tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    ref = _image(tmp_path, "oci")
    layout = Path(ref.split(":")[1])
    image = open_image(ref)
    bad = max(image.layers, key=lambda la: la.size)
    blob = layout / "blobs" / "sha256" / bad.digest.split(":")[1]
    kept = tmp_path / "kept"
    shutil.move(blob, kept)
    blob.symlink_to(kept)  # the same bytes, behind a link
    _workers(monkeypatch)
    with pytest.raises(ImageError, match=f"layer {bad.index} {bad.digest}: .*not a regular file"):
        filetree.build(image, catalog.globs_for())
    assert not _leftovers()
