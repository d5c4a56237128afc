"""RECORD rows judged in the layer that wrote them (``python.layer_records``, cached with the
layer by ``streaming.RecordSpec``): the same answers as checking every row in the merged tree,
a later layer's change to a listed file still found, and a damaged cache entry read again."""

from __future__ import annotations

import base64
import functools
import hashlib
import json
from pathlib import Path

import pytest

from hullcheck import filetree
from hullcheck.catalog import python as py
from hullcheck.catalog.streaming import RecordSpec
from hullcheck.cli.main import main
from hullcheck.image import open_image
from hullcheck.image.writer import file, symlink, whiteout
from tests.fixtures.images import build, write

SITE = "usr/lib/python3/dist-packages"
META = f"/{SITE}/tinypkg-1.0.dist-info"


def _row(path: str, data: bytes, algorithm: str = "sha256", size: int | None = None) -> str:
    digest = base64.urlsafe_b64encode(hashlib.new(algorithm, data).digest()).decode().rstrip("=")
    return f"{path},{algorithm}={digest},{len(data) if size is None else size}"


def _package() -> dict[str, bytes | str]:
    record = "\n".join([
        _row("tinypkg/__init__.py", b""),
        _row("tinypkg/cli.py", b"print(1)\n"),
        _row("tinypkg/data.txt", b"data\n", "sha512"),  # not sha256: not judged in the layer
        _row("tinypkg/util.py", b"u = 1\n", size=99),  # the size differs already
        _row("tinypkg/evil.py", b"x = 1\n"),  # same size, other bytes already
        _row("tinypkg/sub/x.py", b"x\n"),
        _row("../../../bin/tiny", b"#!/bin/sh\n"),  # outside the package dirs: not streamed
        _row("tinypkg/absent.py", b"gone"),
        "tinypkg-1.0.dist-info/METADATA,,",
        "tinypkg-1.0.dist-info/RECORD,,",
    ]) + "\n"
    return {
        f"{SITE}/tinypkg/__init__.py": b"", f"{SITE}/tinypkg/cli.py": b"print(1)\n",
        f"{SITE}/tinypkg/data.txt": b"data\n", f"{SITE}/tinypkg/util.py": b"u = 1\n",
        f"{SITE}/tinypkg/evil.py": b"x = 2\n", f"{SITE}/tinypkg/sub/x.py": b"x\n",
        "usr/bin/tiny": b"#!/bin/sh\n",
        f"{SITE}/tinypkg-1.0.dist-info/METADATA": "Metadata-Version: 2.1\nName: tinypkg\n"
                                                  "Version: 1.0\n",
        f"{SITE}/tinypkg-1.0.dist-info/RECORD": record,
    }


LATER = [file(f"{SITE}/tinypkg/cli.py", "print(2)\n"),  # same size, other bytes
         whiteout(f"{SITE}/tinypkg/__init__.py"),
         file(f"{SITE}/tinypkg/sub", "a file where the directory was")]


def test_judged_rows_give_the_answers_every_row_checked_gives(tmp_path: Path) -> None:
    image = open_image(write(build(_package(), LATER), tmp_path / "img"))
    tree = filetree.build(image, py.PythonInstalledCataloger.needs, sinks=[RecordSpec()])
    digests = RecordSpec.merge(tree.results("record-digests"))
    plain = dict(digests)  # as before: digests only, every row checked in the merged tree
    data = tree.view().read(f"{META}/RECORD")
    assert data is not None
    checks = {}
    for upto in (0, 1):
        view = tree.view(upto=upto)
        judged = py.judged_record(META, view, digests)
        assert judged is not None and judged[0] == 0
        assert judged[1].verdicts.count(py.SAME) == 3 and judged[1].verdicts.count(py.CHANGED) == 2
        checks[upto] = py.verify_record(data, META, view, digests, judged)
        assert checks[upto] == py.verify_record(data, META, view, plain)
    site = f"/{SITE}/tinypkg"
    assert checks[0].modified == (f"{site}/util.py", f"{site}/evil.py")
    assert checks[0].missing == (f"{site}/absent.py",)
    # The later layer's edit, whiteout and file replacing a directory are found.
    assert checks[1].modified == (f"{site}/cli.py", f"{site}/util.py", f"{site}/evil.py")
    assert checks[1].missing == (f"{site}/__init__.py", f"{site}/sub/x.py", f"{site}/absent.py")


def test_a_record_reached_through_a_link_is_checked_row_by_row(tmp_path: Path) -> None:
    """Verdicts belong to the RECORD file their layer read: a RECORD the view reaches through
    a link (another file's bytes) is not given them."""
    layers = (_package(), [symlink(f"{SITE}/tinypkg-1.0.dist-info/RECORD", "/etc/record"),
                           file("etc/record", "tinypkg/cli.py,,\n")])
    image = open_image(write(build(*layers), tmp_path / "img"))
    tree = filetree.build(image, py.PythonInstalledCataloger.needs, sinks=[RecordSpec()])
    digests = RecordSpec.merge(tree.results("record-digests"))
    assert py.judged_record(META, tree.view(), digests) is None
    assert py.judged_record(META, tree.view(upto=0), digests) is not None


def _extras(args: list[str], capsys: pytest.CaptureFixture[str]) -> dict[str, str]:
    assert main(["sbom", *args, "-o", "json", "-q"]) == 0
    doc = json.loads(capsys.readouterr()[0])
    (pkg,) = [p for p in doc["packages"] if p["name"] == "tinypkg"]
    return dict(pkg["extras"])


def test_warm_runs_find_what_cold_runs_find_and_a_damaged_entry_is_read_again(
        tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    ref = write(build(_package(), LATER), tmp_path / "img")
    cache = tmp_path / "cache"
    cold = _extras([ref, "--no-cache"], capsys)
    assert "tinypkg/cli.py" in cold["record:modified"]
    assert "tinypkg/__init__.py" in cold["record:missing"]
    assert _extras([ref, "--cache-dir", str(cache)], capsys) == cold  # fills the cache
    parsed: list[str] = []
    real = py._record_rows.__wrapped__

    def counting(data: bytes, base: str) -> tuple[tuple[str, str, str], ...]:
        parsed.append(base)
        return real(data, base)

    monkeypatch.setattr(py, "_record_rows", functools.lru_cache(maxsize=256)(counting))
    assert _extras([ref, "--cache-dir", str(cache)], capsys) == cold  # warm
    # Parsed once, for the rows a later layer changed; not to judge the others.
    assert parsed == [f"/{SITE}"]
    # A damaged entry of the RECORD section is noticed by the store and the layer read again.
    entries = [p for p in cache.rglob("*") if p.is_file() and b" record-digests " in
               p.read_bytes()[:4096]]
    assert len(entries) == 2  # one per layer
    originals = [entry.read_bytes() for entry in entries]
    for entry, raw in zip(entries, originals, strict=True):
        entry.write_bytes(raw[:-3] + bytes([raw[-3] ^ 0xFF]) + raw[-2:])
    assert _extras([ref, "--cache-dir", str(cache)], capsys) == cold
    assert [entry.read_bytes() for entry in entries] == originals  # computed and kept again
