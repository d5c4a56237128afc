"""Go modules compiled into a binary, from the build info the Go toolchain embeds.

The linker writes a 32-byte header starting ``\\xff Go buildinf:`` (16-byte aligned, in
the ``.go.buildinfo`` section of ELF, or the data segment): pointer size, a flags byte,
then either

* Go 1.18+ (flag bit 1): the Go version and the module info inline, each a uvarint
  length and bytes; or
* before 1.18: two pointers to Go string headers (``runtime.buildVersion``,
  ``runtime.modinfo``) that we follow through the ELF program headers.

The module info (``go version -m``) is tab-separated lines ``path``, ``mod``, ``dep``,
``=>`` (replaces the previous mod/dep) and ``build KEY=VALUE``, framed by 16 sentinel
bytes on each side. Stripped binaries (``-ldflags=-s -w``) keep all of it.

Besides the modules, the Go standard library is reported as ``stdlib`` at the Go
version (as syft does), so Go toolchain advisories can match.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from hullcheck import ecosystem
from hullcheck.catalog.base import Env
from hullcheck.catalog.elf import (
    EXECUTABLE_GLOBS,
    SHT_NOBITS,
    Data,
    ElfFile,
    ExeFormat,
    executable_format,
    parse_elf,
)
from hullcheck.errors import FormatError
from hullcheck.filetree import FileEntry, View
from hullcheck.model import Location, Package, PackageType

MAGIC = b"\xff Go buildinf:"
HEADER = 32
ALIGN = 16
MAX_STRING = 4 << 20  # a module info larger than 4 MiB is not what the linker writes
DEVEL = "(devel)"
# Copies of the magic tried off the 16-byte grid before giving up (a FormatError: an
# unknown). A Go binary has the header and at most a string literal or two (a program
# importing debug/buildinfo); a hostile file of nothing but misaligned copies cost a find
# each, 1 s for 16 MiB in memory and minutes for a spooled 1 GiB.
MAX_CANDIDATES = 64
# Writable segments searched when an ELF names no .go.buildinfo section. Go's linker writes
# one or two (Go's own reader looks at the first only); a hostile file could list 65,536
# segments over the whole file, each a scan: 100 over 16 MiB already cost 0.34 s.
MAX_REGIONS = 4


@dataclass(frozen=True, slots=True, kw_only=True)
class Module:
    path: str
    version: str
    sum: str = ""
    replaced_by: Module | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class BuildInfo:
    go_version: str  # "go1.21.5"
    main_path: str = ""  # the main package ("path" line)
    main: Module | None = None
    deps: tuple[Module, ...] = ()
    settings: tuple[tuple[str, str], ...] = ()  # build KEY=VALUE in file order


# ---------------------------------------------------------------------------------------
# Finding and decoding the header


def read_build_info(data: Data) -> BuildInfo | None:
    """The build info of a Go executable; None if ``data`` is not one (or not built by Go)."""
    fmt = executable_format(data)
    if fmt is None:
        return None
    elf = parse_elf(data) if fmt is ExeFormat.ELF else None
    if elf is not None:
        sec = elf.section(".go.buildinfo")
        if sec is not None and sec.type != SHT_NOBITS:
            regions = [(sec.offset, sec.offset + sec.size)]
        else:
            # Distinct segments, the first few: Go's own reader looks at the first only.
            spans = dict.fromkeys((s.offset, s.offset + s.filesz) for s in elf.data_segments())
            regions = list(spans)[:MAX_REGIONS]
    else:
        regions = [(0, len(data))]  # PE/Mach-O: scan the file at 16-byte alignment
    passed = 0  # copies of the magic off the grid, in all regions
    for start, region_end in regions:
        end = min(region_end, len(data))
        for at in _magics(data, start, end):
            if (at - start) % ALIGN == 0 and at + HEADER <= end:
                version, modinfo = _decode_header(data, at, elf)
                return parse_modinfo(version, modinfo)
            passed += 1
            if passed > MAX_CANDIDATES:
                raise FormatError(f"Go build info: over {MAX_CANDIDATES} copies of the magic "
                                  "off the 16-byte grid; not searched further")
    return None


def _magics(data: Data, start: int, end: int) -> Iterator[int]:
    """Where the magic is in ``[start, end)``, in order."""
    pos = data.find(MAGIC, start, end)
    while pos >= 0:
        yield pos
        pos = data.find(MAGIC, pos + 1, end)


def _decode_header(data: Data, at: int, elf: ElfFile | None) -> tuple[str, str]:
    ptr_size = data[at + 14]
    flags = data[at + 15]
    if flags & 2:  # Go 1.18+: inline strings
        version, pos = _varint_string(data, at + HEADER)
        modinfo, _ = _varint_string(data, pos)
    else:
        if elf is None:
            raise FormatError("Go build info: pre-1.18 pointer format is read from ELF only")
        if ptr_size not in (4, 8):
            raise FormatError(f"Go build info: bad pointer size {ptr_size}")
        big = bool(flags & 1)

        def ptr(raw: bytes) -> int:
            return int.from_bytes(raw, "big" if big else "little")

        def go_string(addr: int) -> bytes:
            hdr = elf.read_at(data, addr, 2 * ptr_size)
            str_addr, length = ptr(hdr[:ptr_size]), ptr(hdr[ptr_size:])
            if length > MAX_STRING:
                raise FormatError(f"Go build info: string of {length} bytes")
            return elf.read_at(data, str_addr, length) if length else b""

        base = at + 16
        version = go_string(ptr(data[base:base + ptr_size]))
        modinfo = go_string(ptr(data[base + ptr_size:base + 2 * ptr_size]))
    # The module info is framed by 16 (non-UTF-8) sentinel bytes at each end.
    framed = len(modinfo) >= 33 and modinfo[-17] == 0x0A
    return (version.decode("utf-8", "replace"),
            modinfo[16:-16].decode("utf-8", "replace") if framed else "")


def _varint_string(data: Data, pos: int) -> tuple[bytes, int]:
    length = shift = 0
    for i in range(10):
        if pos + i >= len(data):
            raise FormatError("Go build info: truncated length")
        b = data[pos + i]
        length |= (b & 0x7F) << shift
        shift += 7
        if b < 0x80:
            pos += i + 1
            break
    else:
        raise FormatError("Go build info: length varint too long")
    if length > MAX_STRING or pos + length > len(data):
        raise FormatError(f"Go build info: string of {length} bytes runs past end of file")
    return data[pos:pos + length], pos + length


# ---------------------------------------------------------------------------------------
# The module info text


def parse_modinfo(go_version: str, text: str) -> BuildInfo:
    main_path = ""
    main: Module | None = None
    deps: list[Module] = []
    settings: list[tuple[str, str]] = []
    for line in text.splitlines():
        kind, _, rest = line.partition("\t")
        fields = rest.split("\t")
        if kind == "path":
            main_path = rest
        elif kind in ("mod", "dep"):
            mod = Module(path=fields[0], version=_at(fields, 1), sum=_at(fields, 2))
            if kind == "mod":
                main = mod
            else:
                deps.append(mod)
        elif kind == "=>":
            repl = Module(path=fields[0], version=_at(fields, 1), sum=_at(fields, 2))
            if deps:
                deps[-1] = Module(path=deps[-1].path, version=deps[-1].version,
                                  sum=deps[-1].sum, replaced_by=repl)
            elif main is not None:
                main = Module(path=main.path, version=main.version, sum=main.sum,
                              replaced_by=repl)
        elif kind == "build":
            key, _, value = rest.partition("=")
            settings.append((key, _unquote(value)))
    return BuildInfo(go_version=go_version, main_path=main_path, main=main, deps=tuple(deps),
                     settings=tuple(settings))


def _at(fields: list[str], i: int) -> str:
    return fields[i] if i < len(fields) else ""


def _unquote(value: str) -> str:
    """Build setting values with spaces are written with Go's strconv.Quote."""
    if len(value) >= 2 and value[0] == value[-1] == '"':
        try:
            out = json.loads(value)
        except ValueError:
            return value
        return out if isinstance(out, str) else value
    return value


# ---------------------------------------------------------------------------------------
# Packages


def stdlib_version(go_version: str) -> str:
    """``go1.21.5 X:boringcrypto`` -> ``1.21.5``: the version Go vulnerability records use."""
    v = go_version.split(maxsplit=1)[0] if go_version.strip() else ""
    return v.removeprefix("go")


def _is_local(path: str) -> bool:
    return path.startswith(("./", "../", "/")) or path in (".", "..") or (
        len(path) > 2 and path[1] == ":")  # windows drive


class GoBinaryCataloger:
    name = "go-module-binary"
    globs = EXECUTABLE_GLOBS
    needs: tuple[str, ...] = ()
    sections = ((".go.buildinfo", "Go build info"),)

    def parse(self, entry: FileEntry, view: View, env: Env) -> Iterable[Package]:
        return binary_packages(entry.content or b"", entry.path, self.name)

    def parse_binary(self, data: Data, path: str) -> list[Package]:
        return binary_packages(data, path, self.name)


def binary_packages(data: Data, path: str, found_by: str = GoBinaryCataloger.name) -> list[Package]:
    """The Go modules of the executable ``data`` found at ``path``; [] when it is not a Go
    binary. FormatError when its build info is unreadable. (The streaming binary cataloger
    calls this for executables outside ``EXECUTABLE_GLOBS``, with a ``PagedMap`` for those
    spooled to disk: ``find``, not ``in``, which a map does not answer.)"""
    if executable_format(data) is None or data.find(MAGIC) < 0:
        return []
    info = read_build_info(data)
    if info is None:
        return []
    return packages_of(info, path, found_by)


def packages_of(info: BuildInfo, path: str, found_by: str) -> list[Package]:
    arch = dict(info.settings).get("GOARCH", "")

    def module(name: str, version: str, extras: list[tuple[str, str]], *,
               licenses: tuple[str, ...] = (), cpes: tuple[str, ...] = ()) -> Package:
        return Package(type=PackageType.GO, name=name, version=version,
                       purl=ecosystem.purl(PackageType.GO, name, version), found_by=found_by,
                       locations=(Location(path=path),), arch=arch, files=(path,),
                       licenses=licenses, cpes=cpes, extras=tuple(sorted(extras)))

    out: list[Package] = []
    if info.main is not None and info.main.path:
        m = info.main
        extras = [("go_version", info.go_version), ("main_package", info.main_path)]
        if m.sum:
            extras.append(("h1", m.sum))
        extras.extend((f"build.{k}", v) for k, v in info.settings)
        out.append(module(m.path, m.version, extras))
    for dep in info.deps:
        name, version, extras = dep.path, dep.version, [("go_version", info.go_version)]
        if dep.sum:
            extras.append(("h1", dep.sum))
        r = dep.replaced_by
        if r is not None:
            extras.append(("replaces", f"{dep.path}@{dep.version}"))
            if _is_local(r.path):
                # Code from a local directory: the upstream version says nothing about it.
                version = DEVEL
                extras.append(("replaced_by_dir", r.path))
            else:
                name, version = r.path, r.version
                extras = [e for e in extras if e[0] != "h1"]
                if r.sum:
                    extras.append(("h1", r.sum))
        out.append(module(name, version, extras))
    std = stdlib_version(info.go_version)
    std_extras = [("go_version", info.go_version)]
    if not out:  # no main module (GOPATH build, a toolchain command): keep the settings here
        std_extras.extend((f"build.{k}", v) for k, v in info.settings)
    if std:
        out.append(module("stdlib", std, std_extras, licenses=("BSD-3-Clause",),
                          cpes=(f"cpe:2.3:a:golang:go:{_cpe_version(std)}",)))
    return out


def _cpe_version(v: str) -> str:
    """``1.21.5`` -> ``1.21.5:-:*...``; ``1.21rc2`` -> ``1.21:rc2:*...`` (NVD's split)."""
    v = v.split("+", 1)[0].split("-", 1)[0]
    for tag in ("rc", "beta", "alpha"):
        if tag in v:
            base, _, n = v.partition(tag)
            return f"{base}:{tag}{n}:*:*:*:*:*:*"
    return f"{v}:-:*:*:*:*:*:*"
