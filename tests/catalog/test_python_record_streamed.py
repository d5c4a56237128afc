"""Every RECORD row is checked by hash: the bytes of package files stream by once and only
their sha256 is kept (``RecordDigests``), so a same-size edit is caught anywhere."""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Callable

import pytest

from hullcheck.cli.main import main

SITE = "usr/lib/python3/dist-packages"


def _hash(data: bytes) -> str:
    return "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).decode().rstrip("=")


ORIGINAL = b"print(1)\n"


def _package(code: bytes) -> dict[str, bytes | str]:
    empty, original = _hash(b""), _hash(ORIGINAL)
    record = "\n".join([
        f"tinypkg/__init__.py,{empty},0",
        f"tinypkg/cli.py,{original},9",
        "tinypkg-1.0.dist-info/METADATA,,",
        "tinypkg-1.0.dist-info/RECORD,,",
    ]) + "\n"
    return {
        f"{SITE}/tinypkg/__init__.py": b"",
        f"{SITE}/tinypkg/cli.py": code,
        f"{SITE}/tinypkg-1.0.dist-info/METADATA": "Metadata-Version: 2.1\nName: tinypkg\n"
                                                  "Version: 1.0\n",
        f"{SITE}/tinypkg-1.0.dist-info/RECORD": record,
    }


def _extras(ref: str, capsys: pytest.CaptureFixture[str]) -> dict[str, str]:
    assert main(["sbom", ref, "-o", "json"]) == 0
    doc = json.loads(capsys.readouterr()[0])
    (pkg,) = [p for p in doc["packages"] if p["name"] == "tinypkg"]
    return dict(pkg["extras"])


def test_untouched_package_is_checked_by_hash(make_image: Callable[..., str],
                                              capsys: pytest.CaptureFixture[str]) -> None:
    extras = _extras(make_image(_package(ORIGINAL)), capsys)
    assert extras["record:checked"].startswith("2 files: 2 by hash")
    assert "record:modified" not in extras


def test_same_size_edit_is_caught(make_image: Callable[..., str],
                                  capsys: pytest.CaptureFixture[str]) -> None:
    extras = _extras(make_image(_package(b"print(2)\n")), capsys)  # same size, other bytes
    assert extras["record:modified"].startswith("1: /usr/lib/python3/dist-packages/tinypkg/cli.py")


def test_edit_in_a_later_layer_is_caught(make_image: Callable[..., str],
                                         capsys: pytest.CaptureFixture[str]) -> None:
    ref = make_image(_package(ORIGINAL), {f"{SITE}/tinypkg/cli.py": b"print(3)\n"})
    extras = _extras(ref, capsys)
    assert "tinypkg/cli.py" in extras["record:modified"]
