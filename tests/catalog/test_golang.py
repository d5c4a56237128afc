"""Go binaries: build info read from binaries the real toolchain builds, offline."""

from __future__ import annotations

import os
import shutil
import struct
import subprocess
import tracemalloc
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from hullcheck import catalog
from hullcheck.catalog import elf, golang
from hullcheck.catalog.elf import EXECUTABLE_GLOBS, PagedMap, parse_elf
from hullcheck.catalog.golang import (
    BuildInfo,
    GoBinaryCataloger,
    binary_packages,
    parse_modinfo,
    read_build_info,
)
from hullcheck.errors import FormatError
from hullcheck.image.writer import file
from hullcheck.model import ImageSource, Inventory, Package, PackageType
from tests.fixtures.binaries.elfgen import BASE, FIRST_SECTION_OFFSET, make_elf
from tests.fixtures.binaries.paged import paged
from tests.fixtures.images import tree_of
from tests.fixtures.tools import need_command

FIXTURES = Path(__file__).parent.parent / "fixtures" / "go"
GO = shutil.which("go")
SOURCE = ImageSource(kind="oci", name="test")


@dataclass(frozen=True)
class Built:
    normal: Path
    stripped: Path
    windows: Path
    darwin: Path
    env: dict[str, str]


def _proxy(root: Path) -> Path:
    """A file-system module proxy serving rsc.example/quote v1.5.2 from the fixtures."""
    mod = "rsc.example/quote"
    d = root / "proxy" / mod / "@v"
    d.mkdir(parents=True)
    (d / "list").write_text("v1.5.2\n")
    (d / "v1.5.2.info").write_text('{"Version":"v1.5.2","Time":"2020-01-01T00:00:00Z"}')
    (d / "v1.5.2.mod").write_bytes((FIXTURES / "quote" / "go.mod").read_bytes())
    with zipfile.ZipFile(d / "v1.5.2.zip", "w") as z:
        for f in sorted((FIXTURES / "quote").iterdir()):
            z.write(f, f"{mod}@v1.5.2/{f.name}")
    return root / "proxy"


@pytest.fixture(scope="session")
def built(tmp_path_factory: pytest.TempPathFactory) -> Built:
    need_command("go", "golang-go")
    root = tmp_path_factory.mktemp("go")
    shutil.copytree(FIXTURES / "app", root / "app")
    shutil.copytree(FIXTURES / "lib", root / "lib")
    env = {
        **os.environ,
        "GOPROXY": f"file://{_proxy(root)}",
        "GOFLAGS": "-mod=mod -modcacherw",
        "GOSUMDB": "off",
        "GONOSUMDB": "*",
        "GOTOOLCHAIN": "local",
        "GOPATH": str(root / "gopath"),
        "CGO_ENABLED": "0",
        "GOWORK": "off",
    }

    def go_build(out: str, *args: str, **extra: str) -> Path:
        assert GO is not None  # need_command above
        subprocess.run([GO, "build", *args, "-o", str(root / "bin" / out), "."], cwd=root / "app",
                       env={**env, **extra}, check=True, capture_output=True, timeout=600)
        return root / "bin" / out

    return Built(
        normal=go_build("app"),
        stripped=go_build("app-stripped", "-ldflags=-s -w"),
        windows=go_build("app.exe", GOOS="windows", GOARCH="amd64"),
        darwin=go_build("app-darwin", GOOS="darwin", GOARCH="arm64"),
        env=env,
    )


def go_version_m(path: Path, env: dict[str, str]) -> list[list[str]]:
    """The tab-separated lines `go version -m` prints, without the first one."""
    out = subprocess.run([GO or "go", "version", "-m", str(path)], env=env, check=True,
                         capture_output=True, text=True).stdout
    return [line.strip("\t").split("\t") for line in out.splitlines()[1:]]


def run(tmp_path: Path, files: dict[str, bytes]) -> Inventory:
    tree = tree_of(tmp_path, {k: file(k.lstrip("/"), v, 0o755) for k, v in files.items()},
                   globs=EXECUTABLE_GLOBS)
    return catalog.run(tree, SOURCE, catalogers=(GoBinaryCataloger(),))


def by_name(inv: Inventory) -> dict[str, Package]:
    return {p.name: p for p in inv.packages}


# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("which", ["normal", "stripped", "windows", "darwin"])
def test_modules_equal_go_version_m(built: Built, which: str) -> None:
    path: Path = getattr(built, which)
    info = read_build_info(path.read_bytes())
    assert info is not None
    lines = go_version_m(path, built.env)
    assert info.main is not None
    assert ["mod", info.main.path, info.main.version] == next(x for x in lines if x[0] == "mod")[:3]
    expected: list[tuple[str, str, str, tuple[str, str] | None]] = []
    for fields in lines:
        if fields[0] == "dep":
            expected.append((fields[1], fields[2], fields[3] if len(fields) > 3 else "", None))
        elif fields[0] == "=>":
            p, v, _, _ = expected[-1]
            expected[-1] = (p, v, "", (fields[1], fields[2] if len(fields) > 2 else ""))
    got = [(d.path, d.version, d.sum,
            (d.replaced_by.path, d.replaced_by.version) if d.replaced_by else None)
           for d in info.deps]
    assert got == expected
    settings = [tuple(f[1].split("=", 1)) for f in lines if f[0] == "build"]
    assert [(k, v) for k, v in info.settings if k not in ("-ldflags",)] == [
        s for s in settings if s[0] != "-ldflags"]


@pytest.mark.parametrize("which", ["normal", "stripped", "windows", "darwin"])
def test_build_info_from_a_map_equals_from_bytes(built: Built, which: str,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """What the binary sink gives for a spooled file (ELF, PE, Mach-O): a map searched in
    windows (64 KiB here, so many), where ``in`` would always be False."""
    monkeypatch.setattr(elf, "SEARCH_WINDOW", 64 << 10)
    data = getattr(built, which).read_bytes()
    with paged(data) as m:
        assert read_build_info(m) == read_build_info(data) is not None
        pkgs = binary_packages(m, "/srv/app")
    assert pkgs == binary_packages(data, "/srv/app")
    assert {p.name for p in pkgs} >= {"example.com/hullcheck/app", "rsc.example/quote", "stdlib"}


def test_catalog_reports_modules_replacements_and_stdlib(built: Built, tmp_path: Path) -> None:
    data = built.normal.read_bytes()
    inv = run(tmp_path, {"/usr/local/bin/app": data, "/usr/bin/app-stripped":
                         built.stripped.read_bytes(), "/etc/motd": b"\x7fELF not really"})
    assert not inv.unknowns
    paths = {p.locations[0].path for p in inv.packages}
    assert paths == {"/usr/local/bin/app", "/usr/bin/app-stripped"}
    pkgs = by_name(inv)
    app = pkgs["example.com/hullcheck/app"]
    assert app.version == "(devel)"
    assert app.purl == "pkg:golang/example.com/hullcheck/app@%28devel%29"
    assert app.type is PackageType.GO and app.found_by == "go-module-binary"
    assert app.arch == "amd64"
    extras = dict(app.extras)
    assert extras["build.GOOS"] == "linux" and extras["build.CGO_ENABLED"] == "0"
    assert extras["main_package"] == "example.com/hullcheck/app"
    quote = pkgs["rsc.example/quote"]
    assert (quote.version, quote.purl) == ("v1.5.2", "pkg:golang/rsc.example/quote@v1.5.2")
    assert dict(quote.extras)["h1"].startswith("h1:")
    lib = pkgs["example.com/hullcheck/lib"]  # replaced by a local directory
    assert lib.version == "(devel)"
    assert dict(lib.extras)["replaced_by_dir"] == "../lib"
    assert dict(lib.extras)["replaces"] == "example.com/hullcheck/lib@v1.2.3"
    std = pkgs["stdlib"]
    go_version = subprocess.run([GO or "go", "env", "GOVERSION"], capture_output=True,
                                text=True, check=True).stdout.strip()
    assert std.version == go_version.removeprefix("go")
    assert std.purl == f"pkg:golang/stdlib@{std.version}"
    assert std.cpes == (f"cpe:2.3:a:golang:go:{std.version}:-:*:*:*:*:*:*",)
    assert app.files == ("/usr/local/bin/app",) or app.files == ("/usr/bin/app-stripped",)


def test_stripped_binary_keeps_ldflags_setting(built: Built) -> None:
    info = read_build_info(built.stripped.read_bytes())
    assert info is not None
    assert dict(info.settings)["-ldflags"] == "-s -w"


def test_pre_118_pointer_format_is_followed_through_elf_segments() -> None:
    modinfo = (b"0w\xaf\x0c\x92t\x08\x02A\xe1\xc1\x07\xe6\xd6\x18\xe6"
               b"path\texample.com/old\nmod\texample.com/old\tv0.1.0\t\n"
               b"dep\tgithub.com/pkg/errors\tv0.9.1\th1:abc=\n"
               b"\xf92C1\x86\x18 r\x00\x82B\x10A\x16\xd8\xf2")
    version = b"go1.16.15"
    # Section layout: header (32) | two string headers (16 each) | version | modinfo
    sec_addr = BASE + FIRST_SECTION_OFFSET
    v_hdr, m_hdr = sec_addr + 32, sec_addr + 48
    v_data, m_data = sec_addr + 64, sec_addr + 64 + len(version)
    section = (b"\xff Go buildinf:" + bytes([8, 0]) + struct.pack("<QQ", v_hdr, m_hdr)
               + struct.pack("<QQ", v_data, len(version)) + struct.pack("<QQ", m_data,
                                                                          len(modinfo))
               + version + modinfo)
    info = read_build_info(make_elf([(".go.buildinfo", section)]))
    assert info is not None
    assert info.go_version == "go1.16.15"
    assert info.main is not None and info.main.version == "v0.1.0"
    assert [(d.path, d.version) for d in info.deps] == [("github.com/pkg/errors", "v0.9.1")]


def test_module_replacement_reports_the_replacement() -> None:
    info = parse_modinfo("go1.21.5", "path\tx.io/cmd\nmod\tx.io\t(devel)\t\n"
                         "dep\tgolang.org/x/net\tv0.1.0\th1:old=\n"
                         "=>\tgithub.com/fork/net\tv0.2.0\th1:new=\n")
    from hullcheck.catalog.golang import packages_of
    pkgs = {p.name: p for p in packages_of(info, "/app", "go-module-binary")}
    fork = pkgs["github.com/fork/net"]
    assert fork.version == "v0.2.0"
    assert dict(fork.extras) == {"go_version": "go1.21.5", "h1": "h1:new=",
                                 "replaces": "golang.org/x/net@v0.1.0"}
    assert "golang.org/x/net" not in pkgs


def test_non_executables_and_plain_elf_give_nothing(tmp_path: Path) -> None:
    elf = make_elf([(".rodata", b"no go here")])
    inv = run(tmp_path, {"/usr/bin/script": b"#!/bin/sh\necho hi\n", "/usr/bin/c": elf})
    assert inv.packages == () and inv.unknowns == ()


@pytest.mark.parametrize("mutate, message", [
    (lambda d: d[:200], "beyond end of file"),
    (lambda d: d[:0x28] + struct.pack("<Q", 1 << 40) + d[0x30:], "beyond end of file"),
])
def test_hostile_elf_is_a_format_error(mutate: object, message: str, tmp_path: Path) -> None:
    section = b"\xff Go buildinf:" + bytes([8, 2]) + bytes(16) + b"\x05go1.x\x00"
    good = make_elf([(".go.buildinfo", section), (".pad", bytes(400))])
    bad = mutate(good)  # type: ignore[operator]
    with pytest.raises(FormatError, match=message):
        read_build_info(bad)
    inv = run(tmp_path, {"/usr/bin/bad": bad})
    assert len(inv.unknowns) == 1 and message in inv.unknowns[0].reason


def test_oversized_section_name_table_is_a_format_error() -> None:
    """The name table is copied out: its size is bounded, not the file's word."""
    data = make_elf([("." + "n" * (1 << 20), b"x")])
    with pytest.raises(FormatError, match="section name table of"):
        parse_elf(data)
    names = [s.name for s in parse_elf(make_elf([("." + "n" * 254, b"x"),
                                                  ("." + "n" * 255, b"y")])).sections]
    assert names[1:3] == ["." + "n" * 254, ""]  # over MAX_NAME: read as no name


def test_sections_sharing_one_long_name_are_not_copies_of_it() -> None:
    """65,535 sections naming the same 1 MiB string in a 5 MiB file were 64 GiB of names
    (2,000 of them: 2 GB): names over MAX_NAME bytes are read as ""."""
    count, long_name = 0xFFFF, b"." + b"n" * ((1 << 20) - 16)
    names = long_name + b"\0.shstrtab\0"
    shoff = 64 + len(names) + (-len(names) % 8)
    headers = bytes(64) + struct.pack("<IIQQQQIIQQ", 0, 1, 0, 0, 0, 0, 0, 0, 0, 0) * (count - 2)
    headers += struct.pack("<IIQQQQIIQQ", len(long_name) + 1, 3, 0, 0, 64, len(names), 0, 0, 1, 0)
    ident = b"\x7fELF" + bytes([2, 1, 1, 0]) + bytes(8)
    ehdr = ident + struct.pack("<HHIQQQIHHHHHH", 2, 62, 1, 0, 0, shoff, 0, 64, 56, 0, 64, count,
                               count - 1)
    data = ehdr + names + bytes(shoff - 64 - len(names)) + headers
    tracemalloc.start()
    try:
        sections = parse_elf(data).sections
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert len(sections) == count and sections[-1].name == ".shstrtab"
    assert {s.name for s in sections[1:-1]} == {""}
    assert peak < 64 << 20  # the section tuples; a name each would be 64 GiB


def test_bogus_varint_length_is_a_format_error() -> None:
    section = b"\xff Go buildinf:" + bytes([8, 2]) + bytes(16) + b"\xff\xff\xff\x7f" + b"go"
    with pytest.raises(FormatError, match="runs past end of file"):
        read_build_info(make_elf([(".go.buildinfo", section)]))


MAGIC = b"\xff Go buildinf:"
OFF_GRID = b"\0" + MAGIC + b"\0"  # 16 bytes: the magic at 1 mod 16, never a header
HEADER = MAGIC + bytes([8, 2]) + bytes(16) + b"\x05go1.x\x00"  # Go 1.18+: "go1.x", no modules


def _pe(body: bytes) -> bytes:
    head = bytearray(b"MZ" + bytes(62))
    struct.pack_into("<I", head, 0x3C, 0x40)
    return bytes(head) + b"PE\0\0" + body


def test_copies_of_the_magic_off_the_grid_are_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each copy off the 16-byte grid costs a find: a 16 MiB PE of nothing else was 1M of
    them (0.25 s in memory; spooled, 22.7 s per 64 MiB). Past MAX_CANDIDATES: an unknown."""
    data = _pe(OFF_GRID * ((16 << 20) // len(OFF_GRID)))
    with pytest.raises(FormatError, match=f"over {golang.MAX_CANDIDATES} copies of the magic"):
        binary_packages(data, "/srv/app.exe")
    finds = []
    real = PagedMap.find

    def counted(self: PagedMap, sub: bytes, start: int | None = 0, end: int | None = None) -> int:
        finds.append(start)
        return real(self, sub, start, end)

    monkeypatch.setattr(PagedMap, "find", counted)
    with paged(data) as m, pytest.raises(FormatError, match="not searched further"):
        binary_packages(m, "/srv/app.exe")
    assert len(finds) == golang.MAX_CANDIDATES + 2  # the first look, then one per copy


@pytest.mark.parametrize("off_grid, found", [(golang.MAX_CANDIDATES, True),
                                             (golang.MAX_CANDIDATES + 1, False)])
def test_the_header_after_copies_off_the_grid(off_grid: int, found: bool) -> None:
    """As many copies as MAX_CANDIDATES are passed over (a program importing debug/buildinfo
    holds one or two): the header after them is read."""
    data = make_elf([(".go.buildinfo", OFF_GRID * off_grid + HEADER)])
    if found:
        assert read_build_info(data) == BuildInfo(go_version="go1.x")
    else:
        with pytest.raises(FormatError, match="not searched further"):
            read_build_info(data)


def test_only_a_few_writable_segments_are_searched(monkeypatch: pytest.MonkeyPatch) -> None:
    """No .go.buildinfo section: the writable segments are searched (Go's own reader takes
    the first). A file could list 65,536 distinct ones over the whole file, a scan each:
    1,000 over 16 MiB cost 3.4 s."""
    size, count = 1 << 20, 1000
    phdrs = b"".join(struct.pack("<IIQQQQQQ", 1, 6, 4096 + 16 * i, 0, 0, size - 8192 - 16 * i,
                                 size, 0x1000) for i in range(count))
    ident = b"\x7fELF" + bytes([2, 1, 1, 0]) + bytes(8)
    ehdr = ident + struct.pack("<HHIQQQIHHHHHH", 2, 62, 1, 0, size - len(phdrs), 0, 0, 64, 56,
                               count, 64, 0, 0)
    body = bytearray(size - len(ehdr) - len(phdrs))
    body[101:101 + len(MAGIC)] = MAGIC  # before every segment: each is scanned in vain
    data = ehdr + bytes(body) + phdrs
    assert len(elf.parse_elf(data).data_segments()) == count
    searched = []
    real = golang._magics

    def recorded(data: bytes, start: int, end: int) -> Iterator[int]:
        searched.append((start, end))
        return real(data, start, end)

    monkeypatch.setattr(golang, "_magics", recorded)
    assert binary_packages(data, "/srv/app") == []
    assert len(searched) == golang.MAX_REGIONS
