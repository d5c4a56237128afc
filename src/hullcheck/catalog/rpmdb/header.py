"""RPM header blobs as the rpm database stores them, read without librpm.

A stored header is ``il`` and ``dl`` (big-endian u32), ``il`` index entries of 16 bytes
(tag, type, offset, count; big-endian), then ``dl`` bytes of data. Entry offsets are
relative to the start of the data. The first entry is usually a region tag (63,
HEADERIMMUTABLE) covering the package's original header; entries rpm added at install
time ("dribble" entries) follow it and win over earlier entries of the same tag.

Only the tags a cataloger needs are decoded, and every count, offset and length is
checked against the blob before it is used: a hostile blob raises ``FormatError`` and
never makes us allocate more than the blob's own size. The file digests (FILEDIGESTS, in the
FILEDIGESTALGO algorithm, MD5 when it is absent) are the exception: a header whose digests
cannot be read keeps its package, without them, and says why in ``digest_problem``.
"""

from __future__ import annotations

import operator
import struct
from dataclasses import dataclass

from hullcheck.errors import FormatError
from hullcheck.model import FILE_DIGEST_HEX, file_digest

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
PACKAGER = 1015
ARCH = 1022
OLDFILENAMES = 1027
FILEDIGESTS = 1035  # one hex digest per file, "" for directories, symlinks...
SOURCERPM = 1044
DIRINDEXES = 1116
BASENAMES = 1117
DIRNAMES = 1118
FILEDIGESTALGO = 5011
MODULARITYLABEL = 5096  # "nodejs:14:8070020230306170042:bd1311ed": built in a module stream

# FILEDIGESTALGO values (rpm's PGPHASHALGO_*) -> Package.file_digests algorithm
DIGEST_ALGORITHMS = {1: "md5", 2: "sha1", 8: "sha256", 9: "sha384", 10: "sha512", 11: "sha224"}

_HEX_OR_NUL = b"0123456789abcdef\0"
# A malformed one of these loses the digests, not the package.
_DIGEST_TAGS = frozenset({FILEDIGESTS, FILEDIGESTALGO})
_WANTED = frozenset(
    {NAME, VERSION, RELEASE, EPOCH, SIZE, VENDOR, LICENSE, PACKAGER, ARCH, OLDFILENAMES,
     SOURCERPM, DIRINDEXES, BASENAMES, DIRNAMES, MODULARITYLABEL}
) | _DIGEST_TAGS
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
    packager: str = ""
    size: int | None = None
    files: tuple[str, ...] = ()
    file_digests: tuple[tuple[str, str], ...] = ()  # sorted (path, "sha256:<hex>"...)
    digest_problem: str = ""  # why some or all digests could not be read
    modularity_label: str = ""  # the module stream it was built in (RHEL 8+ AppStream)


class _Blob:
    """Bounds-checked access to the entries of one header blob."""

    __slots__ = ("bad", "data", "data_end", "data_start", "dl", "entries")

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
        bad: dict[int, str] = {}  # digest tags whose entry is unusable
        for tag, typ, offset, count in _INDEX.iter_unpack(data[8:data_start]):
            if tag in _WANTED:
                if offset < 0 or offset >= dl:
                    reason = f"RPM header tag {tag}: offset {offset} is outside the {dl} data bytes"
                    if tag not in _DIGEST_TAGS:
                        raise FormatError(reason)
                    bad[tag] = reason
                    entries.pop(tag, None)
                    continue
                bad.pop(tag, None)
                entries[tag] = (typ, offset, count)  # later (dribble) entries win
        self.entries = entries
        self.bad = bad

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


def _file_digests(blob: _Blob, files: tuple[str, ...]) -> tuple[
        tuple[tuple[str, str], ...], str]:
    """(path, digest) for each file with a digest, sorted; and what could not be read. Empty
    digests (directories, symlinks, ghosts) are no digest; a digest of the wrong length or not
    hex is left out and counted; digests that cannot be matched to the files (a different
    count, an unknown algorithm, a malformed tag) are all left out."""
    if blob.bad:
        return (), next(iter(blob.bad.values()))
    entry = blob.entries.get(FILEDIGESTS)
    if entry is None:
        return (), ""
    try:
        algorithms = blob.ints(FILEDIGESTALGO)
        typ, offset, count = entry
        if typ != STRING_ARRAY:
            raise FormatError(f"RPM header tag {FILEDIGESTS}: type {typ} is not a string array")
        if count != len(files):
            raise FormatError(f"RPM header has {len(files)} file names but {count} file digests")
        algorithm = DIGEST_ALGORITHMS.get(algorithms[0] if algorithms else 1)
        if algorithm is None:
            raise FormatError(f"RPM header file digest algorithm {algorithms[0]} is not supported")
        pairs = _well_formed(blob, offset, files, algorithm)
        bad = 0
        if pairs is None:
            pairs, bad = _checked(algorithm, files, blob.strings(FILEDIGESTS))
    except FormatError as exc:
        return (), str(exc)
    if not all(map(operator.lt, files, files[1:])):
        pairs = sorted(set(pairs))  # rpm lists each file once, by path: this is not rpm's
    problem = f"RPM header has {bad} malformed {algorithm} file digest(s)" if bad else ""
    return tuple(pairs), problem


def _well_formed(blob: _Blob, offset: int, files: tuple[str, ...],
                 algorithm: str) -> list[tuple[str, str]] | None:
    """(path, digest) for each file with a digest, when every digest is empty or hex of the
    algorithm's length (as rpm writes them); None otherwise. Checked and split by a few passes
    over the bytes, without a step per digest: the string array ends where the ``len(files)``th
    NUL is, which a well-formed array puts within (length + 1) bytes per file."""
    count, width = len(files), FILE_DIGEST_HEX[algorithm]
    start = blob.data_start + offset
    window = blob.data[start:min(blob.data_end, start + count * (width + 1))]
    prefix = algorithm + ":"  # put in before the split: each digest string is made once
    text = prefix + window.decode("latin-1").replace("\0", "\0" + prefix, count)
    digests = text.split("\0", count)
    digests.pop()  # what follows the array (or its last string, when unterminated)
    if len(digests) != count or not set(map(len, digests)) <= {len(prefix), len(prefix) + width}:
        return None
    size = sum(map(len, digests)) - count * len(prefix) + count  # with the NULs
    if window[:size].translate(None, _HEX_OR_NUL):
        return None  # a byte that is not a hex digit
    if prefix in digests:  # directories, symlinks...: no digest
        return [(path, d) for path, d in zip(files, digests, strict=True) if d != prefix]
    return list(zip(files, digests, strict=True))


def _checked(algorithm: str, files: tuple[str, ...],
             digests: list[str]) -> tuple[list[tuple[str, str]], int]:
    """(path, digest) of the well-formed digests, and how many were malformed."""
    pairs = []
    bad = 0
    for path, value in zip(files, digests, strict=True):
        if value:
            digest = file_digest(algorithm, value)
            if digest is None:
                bad += 1
            else:
                pairs.append((path, digest))
    return pairs, bad


def parse_header(data: bytes) -> RpmHeader:
    """The package facts of one stored header blob; ``FormatError`` when it is malformed."""
    blob = _Blob(data)
    name = blob.string(NAME)
    if not name:
        raise FormatError("RPM header has no NAME")
    epochs = blob.ints(EPOCH)
    sizes = blob.ints(SIZE)
    files = _files(blob)
    file_digests, digest_problem = _file_digests(blob, files)
    return RpmHeader(
        name=name,
        version=blob.string(VERSION),
        release=blob.string(RELEASE),
        epoch=epochs[0] if epochs else None,
        arch=blob.string(ARCH),
        source_rpm=_optional(blob.string(SOURCERPM)),
        license=_optional(blob.string(LICENSE)),
        vendor=_optional(blob.string(VENDOR)),
        packager=_optional(blob.string(PACKAGER)),
        size=sizes[0] if sizes else None,
        files=files,
        file_digests=file_digests,
        digest_problem=digest_problem,
        modularity_label=_optional(blob.string(MODULARITYLABEL)),
    )
