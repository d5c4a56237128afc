"""The layer cache: each layer's index kept between runs, by key, verified, size-bounded.

A key names the layer (its blob digest, checked whenever the blob is read), what was
looked for (``filetree.Analysis.fingerprint``: globs, size limit, content sinks and the
catalogers they serve) and the hullcheck version, so an entry is used only where the same
version would compute the same index; a new version computes (and stores) new ones and the
old age out. Each entry is one file:

    HCLC 3\\n
    {"key": ..., "label": ..., "version": ..., "length": N, "xxh3_128": ...}\\n
    N bytes (the index)

``get`` checks all of it (the magic, the header, the key it was asked for, the length and
the checksum of the bytes) and answers None, removing the file, for anything else: a
corrupt, truncated or foreign entry is read again from the image, never trusted. The
checksum is XXH3-128, not SHA-256: it is there to catch damage (a torn write, a flipped bit,
a file under another's name), which a 128-bit checksum misses with odds of 2^-128, and it is
about 10x cheaper on the tens of MB a warm run reads (bench/README.md). Against someone who
can write the directory no unkeyed digest helps (they write the header too): the
directory is the user's own (0700).

A long-lived process (the monitoring service's worker, scanning image after image on
the same bases) can keep the entries it verified in memory, up to ``memory_bytes``: a
later ``get`` of one (or of one it wrote) answers from memory while the file is the one it verified (the same
inode, size, modification and change times: any write to it, or another file renamed in its
place, changes them, and the file is then read and checked again).

Least recently used entries go first once the cache is over its size: ``get`` touches an
entry's modification time. Files are written atomically (renamed into place), so readers and
writers in several processes share a directory. The monitoring service keeps one in its
data directory (SQLite mode); in PostgreSQL mode, where workers on several machines share
one, ``fleet.layers.LayerTable`` keeps the same entries (``head`` + data, checked by
``verified``) in a table beside the fleet's. ``Store`` is the one interface of both.

Licences read from Debian copyright texts (``catalog.license``: classified free-form text,
DEP-5 declarations) are kept in the same store, keyed by the text's digest and the versions.
"""

from __future__ import annotations

import contextlib
import contextvars
import hashlib
import json
import os
import queue
import tempfile
import threading
import time
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import platformdirs
import xxhash

from hullcheck import __version__

ENV_DIR = "HULLCHECK_CACHE_DIR"
DEFAULT_MAX_BYTES = 2 << 30
# What a long-lived process (the monitor's worker) keeps of the entries it verified: the
# entries of a few bases' layers (bench/push.py's three: about 130 MB).
SERVICE_MEMORY_BYTES = 256 << 20
MAGIC = b"HCLC 3\n"  # 3: the XXH3-128 checksum (2 had SHA-256)
SUFFIX = ".layer"
MAX_HEADER = 64 << 10
# The directory is listed (each entry's size and age) to evict at most this often, and when
# what this process wrote since would take the last listing's total over the bound: a cold
# run's ~80 puts (a layer, the licences of its copyright texts) listed it at every put, 80
# times the entries' stat() calls (bench/README.md).
RELIST_SECONDS = 60.0
# Entries are not compressed: zstd took 3x longer to inflate an index than reading and
# hashing it uncompressed (bench/README.md), and warm runs read every entry.


def default_dir() -> Path:
    """``$HULLCHECK_CACHE_DIR``, else the user's cache directory (``~/.cache/hullcheck/layers``
    on Linux)."""
    env = os.environ.get(ENV_DIR)
    return Path(env) if env else Path(platformdirs.user_cache_dir("hullcheck")) / "layers"


@dataclass(frozen=True, slots=True, kw_only=True)
class CacheStatus:
    directory: Path | None  # a directory cache's (None: a table's)
    location: str  # where the entries are, for people
    entries: int
    bytes: int
    max_bytes: int
    versions: tuple[tuple[str, int], ...]  # (hullcheck version, entries) of the entries read


class Store(Protocol):
    """A layer cache (``filetree.IndexStore`` and housekeeping): a directory of entries
    (``LayerCache``) or a database table (``fleet.layers.LayerTable``)."""

    hits: int
    misses: int
    rejected: int  # entries found damaged (removed: the layer is read again)
    max_bytes: int

    def get(self, key: str) -> bytes | None: ...

    def put(self, key: str, data: bytes, label: str = "") -> None: ...

    def status(self) -> CacheStatus: ...

    def clean(self) -> int: ...


def head(key: str, data: bytes, label: str = "") -> bytes:
    """What an entry holds before ``data``: the magic and the header naming the key, the
    hullcheck version, the length and the checksum of ``data``."""
    header = json.dumps({"key": key, "label": label, "version": __version__,
                         "length": len(data), CHECKSUM: checksum(data)})
    return MAGIC + header.encode() + b"\n"


CHECKSUM = "xxh3_128"


def checksum(data: bytes | memoryview) -> str:
    """The checksum an entry's header gives of its data (hex XXH3-128)."""
    return xxhash.xxh3_128_hexdigest(data)


class LayerCache:
    """A directory of entries (``Store``)."""

    def __init__(self, directory: Path | None = None, *,
                 max_bytes: int = DEFAULT_MAX_BYTES, memory_bytes: int = 0) -> None:
        self.directory = directory if directory is not None else default_dir()
        self.max_bytes = max_bytes
        self.memory_bytes = memory_bytes  # verified entries kept in memory (0: none)
        self.hits = self.misses = self.rejected = 0
        self.reads = 0  # entries read from their files and checked (hits from memory are not)
        self._memory: OrderedDict[str, tuple[_FileId, bytes]] = OrderedDict()
        self._in_memory = 0
        self._lock = threading.Lock()  # the service's worker threads share one cache
        # The directory's bytes as last listed, when (time.monotonic), and written since.
        self._listed: tuple[int, float] | None = None
        self._written = 0
        # ``writing_behind``: entries put and not yet written, what the writer thread is to
        # do, the thread, and the blocks it serves.
        self._pending: dict[str, bytes] = {}
        self._queue: queue.SimpleQueue[_Queued] | None = None
        self._writer: threading.Thread | None = None
        self._users = 0
        self._failure: Exception | None = None  # what a write behind raised (a bug)

    def _path(self, key: str) -> Path:
        return self.directory / (hashlib.sha256(key.encode("utf-8", "surrogateescape"))
                                 .hexdigest() + SUFFIX)

    # -- IndexStore -----------------------------------------------------------------
    def get(self, key: str) -> bytes | None:
        with self._lock:
            pending = self._pending.get(key)
        if pending is not None:  # being written: what ``put`` was given
            self.hits += 1
            return pending
        path = self._path(key)
        remembered = self._remembered(key, path)
        if remembered is not None:
            self.hits += 1
            return remembered
        try:
            start, rest = _read_entry(path)
        except OSError:
            self.misses += 1
            return None
        self.reads += 1
        data = _checked(start, rest, key)
        if data is None:
            self.rejected += 1
            path.unlink(missing_ok=True)  # read again from the image, and rewritten
            return None
        self.hits += 1
        with contextlib.suppress(OSError):
            os.utime(path)  # recently used
            self._remember(key, _file_id(path), data)
        return data

    def _remembered(self, key: str, path: Path) -> bytes | None:
        """The data verified for ``key`` earlier, while its file is still the one it was
        read from (touched as a read touches it); None otherwise."""
        with self._lock:
            kept = self._memory.get(key)
        if kept is None:
            return None
        try:
            if _file_id(path) == kept[0]:
                os.utime(path)  # recently used
                self._remember(key, _file_id(path), kept[1])
                return kept[1]
        except OSError:
            pass
        with self._lock:
            self._forget(key)
        return None

    def _remember(self, key: str, file_id: _FileId, data: bytes) -> None:
        if len(data) > self.memory_bytes:
            return
        with self._lock:
            self._forget(key)
            self._memory[key] = (file_id, data)  # last: the most recently used
            self._in_memory += len(data)
            while self._in_memory > self.memory_bytes:
                self._forget(next(iter(self._memory)))  # the least recently used

    def _forget(self, key: str) -> None:
        """Drop ``key``'s data from memory (the lock held)."""
        kept = self._memory.pop(key, None)
        if kept is not None:
            self._in_memory -= len(kept[1])

    def put(self, key: str, data: bytes, label: str = "") -> None:
        """Keep ``data`` under ``key``; a cache that cannot be written is no error (the
        command has its answer: only the next run is slower). Within ``writing_behind``
        the entry is written by its thread."""
        if any(c is self for c in _BEHIND.get()):
            with self._lock:  # queued before a last block's end stops the writer
                if self._queue is not None:
                    self._pending[key] = data
                    self._queue.put((key, data, label))
                    return
        self._write(key, data, label)

    @contextlib.contextmanager
    def writing_behind(self) -> Iterator[None]:
        """Entries put in the block (in this context) are written by one thread while the
        caller goes on (a cold run's layer index is tens of MB: its write overlaps the
        catalogers), each as ``put`` writes it (atomically; checked on the way out), and
        all of them by the end of the block. A ``get`` meanwhile answers with what was put.
        Threads of a service may each be in a block: they share the one writer."""
        with self._lock:
            if self._queue is None:
                self._queue = queue.SimpleQueue()
                self._writer = threading.Thread(target=self._write_queued, args=(self._queue,),
                                                daemon=True, name="layer-cache-write")
                self._writer.start()
            self._users += 1
            work, writer = self._queue, self._writer
        token = _BEHIND.set((*_BEHIND.get(), self))
        try:
            yield
        finally:
            _BEHIND.reset(token)
            written = threading.Event()
            with self._lock:
                work.put(written)  # set once everything queued before it is written
            written.wait()
            with self._lock:
                self._users -= 1
                last = self._users == 0
                if last:
                    self._queue = None
                    work.put(None)
            if last and writer is not None:
                writer.join()
            failure, self._failure = self._failure, None
            if failure is not None:
                raise failure

    def _write_queued(self, work: queue.SimpleQueue[_Queued]) -> None:
        while (item := work.get()) is not None:
            if isinstance(item, threading.Event):
                item.set()
                continue
            key, data, label = item
            try:
                self._write(key, data, label)
            except Exception as exc:  # a bug: raised where the block ends, the writer goes on
                self._failure = self._failure or exc
            finally:
                with self._lock:
                    if self._pending.get(key) is data:
                        del self._pending[key]

    def _write(self, key: str, data: bytes, label: str) -> None:
        try:
            self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
            path = self._path(key)
            header = head(key, data, label)
            _write_atomically(path, header, data)
            self._remember(key, _file_id(path), data)  # what was written: known good
            self._evict(len(header) + len(data))
        except OSError:
            return

    # -- housekeeping ---------------------------------------------------------------
    def _entries(self) -> list[tuple[float, int, Path]]:
        """(last used, size, path) of every entry."""
        out = []
        try:
            names = os.listdir(self.directory)
        except OSError:
            return []
        for name in names:
            if name.endswith(SUFFIX):
                path = self.directory / name
                with contextlib.suppress(OSError):
                    st = path.stat()
                    out.append((st.st_mtime, st.st_size, path))
        return out

    def _evict(self, written: int) -> None:
        """After ``written`` bytes were put: remove the least recently used entries until
        the cache is within its size. The directory is listed again only when the bytes
        written since the last listing could take it over, or that listing is old (other
        processes write too)."""
        with self._lock:
            self._written += written
            listed = self._listed
            if (listed is not None and listed[0] + self._written <= self.max_bytes
                    and time.monotonic() - listed[1] < RELIST_SECONDS):
                return
            self._written = 0
        entries = self._entries()
        total = sum(size for _, size, _ in entries)
        if total > self.max_bytes:
            for _, size, path in sorted(entries):
                path.unlink(missing_ok=True)
                total -= size
                if total <= self.max_bytes * 0.9:  # room for a few more before the next sweep
                    break
        with self._lock:
            self._listed = (total, time.monotonic())

    def status(self) -> CacheStatus:
        entries = self._entries()
        versions: dict[str, int] = {}
        for _, _, path in entries:
            version = _header_of(path).get("version", "?")
            versions[str(version)] = versions.get(str(version), 0) + 1
        return CacheStatus(directory=self.directory, location=str(self.directory),
                           entries=len(entries),
                           bytes=sum(size for _, size, _ in entries), max_bytes=self.max_bytes,
                           versions=tuple(sorted(versions.items())))

    def clean(self) -> int:
        """Remove every entry (and what an interrupted write left); how many entries."""
        with self._lock:
            self._memory.clear()
            self._in_memory = 0
            self._listed = None
        removed = 0
        for _, _, path in self._entries():
            path.unlink(missing_ok=True)
            removed += 1
        with contextlib.suppress(OSError):
            for name in os.listdir(self.directory):
                if name.startswith(".") and SUFFIX in name:
                    (self.directory / name).unlink(missing_ok=True)
        return removed


_FileId = tuple[int, int, int, int, int]
# What the writer thread of ``writing_behind`` is given: an entry to write, an event to set
# once the entries before it are written, or None to end.
_Queued = tuple[str, bytes, str] | threading.Event | None
# The caches whose puts in this context are written behind (``writing_behind``).
_BEHIND: contextvars.ContextVar[tuple[LayerCache, ...]] = contextvars.ContextVar(
    "layer_cache_writing_behind", default=())


def _file_id(path: Path) -> _FileId:
    """What changes when a file is written or replaced: device and inode, size, modification
    and change times (no call sets the change time back)."""
    st = path.stat()
    return st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns


def _write_atomically(path: Path, head: bytes, data: bytes) -> None:
    """``head`` then ``data`` in a temporary file renamed to ``path`` (as ``fileio``'s
    atomic_write, without joining them: an index is tens of MB)."""
    fd, tmp = tempfile.mkstemp(prefix=".", suffix=SUFFIX + ".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(head)
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _read_entry(path: Path) -> tuple[bytes, bytes]:
    """An entry file as (its magic and header line, the data after them): the data read
    in one piece at its own offset, not sliced out of the whole (a copy of tens of MB)."""
    with open(path, "rb", buffering=0) as f:
        start = f.read(len(MAGIC) + MAX_HEADER)
        end = start.find(b"\n", len(MAGIC))
        if end < 0:
            return start, b""  # no header line: refused by _checked
        f.seek(end + 1)
        return start[:end + 1], f.readall()


def verified(raw: bytes, key: str) -> bytes | None:
    """The data an entry (``head`` + data) holds for ``key``, or None when it is not exactly
    that: another magic, a header too long or unreadable, another key, length or checksum."""
    end = raw.find(b"\n", len(MAGIC), len(MAGIC) + MAX_HEADER)
    if end < 0:
        return None
    return _checked(raw[:end + 1], raw[end + 1:], key)


def _checked(start: bytes, data: bytes, key: str) -> bytes | None:
    """``data`` when ``start`` (magic and header line) says it is ``key``'s, whole."""
    end = len(start) - 1
    if not start.startswith(MAGIC) or end < len(MAGIC) or start[end:] != b"\n":
        return None
    try:
        header = json.loads(start[len(MAGIC):end])
    except ValueError:
        return None
    if (not isinstance(header, dict) or header.get("key") != key
            or header.get("length") != len(data)
            or header.get(CHECKSUM) != checksum(data)):
        return None
    return data


def _header_of(path: Path) -> dict[str, object]:
    try:
        with open(path, "rb") as f:
            return header_of(f.read(len(MAGIC) + MAX_HEADER))
    except OSError:
        return {}


def header_of(start: bytes) -> dict[str, object]:
    """The header at the start of an entry, unchecked ({} when unreadable): for status."""
    end = start.find(b"\n", len(MAGIC))
    try:
        found = json.loads(start[len(MAGIC):end]) if start.startswith(MAGIC) and end > 0 else {}
    except ValueError:
        return {}
    return found if isinstance(found, dict) else {}


__all__ = ["DEFAULT_MAX_BYTES", "ENV_DIR", "MAX_HEADER", "SERVICE_MEMORY_BYTES", "CacheStatus",
           "LayerCache", "Store", "checksum", "default_dir", "head", "header_of", "verified"]
