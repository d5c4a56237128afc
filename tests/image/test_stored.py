"""A blob described for another process (``image.stored``): read where it lies, checked
against its digest, and never another file than the one described."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from hullcheck.errors import DigestMismatch, ImageError
from hullcheck.image.stored import describe, open_stored

DATA = b"0123456789" * 1000


def _blob(tmp: Path, data: bytes = DATA) -> tuple[Path, str]:
    path = tmp / "blob"
    path.write_bytes(b"head" + data + b"tail")
    return path, "sha256:" + hashlib.sha256(data).hexdigest()


def test_a_window_of_a_file_is_read_and_verified(tmp_path: Path) -> None:
    path, digest = _blob(tmp_path)
    blob = describe(str(path), path.stat(), digest=digest, size=len(DATA), offset=4,
                    length=len(DATA))
    with open_stored(blob, what="layer 0") as reader:
        assert reader.read(7) + reader.read() == DATA


def test_the_inherited_descriptor_is_read_without_moving_its_offset(tmp_path: Path) -> None:
    path, digest = _blob(tmp_path)
    with open(path, "rb") as f:
        f.seek(2)
        blob = describe(str(path), os.fstat(f.fileno()), digest=digest, size=None, offset=4,
                        length=len(DATA), fd=f.fileno())
        os.unlink(path)  # read through the descriptor, not the name
        with open_stored(blob, what="layer 0") as reader:
            assert reader.read() == DATA
        assert f.tell() == 2 and f.read(2) == b"ad"


def test_a_file_replaced_after_it_was_described_is_refused(tmp_path: Path) -> None:
    path, digest = _blob(tmp_path)
    blob = describe(str(path), path.stat(), digest=digest, size=None, offset=4, length=len(DATA))
    other = tmp_path / "other"
    other.write_bytes(path.read_bytes())  # the very same bytes, another file
    os.replace(other, path)
    with pytest.raises(ImageError, match=r"layer 0 sha256:[0-9a-f]{64}: .* was replaced"), \
            open_stored(blob, what="layer 0"):
        pass


def test_a_symlink_in_its_place_is_refused(tmp_path: Path) -> None:
    path, digest = _blob(tmp_path)
    blob = describe(str(path), path.stat(), digest=digest, size=None)
    os.rename(path, tmp_path / "real")
    path.symlink_to(tmp_path / "real")
    with pytest.raises(ImageError, match="cannot open"), open_stored(blob, what="layer 0"):
        pass


def test_a_fifo_in_its_place_is_refused_without_waiting(tmp_path: Path) -> None:
    path, digest = _blob(tmp_path)
    blob = describe(str(path), path.stat(), digest=digest, size=None)
    os.unlink(path)
    os.mkfifo(path)
    with pytest.raises(ImageError, match="was replaced"), open_stored(blob, what="layer 0"):
        pass


def test_bytes_changed_in_place_are_a_digest_mismatch(tmp_path: Path) -> None:
    path, digest = _blob(tmp_path)
    blob = describe(str(path), path.stat(), digest=digest, size=len(DATA), offset=4,
                    length=len(DATA))
    with open(path, "r+b") as f:
        f.seek(500)
        f.write(b"X")
    with pytest.raises(DigestMismatch, match="layer 0 sha256:"), \
            open_stored(blob, what="layer 0") as reader:
        reader.read()


def test_a_file_shorter_than_described_is_truncated(tmp_path: Path) -> None:
    path, digest = _blob(tmp_path)
    blob = describe(str(path), path.stat(), digest=digest, size=len(DATA), offset=4,
                    length=len(DATA))
    os.truncate(path, 100)
    with pytest.raises(DigestMismatch, match="truncated, 96 of"), \
            open_stored(blob, what="layer 0") as reader:
        reader.read()
