"""A minimal, bounds-checked reader for executables: the format from the magic bytes, and
for ELF the section and program headers (names, file ranges, virtual addresses).

Why not ``pyelftools``: we need four things (is it an executable, where is section X,
its bytes, and virtual address -> bytes). pyelftools is a fine library but parses
lazily through streams with many code paths we would have to harden against hostile
input, and would be a new dependency for ~150 lines. Every offset here is checked
against the file size, every count is bounded, and any inconsistency is a
``FormatError`` with a one-line message.

Binaries are found by *content*, but the file tree keeps bytes only for declared
globs; ``EXECUTABLE_GLOBS`` is the one bounded list the binary catalogers share
(Go, Rust, well-known binaries), so their union costs memory once.
"""

from __future__ import annotations

import mmap
import re
import struct
from dataclasses import dataclass
from enum import StrEnum

from hullcheck.errors import FormatError

# Where executables live in images. Deliberately not /app/** or /opt/** (those hold
# node_modules, JDKs, ... and every kept byte stays in memory): only their bin dirs and
# top levels. Libraries are named: only those a version rule reads.
EXECUTABLE_GLOBS: tuple[str, ...] = (
    "/*",  # /manager, /server, /app in distroless and scratch images
    "/bin/*",
    "/sbin/*",
    "/usr/bin/*",
    "/usr/sbin/*",
    "/usr/local/bin/*",
    "/usr/local/sbin/*",
    "/usr/local/go/bin/*",
    "/usr/local/go/pkg/tool/*/*",
    "/usr/lib/go-*/bin/*",
    "/app/*",
    "/app/bin/*",
    "/opt/*/*",
    "/opt/*/bin/*",
    "/srv/*",
    "/ko-app/*",
    "/go/bin/*",
    "/root/go/bin/*",
    "/home/*/go/bin/*",
    "/home/*/bin/*",
    "/home/*/.local/bin/*",
    "/root/.cargo/bin/*",
    "/usr/local/cargo/bin/*",
    "/lib/**/libcrypto.so*",
    "/usr/lib/**/libcrypto.so*",
    "/usr/local/lib/**/libcrypto.so*",
    "/usr/lib/**/libcurl.so*",
    "/usr/local/lib/**/libcurl.so*",
    "/usr/lib/**/libpython3*.so*",
    "/usr/local/lib/libpython3*.so*",
)

MAX_SECTIONS = 65_536
MAX_SEGMENTS = 65_536
MAX_NAMES = 1 << 20  # the section name table: real ones are a few hundred bytes
# A section name of this many bytes or more is read as "" (only short names are looked up).
# Every section may point at the same long name: 65,536 sections naming one 1 MiB string
# were 64 GiB of copies.
MAX_NAME = 256


class ExeFormat(StrEnum):
    ELF = "elf"
    PE = "pe"
    MACHO = "macho"


_MACHO_MAGICS = (
    b"\xfe\xed\xfa\xce", b"\xce\xfa\xed\xfe", b"\xfe\xed\xfa\xcf", b"\xcf\xfa\xed\xfe",
)


def looks_executable(head: bytes) -> bool:
    """Whether a file starting with ``head`` (its first 4+ bytes) may be an executable: the
    test before reading the rest (PE is confirmed by ``executable_format`` on the whole)."""
    return head[:4] == b"\x7fELF" or head[:4] in _MACHO_MAGICS or head[:2] == b"MZ"


ET_DYN = 3  # e_type of shared objects (and of position-independent executables)


def elf_type(head: bytes) -> int | None:
    """The ``e_type`` of an ELF file from its first 18+ bytes; None when it is no ELF."""
    if head[:4] != b"\x7fELF" or len(head) < 18 or head[5] not in (1, 2):
        return None
    return int.from_bytes(head[16:18], "little" if head[5] == 1 else "big")


def section_headers_at(head: bytes) -> int:
    """``e_shoff`` of an ELF file from its first 64+ bytes: where its section headers are
    (0: it has none, or this is no ELF)."""
    if elf_type(head) is None or head[4] not in (1, 2) or len(head) < 0x30:
        return 0
    fmt, at = ("Q", 0x28) if head[4] == 2 else ("I", 0x20)
    return int(struct.unpack_from(("<" if head[5] == 1 else ">") + fmt, head, at)[0])


def executable_format(data: Data) -> ExeFormat | None:
    """ELF, PE or Mach-O from the first bytes; None for anything else (checked first, cheap)."""
    head = data[:4]
    if head == b"\x7fELF":
        return ExeFormat.ELF
    if head in _MACHO_MAGICS:
        return ExeFormat.MACHO
    if head[:2] == b"MZ" and len(data) >= 0x40:
        (pe_off,) = struct.unpack_from("<I", data, 0x3C)
        if pe_off + 4 <= len(data) and data[pe_off:pe_off + 4] == b"PE\0\0":
            return ExeFormat.PE
    return None


@dataclass(frozen=True, slots=True)
class Section:
    name: str
    type: int
    addr: int
    offset: int
    size: int


@dataclass(frozen=True, slots=True)
class Segment:
    type: int
    flags: int
    offset: int
    vaddr: int
    filesz: int


SHT_NOBITS = 8
PT_LOAD = 1
PF_X, PF_W = 1, 2


@dataclass(frozen=True, slots=True)
class ElfFile:
    bits: int  # 32 or 64
    little: bool
    machine: int
    sections: tuple[Section, ...]
    segments: tuple[Segment, ...]

    def section(self, name: str) -> Section | None:
        for s in self.sections:
            if s.name == name:
                return s
        return None

    def section_bytes(self, data: Data, sec: Section) -> bytes:
        if sec.type == SHT_NOBITS:
            return b""
        return data[sec.offset:sec.offset + sec.size]

    def read_at(self, data: Data, vaddr: int, size: int) -> bytes:
        """``size`` bytes at virtual address ``vaddr`` (from the loadable segments)."""
        for seg in self.segments:
            end = seg.vaddr + seg.filesz
            if seg.type == PT_LOAD and seg.vaddr <= vaddr and vaddr + size <= end:
                start = seg.offset + (vaddr - seg.vaddr)
                return data[start:start + size]
        raise FormatError(f"ELF: address {vaddr:#x} (+{size}) is not in any loaded segment")

    def data_segments(self) -> tuple[Segment, ...]:
        """Writable, non-executable loaded segments (where Go keeps build info when unnamed)."""
        return tuple(s for s in self.segments
                     if s.type == PT_LOAD and s.flags & (PF_X | PF_W) == PF_W)


def parse_elf(data: Data) -> ElfFile:
    """Section and program headers of an ELF file; FormatError if anything is out of bounds."""
    size = len(data)
    if size < 52 or data[:4] != b"\x7fELF":
        raise FormatError("ELF: truncated header")
    ei_class, ei_data = data[4], data[5]
    if ei_class not in (1, 2) or ei_data not in (1, 2):
        raise FormatError(f"ELF: bad class/data bytes {ei_class}/{ei_data}")
    bits = 32 if ei_class == 1 else 64
    e = "<" if ei_data == 1 else ">"
    if bits == 64:
        if size < 64:
            raise FormatError("ELF: truncated header")
        (machine,) = struct.unpack_from(e + "H", data, 18)
        phoff, shoff = struct.unpack_from(e + "QQ", data, 32)
        phentsize, phnum, shentsize, shnum, shstrndx = struct.unpack_from(e + "HHHHH", data, 54)
    else:
        (machine,) = struct.unpack_from(e + "H", data, 18)
        phoff, shoff = struct.unpack_from(e + "II", data, 28)
        phentsize, phnum, shentsize, shnum, shstrndx = struct.unpack_from(e + "HHHHH", data, 42)

    raw_sections: list[tuple[int, int, int, int, int, int]] = []
    if shoff:
        want = 64 if bits == 64 else 40
        if shentsize < want:
            raise FormatError(f"ELF: section header size {shentsize} too small")
        if shoff + shentsize > size:
            raise FormatError(f"ELF: section headers at {shoff:#x} beyond end of file ({size})")
        first = _shdr(data, e, bits, shoff)
        if shnum == 0:  # more than 0xff00 sections: the count is in section 0's size
            shnum = first[4]
        if shstrndx == 0xFFFF:
            shstrndx = first[5]
        if shnum > MAX_SECTIONS:
            raise FormatError(f"ELF: {shnum} sections (limit {MAX_SECTIONS})")
        if shoff + shnum * shentsize > size:
            raise FormatError(f"ELF: {shnum} section headers at {shoff:#x} run past end of file")
        raw_sections = [_shdr(data, e, bits, shoff + i * shentsize) for i in range(shnum)]

    names = b""
    if raw_sections and 0 < shstrndx < len(raw_sections):
        _, _, _, off, sz, _ = raw_sections[shstrndx]
        if off + sz > size:
            raise FormatError("ELF: section name table beyond end of file")
        if sz > MAX_NAMES:  # it is copied out: a hostile size must not copy the whole file
            raise FormatError(f"ELF: section name table of {sz} bytes (limit {MAX_NAMES})")
        names = data[off:off + sz]
    sections = []
    for name_off, stype, addr, off, sz, _link in raw_sections:
        if stype not in (SHT_NOBITS, 0) and off + sz > size:
            raise FormatError(f"ELF: section at {off:#x}+{sz:#x} beyond end of file ({size})")
        end = names.find(b"\0", name_off, name_off + MAX_NAME) if name_off < len(names) else -1
        name = names[name_off:end].decode("ascii", "replace") if end >= 0 else ""
        sections.append(Section(name=name, type=stype, addr=addr, offset=off, size=sz))

    segments = []
    if phoff and phnum:
        want = 56 if bits == 64 else 32
        if phentsize < want:
            raise FormatError(f"ELF: program header size {phentsize} too small")
        if phnum > MAX_SEGMENTS or phoff + phnum * phentsize > size:
            raise FormatError(f"ELF: {phnum} program headers at {phoff:#x} run past end of file")
        for i in range(phnum):
            at = phoff + i * phentsize
            if bits == 64:
                ptype, flags, off, vaddr, _pa, filesz = struct.unpack_from(e + "IIQQQQ", data, at)
            else:
                ptype, off, vaddr, _pa, filesz, _msz, flags = struct.unpack_from(
                    e + "IIIIIII", data, at)
            if ptype == PT_LOAD and off + filesz > size:
                raise FormatError(f"ELF: segment at {off:#x}+{filesz:#x} beyond end of file")
            segments.append(Segment(type=ptype, flags=flags, offset=off, vaddr=vaddr,
                                    filesz=filesz))
    return ElfFile(bits=bits, little=e == "<", machine=machine, sections=tuple(sections),
                   segments=tuple(segments))


def _shdr(data: Data, e: str, bits: int, at: int) -> tuple[int, int, int, int, int, int]:
    """(name, type, addr, offset, size, link) of the section header at ``at``."""
    if bits == 64:
        name, stype, _flags, addr, off, sz, link = struct.unpack_from(e + "IIQQQQI", data, at)
    else:
        name, stype, _flags, addr, off, sz, link = struct.unpack_from(e + "IIIIIII", data, at)
    return name, stype, addr, off, sz, link


# ---------------------------------------------------------------------------------------
# Large executables, spooled to disk


SEARCH_WINDOW = 8 << 20
MAX_MATCH = 64 << 10  # longest match a windowed regex search finds whole (version strings)
# What one read fault may map around the byte read: the page cache hands out large folios
# and maps them whole (1 MiB seen on Linux 6.18, up to a PMD: 2 MiB with 4 KiB pages),
# pages *before* that byte included. A release from the byte's own page left those
# resident: a parser finding one candidate after another (each find starting a little
# further on) kept the whole file mapped. Releases are widened to this span.
FAULT_SPAN = max(2 << 20, mmap.PAGESIZE)


def _clamp(n: int, start: int | None, end: int | None) -> tuple[int, int]:
    """``start`` and ``end`` as ``bytes.find`` reads them over ``n`` bytes (slice notation:
    None is a bound, negative counts from the end, clamped at 0; ``end`` at ``n``)."""
    start = 0 if start is None else start + n if start < 0 else start
    end = n if end is None else end + n if end < 0 else min(end, n)
    return max(start, 0), max(end, 0)


class PagedMap(mmap.mmap):
    """A read-only map of a large executable (spooled to a temporary file) that the parsers
    read like ``bytes``. Mapped pages a process has touched count in its resident memory
    until unmapped, so a plain ``find`` over a 200 MB map would add 200 MB to the peak;
    here ``find`` and ``search`` walk the map in ``SEARCH_WINDOW`` steps and release what
    they read once a window's worth has gathered (``touched``), and ``release`` drops
    every page (the page cache keeps them). Slices (headers, a section) are not tracked
    unless the parser says so (``touched``): the binary sink releases the whole map after
    each parser."""

    # [_lo, _hi): what finds and searches may have mapped since it was last released.
    _lo: int = 0
    _hi: int = 0

    def find(self, sub: bytes, start: int | None = 0,  # type: ignore[override]
             end: int | None = None) -> int:
        """``bytes.find``: the same answer for the same arguments, negative and None bounds
        included."""
        pos, stop = _clamp(len(self), start, end)
        if stop - pos < len(sub):
            return -1
        if not sub:
            return pos
        while pos < stop:
            window_end = min(pos + SEARCH_WINDOW + len(sub) - 1, stop)
            at = super().find(sub, pos, window_end)
            self.touched(pos, window_end if at < 0 else at + len(sub))
            if at >= 0:
                return at
            pos += SEARCH_WINDOW
        return -1

    def __contains__(self, sub: object) -> bool:
        """``sub in map`` as for ``bytes``: a bytes-like needle or a byte value. (mmap has no
        ``in`` of its own: Python would compare each byte, an int, with ``sub``.)"""
        if isinstance(sub, int):
            if not 0 <= sub < 256:
                raise ValueError("byte must be in range(0, 256)")
            return self.find(bytes((sub,))) >= 0
        try:
            needle = bytes(memoryview(sub))  # type: ignore[arg-type]
        except TypeError:
            raise TypeError("a bytes-like object is required, "
                            f"not {type(sub).__name__!r}") from None
        return self.find(needle) >= 0

    def search(self, rx: re.Pattern[bytes]) -> re.Match[bytes] | None:
        """``rx.search`` over the whole map, one window at a time: the first match, provided
        matches are under ``MAX_MATCH`` bytes (one that starts past a window's core is left
        to the next window, so none is cut short at a window's end)."""
        n = len(self)
        pos = 0
        while pos < n:
            core_end = pos + SEARCH_WINDOW
            window_end = min(core_end + MAX_MATCH, n)
            m = rx.search(self, pos, window_end)
            self.touched(pos, window_end)
            if m is not None and (m.start() < core_end or window_end == n):
                return m
            pos = core_end
        return None

    def touched(self, start: int, end: int) -> None:
        """``[start, end)`` was read (by a search, or a parser through slices): widened to
        what its faults may have mapped, it joins the span to release, released once it
        spans a window. A scan so releases
        each window behind it, and a parser trying one candidate after another (a find
        from each hit on) pays one madvise per window, not one per find: that was 5.5 us
        a hit, minutes for a few MB of hostile image."""
        if self._lo <= start and end <= self._hi:
            return  # the common case: within the span already
        lo, hi = start - start % FAULT_SPAN, min(end + -end % FAULT_SPAN, len(self))
        if self._hi > self._lo:
            lo, hi = min(lo, self._lo), max(hi, self._hi)
        self._lo, self._hi = lo, hi
        if hi - lo >= SEARCH_WINDOW:
            self.release(lo, hi)

    def release(self, start: int = 0, end: int | None = None) -> None:
        """Unmap the pages of ``[start, end)`` from this process (they stay readable), and
        those a fault there may have mapped beside them (``FAULT_SPAN``)."""
        n = len(self)
        end = n if end is None else min(end + -end % FAULT_SPAN, n)
        lo = max(start - start % FAULT_SPAN, 0)
        if end > lo and hasattr(mmap, "MADV_DONTNEED"):
            self.madvise(mmap.MADV_DONTNEED, lo, end - lo)
        if lo <= self._lo and self._hi <= end:
            self._lo = self._hi = 0


# What the parsers read: a file's bytes, or the map of one spooled to disk.
Data = bytes | PagedMap


def search(rx: re.Pattern[bytes], data: Data) -> re.Match[bytes] | None:
    """``rx.search(data)``; over a ``PagedMap``, one window at a time."""
    return data.search(rx) if isinstance(data, PagedMap) else rx.search(data)
