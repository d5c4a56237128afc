"""A blob stored in a file on disk, described so another process can read it itself.

An OCI layout keeps each blob as a file; an OCI or docker archive keeps it as a member at
an offset of the archive. ``StoredBlob`` says where (the file, the offset, the length),
which file it was when the image was opened (device and inode), and what the bytes must
hash to. ``open_stored`` reads it positionally (``os.pread``: a descriptor shared with
other readers, or with forked processes, keeps its offset) through a ``VerifyingReader``,
so whoever reads it checks the digest. The layer workers of ``filetree.analysis`` read
such blobs themselves instead of being fed them through a pipe.
"""

from __future__ import annotations

import contextlib
import io
import os
import stat
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from hullcheck.digest import VerifyingReader
from hullcheck.errors import ImageError

_OPEN_FLAGS = (os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
               | getattr(os, "O_CLOEXEC", 0))
MAX_READ = 8 << 20  # bytes asked of the file at a time, whatever a reader asks


@dataclass(frozen=True, slots=True)
class StoredBlob:
    """``length`` bytes at ``offset`` of the regular file ``path``, which was the file
    (``device``, ``inode``) when the image was opened; ``digest`` and ``size`` (the size
    a manifest declares; None: not declared) are checked while it is read. ``fd`` is an
    open descriptor of that file in the process that made this (-1: none), which a forked
    process inherits: it is used when it is still that file, else ``path`` is opened."""

    path: str
    offset: int
    length: int
    device: int
    inode: int
    digest: str
    size: int | None = None
    fd: int = -1


def describe(path: str, st: os.stat_result, *, digest: str, size: int | None,
             offset: int = 0, length: int | None = None, fd: int = -1) -> StoredBlob:
    """The ``StoredBlob`` of ``path`` (``st``: what stat said of it when it was checked)."""
    return StoredBlob(path=path, offset=offset, length=st.st_size if length is None else length,
                      device=st.st_dev, inode=st.st_ino, digest=digest, size=size, fd=fd)


@contextlib.contextmanager
def open_stored(blob: StoredBlob, *, what: str,
                check: Callable[[], None] | None = None) -> Iterator[VerifyingReader]:
    """``blob``'s bytes, verified while read (a mismatch is a ``DigestMismatch`` naming
    ``what`` and the digest); ``check`` is called before each read (it may raise to stop)."""
    fd, owned = _descriptor(blob, what)
    try:
        raw = _Positional(fd, blob.offset, blob.length, check)
        reader = VerifyingReader(raw, blob.digest, what=what, size=blob.size)  # type: ignore[arg-type]
        yield reader
        reader.finish()
    finally:
        if owned:
            os.close(fd)


def _descriptor(blob: StoredBlob, what: str) -> tuple[int, bool]:
    """(descriptor of the blob's file, whether it was opened here). The inherited one when
    it is still the file; else ``path`` opened without following a symlink or waiting on a
    FIFO, and refused unless it is the same regular file as when the image was opened."""
    if blob.fd >= 0 and _same(blob, blob.fd):
        return blob.fd, False
    try:
        fd = os.open(blob.path, _OPEN_FLAGS)
    except OSError as exc:
        raise ImageError(f"{what} {blob.digest}: cannot open {blob.path} "
                         f"({exc.strerror or exc})") from None
    if not _same(blob, fd):
        os.close(fd)
        raise ImageError(f"{what} {blob.digest}: {blob.path} was replaced after the image "
                         "was opened")
    return fd, True


def _same(blob: StoredBlob, fd: int) -> bool:
    try:
        st = os.fstat(fd)
    except OSError:
        return False
    return stat.S_ISREG(st.st_mode) and (st.st_dev, st.st_ino) == (blob.device, blob.inode)


class _Positional(io.RawIOBase):
    """``length`` bytes of ``fd`` from ``offset``, read with ``os.pread`` (the descriptor's
    own offset is neither used nor moved); fewer when the file ends first."""

    def __init__(self, fd: int, offset: int, length: int,
                 check: Callable[[], None] | None) -> None:
        self._fd, self._pos, self._left, self._check = fd, offset, length, check

    def readable(self) -> bool:
        return True

    def read(self, n: int | None = -1) -> bytes:
        if self._check is not None:
            self._check()
        if self._left <= 0:
            return b""
        if n is None or n < 0:  # the rest, as io's read() means
            return b"".join(iter(lambda: self.read(MAX_READ), b""))
        data = os.pread(self._fd, min(n, self._left, MAX_READ), self._pos)
        if not data:
            self._left = 0  # the file is shorter than it was: the reader says "truncated"
        self._pos += len(data)
        self._left -= len(data)
        return data
