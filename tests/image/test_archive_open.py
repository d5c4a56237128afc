"""An archive that cannot be read as a tar (no file there to read, not a tar, cut short)
is one line, said in one place (``layout.TarBlobs``), and leaves no descriptor open."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from hullcheck.cli.main import main
from hullcheck.errors import ImageError
from hullcheck.image.layout import TarBlobs
from hullcheck.image.writer import file
from tests.fixtures.images import build, write


def _archive(tmp_path: Path) -> Path:
    ref = write(build([file("etc/a", "a" * 5000)]), tmp_path, "oci-archive")
    return Path(ref.removeprefix("oci-archive:"))


def _open_descriptors() -> set[str]:
    return set(os.listdir("/proc/self/fd"))


@pytest.mark.parametrize("damage", ["a directory", "not a tar", "cut short"])
def test_an_unreadable_archive_is_one_line_and_no_descriptor_left(
        tmp_path: Path, damage: str) -> None:
    archive = _archive(tmp_path)
    if damage == "a directory":
        archive = tmp_path / "dir.tar"
        archive.mkdir()
        why = "Is a directory"
    elif damage == "not a tar":
        archive.write_bytes(b"\x7fELF" + b"\0" * 2000)
        why = "bad checksum"
    else:
        archive.write_bytes(archive.read_bytes()[:1536])  # a member's data cut short
        why = "unexpected end of data"
    before = _open_descriptors()
    with pytest.raises(ImageError) as err:
        TarBlobs(archive)
    assert str(err.value).startswith(f"{archive}: not a readable tar archive (")
    assert why in str(err.value) and "\n" not in str(err.value)
    assert _open_descriptors() == before


def test_the_cli_says_it_in_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    archive = _archive(tmp_path)
    archive.write_bytes(b"not a tar at all" * 100)
    assert main(["sbom", f"oci-archive:{archive}"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[0].startswith(f"hullcheck: error: {archive}: not a readable tar archive (")
    assert len(err) <= 2


def test_a_readable_archive_keeps_its_one_descriptor_until_closed(tmp_path: Path) -> None:
    archive = _archive(tmp_path)
    before = _open_descriptors()
    blobs = TarBlobs(archive)
    assert len(_open_descriptors() - before) == 1 and blobs.members
    blobs.close()
    assert _open_descriptors() == before
