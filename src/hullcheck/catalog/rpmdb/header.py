"""RPM header blobs as the rpm database stores them, read without librpm.

A stored header is ``il`` and ``dl`` (big-endian u32), ``il`` index entries of 16 bytes
(tag, type, offset, count; big-endian), then ``dl`` bytes of data. Entry offsets are
relative to the start of the data. The first entry is usually a region tag (63,
HEADERIMMUTABLE) covering the package's original header; entries rpm added at install
time ("dribble" entries) follow it and win over earlier entries of the same tag.

Only the tags a cataloger needs are decoded, and every count, offset and length is
checked against the blob before it is used: a hostile blob raises ``FormatError`` and
never makes us allocate more than the blob's own size.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from hullcheck.errors import FormatError

# rpm's own limits (header.c: hdrchkTags / hdrchkData).
MAX_INDEX_ENTRIES = 0xFFFF
MAX_DATA_BYTES = 256 << 20

# Data types.
INT16 = 3
INT32 = 4
STRING = 6
STRING_ARRAY = 8
I18NSTRING = 9

# Tags.
NAME = 1000
VERSION = 1001
RELEASE = 1002
EPOCH = 1003
SIZE = 1009
VENDOR = 1011
LICENSE = 1014
ARCH = 1022
OLDFILENAMES = 1027
SOURCERPM = 1044
DIRINDEXES = 1116
BASENAMES = 1117
DIRNAMES = 1118

_WANTED = frozenset(
    {NAME, VERSION, RELEASE, EPOCH, SIZE, VENDOR, LICENSE, ARCH, OLDFILENAMES, SOURCERPM,
     DIRINDEXES, BASENAMES, DIRNAMES}
)
_INDEX = struct.Struct(">iIiI")
_NONE = "(none)"  # what rpm writes for an absent SOURCERPM/LICENSE/VENDOR


@dataclass(frozen=True, slots=True, kw_only=True)
class RpmHeader:
    """The facts of one installed package, as its header states them."""

    name: str
    version: str
    release: str
    epoch: int | None  # None when the EPOCH tag is absent (rpm's EPOCHNUM is then 0)
    arch: str = ""
    source_rpm: str = ""  # e.g. "openssl-3.0.7-18.el9_2.src.rpm"
    license: str = ""
    vendor: str = ""
    size: int | None = None
    files: tuple[str, ...] = ()


class _Blob:
    """Bounds-checked access to the entries of one header blob."""

    __slots__ = ("data", "data_end", "data_start", "dl", "entries")

    def __init__(self, data: bytes) -> None:
        if len(data) < 8:
            raise FormatError(f"RPM header of {len(data)} bytes is truncated")
        il, dl = struct.unpack_from(">II", data)
        if il < 1 or il > MAX_INDEX_ENTRIES:
            raise FormatError(f"RPM header index count {il} is out of range")
        if dl > MAX_DATA_BYTES:
            raise FormatError(f"RPM header data length {dl} is out of range")
        data_start = 8 + 16 * il
        if data_start + dl > len(data):
            raise FormatError(
                f"RPM header needs {data_start + dl} bytes ({il} entries, {dl} data bytes) "
                f"but has {len(data)}"
            )
        self.data = data
        self.dl = dl
        self.data_start = data_start
        self.data_end = data_start + dl
        entries: dict[int, tuple[int, int, int]] = {}
        for tag, typ, offset, count in _INDEX.iter_unpack(data[8:data_start]):
            if tag in _WANTED:
                if offset < 0 or offset >= dl:
                    raise FormatError(f"RPM header tag {tag}: offset {offset} is outside "
                                      f"the {dl} data bytes")
                entries[tag] = (typ, offset, count)  # later (dribble) entries win
        self.entries = entries

    def _strings(self, tag: int, offset: int, count: int) -> list[str]:
        if count < 1 or count > self.dl - offset:  # every string takes at least one byte
            raise FormatError(f"RPM header tag {tag}: string count {count} is out of range")
        start = self.data_start + offset
        if count == 1:
            end = self.data.find(b"\0", start, self.data_end)
            if end < 0:
                raise FormatError(f"RPM header tag {tag}: unterminated string")
            return [self.data[start:end].decode("utf-8", errors="replace")]
        parts = self.data[start:self.data_end].split(b"\0", count)
        if len(parts) <= count:
            raise FormatError(f"RPM header tag {tag}: unterminated string")
        del parts[count]
        return [p.decode("utf-8", errors="replace") for p in parts]

    def strings(self, tag: int) -> list[str]:
        """A STRING, STRING_ARRAY or I18NSTRING tag as a list ([] when absent)."""
        e = self.entries.get(tag)
        if e is None:
            return []
        typ, offset, count = e
        if typ not in (STRING, STRING_ARRAY, I18NSTRING):
            raise FormatError(f"RPM header tag {tag}: type {typ} is not a string")
        if typ == STRING and count != 1:
            raise FormatError(f"RPM header tag {tag}: string with count {count}")
        return self._strings(tag, offset, count)

    def string(self, tag: int) -> str:
        """The first string of a tag ("" when absent); an I18N string's default locale."""
        values = self.strings(tag)
        return values[0] if values else ""

    def ints(self, tag: int) -> tuple[int, ...]:
        """An INT32 or INT16 tag as unsigned integers (() when absent)."""
        e = self.entries.get(tag)
        if e is None:
            return ()
        typ, offset, count = e
        if typ == INT32:
            width, code = 4, "I"
        elif typ == INT16:
            width, code = 2, "H"
        else:
            raise FormatError(f"RPM header tag {tag}: type {typ} is not an integer")
        if offset % width:
            raise FormatError(f"RPM header tag {tag}: misaligned offset {offset}")
        if count < 1 or count > (self.dl - offset) // width:
            raise FormatError(f"RPM header tag {tag}: count {count} runs past the data")
        return struct.unpack_from(f">{count}{code}", self.data, self.data_start + offset)


def _optional(value: str) -> str:
    return "" if value == _NONE else value


def _files(blob: _Blob) -> tuple[str, ...]:
    basenames = blob.strings(BASENAMES)
    if not basenames:
        return tuple(blob.strings(OLDFILENAMES))
    dirnames = blob.strings(DIRNAMES)
    indexes = blob.ints(DIRINDEXES)
    if len(indexes) != len(basenames):
        raise FormatError(
            f"RPM header has {len(basenames)} file names but {len(indexes)} directory indexes"
        )
    if indexes and max(indexes) >= len(dirnames):
        raise FormatError(
            f"RPM header directory index {max(indexes)} is out of range ({len(dirnames)} dirs)"
        )
    return tuple([dirnames[i] + base for base, i in zip(basenames, indexes, strict=True)])


def parse_header(data: bytes) -> RpmHeader:
    """The package facts of one stored header blob; ``FormatError`` when it is malformed."""
    blob = _Blob(data)
    name = blob.string(NAME)
    if not name:
        raise FormatError("RPM header has no NAME")
    epochs = blob.ints(EPOCH)
    sizes = blob.ints(SIZE)
    return RpmHeader(
        name=name,
        version=blob.string(VERSION),
        release=blob.string(RELEASE),
        epoch=epochs[0] if epochs else None,
        arch=blob.string(ARCH),
        source_rpm=_optional(blob.string(SOURCERPM)),
        license=_optional(blob.string(LICENSE)),
        vendor=_optional(blob.string(VENDOR)),
        size=sizes[0] if sizes else None,
        files=_files(blob),
    )
