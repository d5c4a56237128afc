"""Layer blob decompression: gzip (isal when available, else zlib), zstd, or plain tar.

The compression is detected from the first bytes, not trusted from the media type
(registries and tools mislabel). Decompressed output is bounded so a bomb is an
error, not an exhausted machine.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import BinaryIO

from hullcheck.errors import UnsafeLayer, UnsupportedMediaType

try:  # isal's inflate is 3-4x faster than zlib's; same format, same results.
    from isal import isal_zlib as _zlib
except ImportError:  # pragma: no cover - exercised only where isal has no wheel
    import zlib as _zlib  # type: ignore[no-redef]

import zstandard

GZIP_MAGIC = b"\x1f\x8b"
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
CHUNK = 1 << 20
# The layer fast path: 512 KiB in, at most 4 MiB out per call. The output bound must rarely
# bite (a bounded call makes zlib copy the unconsumed input tail), and each call should do
# enough work in C to pay for taking the GIL back from the tar parser (bench/sbom.py: this
# pair with a 1 ms switch interval reads the 500 MB+ image ~2x faster than 128 KiB/256 KiB).
IN_CHUNK = 512 << 10
OUT_CHUNK = 4 << 20

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


def compression_of(head: bytes) -> str:
    if head.startswith(GZIP_MAGIC):
        return "gzip"
    if head.startswith(ZSTD_MAGIC):
        return "zstd"
    return "none"


def iter_decompressed(
    raw: BinaryIO,
    *,
    what: str,
    stored_size: int = 0,
    max_bytes: int = DEFAULT_MAX_LAYER_BYTES,
    max_ratio: int = DEFAULT_MAX_RATIO,
) -> Iterator[bytes]:
    """The decompressed bytes of ``raw`` as chunks of at most ``CHUNK`` bytes.

    The fast path for layers: decompressor objects fed straight from the raw stream, with
    every call's output bounded (``max_length``, zstd's ``write_size``) so a bomb is caught
    at the first oversized chunk rather than after it has filled memory.
    """
    head = raw.read(4)
    kind = compression_of(head)
    limit_ratio = max(stored_size, 1) * max_ratio
    total = 0

    def check(n: int) -> None:
        if total > max_bytes:
            raise UnsafeLayer(f"{what}: expands past {max_bytes} bytes (decompression bomb?)")
        if total > (256 << 20) and total > limit_ratio:
            raise UnsafeLayer(
                f"{what}: expands more than {max_ratio}x its stored size (decompression bomb?)"
            )

    try:
        if kind == "gzip":
            d = _zlib.decompressobj(31)
            data = head
            while True:
                if not data:
                    data = raw.read(IN_CHUNK)
                    if not data:
                        break
                out = d.decompress(data, OUT_CHUNK)
                data = d.unconsumed_tail
                if out:
                    total += len(out)
                    check(total)
                    yield out
                if d.eof:
                    rest = d.unused_data + data
                    data = rest
                    if not rest:
                        rest = raw.read(IN_CHUNK)
                        data = rest
                    if not rest:
                        return
                    if not rest.startswith(GZIP_MAGIC[:1]) and not rest.strip(b"\0"):
                        return  # zero padding after the last member
                    d = _zlib.decompressobj(31)  # another gzip member
            if not d.eof:
                raise UnsafeLayer(f"{what}: corrupt gzip stream (ends before its end marker)")
        elif kind == "zstd":
            src = _Peekable(head, raw)
            # zstandard reads any object with read(); its stub asks for IO[bytes], which a
            # RawIOBase is not.
            reader = zstandard.ZstdDecompressor().read_to_iter(
                src,  # type: ignore[arg-type]
                read_size=IN_CHUNK,
                write_size=OUT_CHUNK,
            )
            for out in reader:
                total += len(out)
                check(total)
                yield out
        else:
            data = head + raw.read(CHUNK - len(head))
            while data:
                total += len(data)
                check(total)
                yield data
                data = raw.read(CHUNK)
    # isal's stub declares ``error: Exception`` (an instance); it is an exception class.
    except (_zlib.error, zstandard.ZstdError, EOFError) as exc:  # type: ignore[misc]
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
