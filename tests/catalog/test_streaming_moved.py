"""What the layers' content sinks found, at the paths where the files land: a symlinked
parent moves a layer's entry (``filetree.tree``), and the binary sink and the RECORD
digests, which name files as their layer's tar does, are placed on the merged tree (the
runner finds each executable's entry with ``tree.written_by``; ``streaming.landed_digests``
re-keys the digests) before the catalogers read them."""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path

import pytest

from hullcheck import filetree, pipeline
from hullcheck.catalog.python import StreamedDigests
from hullcheck.catalog.streaming import (
    BinarySpec,
    RecordSpec,
    landed_digests,
)
from hullcheck.image import open_image
from hullcheck.image.writer import Entry, directory, file, symlink
from hullcheck.model import PackageType
from tests.fixtures.binaries.elfgen import make_elf
from tests.fixtures.images import build, write

BUSYBOX = make_elf([(".text", b"\x90" * 64), (".rodata", b"\x00BusyBox v1.36.1 (2023)\x00")])
SITE = "usr/lib/python3/dist-packages"
CLI = f"/{SITE}/tinypkg/cli.py"
ONE = b"print(1)\n"


def _sha(data: bytes) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(data).digest()).decode().rstrip("=")


def test_a_moved_executables_packages_are_located_where_it_lands(tmp_path: Path) -> None:
    """/opt/x/busybox (a glob path) lands at /usr/bin/busybox: its package is located
    there, and, too large for the tree but read by the sink, it is no unknown there."""
    ref = write(build([directory("usr"), directory("usr/bin"), directory("opt"),
                       symlink("opt/x", "/usr/bin")],
                      [file("opt/x/busybox", BUSYBOX, 0o755)]), tmp_path)
    inv = pipeline.inventory(pipeline.SbomRequest(image=ref, max_file_size=len(BUSYBOX) - 1))
    [pkg] = [p for p in inv.packages if p.type is PackageType.BINARY]
    assert (pkg.name, pkg.version) == ("busybox", "1.36.1")
    assert [(loc.path, loc.layer) for loc in pkg.locations] == [("/usr/bin/busybox", 1)]
    assert pkg.files == ("/usr/bin/busybox",)
    assert [u.location.path for u in inv.unknowns] == []


def _package(*extra: Entry) -> list[Entry]:
    """tinypkg with a RECORD of one hashed row, cli.py, and ``alias -> tinypkg`` beside it."""
    record = f"tinypkg/cli.py,sha256={_sha(ONE)},9\ntinypkg-1.0.dist-info/RECORD,,\n"
    return [file(f"{SITE}/tinypkg-1.0.dist-info/METADATA",
                 "Metadata-Version: 2.1\nName: tinypkg\nVersion: 1.0\n"),
            file(f"{SITE}/tinypkg-1.0.dist-info/RECORD", record),
            file(f"{SITE}/tinypkg/cli.py", "print(1)\n"), symlink(f"{SITE}/alias", "tinypkg"),
            *extra]


EVIL = file(f"{SITE}/alias/cli.py", "print(2)\n")  # same size, other bytes; lands at CLI


@pytest.mark.parametrize("layers", [(_package(), [EVIL]), (_package(EVIL),)],
                         ids=["a later layer", "the same layer"])
def test_a_record_row_is_judged_against_the_file_where_it_lands(
        tmp_path: Path, layers: tuple[list[Entry], ...]) -> None:
    """The file at cli.py is the one alias/cli.py wrote: its sha256 (streamed as alias/...)
    is compared, not the digest or the verdict of the member the tar named cli.py."""
    ref = write(build(*layers), tmp_path)
    inv = pipeline.inventory(pipeline.SbomRequest(image=ref))
    [pkg] = [p for p in inv.packages if p.name == "tinypkg"]
    extras = dict(pkg.extras)
    assert extras["record:modified"] == f"1: {CLI}"
    assert extras["record:checked"] == "1 files: 0 by hash, 0 by size only"


def _tree_and_digests(tmp_path: Path, *layers: list[Entry]) -> tuple[
        filetree.FileTree, StreamedDigests]:
    tree = filetree.build(open_image(write(build(*layers), tmp_path)), ["/nothing"],
                          sinks=[BinarySpec(), RecordSpec()])
    return tree, RecordSpec.merge(tree.results("record-digests"))


def test_an_image_without_moved_files_keeps_the_sinks_findings_as_they_are(
        tmp_path: Path) -> None:
    tree, digests = _tree_and_digests(tmp_path, _package(),
                                              [file("usr/bin/busybox", BUSYBOX, 0o755)])
    assert tree.moved_layers() == frozenset()
    assert landed_digests(digests, tree) is digests and digests.records


def test_only_a_moving_layers_findings_are_mapped(tmp_path: Path) -> None:
    """Layer 0 moved nothing: its digests and judged RECORD stay; layer 1's file lands at
    cli.py, where the digest of layer 1's own tinypkg/cli.py member no longer applies."""
    tree, digests = _tree_and_digests(
        tmp_path, _package(),
        [file(f"{SITE}/tinypkg/cli.py", "print(3)\n"), EVIL, file("x/busybox", BUSYBOX, 0o755),
         symlink("x", "/usr/bin"), file("x/busybox", BUSYBOX, 0o755)])
    assert tree.moved_layers() == {1}
    assert tree.landed(1, "/x/busybox") == ("/usr/bin/busybox", True)
    assert tree.landed(1, CLI) == (CLI, False)
    mapped = landed_digests(digests, tree)
    assert mapped[1, CLI] == _sha(b"print(2)\n") and (1, f"/{SITE}/alias/cli.py") not in mapped
    assert mapped[0, CLI] == _sha(b"print(1)\n") == digests[0, CLI]
    assert set(mapped.records) == {(0, f"/{SITE}/tinypkg-1.0.dist-info/RECORD")}
    assert len(mapped) == len(digests) - 1
