"""Rust crates: compiled into a binary by ``cargo auditable``, or listed in a Cargo.lock.

``cargo auditable`` stores the dependency tree in an ELF section ``.dep-v0`` as
zlib-compressed JSON: ``{"packages": [{"name", "version", "source", "kind",
"dependencies", "root"}]}`` (``kind`` is "runtime" when omitted, ``root`` false).
Build-time dependencies (``kind: build``) are not linked into the binary and are not
reported. Decompression is bounded: a bomb is a ``FormatError``.
"""

from __future__ import annotations

import json
import struct
import tomllib
import zlib
from collections.abc import Callable, Iterable
from typing import Any

from hullcheck import ecosystem
from hullcheck.catalog.base import Env
from hullcheck.catalog.elf import (
    EXECUTABLE_GLOBS,
    MAX_NAMES,
    SHT_NOBITS,
    Data,
    ExeFormat,
    PagedMap,
    executable_format,
    parse_elf,
)
from hullcheck.errors import FormatError
from hullcheck.filetree import FileEntry, View
from hullcheck.model import Location, Package, PackageType

SECTION = ".dep-v0"
MAX_JSON = 8 << 20  # decompressed audit data; real ones are a few KiB
MAX_PACKAGES = 100_000
INPUT_CHUNK = 1 << 20  # compressed bytes fed at a time (what zlib leaves unread is copied)


def decompress_audit_data(raw: bytes | memoryview,
                          fed: Callable[[int, int], None] | None = None) -> bytes:
    """The JSON in ``raw``, at most ``MAX_JSON`` bytes of it. Fed a chunk at a time: a
    hostile section as large as its file is then never copied whole. ``fed(start, end)``
    is told each chunk of ``raw`` read."""
    d = zlib.decompressobj()
    out: list[bytes] = []
    total = 0
    try:
        for at in range(0, len(raw), INPUT_CHUNK):
            piece = d.decompress(raw[at:at + INPUT_CHUNK], MAX_JSON - total + 1)
            if fed is not None:
                fed(at, min(at + INPUT_CHUNK, len(raw)))
            total += len(piece)
            out.append(piece)
            if total > MAX_JSON:
                raise FormatError(f"{SECTION}: audit data decompresses to over {MAX_JSON} bytes")
            if d.eof:
                break
    except zlib.error as exc:
        raise FormatError(f"{SECTION}: bad zlib data ({exc})") from None
    return b"".join(out)


def _packages_json(text: bytes) -> list[dict[str, Any]]:
    try:
        doc = json.loads(text)
    except ValueError as exc:
        raise FormatError(f"{SECTION}: not JSON ({exc})") from None
    pkgs = doc.get("packages") if isinstance(doc, dict) else None
    if not isinstance(pkgs, list):
        raise FormatError(f"{SECTION}: no 'packages' array")
    if len(pkgs) > MAX_PACKAGES:
        raise FormatError(f"{SECTION}: {len(pkgs)} packages (limit {MAX_PACKAGES})")
    return pkgs


def _may_name_section(data: Data) -> bool:
    """Whether the ELF ``data`` may have a section named ``SECTION``: its section name table
    holds the name, found from four header fields (a search of the whole file for it cost
    36 ms in the small bench image's 60 MB of executables, "." being common); when they do
    not locate a table, whether the name is anywhere in the file."""
    table = _name_table(data)
    if table is None:
        return data.find(SECTION.encode()) >= 0
    start, end = table
    return data.find(SECTION.encode() + b"\0", start, end) >= 0


def _name_table(data: Data) -> tuple[int, int] | None:
    """[start, end) of an ELF file's section name table, from its header and that one
    section header; None when they are not plainly in the file (``parse_elf`` then says)."""
    if len(data) < 64 or data[4] not in (1, 2) or data[5] not in (1, 2):
        return None
    e = "<" if data[5] == 1 else ">"
    if data[4] == 2:  # ELF64: e_shoff, then e_shentsize, e_shnum, e_shstrndx; sh_offset, sh_size
        (shoff,) = struct.unpack_from(e + "Q", data, 0x28)
        entsize, num, index = struct.unpack_from(e + "HHH", data, 0x3A)
        want, fields = 64, (e + "QQ", 0x18)
    else:
        (shoff,) = struct.unpack_from(e + "I", data, 0x20)
        entsize, num, index = struct.unpack_from(e + "HHH", data, 0x2E)
        want, fields = 40, (e + "II", 0x10)
    if not shoff or entsize < want or not 0 < index < num or index == 0xFFFF:
        return None
    at = shoff + index * entsize
    if at + entsize > len(data):
        return None
    off, size = struct.unpack_from(fields[0], data, at + fields[1])
    if off + size > len(data) or size > MAX_NAMES:
        return None
    return off, off + size


class RustAuditableCataloger:
    name = "rust-cargo-auditable"
    globs = EXECUTABLE_GLOBS
    needs: tuple[str, ...] = ()
    sections = ((SECTION, "cargo auditable data"),)

    def parse(self, entry: FileEntry, view: View, env: Env) -> Iterable[Package]:
        return binary_packages(entry.content or b"", entry.path, self.name)

    def parse_binary(self, data: Data, path: str) -> list[Package]:
        return binary_packages(data, path, self.name)


def binary_packages(data: Data, path: str,
                    found_by: str = RustAuditableCataloger.name) -> list[Package]:
    """The crates ``cargo auditable`` recorded in the executable ``data`` (bytes, or a
    ``PagedMap`` of a file spooled to disk) found at ``path``; [] when it has none.
    FormatError when the audit data is unreadable."""
    # Only ELF carries a named .dep-v0 section we can find cheaply; the name must
    # appear in the section name table, so skip the header parse when it does not.
    if executable_format(data) is not ExeFormat.ELF or not _may_name_section(data):
        return []
    elf = parse_elf(data)
    sec = elf.section(SECTION)
    if sec is None or sec.type == SHT_NOBITS:
        return []
    # A view, not a copy: the section's size is the file's word (parse_elf bounds it).
    # Zlib may read all of it for no output (empty stored blocks): from a map, what it has
    # read is released behind it, or a 200 MiB section would be 200 MB resident.
    fed = None
    if isinstance(data, PagedMap):
        paged, base = data, sec.offset

        def fed(start: int, end: int) -> None:
            paged.touched(base + start, base + end)

    with memoryview(data) as whole, whole[sec.offset:sec.offset + sec.size] as raw:
        pkgs = _packages_json(decompress_audit_data(raw, fed))
    out = []
    loc = (Location(path=path),)
    for i, p in enumerate(pkgs):
        if not isinstance(p, dict):
            raise FormatError(f"{SECTION}: package {i} is not an object")
        name, version = p.get("name"), p.get("version")
        if not isinstance(name, str) or not isinstance(version, str) or not name:
            raise FormatError(f"{SECTION}: package {i} lacks a name or version")
        if p.get("kind", "runtime") == "build":
            continue
        extras = [("source", str(p.get("source", "")))]
        if p.get("root"):
            extras.append(("root", "true"))
        out.append(Package(
            type=PackageType.CARGO, name=name, version=version,
            purl=ecosystem.purl(PackageType.CARGO, name, version), found_by=found_by, locations=loc,
            files=(path,), extras=tuple(sorted(extras))))
    return out


class CargoLockCataloger:
    name = "rust-cargo-lock"
    globs = ("/**/Cargo.lock",)
    needs: tuple[str, ...] = ()

    def parse(self, entry: FileEntry, view: View, env: Env) -> Iterable[Package]:
        try:
            doc = tomllib.loads((entry.content or b"").decode("utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise FormatError(f"Cargo.lock: not TOML ({exc})") from None
        pkgs = doc.get("package", [])
        if not isinstance(pkgs, list):
            raise FormatError("Cargo.lock: 'package' is not an array of tables")
        out = []
        loc = (Location(path=entry.path),)
        for i, p in enumerate(pkgs):
            name, version = p.get("name"), p.get("version")
            if not isinstance(name, str) or not isinstance(version, str) or not name:
                raise FormatError(f"Cargo.lock: package {i} lacks a name or version")
            source = p.get("source", "")
            extras = [("source", source if isinstance(source, str) else "")]
            checksum = p.get("checksum")
            if isinstance(checksum, str):
                extras.append(("checksum", checksum))
            out.append(Package(
                type=PackageType.CARGO, name=name, version=version,
                purl=ecosystem.purl(PackageType.CARGO, name, version), found_by=self.name, locations=loc,
                extras=tuple(sorted(extras))))
        return out
