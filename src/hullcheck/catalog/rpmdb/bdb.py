"""The Berkeley DB hash rpm database (``Packages``: RHEL/CentOS <= 8, Amazon Linux 2, old SUSE).

Read page by page without libdb (layout from libdb ``dbinc/db_page.h``):

* page 0 is the hash metadata page: magic 0x061561 at byte 12 (little-endian, or
  big-endian for a byte-swapped file), page size at 20, page type 8 at 25, no
  encryption (byte 24), the last page number at 32;
* every page starts with a 26-byte header: page number (8), previous (12) and next
  page (16), entry count (20), high free offset (22), type (25);
* hash pages (type 13, or 2 for the old unsorted kind) hold an array of u16 offsets to
  items, in key/value pairs. A value is either inline (``H_KEYDATA``, type 1: the bytes
  up to the previous item) or a reference to a chain of overflow pages (``H_OFFPAGE``,
  type 3: first page at +4, total length at +8);
* overflow pages (type 7) hold ``high free offset`` bytes of the value each and link by
  their next-page number.

The key of each package is its 4-byte instance number; key 0 holds rpm's bookkeeping,
not a header, and is skipped. Page chains are followed with a visited set, so a loop is
an error, not a hang.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator

from hullcheck.errors import FormatError

HASH_MAGIC = 0x061561
PAGE_HEADER = 26
P_HASH_UNSORTED = 2
P_OVERFLOW = 7
P_HASHMETA = 8
P_HASH = 13
H_KEYDATA = 1
H_OFFPAGE = 3
PAGE_SIZES = frozenset(1 << n for n in range(9, 17))  # 512 .. 65536


def byte_order(data: bytes) -> str | None:
    """"<" or ">" for a Berkeley DB hash file, None for anything else."""
    if len(data) < 512:
        return None
    if struct.unpack_from("<I", data, 12)[0] == HASH_MAGIC:
        return "<"
    if struct.unpack_from(">I", data, 12)[0] == HASH_MAGIC:
        return ">"
    return None


class _File:
    __slots__ = ("data", "npages", "order", "psize")

    def __init__(self, data: bytes) -> None:
        order = byte_order(data)
        if order is None:
            raise FormatError("not a Berkeley DB hash file")
        psize = struct.unpack_from(order + "I", data, 20)[0]
        if psize not in PAGE_SIZES:
            raise FormatError(f"rpm Berkeley DB: page size {psize} is not valid")
        if data[24] != 0:
            raise FormatError("rpm Berkeley DB is encrypted")
        if data[25] != P_HASHMETA:
            raise FormatError(f"rpm Berkeley DB: page 0 has type {data[25]}, not hash metadata")
        last = struct.unpack_from(order + "I", data, 32)[0]
        if (last + 1) * psize > len(data):
            raise FormatError(
                f"rpm Berkeley DB is truncated: {last + 1} pages of {psize} bytes need "
                f"{(last + 1) * psize} bytes, file has {len(data)}"
            )
        self.data = data
        self.order = order
        self.psize = psize
        self.npages = last + 1

    def page(self, pgno: int) -> memoryview:
        start = pgno * self.psize
        return memoryview(self.data)[start:start + self.psize]

    def overflow(self, first: int, total: int) -> bytes:
        """The value stored in the overflow chain starting at page ``first``."""
        order = self.order
        out = bytearray()
        seen: set[int] = set()
        pgno = first
        while pgno != 0:
            if pgno >= self.npages:
                raise FormatError(f"rpm Berkeley DB: overflow page {pgno} is past the end")
            if pgno in seen:
                raise FormatError(f"rpm Berkeley DB: overflow page chain loops at page {pgno}")
            seen.add(pgno)
            page = self.page(pgno)
            if page[25] != P_OVERFLOW:
                raise FormatError(f"rpm Berkeley DB: page {pgno} has type {page[25]}, "
                                  "not overflow")
            nxt, _, length = struct.unpack_from(order + "IHH", page, 16)
            if length > self.psize - PAGE_HEADER or len(out) + length > total:
                raise FormatError(f"rpm Berkeley DB: overflow page {pgno} length {length} "
                                  "is out of range")
            out += page[PAGE_HEADER:PAGE_HEADER + length]
            pgno = nxt
        if len(out) != total:
            raise FormatError(f"rpm Berkeley DB: value of {total} bytes ends after {len(out)}")
        return bytes(out)

    def items(self, pgno: int) -> Iterator[tuple[bytes, bytes]]:
        """(key, value) pairs of one hash page."""
        order = self.order
        psize = self.psize
        page = self.page(pgno)
        n = struct.unpack_from(order + "H", page, 20)[0]
        if n % 2 or PAGE_HEADER + 2 * n > psize:
            raise FormatError(f"rpm Berkeley DB: hash page {pgno} has a bad entry count {n}")
        offsets = struct.unpack_from(f"{order}{n}H", page, PAGE_HEADER)
        for i in range(0, n, 2):
            key = self._item(page, pgno, offsets, i)
            value = self._item(page, pgno, offsets, i + 1)
            yield key, value

    def _item(self, page: memoryview, pgno: int, offsets: tuple[int, ...], i: int) -> bytes:
        off = offsets[i]
        end = offsets[i - 1] if i else self.psize  # items are laid out downwards
        if not PAGE_HEADER <= off < end <= self.psize:
            raise FormatError(f"rpm Berkeley DB: hash page {pgno} item {i} is out of bounds")
        kind = page[off]
        if kind == H_KEYDATA:
            return bytes(page[off + 1:end])
        if kind == H_OFFPAGE:
            if off + 12 > end:
                raise FormatError(f"rpm Berkeley DB: hash page {pgno} item {i} is truncated")
            first, total = struct.unpack_from(self.order + "II", page, off + 4)
            if total > len(self.data):
                raise FormatError(f"rpm Berkeley DB: value length {total} is out of range")
            return self.overflow(first, total)
        raise FormatError(f"rpm Berkeley DB: hash page {pgno} item {i} has type {kind}")


def read_blobs(data: bytes) -> Iterator[bytes]:
    """Every header blob, in page order."""
    f = _File(data)
    for pgno in range(1, f.npages):
        if f.page(pgno)[25] not in (P_HASH, P_HASH_UNSORTED):
            continue
        for key, value in f.items(pgno):
            if key == b"\0\0\0\0":
                continue  # rpm's bookkeeping record
            yield value
