"""Well-known binaries by version string: real ones from this machine, synthetic ELF files."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from hullcheck import catalog
from hullcheck.catalog import binary, elf
from hullcheck.catalog.binary import GLOBS, BinaryVersionCataloger
from hullcheck.image.writer import file
from hullcheck.model import ImageSource, Inventory, PackageType
from tests.fixtures.binaries.elfgen import make_elf
from tests.fixtures.binaries.paged import paged
from tests.fixtures.images import tree_of
from tests.fixtures.tools import need_command, need_file

SOURCE = ImageSource(kind="oci", name="test")
CAT = BinaryVersionCataloger()


def run(tmp_path: Path, files: dict[str, bytes]) -> Inventory:
    tree = tree_of(tmp_path, {k: file(k.lstrip("/"), v, 0o755) for k, v in files.items()},
                   globs=GLOBS)
    return catalog.run(tree, SOURCE, catalogers=(CAT,))


def elf_with(text: bytes) -> bytes:
    return make_elf([(".text", b"\x90" * 64), (".rodata", b"\x00junk\x00" + text + b"\x00")])


@pytest.mark.parametrize("path, text, name, version, cpe", [
    ("/bin/busybox", b"BusyBox v1.36.1 (2023-11-07 18:53:09 UTC)", "busybox", "1.36.1",
     "cpe:2.3:a:busybox:busybox:1.36.1:*:*:*:*:*:*:*"),
    ("/usr/local/lib/libcrypto.so.3", b"OpenSSL 3.0.11 19 Sep 2023", "openssl", "3.0.11",
     "cpe:2.3:a:openssl:openssl:3.0.11:*:*:*:*:*:*:*"),
    ("/usr/local/bin/openssl", b"OpenSSL 1.1.1w  11 Sep 2023", "openssl", "1.1.1w",
     "cpe:2.3:a:openssl:openssl:1.1.1w:*:*:*:*:*:*:*"),
    ("/usr/local/bin/node", b"https://nodejs.org/download/release/node.js/v20.11.0/",
     "node", "20.11.0", "cpe:2.3:a:nodejs:node.js:20.11.0:*:*:*:*:*:*:*"),
    ("/usr/local/bin/python3.11", b"3.11.7\x00", "python", "3.11.7",
     "cpe:2.3:a:python_software_foundation:python:3.11.7:*:*:*:*:*:*:*"),
    ("/usr/local/bin/curl", b"libcurl/8.5.0 OpenSSL/3.0.11", "curl", "8.5.0",
     "cpe:2.3:a:haxx:curl:8.5.0:*:*:*:*:*:*:*"),
    ("/usr/local/bin/redis-server", b"\x007.2.4buildkitsandbox-1702957741000000000", "redis",
     "7.2.4", "cpe:2.3:a:redis:redis:7.2.4:*:*:*:*:*:*:*"),
    ("/usr/sbin/nginx", b"nginx version: nginx/1.25.3", "nginx", "1.25.3",
     "cpe:2.3:a:f5:nginx:1.25.3:*:*:*:*:*:*:*"),
    ("/usr/lib/postgresql/16/bin/postgres", b"PostgreSQL 16.1 on x86_64", "postgresql",
     "16.1", "cpe:2.3:a:postgresql:postgresql:16.1:*:*:*:*:*:*:*"),
    ("/usr/local/go/bin/go", b"go1.21.5\x00", "go", "1.21.5",
     "cpe:2.3:a:golang:go:1.21.5:*:*:*:*:*:*:*"),
])
def test_synthetic_version_strings(tmp_path: Path, path: str, text: bytes, name: str,
                                   version: str, cpe: str) -> None:
    inv = run(tmp_path, {path: elf_with(text)})
    assert not inv.unknowns
    [pkg] = inv.packages
    assert (pkg.name, pkg.version, pkg.type) == (name, version, PackageType.BINARY)
    assert pkg.purl == f"pkg:generic/{name}@{version}"
    assert cpe in pkg.cpes
    assert pkg.files == (path,) and pkg.locations[0].path == path
    assert dict(pkg.extras)["evidence"] == "version-string"
    assert pkg.found_by == "binary-version"


@pytest.mark.parametrize("path, text, name, version, cpe",
                         test_synthetic_version_strings.pytestmark[0].args[1])  # type: ignore[attr-defined]
def test_version_string_across_the_windows_of_a_map(
        path: str, text: bytes, name: str, version: str, cpe: str,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A spooled file is searched in windows: a banner across a window's end is read whole,
    the same as from bytes."""
    monkeypatch.setattr(elf, "SEARCH_WINDOW", 4096)
    monkeypatch.setattr(elf, "MAX_MATCH", 256)
    plain = elf_with(text)
    filler = b"\x90" * (4096 - len(text) // 2 - plain.find(text))  # moves the banner
    data = make_elf([(".text", b"\x90" * 64),
                     (".rodata", filler + b"\x00junk\x00" + text + b"\x00")])
    at = data.find(text)
    assert at < 4096 < at + len(text)
    with paged(data) as m:
        got = binary.binary_packages(m, path)
        assert got == binary.binary_packages(data, path)
    assert [(p.name, p.version) for p in got] == [(name, version)]


def test_banner_in_another_program_or_a_script_is_not_reported(tmp_path: Path) -> None:
    inv = run(tmp_path, {
        "/usr/bin/tool": elf_with(b"BusyBox v1.36.1 nginx/1.25.3"),  # wrong name
        "/usr/sbin/nginx": b"#!/bin/sh\necho nginx/1.25.3\n",  # not an executable format
        "/usr/bin/busybox": elf_with(b"no version here"),
    })
    assert inv.packages == () and inv.unknowns == ()


def _real(path: str, package: str) -> bytes:
    return need_file(path, package).read_bytes()


def _version_of(cmd: list[str], pattern: str, package: str) -> str:
    need_command(cmd[0], package)
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    m = re.search(pattern, out)
    assert m is not None, out
    return m.group(1)


def test_real_python_binary_and_libpython(tmp_path: Path) -> None:
    data = _real("/usr/bin/python3.11", "python3.11-minimal")
    lib = _real("/usr/lib/x86_64-linux-gnu/libpython3.11.so.1.0", "libpython3.11")
    expected = _version_of(["/usr/bin/python3.11", "--version"], r"Python (\S+)", "python3.11-minimal")
    inv = run(tmp_path, {"/usr/local/bin/python3.11": data,
                         "/usr/local/lib/libpython3.11.so.1.0": lib})
    assert {(p.name, p.version, p.locations[0].path) for p in inv.packages} == {
        ("python", expected, "/usr/local/bin/python3.11"),
        ("python", expected, "/usr/local/lib/libpython3.11.so.1.0"),
    }


def test_real_libcrypto(tmp_path: Path) -> None:
    data = _real("/usr/lib/x86_64-linux-gnu/libcrypto.so.3", "libssl3")
    expected = _version_of(["openssl", "version"], r"Library: OpenSSL (\S+)", "openssl")
    inv = run(tmp_path, {"/usr/lib/x86_64-linux-gnu/libcrypto.so.3": data})
    [pkg] = inv.packages
    assert (pkg.name, pkg.version) == ("openssl", expected)
    assert pkg.cpes == (f"cpe:2.3:a:openssl:openssl:{expected}:*:*:*:*:*:*:*",)


def test_real_curl_and_libcurl(tmp_path: Path) -> None:
    curl = _real("/usr/bin/curl", "curl")
    lib = _real("/usr/lib/x86_64-linux-gnu/libcurl.so.4.8.0", "libcurl4")
    expected = _version_of(["curl", "--version"], r"^curl (\S+)", "curl")
    inv = run(tmp_path, {"/usr/local/bin/curl": curl,
                         "/usr/lib/x86_64-linux-gnu/libcurl.so.4.8.0": lib})
    assert {(p.name, p.version) for p in inv.packages} == {("curl", expected)}
    assert len(inv.packages) == 2


def test_real_busybox_if_present(tmp_path: Path) -> None:
    path = need_command("busybox", "busybox")
    data = Path(path).read_bytes()
    expected = _version_of(["busybox"], r"BusyBox v(\d+\.\d+\.\d+)", "busybox")
    inv = run(tmp_path, {"/bin/busybox": data})
    assert [(p.name, p.version) for p in inv.packages] == [("busybox", expected)]
