"""Layer blob decompression: gzip (isal when available, else zlib), zstd, or plain tar.

The compression is detected from the first bytes, not trusted from the media type
(registries and tools mislabel). Decompressed output is bounded so a bomb is an
error, not an exhausted machine.
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Iterator
from typing import BinaryIO

from hullcheck.errors import UnsafeLayer, UnsupportedMediaType

try:  # isal's igzip is 3-4x faster than zlib; same format, same results.
    from isal import igzip as _gzip
except ImportError:  # pragma: no cover - exercised only where isal has no wheel
    import gzip as _gzip  # type: ignore[no-redef]

import zstandard

GZIP_MAGIC = b"\x1f\x8b"
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
CHUNK = 1 << 20

# A layer may expand to at most this many bytes...
DEFAULT_MAX_LAYER_BYTES = 64 << 30
# ...and, once past 256 MiB of output, at most this many times its stored size.
DEFAULT_MAX_RATIO = 1000


class _Peekable(io.RawIOBase):
    """Puts back the bytes read to sniff the compression."""

    def __init__(self, head: bytes, raw: BinaryIO) -> None:
        self._head = head
        self._raw = raw

    def readable(self) -> bool:
        return True

    def readinto(self, b: bytearray | memoryview) -> int:  # type: ignore[override]
        if self._head:
            n = min(len(b), len(self._head))
            b[:n] = self._head[:n]
            self._head = self._head[n:]
            return n
        data = self._raw.read(len(b))
        b[: len(data)] = data
        return len(data)


class BoundedReader(io.RawIOBase):
    """Counts decompressed bytes and stops a decompression bomb."""

    def __init__(
        self, raw: BinaryIO, *, what: str, stored: int, max_bytes: int, max_ratio: int
    ) -> None:
        self._raw = raw
        self._what = what
        self._stored = max(stored, 1)
        self._max_bytes = max_bytes
        self._max_ratio = max_ratio
        self.count = 0

    def readable(self) -> bool:
        return True

    def readinto(self, b: bytearray | memoryview) -> int:  # type: ignore[override]
        data = self._raw.read(len(b))
        n = len(data)
        b[:n] = data
        self.count += n
        if self.count > self._max_bytes:
            raise UnsafeLayer(
                f"{self._what}: expands past {self._max_bytes} bytes (decompression bomb?)"
            )
        if self.count > (256 << 20) and self.count > self._stored * self._max_ratio:
            raise UnsafeLayer(
                f"{self._what}: expands more than {self._max_ratio}x its stored size "
                "(decompression bomb?)"
            )
        return n


def compression_of(head: bytes) -> str:
    if head.startswith(GZIP_MAGIC):
        return "gzip"
    if head.startswith(ZSTD_MAGIC):
        return "zstd"
    return "none"


@contextlib.contextmanager
def decompressed(
    raw: BinaryIO,
    *,
    what: str,
    stored_size: int = 0,
    max_bytes: int = DEFAULT_MAX_LAYER_BYTES,
    max_ratio: int = DEFAULT_MAX_RATIO,
) -> Iterator[BinaryIO]:
    """Yield a buffered stream of the decompressed bytes of ``raw``."""
    head = raw.read(4)
    kind = compression_of(head)
    src = io.BufferedReader(_Peekable(head, raw), CHUNK)
    inner: BinaryIO
    if kind == "gzip":
        inner = _gzip.GzipFile(fileobj=src, mode="rb")  # type: ignore[assignment]
    elif kind == "zstd":
        inner = zstandard.ZstdDecompressor().stream_reader(src, read_size=CHUNK)  # type: ignore[assignment]
    else:
        inner = src  # type: ignore[assignment]
    bounded = BoundedReader(
        inner, what=what, stored=stored_size, max_bytes=max_bytes, max_ratio=max_ratio
    )
    try:
        yield io.BufferedReader(bounded, CHUNK)  # type: ignore[return-value]
    except (OSError, EOFError, zstandard.ZstdError) as exc:
        raise UnsafeLayer(f"{what}: corrupt {kind} stream ({exc})") from None


def check_layer_media_type(media_type: str, what: str) -> None:
    """Reject layer types we cannot read (encrypted, foreign, unknown) with a clear message."""
    if not media_type:
        return
    known = (
        "application/vnd.oci.image.layer.v1.tar",
        "application/vnd.docker.image.rootfs.diff.tar",
        "application/vnd.docker.image.rootfs.foreign.diff.tar",
        "application/vnd.oci.image.layer.nondistributable.v1.tar",
    )
    if not media_type.startswith(known) or "+encrypted" in media_type:
        raise UnsupportedMediaType(f"{what}: unsupported layer media type {media_type!r}")
