"""The NDB rpm database (``Packages.db``; SUSE, rpm >= 4.16 built with ndb).

Layout (rpm ``lib/backend/ndb/rpmpkg.c``), all little-endian u32:

* a 32-byte file header: magic ``RpmP``, version 0, generation, slot page count,
  next package index; it takes the place of the first two slots;
* ``slotnpages`` pages of 4096 bytes holding 16-byte slots: magic ``Slot``, package index,
  block offset, block count (blocks are 16 bytes; offset 0 marks a free slot);
* at each used slot's block: a blob head (magic ``BlbS``, package index, generation, blob
  length), the header blob, zero padding to the block count, and a 12-byte tail
  (Adler-32 of head + blob + padding, blob length, magic ``BlbE``).

Only the slots say where the blobs are: when a package is erased rpm frees its slot,
zeroes its blocks and may move other blobs into the hole, so neither the blob area's
order nor the slots' follows the package index (see the real file
``tests/fixtures/rpm/ndb/erased/Packages.db``).
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Iterator

from hullcheck.errors import FormatError

MAGIC = b"RpmP"
SLOT_MAGIC = b"Slot"
BLOB_MAGIC = b"BlbS"
TAIL_MAGIC = b"BlbE"
PAGE = 4096
SLOT = 16
BLOCK = 16
HEAD = 16
TAIL = 12
HEADER = 32
MAX_SLOT_PAGES = 2048  # 524,288 slots: far more packages than any system has


def is_ndb(data: bytes) -> bool:
    return data[:4] == MAGIC


def read_blobs(data: bytes) -> Iterator[bytes]:
    """Every header blob in slot order."""
    if len(data) < HEADER:
        raise FormatError(f"rpm NDB database of {len(data)} bytes is truncated")
    _, version, _, npages = struct.unpack_from("<4I", data)
    if version != 0:
        raise FormatError(f"rpm NDB database version {version} is not supported")
    if npages < 1 or npages > MAX_SLOT_PAGES:
        raise FormatError(f"rpm NDB database slot page count {npages} is out of range")
    if npages * PAGE > len(data):
        raise FormatError(
            f"rpm NDB database is truncated: {npages} slot pages need {npages * PAGE} bytes, "
            f"file has {len(data)}"
        )
    first_block = npages * PAGE // BLOCK
    nblocks = len(data) // BLOCK
    for off in range(HEADER, npages * PAGE, SLOT):
        magic = data[off:off + 4]
        if magic != SLOT_MAGIC:
            raise FormatError(f"rpm NDB database: bad slot magic at byte {off}")
        pkgidx, blkoff, blkcnt = struct.unpack_from("<3I", data, off + 4)
        if blkoff == 0:
            continue  # free slot
        if pkgidx == 0 or blkcnt == 0 or blkoff < first_block or blkoff + blkcnt > nblocks:
            raise FormatError(
                f"rpm NDB database: slot for package {pkgidx} points outside the file "
                f"(blocks {blkoff}+{blkcnt} of {nblocks})"
            )
        start = blkoff * BLOCK
        end = start + blkcnt * BLOCK
        bmagic = data[start:start + 4]
        bidx, _, blen = struct.unpack_from("<3I", data, start + 4)
        if bmagic != BLOB_MAGIC or bidx != pkgidx:
            raise FormatError(f"rpm NDB database: bad blob head for package {pkgidx}")
        if (HEAD + blen + TAIL + BLOCK - 1) // BLOCK != blkcnt:
            raise FormatError(
                f"rpm NDB database: blob length {blen} of package {pkgidx} does not fit "
                f"its {blkcnt} blocks"
            )
        checksum, tlen = struct.unpack_from("<2I", data, end - TAIL)
        if data[end - 4:end] != TAIL_MAGIC or tlen != blen:
            raise FormatError(f"rpm NDB database: bad blob tail for package {pkgidx}")
        if zlib.adler32(data[start:end - TAIL]) != checksum:
            raise FormatError(f"rpm NDB database: checksum mismatch for package {pkgidx}")
        yield data[start + HEAD:start + HEAD + blen]
