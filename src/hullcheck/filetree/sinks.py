"""Content sinks: consumers of file bytes that are not kept in the tree (the secret
scanner, the binary cataloger), fed while each layer streams by, and ``FanOut``, which
feeds several from the one read."""

from __future__ import annotations

import threading
from collections.abc import Callable
from hashlib import sha256
from typing import Protocol, TypeGuard


class ContentSink(Protocol):
    """A consumer of file bytes that are not kept in the tree (e.g. the secret scanner).

    ``wants`` is asked for every regular file of every layer; ``take`` gets the bytes of
    those it wants, once, while the layer streams by. ``take`` is called from the layer
    reader threads, so it must be thread-safe.
    """

    def wants(self, path: str, size: int) -> bool: ...

    def take(self, layer: int, path: str, data: bytes) -> None: ...


class SniffingSink(ContentSink, Protocol):
    """A ``ContentSink`` that first looks at a file's first ``head_size`` bytes (or all of
    them, when it is shorter): only when ``wants_head`` says yes is the rest read and
    ``take`` called. A sink that knows files by their magic bytes (executables) then costs
    nothing for the others. Optional: the reader checks for ``wants_head``."""

    head_size: int

    def wants_head(self, path: str, head: bytes) -> bool: ...


class StreamingSink(SniffingSink, Protocol):
    """A ``SniffingSink`` that can take a file as a stream: its head, then ``read(n)`` for
    at most ``n`` more bytes (b"" at its end) as often as it likes, so a large file need not
    be held whole (the binary sink spools big executables to disk). ``read`` reads the layer
    itself: it is valid only until ``take_stream`` returns; what is not read is skipped.
    Optional: the reader checks for ``take_stream``."""

    def take_stream(self, layer: int, path: str, size: int, head: bytes,
                    read: Callable[[int], bytes]) -> None: ...


class MatchingSink(ContentSink, Protocol):
    """A ``ContentSink`` told whether the path matched the tree's globs (``matched``), so it
    need not match the same path again. Optional: the reader checks for ``wants_matched``."""

    def wants_matched(self, path: str, size: int, matched: bool) -> bool: ...


class HashingSink(ContentSink, Protocol):
    """A ``ContentSink`` that needs of most files only their sha256 (the RECORD digests):
    a file it alone wants (or the others refused its head), whose bytes the tree does not
    keep and for which ``hashes(path)`` is true, the reader hashes where its bytes lie in
    the decompressed chunks (no copy, no call per file) and hands over with the others of
    its layer at the layer's end
    (``take_digests``: (path, size, sha256 digest) in the layer's order). Every other file
    it wants comes through ``take`` as before, and always after the digests of the files
    before it (so a path met twice ends as its last copy). Optional: the reader checks for
    ``take_digests``."""

    def hashes(self, path: str) -> bool: ...

    def take_digests(self, layer: int, found: list[tuple[str, int, bytes]]) -> None: ...


class LinkingSink(ContentSink, Protocol):
    """A ``ContentSink`` told of each hard link a layer holds as it streams by: its path,
    its target's, whether the tree's globs match the path (``matched``) and whether the
    tree kept the target's bytes (``kept``): the binary sink reports one to an executable
    it read. Optional: the reader checks for ``take_link``."""

    def take_link(self, layer: int, path: str, target: str, matched: bool,
                  kept: bool) -> None: ...


def sniffs(sink: ContentSink | None) -> TypeGuard[SniffingSink]:
    return sink is not None and callable(getattr(sink, "wants_head", None))


def streams(sink: ContentSink | None) -> TypeGuard[StreamingSink]:
    return sniffs(sink) and callable(getattr(sink, "take_stream", None))


def hashing(sink: ContentSink | None) -> TypeGuard[HashingSink]:
    return (sink is not None and callable(getattr(sink, "hashes", None))
            and callable(getattr(sink, "take_digests", None)))


def wants_of(sink: ContentSink) -> Callable[[str, int, bool], bool]:
    """``sink``'s question for one file, given whether the tree's globs matched its path."""
    wants_matched = getattr(sink, "wants_matched", None)
    if callable(wants_matched):
        return wants_matched  # type: ignore[no-any-return]
    wants = sink.wants
    return lambda path, size, _matched: wants(path, size)


def never(_path: str, _size: int, _matched: bool) -> bool:
    return False


class Part:
    """One sink as a layer reader feeds it, its questions looked up once (``parts_of``).
    A ``HashingSink``'s digests gathered in the layer so far wait in ``hashed``."""

    __slots__ = ("_sink", "hashed", "hashes", "head_size", "take", "take_link", "take_stream",
                 "wants", "wants_head")

    def __init__(self, sink: ContentSink) -> None:
        self.wants = wants_of(sink)
        self.take = sink.take
        # -1: not a sniffing sink (it takes the whole file, with no head asked about first)
        self.head_size = sink.head_size if sniffs(sink) else -1
        self.wants_head = sink.wants_head if sniffs(sink) else _any_head
        self.take_stream = sink.take_stream if streams(sink) else None
        take_link = getattr(sink, "take_link", None)
        self.take_link: Callable[[int, str, str, bool, bool], None] | None = (
            take_link if callable(take_link) else None)
        self.hashes = sink.hashes if hashing(sink) else None
        self.hashed: list[tuple[str, int, bytes]] = []
        self._sink = sink

    def flush(self, layer: int) -> None:
        """Hand the digests gathered so far to the sink (before any ``take``, and at the
        layer's end)."""
        if self.hashed:
            found, self.hashed = self.hashed, []
            self._sink.take_digests(layer, found)  # type: ignore[attr-defined]

    def hash_in_place(self, path: str, size: int, data: MemberData, head: bytes = b"") -> None:
        """Hash a file of ``size`` bytes where it lies in the layer (``data``), after its
        ``head`` already read from it, for the next ``flush``: no copy of it is made."""
        h = sha256(head)
        data.update(h.update, size - len(head))
        self.hashed.append((path, size, h.digest()))


def _any_head(_path: str, _head: bytes) -> bool:
    return True


def parts_of(sink: ContentSink | None) -> tuple[Part, ...]:
    """The sinks a reader feeds: a ``FanOut``'s own (asked directly: what ``FanOut`` does,
    without its per-thread bookkeeping), else ``sink`` alone, else none."""
    if sink is None:
        return ()
    return tuple(map(Part, sink.sinks)) if isinstance(sink, FanOut) else (Part(sink),)


class MemberData(Protocol):
    """The current file's bytes in the layer a reader is on (``tarstream.TarReader``)."""

    def read(self, limit: int) -> bytes: ...

    def peek(self, limit: int) -> bytes | None: ...

    def update(self, consume: Callable[[memoryview], object], limit: int) -> int: ...


def feed(chosen: list[Part], layer: int, path: str, size: int,  # noqa: PLR0917 (per file)
         content: bytes | None, data: MemberData) -> None:
    """Give one file of ``size`` bytes to the sinks that wanted it (``chosen``): its
    ``content`` when kept, else read from the layer (``data``). A sniffing sink is asked
    about the file's head first (looked at where it lies when it can be: the file is then
    read whole once, not as a head and the rest joined to it); a streaming one that alone
    wants the rest reads it itself, and a hashing one that alone wants it (the others said
    no to its head) hashes it where it lies. The same calls ``FanOut`` makes, so a sink
    sees the same alone, fanned out or here."""
    for p in chosen:
        if p.hashed:  # a HashingSink's earlier digests first: the calls stay in order
            p.flush(layer)
    sniffers = [p.head_size for p in chosen if p.head_size >= 0]
    if not sniffers:  # no head to sniff: the file once, to each
        whole = content if content is not None else data.read(size)
        for p in chosen:
            p.take(layer, path, whole)
        return
    peeked = None if content is not None else data.peek(max(sniffers))
    head = content if content is not None else peeked if peeked is not None \
        else data.read(max(sniffers))
    chosen = [p for p in chosen if p.wants_head(path, head[:p.head_size])]
    if not chosen:
        return
    if len(head) < size:
        only = chosen[0] if len(chosen) == 1 else None
        if only is not None and only.hashes is not None and only.hashes(path):
            only.hash_in_place(path, size, data, head if peeked is None else b"")
            return
        if only is not None and only.take_stream is not None:
            if peeked is not None:
                data.read(len(head))  # the stream goes on after the head
            only.take_stream(layer, path, size, head, data.read)
            return
        head = data.read(size) if peeked is not None else head + data.read(size - len(head))
    for p in chosen:
        p.take(layer, path, head)


class FanOut:
    """Several ``ContentSink``s fed from the one read of each layer (e.g. the secret scanner
    and the binary cataloger): each sink sees exactly the files it wants.

    ``wants``, ``wants_head`` and ``take`` for one file are called in turn by the one thread
    reading its layer, so which sinks still want the current file is kept per thread.
    """

    def __init__(self, *sinks: ContentSink) -> None:
        self.sinks = sinks
        self._sniffers: dict[int, SniffingSink] = {id(s): s for s in sinks if sniffs(s)}
        self.head_size = max((s.head_size for s in self._sniffers.values()), default=0)
        self._wants = [(s, wants_of(s)) for s in sinks]
        self._current = threading.local()

    def wants(self, path: str, size: int) -> bool:
        # Not told whether the globs matched: a matching sink must match the path itself.
        chosen = [s for s in self.sinks if s.wants(path, size)]
        self._current.path, self._current.sinks = path, chosen
        return bool(chosen)

    def wants_matched(self, path: str, size: int, matched: bool) -> bool:
        chosen = [s for s, wants in self._wants if wants(path, size, matched)]
        self._current.path, self._current.sinks = path, chosen
        return bool(chosen)

    def wants_head(self, path: str, head: bytes) -> bool:
        sniffers = self._sniffers
        chosen = [s for s in self._pending(path, len(head))
                  if id(s) not in sniffers or sniffers[id(s)].wants_head(
                      path, head[:sniffers[id(s)].head_size])]
        self._current.sinks = chosen
        return bool(chosen)

    def take(self, layer: int, path: str, data: bytes) -> None:
        for s in self._pending(path, len(data)):
            s.take(layer, path, data)
        self._current.sinks = []

    def take_stream(self, layer: int, path: str, size: int, head: bytes,
                    read: Callable[[int], bytes]) -> None:
        sinks = self._pending(path, size)
        self._current.sinks = []
        if len(sinks) == 1 and streams(sinks[0]):
            sinks[0].take_stream(layer, path, size, head, read)
            return
        # One read of the stream serves every sink: the bytes are needed whole anyway.
        data = head + read(size - len(head))
        for s in sinks:
            s.take(layer, path, data)

    def take_link(self, layer: int, path: str, target: str, matched: bool,
                  kept: bool) -> None:
        for s in self.sinks:
            take_link = getattr(s, "take_link", None)
            if callable(take_link):
                take_link(layer, path, target, matched, kept)

    def _pending(self, path: str, size: int) -> list[ContentSink]:
        if getattr(self._current, "path", None) != path:  # called without wants(): ask now
            self.wants(path, size)
        sinks: list[ContentSink] = self._current.sinks
        return sinks
