"""A fast, strict, streaming tar reader for layer blobs.

Why not ``tarfile``: in stream mode it copies every byte of every member through
several Python-level buffers (10 KiB at a time) even when the data is skipped, which
made tar parsing cost as much as decompression itself. Layers only need headers for
most members and the bytes of a few; this reader slices headers out of large
decompressed chunks and skips data by moving an offset, so skipping costs nothing.

It reads POSIX ustar, pax (``x``/``g`` records: path, linkpath, size, uid, gid) and GNU
(``L``/``K`` long names, base-256 numbers) headers, verifies each header checksum, and
bounds every length it trusts from the input. Anything malformed is ``UnsafeLayer``.

``decompress_ahead`` runs the decompressor (and the digest check) in a helper thread,
one chunk ahead of the parser: isal, zstd and hashlib release the GIL, so reading and
parsing overlap on two cores.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Generator, Iterator
from typing import NamedTuple

try:  # isal's adler32 is SIMD: ~4x zlib's on a 512-byte header; the same value.
    from isal.isal_zlib import adler32
except ImportError:  # pragma: no cover - only where isal has no wheel
    from zlib import adler32

from hullcheck import deadline
from hullcheck.errors import UnsafeLayer

BLOCK = 512
CHUNK = 1 << 20
MAX_PAX = 1 << 20  # bytes of one pax header
MAX_LONGNAME = 64 << 10

REGULAR = frozenset(b"07\x00")  # regular file, contiguous file, old-style regular
HARDLINK, SYMLINK, DIRECTORY = ord("1"), ord("2"), ord("5")
_NO_DATA = frozenset(b"123456")
_PAX_X, _PAX_G, _LONGNAME, _LONGLINK = ord("x"), ord("g"), ord("L"), ord("K")
_PAX = frozenset((_PAX_X, _PAX_G))
_META = frozenset((_PAX_X, _PAX_G, _LONGNAME, _LONGLINK))


class Member(NamedTuple):
    """One tar member's header, as read (a tuple: made in C, ``new_member``, per entry)."""

    name: str
    type: int  # the typeflag byte
    size: int
    mode: int
    uid: int
    gid: int
    linkname: str

    @property
    def is_file(self) -> bool:
        return self.type in REGULAR

    @property
    def is_dir(self) -> bool:
        return self.type == DIRECTORY

    @property
    def is_symlink(self) -> bool:
        return self.type == SYMLINK

    @property
    def is_hardlink(self) -> bool:
        return self.type == HARDLINK


# The usual header's numbers: mode, uid and gid as 7 octal digits and a NUL, size and mtime
# as 11 and a NUL (bytes 100-148), the checksum as 6 digits, a NUL and a space (148-156):
# what GNU tar, Go, Python's tarfile and BusyBox write. Mapping the digits 0-7 to "0" leaves
# those bytes equal to ``_PLAIN_FIELDS`` only then (any other byte stays itself), so one
# translate checks the layout and the fields are read with int() on fixed slices. A header laid out
# otherwise (spaces, base-256, digits filling a field) goes through ``_number`` and
# ``_checksum_ok``, which read every form.
_OCTAL_AS_ZERO = bytes.maketrans(b"1234567", b"0000000")
_PLAIN_FIELDS = b"0000000\0" * 3 + b"00000000000\0" * 2 + b"000000\0 "
_PLAIN_REST = 8 * 32 - 32  # _checksum_ok's ``rest`` less the digits' sum: the NUL and space
_ZERO_BLOCK = bytes(BLOCK)
# tuple.__new__ with the fields in order: Member's own __new__ is Python code (~2x the cost).
new_member = tuple.__new__


def _number(field: bytes, what: str) -> int:
    if field[0] & 0x80:  # GNU base-256
        if field[0] & 0x40:
            raise UnsafeLayer(f"{what}: negative number in tar header")
        return int.from_bytes(field[1:], "big")
    end = field.find(0)
    text = (field if end < 0 else field[:end]).strip()
    if not text:
        return 0
    # Octal digits only: int() alone would also take a sign ("-1" as a size) or "_".
    if not text.isdigit():
        raise UnsafeLayer(f"{what}: invalid number {text[:20]!r} in tar header")
    try:
        return int(text, 8)
    except ValueError:  # an 8 or a 9
        raise UnsafeLayer(f"{what}: invalid number {text[:20]!r} in tar header") from None


def _text(field: bytes) -> str:
    end = field.find(0)
    return (field if end < 0 else field[:end]).decode("utf-8", "surrogateescape")


def _byte_sum(header: bytes) -> int:
    """The sum of a header's bytes. ``adler32``'s low half is 1 + that sum mod 65521, in C
    (Python's ``sum()`` cost a quarter of the parse); an all-ASCII header sums to at most
    512 x 127 = 65,024, so there it is exact. Any other header is summed here: a checksum
    off by 65,521 must not pass."""
    if header.isascii():
        return (adler32(header) & 0xFFFF) - 1
    return sum(header)


def _checksum_ok(header: bytes, stored_field: bytes) -> bool:
    """The ustar checksum: the byte sum of the header with its checksum field as spaces.

    The byte sum is ``_byte_sum``'s (exact, in C for the usual all-ASCII header).
    """
    end = stored_field.find(0)
    stored = (stored_field if end < 0 else stored_field[:end]).strip()
    try:
        expected = int(stored, 8)
    except ValueError:
        return False
    rest = 8 * 32 - sum(stored_field)
    if _byte_sum(header) + rest == expected:
        return True
    # Some old tars computed it over signed bytes.
    signed = sum(header) + rest - 256 * sum(1 for b in header if b > 127)
    return signed == expected


def _pax_records(data: bytes, what: str) -> dict[str, str]:
    out: dict[str, str] = {}
    pos = 0
    n = len(data)
    while pos < n:
        if data[pos] == 0:
            break
        sp = data.find(b" ", pos, pos + 20)
        if sp < 0:
            raise UnsafeLayer(f"{what}: malformed pax header")
        try:
            length = int(data[pos:sp])
        except ValueError:
            raise UnsafeLayer(f"{what}: malformed pax record length") from None
        end = pos + length
        if length <= 0 or end > n or data[end - 1] != 0x0A:
            raise UnsafeLayer(f"{what}: malformed pax record")
        key, eq, value = data[sp + 1 : end - 1].partition(b"=")
        if not eq:
            raise UnsafeLayer(f"{what}: malformed pax record")
        out[key.decode("utf-8", "surrogateescape")] = value.decode("utf-8", "surrogateescape")
        pos = end
    return out


class TarReader:
    """Iterate the members of a tar stream given as chunks of bytes.

    For the member just yielded, :meth:`read` returns its data (once); data not read is
    skipped when iteration moves on.
    """

    def __init__(self, chunks: Iterator[bytes], *, what: str) -> None:
        self._chunks = chunks
        self._buf = b""
        self._pos = 0
        self._what = what
        self._pending = 0  # bytes of the current member's data not consumed yet
        self._padding = 0

    # -- byte access ------------------------------------------------------------------
    def _take(self, n: int) -> bytes:
        """Exactly n bytes, or fewer only at end of stream."""
        avail = len(self._buf) - self._pos
        if avail >= n:
            out = self._buf[self._pos : self._pos + n]
            self._pos += n
            return out
        parts = [self._buf[self._pos :]]
        need = n - avail
        self._buf, self._pos = b"", 0
        for chunk in self._chunks:
            if len(chunk) >= need:
                parts.append(chunk[:need])
                self._buf, self._pos = chunk, need
                need = 0
                break
            parts.append(chunk)
            need -= len(chunk)
        return b"".join(parts)

    def _skip(self, n: int, *, padding: bool = False) -> bool:
        """Skip ``n`` bytes; False when the stream ended first. Member data that ends early
        is an error; padding that does (``padding=True``) ends the archive, as Go's and
        Docker's readers allow (umoci writes a last member without its padding)."""
        avail = len(self._buf) - self._pos
        if avail >= n:
            self._pos += n
            return True
        need = n - avail
        self._buf, self._pos = b"", 0
        for chunk in self._chunks:
            if len(chunk) > need:
                self._buf, self._pos = chunk, need
                return True
            need -= len(chunk)
        if need and not padding:
            raise UnsafeLayer(f"{self._what}: truncated tar (member data ends early)")
        return not need

    def read(self, limit: int) -> bytes:
        """The current member's data (at most ``limit`` bytes; the rest is skipped; none for
        a negative ``limit``)."""
        n = min(self._pending, limit)
        if n < 0:  # a caller's limit that came out negative: not a step back
            return b""
        pos = self._pos
        if len(self._buf) - pos >= n:  # in the current chunk: one slice
            self._pos = pos + n
            self._pending -= n
            return self._buf[pos : pos + n]
        data = self._take(n)
        if len(data) != n:
            raise UnsafeLayer(f"{self._what}: truncated tar (member data ends early)")
        self._pending -= n
        return data

    def peek(self, limit: int) -> bytes | None:
        """The current member's first ``limit`` bytes (all, when it is shorter), left unread;
        None when they do not lie in the chunk at hand (then ``read`` them)."""
        n = min(self._pending, limit)
        if n < 0:  # as ``read``: nothing for a negative limit
            return b""
        pos = self._pos
        if len(self._buf) - pos >= n:
            return self._buf[pos : pos + n]
        return None

    def update(self, consume: Callable[[memoryview], object], limit: int) -> int:
        """Give the current member's data (at most ``limit`` bytes; the rest is skipped) to
        ``consume`` (a hash's ``update``) as views of the chunks it lies in, not copied out:
        what ``read`` would return, in one piece or more. The bytes given."""
        n = left = min(self._pending, limit)
        if n < 0:  # as ``read``: nothing given, nothing moved
            return 0
        buf, pos = self._buf, self._pos
        while len(buf) - pos < left:  # the rest of this chunk, then the next
            if pos < len(buf):
                consume(memoryview(buf)[pos:])
                left -= len(buf) - pos
            following = next(self._chunks, None)
            if following is None:
                self._buf, self._pos = b"", 0
                raise UnsafeLayer(f"{self._what}: truncated tar (member data ends early)")
            buf, pos = following, 0
        if left:
            consume(memoryview(buf)[pos : pos + left])
        self._buf, self._pos = buf, pos + left
        self._pending -= n
        return n

    # -- members ----------------------------------------------------------------------
    def __iter__(self) -> Iterator[Member]:
        what = self._what
        pax_global: dict[str, str] = {}
        pax: dict[str, str] = {}
        long_name: str | None = None
        long_link: str | None = None
        while True:
            # The previous member's data and padding, then this header: by moving an
            # offset in the current chunk when it holds them (nearly always).
            pos = self._pos + self._pending + self._padding
            buf = self._buf
            if len(buf) - pos >= BLOCK:
                header = buf[pos : pos + BLOCK]
                self._pos = pos + BLOCK
                self._pending = self._padding = 0
            else:
                self._skip(self._pending)
                ended = not self._skip(self._padding, padding=True)
                self._pending = self._padding = 0
                if ended:
                    return
                header = self._take(BLOCK)
                if len(header) < BLOCK:
                    if not header:
                        return  # tolerated: no end-of-archive blocks
                    raise UnsafeLayer(f"{what}: truncated tar header")
            if header == _ZERO_BLOCK:
                return  # end-of-archive marker; the rest is padding
            typeflag = header[156]
            if header[100:156].translate(_OCTAL_AS_ZERO) == _PLAIN_FIELDS:
                raw_sum = header[148:154]
                # _byte_sum inlined (per header): exact for an all-ASCII header.
                total = (adler32(header) & 0xFFFF) - 1 if header.isascii() else sum(header)
                if int(raw_sum, 8) != total + _PLAIN_REST - sum(raw_sum) \
                        and not _checksum_ok(header, header[148:156]):
                    raise UnsafeLayer(f"{what}: bad tar header checksum (corrupt or not a tar)")
                size = int(header[124:135], 8)
                mode, uid, gid = int(header[100:107], 8), int(header[108:115], 8), \
                    int(header[116:123], 8)
            else:
                if not _checksum_ok(header, header[148:156]):
                    raise UnsafeLayer(f"{what}: bad tar header checksum (corrupt or not a tar)")
                size = _number(header[124:136], what)
                mode = uid = gid = -1  # read below, for members only (as they always were)
            padding = -size % BLOCK
            if typeflag in _META:
                limit = MAX_PAX if typeflag in _PAX else MAX_LONGNAME
                if size > limit:
                    raise UnsafeLayer(f"{what}: oversized tar metadata header ({size} bytes)")
                data = self._take(size)
                if len(data) != size:
                    raise UnsafeLayer(f"{what}: truncated tar metadata header")
                self._skip(padding)
                if typeflag == _PAX_X:
                    pax.update(_pax_records(data, what))
                elif typeflag == _PAX_G:
                    pax_global.update(_pax_records(data, what))
                elif typeflag == _LONGNAME:
                    long_name = _text(data)
                else:
                    long_link = _text(data)
                continue
            if mode < 0:
                uid = _number(header[108:116], what)
                gid = _number(header[116:124], what)
                mode = _number(header[100:108], what)
            end = header.find(0, 0, 100)
            name = header[: end if end >= 0 else 100].decode("utf-8", "surrogateescape")
            if header[345] and header[257:263] == b"ustar\x00":  # POSIX: prefix: leading dirs
                name = f"{_text(header[345:500])}/{name}"
            linkname = _text(header[157:257]) if header[157] else ""
            if pax_global or pax:
                merged = {**pax_global, **pax}
                name = merged.get("path", name)
                linkname = merged.get("linkpath", linkname)
                try:
                    size = int(merged.get("size", size))
                    uid = int(merged.get("uid", uid))
                    gid = int(merged.get("gid", gid))
                except ValueError:
                    raise UnsafeLayer(f"{what}: invalid number in pax header") from None
                if size < 0:
                    raise UnsafeLayer(f"{what}: negative size in pax header")
                padding = -size % BLOCK
                pax = {}
            if long_name is not None:
                name, long_name = long_name, None
            if long_link is not None:
                linkname, long_link = long_link, None
            if typeflag in _NO_DATA:
                # As tarfile does: links, directories and devices carry no data even
                # when their size field says otherwise.
                size = padding = 0
            self._pending = size
            self._padding = padding
            yield new_member(Member, (name, typeflag, size, mode & 0o7777, uid, gid, linkname))


_DONE = object()


def decompress_ahead(chunks: Iterator[bytes], *, depth: int = 4) -> Generator[bytes, None, None]:
    """Yield the items of ``chunks``, produced by a helper thread ``depth`` items ahead.

    Errors raised while producing (digest mismatch, corrupt stream, bomb) are re-raised in
    the consumer. If the consumer stops early, the thread stops too.
    """
    q: queue.Queue[object] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def produce() -> None:
        try:
            for chunk in chunks:
                if stop.is_set():
                    return
                while not stop.is_set():
                    try:
                        q.put(chunk, timeout=0.1)
                        break
                    except queue.Full:
                        continue
        except BaseException as exc:
            _put(q, exc, stop)
            return
        _put(q, _DONE, stop)

    # carry: the reads the thread makes (a registry stream) honour the command's deadline.
    thread = threading.Thread(target=deadline.carry(produce), name="decompress", daemon=True)
    thread.start()
    try:
        while True:
            item = q.get()
            if item is _DONE:
                return
            if isinstance(item, BaseException):
                raise item
            yield item  # type: ignore[misc]
    finally:
        stop.set()
        thread.join()


def _put(q: queue.Queue[object], item: object, stop: threading.Event) -> None:
    while not stop.is_set():
        try:
            q.put(item, timeout=0.1)
            return
        except queue.Full:
            continue
