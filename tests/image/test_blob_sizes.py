"""A blob one byte longer than its manifest declares is "longer than its declared size", by
whichever path it is read (an OCI layout's file, in one process or by a layer worker, an OCI
archive's member, a registry's stream, in the parent or piped to a worker), never
"truncated"; and ``read(0)`` asks a ``VerifyingReader`` for nothing, not for the end."""

from __future__ import annotations

import io
import os
import tarfile
from pathlib import Path

import pytest

from hullcheck.cli.main import main
from hullcheck.digest import VerifyingReader, sha256_digest
from hullcheck.errors import DigestMismatch
from hullcheck.filetree import analysis
from hullcheck.image.writer import BuiltImage, file
from tests.fixtures.images import build, write
from tests.registry._servers import Handler, reply, serve, serve_image

DATA = b"0123456789"


def _image() -> BuiltImage:
    return build([file("etc/a", "a" * 1000)], [file("etc/b", "b" * 3000)])


def _workers(monkeypatch: pytest.MonkeyPatch, workers: bool) -> None:
    if workers:  # every layer read by a worker process
        monkeypatch.setattr(analysis, "MIN_PARALLEL_BYTES", 0)
        monkeypatch.setenv(analysis.ENV_WORKERS, "2")


def _said(args: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    assert main(["sbom", *args, "--no-cache", "-q"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and err[1].startswith("hint:")
    return err[0]


def test_read_nothing_is_not_the_end_of_the_stream() -> None:
    reader = VerifyingReader(io.BytesIO(DATA), sha256_digest(DATA), what="blob", size=len(DATA))
    assert reader.read(3) == b"012" and reader.read(0) == b""
    assert reader.readinto(bytearray()) == 0
    assert reader.read() == b"3456789" and reader.bytes_read == len(DATA)


def test_an_overrun_met_at_the_end_is_longer_not_truncated() -> None:
    """The declared size read exactly, then one more byte where the end should be."""
    reader = VerifyingReader(io.BytesIO(DATA + b"!"), sha256_digest(DATA), what="blob",
                             size=len(DATA))
    assert reader.read(len(DATA)) == DATA
    with pytest.raises(DigestMismatch, match=r"^blob sha256:\w+: longer than its declared size 10$"):
        reader.finish()
    short = VerifyingReader(io.BytesIO(DATA[:4]), sha256_digest(DATA), what="blob", size=10)
    with pytest.raises(DigestMismatch, match=r": truncated, 4 of 10 bytes$"):
        short.finish()


def _longer_layout(tmp_path: Path) -> tuple[str, str, int]:
    """An OCI layout whose layer 1 blob has one byte appended: (argument, digest, size)."""
    image = _image()
    ref = write(image, tmp_path)
    layer = image.layers[1]
    root = Path(ref.removeprefix("oci:").rsplit(":", 1)[0])
    with (root / "blobs" / "sha256" / layer.digest.split(":")[1]).open("ab") as f:
        f.write(b"\0")
    return ref, layer.digest, len(layer.blob)


@pytest.mark.parametrize("workers", [False, True], ids=["one process", "workers"])
def test_a_layout_file_one_byte_longer(tmp_path: Path, workers: bool,
                                       capsys: pytest.CaptureFixture[str],
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    ref, digest, size = _longer_layout(tmp_path)
    _workers(monkeypatch, workers)
    assert _said([ref], capsys) == (
        f"hullcheck: error: layer 1 {digest}: longer than its declared size {size}")


def test_an_archive_member_one_byte_longer(tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    ref, digest, size = _longer_layout(tmp_path)
    root = Path(ref.removeprefix("oci:").rsplit(":", 1)[0])
    archive = tmp_path / "image.oci.tar"
    with tarfile.open(archive, "w") as tar:
        for name in sorted(os.listdir(root)):
            tar.add(root / name, arcname=name)
    assert _said([f"oci-archive:{archive}"], capsys) == (
        f"hullcheck: error: layer 1 {digest}: longer than its declared size {size}")


@pytest.mark.parametrize("workers", [False, True], ids=["one process", "piped to a worker"])
def test_a_registry_stream_one_byte_longer(workers: bool, capsys: pytest.CaptureFixture[str],
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """Layer 1 served without a length (the end of the body is the connection's): only
    the count of bytes read shows the overrun."""
    image = _image()
    layer = image.layers[1]

    def longer(h: Handler, blob: bytes) -> None:
        if blob != layer.blob:
            reply(h, 200, blob)
            return
        h.send_response(200)
        h.send_header("Connection", "close")
        h.end_headers()
        h.wfile.write(blob + b"\0")
        h.close_connection = True

    _workers(monkeypatch, workers)
    with serve(lambda h: serve_image(h, image, slow=longer)) as reg:
        assert _said([f"{reg.host}/team/app:1"], capsys) == (
            f"hullcheck: error: {reg.host}/team/app blob {layer.digest}: "
            f"longer than its declared size {len(layer.blob)}")
