"""Content digests and a reader that verifies one while the bytes stream through.

Every blob hullcheck reads (manifests, configs, layers, from a registry or a
file) goes through :class:`VerifyingReader` or :func:`verify_bytes`, so a
corrupt or substituted blob is an error naming it, never silently used.
"""

from __future__ import annotations

import hashlib
import re
from typing import BinaryIO

from hullcheck.errors import DigestMismatch, ImageError

# fullmatch, not "$": "$" also matches before a final newline ("sha256:<hex>\n").
_DIGEST_RE = re.compile(r"(sha256):([a-f0-9]{64})|(sha512):([a-f0-9]{128})")


def parse_digest(digest: str, *, what: str = "digest") -> tuple[str, str]:
    """Split ``sha256:<hex>`` into (algorithm, hex); anything else is an ImageError.

    The strict pattern also guarantees a digest is safe to use as a file name.
    """
    m = _DIGEST_RE.fullmatch(digest) if isinstance(digest, str) else None
    if not m:
        raise ImageError(f"invalid {what} {digest!r}: expected sha256:<64 hex digits>")
    return (m.group(1), m.group(2)) if m.group(1) else (m.group(3), m.group(4))


def sha256_digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def verify_bytes(data: bytes, digest: str, *, what: str, size: int | None = None) -> bytes:
    """``data`` when it hashes to ``digest`` and, when ``size`` is given (its descriptor's),
    is that long: a wrong length is said as such, before any hash is taken."""
    algo, hexpart = parse_digest(digest, what=what)
    if size is not None and len(data) != size:
        raise wrong_size(f"{what} {digest}", len(data), size)
    actual = hashlib.new(algo, data).hexdigest()
    if actual != hexpart:
        raise DigestMismatch(f"{what} {digest}: content hashes to {algo}:{actual}")
    return data


class VerifyingReader:
    """A read-only binary stream that hashes what passes through and checks the digest
    (and the expected size, when known) at end of stream.

    The check runs when the underlying stream reports EOF, so a consumer that reads to
    the end gets a :class:`DigestMismatch` instead of the last (empty) chunk. Consumers
    that stop early must call :meth:`finish` to drain and verify the rest.
    """

    def __init__(self, raw: BinaryIO, digest: str, *, what: str, size: int | None = None) -> None:
        algo, self._expected = parse_digest(digest, what=what)
        self._raw = raw
        self._hash = hashlib.new(algo)
        self._algo = algo
        self._digest = digest
        self._what = what
        self._size = size
        self._count = 0
        self._done = False

    # The io protocol subset that tarfile, gzip and zstandard need.
    def readable(self) -> bool:
        return True

    def read(self, n: int = -1) -> bytes:
        if self._done or n == 0:  # read(0) asks for nothing: it is no end of stream
            return b""
        data = self._raw.read(n) if n is not None and n >= 0 else self._raw.read()
        if data:
            self._hash.update(data)
            self._count += len(data)
            if self._size is not None and self._count > self._size:
                raise self._wrong_size(self._size)
            if n is None or n < 0:
                self._check()
            return data
        self._check()
        return b""

    def readinto(self, buf: bytearray | memoryview) -> int:
        data = self.read(len(buf))
        buf[: len(data)] = data
        return len(data)

    def finish(self) -> None:
        """Read and hash whatever is left, then verify."""
        while self.read(1 << 20):
            pass

    def _check(self) -> None:
        if self._done:
            return
        self._done = True
        if self._size is not None and self._count != self._size:
            raise self._wrong_size(self._size)
        actual = self._hash.hexdigest()
        if actual != self._expected:
            raise DigestMismatch(
                f"{self._what} {self._digest}: content hashes to {self._algo}:{actual}"
            )

    def _wrong_size(self, size: int) -> DigestMismatch:
        return wrong_size(f"{self._what} {self._digest}", self._count, size)

    @property
    def bytes_read(self) -> int:
        return self._count

    def close(self) -> None:
        self._raw.close()


def wrong_size(what: str, count: int, size: int) -> DigestMismatch:
    """``count`` bytes where ``size`` were declared: the one place that says which way (an
    overrun met at the end of a stream is no truncation)."""
    if count > size:
        return DigestMismatch(f"{what}: longer than its declared size {size}")
    return DigestMismatch(f"{what}: truncated, {count} of {size} bytes")
