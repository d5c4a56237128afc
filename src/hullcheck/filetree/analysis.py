"""A layer is analysed once: ``(layer blob, Analysis) -> LayerIndex``, a pure function, run
in worker processes and cached by the layer's digest.

``Analysis`` says what to look for: the catalogers' globs, the size limit of kept files
and the content sinks (``SinkSpec``: a fresh sink per layer, its findings as bytes). Its
``fingerprint`` names all of that, so a cached index is used only by an analysis that
would have computed the same one.

``index_layers`` gives the index of each layer of an image: from the ``IndexStore`` when
it holds a verified one (the blob is then not read at all), else by reading the blob. Layers
to read go to worker processes, the largest first, one per core: inflating, parsing the
tar and the sinks' work then use every core, not only inflation (bench/README.md has the
figures). A blob stored in a file (an OCI layout's, an archive's member: ``Image.stored_blob``)
is read by its worker itself, which checks its digest (what it inflated from): nothing passes
through the parent. Any other (a registry's stream) is read here, digest checked here, and
piped to its worker through a FIFO by a feeder thread. Jobs are given to the pool only a
few ahead of those completed, so an image of thousands of layers starts a few at a time.
The worker sends back the index as bytes, the form the store keeps; the command's deadline
is kept here, and workers still reading are told to stop when the run ends early.

The cache key is the blob's digest, not the config's diffID: a blob's digest is checked
whenever the blob is read, while a diffID is only what the image's config claims, and an
image claiming a popular layer's diffID must not borrow that layer's (clean) index.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import hashlib
import io
import os
import shutil
import tempfile
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, BinaryIO, Protocol, TypeGuard

from hullcheck import deadline
from hullcheck.errors import DigestMismatch, HullcheckError, ImageError
from hullcheck.filetree.entries import DEFAULT_MAX_FILE
from hullcheck.filetree.globset import compile_globs
from hullcheck.filetree.index import FORMAT, CorruptIndex, LayerIndex
from hullcheck.filetree.sinks import ContentSink, FanOut
from hullcheck.filetree.switch import SWITCH
from hullcheck.filetree.tar import read_tar
from hullcheck.image.blobs import iter_decompressed
from hullcheck.image.model import Image
from hullcheck.image.stored import StoredBlob, open_stored
from hullcheck.model import Layer
from hullcheck.tarstream import decompress_ahead

if TYPE_CHECKING:
    import multiprocessing.context
    from concurrent.futures import ProcessPoolExecutor

PIPE_CHUNK = 1 << 20  # bytes of a stored blob written to a worker at a time
# How many worker processes (default: one per core); 1 reads in this process, in threads.
ENV_WORKERS = "HULLCHECK_LAYER_WORKERS"
# Below this many stored bytes to read, a worker process costs more than it saves.
MIN_PARALLEL_BYTES = 16 << 20

# A sink shown the files of the layers read in this process (``watching``).
_WATCHER: contextvars.ContextVar[ContentSink | None] = contextvars.ContextVar(
    "layer_watcher", default=None)


@contextlib.contextmanager
def watching(sink: ContentSink) -> Iterator[None]:
    """Layers read in this process in the block also show their files to ``sink``: work
    that can start while a layer streams by (licence text classified in a helper process),
    not a finding. Nothing it does changes or enters an index (none is cached), and layers
    read in worker processes or taken from the store are not shown to it; a sink with a
    ``layer_read(layer, results)`` method is told each worker's sink findings as it ends."""
    token = _WATCHER.set(sink)
    try:
        yield
    finally:
        _WATCHER.reset(token)


class SinkSpec(Protocol):
    """How to make the content sink of one layer's analysis and keep what it found.

    ``name`` is its section in ``LayerIndex.results``; ``fingerprint`` names what its
    findings depend on besides the layer's bytes (its configuration, the catalogers it
    serves); ``new`` makes a sink for one layer (told layer 0: the index is position-free);
    ``result`` encodes what that sink found. A spec must pickle (it goes to the workers)."""

    @property
    def name(self) -> str: ...

    def fingerprint(self) -> str: ...

    def new(self) -> ContentSink: ...

    def result(self, sink: ContentSink) -> bytes: ...


class LayeredSink(ContentSink, Protocol):
    """A sink of the whole image that can instead be part of each layer's analysis (so its
    findings are cached): ``spec`` says how; ``absorb`` then takes each layer's findings,
    as (layer index, bytes). The secret scanner is one."""

    def spec(self) -> SinkSpec: ...

    def absorb(self, parts: Sequence[tuple[int, bytes]]) -> None: ...


def layered(sink: ContentSink | None) -> TypeGuard[LayeredSink]:
    return (sink is not None and callable(getattr(sink, "spec", None))
            and callable(getattr(sink, "absorb", None)))


class IndexStore(Protocol):
    """Where layer indexes are kept between runs (``hullcheck.layercache``): bytes by key,
    verified on the way out (``get`` gives None for a missing or damaged entry)."""

    def get(self, key: str) -> bytes | None: ...

    def put(self, key: str, data: bytes, label: str = "") -> None: ...


@dataclass(frozen=True, slots=True)
class Analysis:
    """What one layer's analysis looks for (the same for every layer)."""

    globs: tuple[str, ...] = ()
    max_file: int = DEFAULT_MAX_FILE
    sinks: tuple[SinkSpec, ...] = ()

    def fingerprint(self) -> str:
        """What the entries of an index depend on besides the layer: the index's format,
        the globs and the size limit."""
        h = hashlib.sha256(f"layer-index {FORMAT}\0{self.max_file}\0".encode())
        for g in sorted(set(self.globs)):
            h.update(g.encode("utf-8", "surrogateescape") + b"\0")
        return h.hexdigest()

    def keys(self, layer: Layer, version: str, prints: Prints | None = None,
             ) -> list[tuple[str, str, str]]:
        """(section, store key, label) of ``layer``'s index: its entries (section "") and
        each sink's findings, stored apart, so analyses with the same globs share the
        entries and each sink's findings are computed once (``sbom`` then ``secrets`` reads
        the layer again for the secret scanner only; ``config`` after either reads none).
        ``prints``: ``fingerprints()``, computed once for every layer of an image."""
        base, fps = prints if prints is not None else self.fingerprints()
        out = [("", f"{layer.digest} entries {base} {version}",
                f"entries: {len(set(self.globs))} globs, files kept up to {self.max_file} bytes")]
        for spec, fp in zip(self.sinks, fps, strict=True):
            out.append((spec.name, f"{layer.digest} {spec.name} {base} {fp} {version}",
                        f"{spec.name}: {fp}"))
        return out

    def fingerprints(self) -> Prints:
        """The entries' fingerprint and each sink's (the secret scanner's hashes its whole
        configuration: ~1 ms, once per image rather than twice per layer)."""
        return self.fingerprint(), tuple(spec.fingerprint() for spec in self.sinks)


Prints = tuple[str, tuple[str, ...]]  # Analysis.fingerprints(): the entries', each sink's


def analyse(raw: BinaryIO, analysis: Analysis, *, what: str, stored_size: int = 0,
            layer: int = 0, shared: ContentSink | None = None) -> LayerIndex:
    """One layer's index from its stored (compressed or not) bytes: the pure function.
    ``shared``, a sink of the whole image's (not cached), sees the files too, as ``layer``'s."""
    sinks = [spec.new() for spec in analysis.sinks]
    every = [*sinks, shared] if shared is not None else sinks
    combined = every[0] if len(every) == 1 else FanOut(*every) if every else None
    chunks = decompress_ahead(iter_decompressed(raw, what=what, stored_size=stored_size))
    try:
        index = read_tar(chunks, index=layer, what=what, wanted=compile_globs(analysis.globs),
                         max_file=analysis.max_file, sink=combined)
        for _ in chunks:  # the padding after the tar's end marker: every byte is read
            pass
    finally:
        chunks.close()  # stops the reader thread before the blob is closed
    index.results = {spec.name: spec.result(sink)
                     for spec, sink in zip(analysis.sinks, sinks, strict=True)}
    return index


Sections = tuple[bytes, dict[str, bytes]]  # an index as bytes: entries, each sink's findings


def index_layers(
    image: Image,
    analysis: Analysis,
    *,
    store: IndexStore | None = None,
    version: str = "",
    workers: int | None = None,
    on_layer: Callable[[Layer], None] | None = None,
    shared: ContentSink | None = None,
    meanwhile: Callable[[], None] | None = None,
) -> list[LayerIndex]:
    """The index of each of ``image``'s layers, in order: stored ones loaded, the others
    read (in worker processes when it pays) and stored. A ``shared`` sink (one object
    for the whole image) keeps every read in this process, and nothing is stored.
    ``meanwhile`` is called here once, as soon as the first layers are given to the
    workers (before reading, when none are): the caller's set-up that the reads do not
    need then runs while they read, not before them."""
    if shared is not None:
        store = None
    prints = analysis.fingerprints() if store is not None else None
    found: dict[int, LayerIndex] = {}
    todo: list[Layer] = []
    for layer in image.layers:
        cached = (_load(store, analysis.keys(layer, version, prints)) if store is not None
                  else None)
        if cached is None:
            todo.append(layer)
        else:
            found[layer.index] = cached
            if on_layer is not None:
                on_layer(layer)
    todo.sort(key=lambda la: -la.size)  # the largest first: the last to finish is small
    n = min(len(todo), workers if workers is not None else cpu_count(), 8)
    parallel = (n > 1 and shared is None
                and sum(la.size for la in todo[1:]) >= MIN_PARALLEL_BYTES)
    # Workers report each layer as it is read (its index is loaded once all are read).
    here = _joined(shared, _WATCHER.get())
    if not parallel and meanwhile is not None:
        meanwhile()  # nothing to overlap in this process: before reading
    read = (_in_workers(image, todo, analysis, n, on_read=on_layer, meanwhile=meanwhile)
            if parallel else _in_threads(image, todo, analysis, n, here))
    for layer, data in read:
        if isinstance(data, LayerIndex):
            index = data
            sections: Sections | None = ((index.to_bytes(), index.results) if store is not None
                                          else None)
        else:
            sections = data
            index = LayerIndex.from_bytes(data[0])
            index.results = data[1]
        if store is not None and sections is not None:
            for section, key, label in analysis.keys(layer, version, prints):
                store.put(key, sections[1][section] if section else sections[0], label)
        del data, sections  # not held while the next layer arrives
        found[layer.index] = index
        if on_layer is not None and not parallel:
            on_layer(layer)
    return [found[layer.index] for layer in image.layers]


def _joined(shared: ContentSink | None, watcher: ContentSink | None) -> ContentSink | None:
    """The sink shown the files of layers read here: the image's ``shared`` one and the
    ``watching`` one."""
    if shared is None or watcher is None:
        return shared or watcher
    return FanOut(shared, watcher)


def cpu_count() -> int:
    """The workers to use: ``$HULLCHECK_LAYER_WORKERS``, else the cores this process may use."""
    env = os.environ.get(ENV_WORKERS, "")
    if env.isdigit() and int(env) > 0:
        return int(env)
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def _load(store: IndexStore, keys: list[tuple[str, str, str]]) -> LayerIndex | None:
    """The index whose sections are all in ``store``; None when one is missing."""
    found: dict[str, bytes] = {}
    for section, key, _ in keys:
        data = store.get(key)
        if data is None:
            return None
        found[section] = data
    try:
        index = LayerIndex.from_bytes(found.pop(""))
    except CorruptIndex:
        return None  # verified by the store yet unreadable (another format): read the layer
    index.results = found
    return index


def _read_one(image: Image, layer: Layer, analysis: Analysis,
              shared: ContentSink | None) -> LayerIndex:
    with image.open_layer(layer) as raw:
        return analyse(raw, analysis, what=_what(layer), stored_size=layer.size,
                       layer=layer.index, shared=shared)


def _what(layer: Layer) -> str:
    return f"layer {layer.index} ({layer.digest})"


def _in_threads(image: Image, layers: Sequence[Layer], analysis: Analysis, n: int,
                shared: ContentSink | None) -> Iterator[tuple[Layer, LayerIndex]]:
    if not layers:
        return
    with SWITCH.short():
        if n <= 1:
            for layer in layers:
                yield layer, _read_one(image, layer, analysis, shared)
            return
        with ThreadPoolExecutor(max_workers=n, thread_name_prefix="layer") as pool:
            # carry: each layer's reads honour the command's deadline (a contextvar).
            read = deadline.carry(lambda la: _read_one(image, la, analysis, shared))
            yield from zip(layers, pool.map(read, layers), strict=True)


# -- worker processes -------------------------------------------------------------------
def _context() -> multiprocessing.context.BaseContext:
    """fork where there is one: a worker starts in milliseconds with every module already
    imported (a forkserver's or a spawned worker's start and imports cost ~0.3 s of CPU,
    more than a small layer's analysis). The pool is made before any reader thread starts."""
    import multiprocessing  # here: a run that reads no layer does not pay its import

    methods = multiprocessing.get_all_start_methods()
    return multiprocessing.get_context("fork" if "fork" in methods else "spawn")


def _in_workers(image: Image, layers: Sequence[Layer], analysis: Analysis, n: int, *,
                on_read: Callable[[Layer], None] | None = None,
                meanwhile: Callable[[], None] | None = None,
                ) -> Iterator[tuple[Layer, Sections]]:
    from concurrent.futures import ProcessPoolExecutor  # here: multiprocessing's import

    context = _context()
    with contextlib.ExitStack() as stack:
        where = tempfile.mkdtemp(prefix="hullcheck-layers-")
        stack.callback(shutil.rmtree, where, ignore_errors=True)
        stop = context.RawValue("b", 0)  # set: workers reading blobs themselves give up
        pool = ProcessPoolExecutor(max_workers=n, mp_context=context,
                                   initializer=_worker_init, initargs=(stop,))
        # On the way out, feeders stopped and workers told to stop first (which ends their
        # jobs), then tasks not started cancelled and the running ones awaited.
        stack.callback(pool.shutdown, wait=True, cancel_futures=True)
        jobs = _Jobs(image, layers, analysis, pool, where)
        stack.callback(jobs.stop)
        stack.callback(setattr, stop, "value", 1)
        done = [(layer, *result) for layer, result in jobs.results(n, on_read, meanwhile)]
        # Every worker is done: they exit before the indexes are loaded here, so their heaps
        # (a large layer's index, built then encoded) are not held beside the merged tree.
        pool.shutdown(wait=True)
        for layer, entries, results in done:
            with open(entries, "rb") as f:
                data = f.read()
            os.unlink(entries)
            yield layer, (data, results)
            del data


AHEAD = 2  # jobs given to the pool per worker beyond those completed (one running, one queued)
Result = tuple[str, dict[str, bytes]]  # a worker's: its index file, each sink's findings


class _Jobs:
    """The layers' jobs in the pool, started only ahead of need: at most ``AHEAD`` per
    worker beyond those completed, the next one started as any one completes (not in
    order: a later small layer can finish first). So an image of thousands of layers has
    a few jobs, FIFOs and feeder threads at a time, and every job the pool holds has its
    blob: a file the worker reads itself, or a FIFO its feeder thread writes."""

    def __init__(self, image: Image, layers: Sequence[Layer], analysis: Analysis,
                 pool: ProcessPoolExecutor, where: str) -> None:
        self._image, self._analysis, self._pool, self._where = image, analysis, pool, where
        self._todo = iter(layers)
        self._running: dict[Future[Result], tuple[Layer, _Feeder | None]] = {}

    def results(self, n: int, on_read: Callable[[Layer], None] | None,
                meanwhile: Callable[[], None] | None = None,
                ) -> Iterator[tuple[Layer, Result]]:
        """Each layer's result, as they complete; ``meanwhile()`` once the first jobs
        are given (the largest layer first: the workers fork at the first)."""
        for _ in range(AHEAD * n):
            self._start_next()
        if meanwhile is not None:
            meanwhile()
        while self._running:
            finished, _ = wait(self._running, timeout=deadline.remaining(),
                               return_when=FIRST_COMPLETED)
            if not finished:
                first = min(la.index for la, _ in self._running.values())
                deadline.check(f"reading layer {first}")
                raise TimeoutError
            for future in finished:
                layer, feeder = self._running.pop(future)
                result = _outcome(layer, future, feeder)
                if on_read is not None:
                    on_read(layer)
                self._start_next()
                _told(layer, result[1])  # after the next job is on its way
                yield layer, result

    def stop(self) -> None:
        """Stop every feed still running (a worker waiting on one is released)."""
        for _, feeder in self._running.values():
            if feeder is not None:
                feeder.stop()

    def _start_next(self) -> None:
        from concurrent.futures.process import BrokenProcessPool

        layer = next(self._todo, None)
        if layer is None:
            return
        out = os.path.join(self._where, str(layer.index))
        blob = self._image.stored_blob(layer)
        try:
            if blob is not None:  # a file: the worker reads and verifies it itself
                self._running[self._pool.submit(_work_stored, blob, out, self._analysis,
                                                _what(layer), layer.size)] = (layer, None)
                return
            os.mkfifo(out, 0o600)
            future = self._pool.submit(_work, out, self._analysis, _what(layer), layer.size)
        except BrokenProcessPool:  # a worker died: a running job's future says which
            if not self._running:
                raise _died(layer, "a worker process died before reading it") from None
            return
        feeder = _Feeder(self._image, layer, out, future)
        self._running[future] = (layer, feeder)
        feeder.start()


def _told(layer: Layer, results: dict[str, bytes]) -> None:
    """The ``watching`` sink's ``layer_read``, if it has one, told a worker's findings as it
    ends: work on them starts while the other layers are still read."""
    told = getattr(_WATCHER.get(), "layer_read", None)
    if callable(told):
        told(layer.index, results)


def _died(layer: Layer, what: str) -> ImageError:
    return ImageError(f"{_what(layer)}: {what}",
                      hint=f"{ENV_WORKERS}=1 reads the layers in one process")


def _outcome(layer: Layer, future: Future[Result], feeder: _Feeder | None) -> Result:
    """A finished job's result; its error as one line (a digest mismatch explains a
    worker's truncated tar, so the feed's error comes first)."""
    from concurrent.futures.process import BrokenProcessPool

    try:
        result = future.result()
    except BrokenProcessPool as exc:  # killed: out of memory, a signal
        if feeder is not None:
            feeder.stop()
        raise _died(layer, f"the worker process reading it died ({exc})") from None
    except BaseException:
        if feeder is not None:
            feeder.stop()
            feeder.raise_error()
        raise
    if feeder is not None:
        feeder.stop()
        feeder.raise_error()  # read whole, but the digest did not match: not used
    return result


# In a worker: set by the parent when the run is over (an error, the deadline), so a worker
# reading a blob itself stops at its next read instead of finishing the layer.
_STOP: list[Any] = []  # the parent's shared flag (a RawValue), once the worker starts


def _worker_init(stop: Any) -> None:
    _STOP[:] = [stop]
    tune_malloc()


# glibc's mallopt() parameters (malloc.h) and the values a layer reader wants: every 1-4 MiB
# chunk read or inflated is allocated and freed once, and with the defaults glibc hands each
# to mmap or trims the heap after it, so the next one faults in fresh zeroed pages (~60k
# minor faults, ~0.2 CPU-s on a 900 MB layer; bench/README.md). Served from a heap that
# keeps up to TRIM_THRESHOLD free, the same pages are reused.
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3
MMAP_THRESHOLD = 64 << 20
TRIM_THRESHOLD = 64 << 20


def tune_malloc() -> bool:
    """Set glibc's malloc to reuse a layer reader's large buffers (see above); whether it
    was set (False: not glibc, where these parameters mean nothing)."""
    try:
        if not os.confstr("CS_GNU_LIBC_VERSION"):
            return False
    except (ValueError, OSError):  # no such name: not glibc
        return False
    import ctypes  # here: only a worker (or a reader in this process) pays its import

    try:
        libc = ctypes.CDLL(None)
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    # Each returns 1 on success; the mmap threshold first (setting it fixes both, as
    # glibc's dynamic adjustment of them stops).
    return bool(mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD)
                and mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD))


class _Stopped(Exception):
    """The parent said stop: this job's result will not be looked at."""


def _check_stop() -> None:
    if _STOP and _STOP[0].value:
        raise _Stopped("stopped")


def _work_stored(blob: StoredBlob, out: str, analysis: Analysis, what: str,
                 stored_size: int) -> Result:
    """In a worker: the index of a blob stored in a file, read here and verified here (the
    digest of what was inflated; a mismatch is the same one-line error as in one process,
    and then no index is made). Its entries are written to ``out``; see ``_work``."""
    verify_as = what.split(" (", 1)[0]  # "layer 3", as the image's own opener names it
    try:
        with open_stored(blob, what=verify_as, check=_check_stop) as raw, SWITCH.short():
            ahead = _ReadAhead(raw)
            try:
                index = analyse(ahead, analysis, what=what, stored_size=stored_size)  # type: ignore[arg-type]
                ahead.drain()  # the rest read, and a mismatch met ahead of the parser raised
            finally:
                ahead.close()
    except DigestMismatch:
        raise
    except (HullcheckError, OSError):
        # A digest mismatch explains a layer that does not parse: said instead. (The
        # reader may have met it already, ahead of the parser, and its error gone unseen.)
        with open_stored(blob, what=verify_as, check=_check_stop):
            pass  # read whole and verified on the way out
        raise
    return _written(index, out)


class _ReadAhead(io.RawIOBase):
    """A stored blob read (and hashed) by a thread a few chunks ahead of the one inflating
    it: reading and verifying, inflating and parsing each on a thread of its own, as when
    the parent read the blob and piped it here. A read returns at most what is left of the
    current chunk (a whole chunk without a copy)."""

    def __init__(self, raw: Any) -> None:
        self._chunks = decompress_ahead(iter(functools.partial(raw.read, READ_AHEAD), b""))
        self._chunk, self._at = b"", 0

    def readable(self) -> bool:
        return True

    def read(self, n: int | None = -1) -> bytes:
        if self._at >= len(self._chunk):
            self._chunk, self._at = next(self._chunks, b""), 0
        chunk, at = self._chunk, self._at
        if at == 0 and (n is None or n < 0 or n >= len(chunk)):
            self._at = len(chunk)
            return chunk
        end = len(chunk) if n is None or n < 0 else min(at + n, len(chunk))
        self._at = end
        return chunk[at:end]

    def drain(self) -> None:
        """Read the rest (the reader verifies the digest at its end)."""
        for _ in self._chunks:
            pass

    def close(self) -> None:
        self._chunks.close()  # stops the thread
        super().close()


READ_AHEAD = 1 << 20  # bytes of a stored blob read at a time by a worker's read-ahead thread


def _work(fifo: str, analysis: Analysis, what: str, stored_size: int) -> Result:
    """In a worker: the index of the blob arriving through ``fifo``: its entries written to
    a file beside the FIFO (read once by the parent; through the pool's result pipe they
    would be pickled, one more copy on each side), the sinks' findings returned."""
    with open(fifo, "rb", buffering=0) as raw, SWITCH.short():
        index = analyse(raw, analysis, what=what, stored_size=stored_size)
        while raw.read(PIPE_CHUNK):  # whatever follows the compressed stream: the parent
            pass  # reads the blob to its end for the digest
    return _written(index, fifo)


def _written(index: LayerIndex, out: str) -> Result:
    path = out + ".index"
    with open(path, "wb") as f:
        f.write(index.to_bytes())
    return path, index.results


class _Feeder:
    """A thread writing one layer's stored blob, read (and digest-checked) here, into the
    FIFO its worker reads."""

    def __init__(self, image: Image, layer: Layer, fifo: str, future: Future[Any]) -> None:
        self._image, self._layer, self._fifo, self._future = image, layer, fifo, future
        self._stopped = threading.Event()
        self._opened = False
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=deadline.carry(self._run), daemon=True,
                                        name=f"feed-{layer.index}")

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Stop feeding; a worker still waiting to open the FIFO is released (it reads an
        empty blob and fails), so no worker waits for a feed that will not come."""
        self._stopped.set()
        if self._thread.is_alive():
            self._thread.join()
        if not self._opened:
            with contextlib.suppress(OSError):
                # O_RDWR never waits for the other end, and counts as a writer: a reader
                # blocked in open() returns, then reads end-of-file once this is closed.
                fd = os.open(self._fifo, os.O_RDWR | os.O_NONBLOCK)
                os.unlink(self._fifo)  # and a worker opening it later finds no FIFO
                os.close(fd)
        with contextlib.suppress(OSError):
            os.unlink(self._fifo)  # a FIFO exists only while its layer is fed

    def raise_error(self) -> None:
        if self._error is not None:
            raise self._error

    def _run(self) -> None:
        fd = self._open()
        if fd is None:
            return
        try:
            with self._image.open_layer(self._layer) as raw:
                while not self._stopped.is_set() and (chunk := raw.read(PIPE_CHUNK)):
                    _write_all(fd, chunk)
        except BrokenPipeError:
            pass  # the worker stopped reading: its future says why
        except BaseException as exc:  # handed to the consumer
            self._error = exc
        finally:
            os.close(fd)

    def _open(self) -> int | None:
        """The FIFO opened for writing once the worker opens it for reading; None when the
        worker ended (or the feed was stopped) before it did."""
        while not self._stopped.is_set() and not self._future.done():
            try:
                fd = os.open(self._fifo, os.O_WRONLY | os.O_NONBLOCK)
            except OSError:  # ENXIO: no reader yet
                self._stopped.wait(0.002)
                continue
            os.set_blocking(fd, True)
            self._opened = True
            return fd
        return None


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]
