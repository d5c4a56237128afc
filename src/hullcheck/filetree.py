"""Layers → FileTree: whiteouts, every version of every file, in-root symlink resolution.

The layers are read once, in parallel, as streams. Each entry's metadata is kept;
file *contents* are kept only for paths the catalogers asked for (globs) and only
up to a size limit. Layers are then applied in order with OCI whiteouts
(``.wh.NAME`` and the opaque ``.wh..wh..opq``), and every path keeps its history:
which layer wrote or deleted it. That gives both views at no extra cost:

* the squashed view — what a container sees (``FileTree.view()``);
* every file ever shipped, including ones a later layer deleted or overwrote
  (``FileTree.all_entries()``), and the file system as of any layer
  (``FileTree.view(upto=i)``).

Symlinks are resolved against the tree itself, never the host, and ``..`` stops
at the image root, so no link can lead outside it.
"""

from __future__ import annotations

import contextlib
import os
import posixpath
import re
import stat
import sys
import threading
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import NamedTuple, Protocol, TypeGuard

from hullcheck import deadline, globs
from hullcheck.errors import ImageError, UnsafeLayer
from hullcheck.image.blobs import iter_decompressed
from hullcheck.image.model import Image
from hullcheck.model import Layer
from hullcheck.tarstream import TarReader, decompress_ahead

DEFAULT_MAX_FILE = 32 << 20  # bytes of one kept file
DEFAULT_MAX_ENTRIES = 2_000_000  # entries in one layer
MAX_SYMLINK_HOPS = 40
WHITEOUT = ".wh."
OPAQUE = ".wh..wh..opq"


class Kind(StrEnum):
    FILE = "file"
    DIR = "dir"
    SYMLINK = "symlink"
    HARDLINK = "hardlink"
    OTHER = "other"  # devices, fifos


class FileEntry(NamedTuple):
    """One file as one layer wrote it. A NamedTuple: there are hundreds of thousands."""

    path: str  # absolute, normalised: "/usr/lib/os-release"
    kind: Kind
    size: int
    mode: int
    layer: int  # index of the layer that wrote it
    link: str = ""  # symlink target as written; hard link target as an absolute path
    content: bytes | None = None  # only for wanted paths within the size limit
    too_large: bool = False  # wanted, but over the size limit: content not kept
    uid: int = 0
    gid: int = 0


# ---------------------------------------------------------------------------------------
# Globs: catalogers declare absolute-path globs; all are compiled into one regex.


def glob_to_regex(pattern: str) -> str:
    """``/**/`` matches any number of directories, ``*`` and ``?`` stay within one."""
    if not pattern.startswith("/"):
        raise ValueError(f"glob must be absolute: {pattern!r}")
    return globs.translate(pattern)


class GlobSet:
    """Many absolute-path globs matched at once, fast.

    One big alternation regex costs ~10 µs a path; images have 10^5 paths. Instead each
    glob is filed under what its last component must be: a literal name
    (``METADATA``), a literal ending (``*.jar``, ``*requirements*.txt``), a literal start
    (``libcrypto.so*``), or failing that the literal directory prefix before its first
    wildcard (``/usr/bin/``). A path then meets only the few
    globs that can match it.
    """

    def __init__(self, patterns: Iterable[str]) -> None:
        self.patterns = tuple(sorted(set(patterns)))
        self._by_name: dict[str, list[re.Pattern[str]]] = {}
        self._by_ext: dict[str, list[tuple[str, re.Pattern[str]]]] = {}
        self._by_head: dict[str, list[re.Pattern[str]]] = {}
        generic: list[tuple[str, int, re.Pattern[str]]] = []
        for p in self.patterns:
            rx = re.compile(glob_to_regex(p) + r"\Z")
            base = p.rsplit("/", 1)[1]
            tail = base[max(base.rfind(c) for c in "*?]") + 1 :]  # literal end of the name
            head = base[: min((i for i, c in enumerate(base) if c in "*?["), default=len(base))]
            if base and not any(c in base for c in "*?["):
                self._by_name.setdefault(base, []).append(rx)
            elif "." in tail:
                self._by_ext.setdefault(tail.rsplit(".", 1)[1], []).append((tail, rx))
            elif len(head) >= 3:
                self._by_head.setdefault(head[:3], []).append(rx)
            else:
                cut = min((i for i, c in enumerate(p) if c in "*?["), default=len(p))
                # Without "**" a glob only matches paths of its own depth.
                depth = -1 if "**" in p else p.count("/")
                generic.append((p[:cut], depth, rx))
        # Generic globs filed by their first directory ("/usr/bin/*" under "usr"); those
        # with a wildcard in the first component are tried for every path.
        self._generic_any = tuple(g for g in generic if g[0].count("/") < 2)
        self._generic: dict[str, list[tuple[str, int, re.Pattern[str]]]] = {}
        for g in generic:
            if g[0].count("/") >= 2:
                self._generic.setdefault(g[0].split("/")[1], []).append(g)

    def __bool__(self) -> bool:
        return bool(self.patterns)

    def match(self, path: str) -> bool:
        base = path[path.rfind("/") + 1 :]
        for rx in self._by_name.get(base, ()):
            if rx.match(path):
                return True
        dot = base.rfind(".")
        if dot >= 0:
            for suffix, rx in self._by_ext.get(base[dot + 1 :], ()):
                if base.endswith(suffix) and rx.match(path):
                    return True
        for rx in self._by_head.get(base[:3], ()):
            if rx.match(path):
                return True
        generic = self._generic.get(path[1 : path.find("/", 1)], ())
        if generic or self._generic_any:
            depth = path.count("/")
            for prefix, want, rx in (*generic, *self._generic_any):
                if (want < 0 or want == depth) and path.startswith(prefix) and rx.match(path):
                    return True
        return False


def compile_globs(patterns: Iterable[str]) -> GlobSet | None:
    globs = GlobSet(patterns)
    return globs if globs else None


# ---------------------------------------------------------------------------------------
# Reading one layer


def normalise(name: str, *, what: str) -> str:
    """A tar member name as an absolute in-image path; escaping the root is an error."""
    if name.startswith("/"):
        raise UnsafeLayer(f"{what}: absolute path {name!r} in layer")
    if ".." not in name and "//" not in name and "/./" not in name:
        path = name.removeprefix("./").rstrip("/")
        return "/" + path if path not in ("", ".") else "/"
    parts: list[str] = []
    for comp in name.split("/"):
        if comp in ("", "."):
            continue
        if comp == "..":
            if not parts:
                raise UnsafeLayer(f"{what}: path {name!r} escapes the image root")
            parts.pop()
        else:
            parts.append(comp)
    return "/" + "/".join(parts)


@dataclass(slots=True)
class LayerContents:
    index: int
    entries: list[FileEntry] = field(default_factory=list)
    whiteouts: list[str] = field(default_factory=list)  # paths deleted from lower layers
    opaque: list[str] = field(default_factory=list)  # dirs whose lower contents are hidden


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


def _sniffs(sink: ContentSink | None) -> TypeGuard[SniffingSink]:
    return sink is not None and callable(getattr(sink, "wants_head", None))


def _streams(sink: ContentSink | None) -> TypeGuard[StreamingSink]:
    return _sniffs(sink) and callable(getattr(sink, "take_stream", None))


def _wants_of(sink: ContentSink) -> Callable[[str, int, bool], bool]:
    """``sink``'s question for one file, given whether the tree's globs matched its path."""
    wants_matched = getattr(sink, "wants_matched", None)
    if callable(wants_matched):
        return wants_matched  # type: ignore[no-any-return]
    wants = sink.wants
    return lambda path, size, _matched: wants(path, size)


def _never(_path: str, _size: int, _matched: bool) -> bool:
    return False


class FanOut:
    """Several ``ContentSink``s fed from the one read of each layer (e.g. the secret scanner
    and the binary cataloger): each sink sees exactly the files it wants.

    ``wants``, ``wants_head`` and ``take`` for one file are called in turn by the one thread
    reading its layer, so which sinks still want the current file is kept per thread.
    """

    def __init__(self, *sinks: ContentSink) -> None:
        self.sinks = sinks
        self._sniffers: dict[int, SniffingSink] = {id(s): s for s in sinks if _sniffs(s)}
        self.head_size = max((s.head_size for s in self._sniffers.values()), default=0)
        self._wants = [(s, _wants_of(s)) for s in sinks]
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
        if len(sinks) == 1 and _streams(sinks[0]):
            sinks[0].take_stream(layer, path, size, head, read)
            return
        # One read of the stream serves every sink: the bytes are needed whole anyway.
        data = head + read(size - len(head))
        for s in sinks:
            s.take(layer, path, data)

    def _pending(self, path: str, size: int) -> list[ContentSink]:
        if getattr(self._current, "path", None) != path:  # called without wants(): ask now
            self.wants(path, size)
        sinks: list[ContentSink] = self._current.sinks
        return sinks


def read_tar(
    chunks: Iterator[bytes],
    *,
    index: int,
    what: str,
    wanted: GlobSet | None,
    max_file: int = DEFAULT_MAX_FILE,
    max_entries: int = DEFAULT_MAX_ENTRIES,
    sink: ContentSink | None = None,
) -> LayerContents:
    """One layer's entries, whiteouts and wanted contents from its decompressed chunks."""
    out = LayerContents(index=index)
    entries = out.entries
    append = entries.append
    kept: dict[str, bytes] = {}
    match = wanted.match if wanted is not None else None
    sniffer = sink if _sniffs(sink) else None
    streamer = sink if _streams(sink) else None
    wants = _wants_of(sink) if sink is not None else _never
    reader = TarReader(chunks, what=what)
    count = 0
    for m in reader:
        count += 1
        if count > max_entries:
            raise UnsafeLayer(f"{what}: more than {max_entries} entries")
        path = normalise(m.name, what=what)
        if path == "/":
            continue
        base = path[path.rfind("/") + 1 :]
        if base.startswith(WHITEOUT):
            parent = path[: path.rfind("/")] or "/"
            if base == OPAQUE:
                out.opaque.append(parent)
            elif not base.startswith(".wh..wh."):  # aufs metadata (.wh..wh.plnk) ignored
                out.whiteouts.append(posixpath.join(parent, base[len(WHITEOUT):]))
            continue
        if m.is_file:
            content = None
            too_large = False
            matched = match is not None and match(path)
            if matched:
                if m.size <= max_file:
                    content = reader.read(m.size)
                    kept[path] = content
                else:
                    too_large = True
            if sink is not None and wants(path, m.size, matched):
                if sniffer is None:
                    sink.take(index, path, content if content is not None
                              else reader.read(m.size))
                elif content is not None:
                    if sniffer.wants_head(path, content[:sniffer.head_size]):
                        sink.take(index, path, content)
                else:  # the head first; the rest only when the sink wants it
                    head = reader.read(sniffer.head_size)
                    if sniffer.wants_head(path, head):
                        if streamer is not None and len(head) < m.size:
                            streamer.take_stream(index, path, m.size, head, reader.read)
                        else:
                            sniffer.take(index, path, head + reader.read(m.size)
                                         if len(head) < m.size else head)
            append(FileEntry(path, Kind.FILE, m.size, m.mode, index, "", content, too_large,
                             m.uid, m.gid))
        elif m.is_dir:
            append(FileEntry(path, Kind.DIR, 0, m.mode, index, "", None, False, m.uid, m.gid))
        elif m.is_symlink:
            append(FileEntry(path, Kind.SYMLINK, 0, m.mode, index, m.linkname, None, False,
                             m.uid, m.gid))
        elif m.is_hardlink:
            target = normalise(m.linkname, what=f"{what} hard link {path}")
            content = kept.get(target)
            if content is not None and match is not None and match(path):
                append(FileEntry(path, Kind.FILE, len(content), m.mode, index, "", content,
                                 False, m.uid, m.gid))
            else:
                append(FileEntry(path, Kind.HARDLINK, 0, m.mode, index, target, None, False,
                                 m.uid, m.gid))
        else:
            append(FileEntry(path, Kind.OTHER, 0, m.mode, index, "", None, False, m.uid, m.gid))
    return out


def read_layer(
    image: Image,
    layer: Layer,
    wanted: GlobSet | None,
    max_file: int,
    sink: ContentSink | None = None,
) -> LayerContents:
    what = f"layer {layer.index} ({layer.digest})"
    with image.open_layer(layer) as raw:
        chunks = decompress_ahead(iter_decompressed(raw, what=what, stored_size=layer.size))
        try:
            contents = read_tar(chunks, index=layer.index, what=what, wanted=wanted,
                                max_file=max_file, sink=sink)
            # Drain the padding after the tar's end marker so the digest covers every byte.
            for _ in chunks:
                pass
        finally:
            chunks.close()  # stops the reader thread before the blob is closed
    return contents


def read_rootfs(root: Path, wanted: GlobSet | None, max_file: int,
                sink: ContentSink | None = None) -> LayerContents:
    """Walk an unpacked root file system without following any symlink."""
    out = LayerContents(index=0)
    match = wanted.match if wanted is not None else None
    wants = _wants_of(sink) if sink is not None else _never
    root = root.resolve()
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        rel_dir = "/" + os.path.relpath(dirpath, root).replace(os.sep, "/")
        rel_dir = "/" if rel_dir == "/." else rel_dir
        for name in dirnames + filenames:
            full = os.path.join(dirpath, name)
            path = posixpath.join(rel_dir, name)
            try:
                st = os.lstat(full)
            except OSError:
                continue
            mode = st.st_mode
            if stat.S_ISDIR(mode):
                out.entries.append(FileEntry(path, Kind.DIR, 0, stat.S_IMODE(mode), 0))
            elif stat.S_ISLNK(mode):
                out.entries.append(
                    FileEntry(path, Kind.SYMLINK, 0, stat.S_IMODE(mode), 0, os.readlink(full))
                )
            elif stat.S_ISREG(mode):
                content = None
                too_large = False
                matched = match is not None and match(path)
                if matched:
                    if st.st_size <= max_file:
                        content = _read_nofollow(full, max_file)
                    else:
                        too_large = True
                if sink is not None and wants(path, st.st_size, matched):
                    _feed_file(sink, full, path, st.st_size, content)
                out.entries.append(FileEntry(path, Kind.FILE, st.st_size, stat.S_IMODE(mode), 0,
                                             "", content, too_large, st.st_uid, st.st_gid))
            else:
                out.entries.append(FileEntry(path, Kind.OTHER, 0, stat.S_IMODE(mode), 0))
    return out


def _feed_file(sink: ContentSink, full: str, path: str, size: int,
               content: bytes | None) -> None:
    """Give a host file to ``sink`` (its head first, when the sink sniffs)."""
    if not _sniffs(sink):
        data = content if content is not None else _read_nofollow(full, size)
        if data is not None:
            sink.take(0, path, data)
        return
    if content is not None:
        if sink.wants_head(path, content[:sink.head_size]):
            sink.take(0, path, content)
        return
    try:
        fd = os.open(full, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    except OSError:
        return
    with os.fdopen(fd, "rb") as f:
        head = f.read(sink.head_size)
        if not sink.wants_head(path, head):
            return
        if _streams(sink) and len(head) < size:
            sink.take_stream(0, path, size, head, f.read)
        else:
            sink.take(0, path, head + f.read(max(size - len(head), 0)))


def _read_nofollow(path: str, limit: int) -> bytes | None:
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    except OSError:
        return None
    with os.fdopen(fd, "rb") as f:
        return f.read(limit)


# ---------------------------------------------------------------------------------------
# The tree

Version = tuple[int, FileEntry | None]  # (layer index, entry or None when deleted there)


class FileTree:
    def __init__(self, layers: tuple[Layer, ...]) -> None:
        self.layers = layers
        self.versions: dict[str, list[Version]] = {}
        self.final: dict[str, FileEntry] = {}
        self._children: dict[str, set[str]] = {"/": set()}
        self.last_layer = max(len(layers) - 1, 0)
        # Paths some version of which was wanted (content kept, or too large to keep):
        # the only ones catalogers can ask for, so matching need not walk every path.
        self._wanted: set[str] = set()

    # -- building -------------------------------------------------------------------
    @classmethod
    def from_layers(cls, layers: tuple[Layer, ...], contents: Iterable[LayerContents]) -> FileTree:
        tree = cls(layers)
        for lc in contents:
            tree._apply(lc)
        return tree

    def _apply(self, lc: LayerContents) -> None:
        i = lc.index
        for d in lc.opaque:
            for child in list(self._children.get(d, ())):
                self._delete(child, i)
        for p in lc.whiteouts:
            self._delete(p, i)
        for e in lc.entries:
            old = self.final.get(e.path)
            if old is not None and old.kind is Kind.DIR and e.kind is not Kind.DIR:
                self._delete(e.path, i)  # a file replacing a directory hides its contents
            self.versions.setdefault(e.path, []).append((i, e))
            self.final[e.path] = e
            if e.content is not None or e.too_large:
                self._wanted.add(e.path)
            self._link_parent(e.path)

    def _link_parent(self, path: str) -> None:
        while path != "/":
            parent = path.rsplit("/", 1)[0] or "/"
            kids = self._children.get(parent)
            if kids is None:
                self._children[parent] = {path}
            elif path in kids:
                return
            else:
                kids.add(path)
            path = parent

    def _delete(self, path: str, layer: int) -> None:
        for child in list(self._children.pop(path, ())):
            self._delete(child, layer)
        if self.final.pop(path, None) is not None:
            self.versions[path].append((layer, None))
        parent = path.rsplit("/", 1)[0] or "/"
        kids = self._children.get(parent)
        if kids is not None:
            kids.discard(path)

    # -- reading --------------------------------------------------------------------
    def view(self, upto: int | None = None) -> View:
        """The file system as a container sees it after layer ``upto`` (default: the last)."""
        return View(self, self.last_layer if upto is None else upto)

    def all_entries(self) -> Iterator[FileEntry]:
        """Every file any layer shipped, including deleted and overwritten ones."""
        for versions in self.versions.values():
            for _, e in versions:
                if e is not None:
                    yield e

    def is_visible(self, entry: FileEntry) -> bool:
        return self.final.get(entry.path) is entry

    def matching_versions(self, pattern: GlobSet) -> list[FileEntry]:
        """Every version (any layer) of every regular file whose path matches, in layer order."""
        out = [
            e
            for path in self._wanted
            if pattern.match(path)
            for _, e in self.versions[path]
            if e is not None and e.kind is Kind.FILE
        ]
        out.sort(key=lambda e: (e.layer, e.path))
        return out

    def deleted_at(self, entry: FileEntry) -> int | None:
        """The layer that deleted or replaced ``entry``, None while it is visible."""
        versions = self.versions.get(entry.path, [])
        seen = False
        for layer, e in versions:
            if seen:
                return layer
            if e is entry:
                seen = True
        return None


class View:
    """The file system as of one layer. Paths are absolute; lookups follow symlinks in root."""

    def __init__(self, tree: FileTree, upto: int) -> None:
        self.tree = tree
        self.upto = upto
        self._final = upto >= tree.last_layer

    def entry(self, path: str) -> FileEntry | None:
        """The entry at exactly ``path`` (no link following)."""
        if self._final:
            return self.tree.final.get(path)
        for layer, e in reversed(self.tree.versions.get(path, ())):
            if layer <= self.upto:
                return e
        return None

    def resolve(self, path: str, *, follow_last: bool = True) -> str | None:
        """``path`` with every symlink resolved inside the image root; None on a loop."""
        if "/." not in path and "//" not in path and not path.endswith("/"):
            # Fast path: a layer wrote this very path and it is no link, so no component
            # of it can be one either (layers cannot write through a link).
            e = self.entry(path)
            if e is not None and e.kind is not Kind.SYMLINK:
                return path
        todo = [c for c in path.split("/") if c][::-1]
        done: list[str] = []
        hops = 0
        while todo:
            comp = todo.pop()
            if comp == ".":
                continue
            if comp == "..":
                if done:
                    done.pop()
                continue  # ".." at the root stays at the root
            candidate = "/" + "/".join([*done, comp])
            e = self.entry(candidate)
            if e is not None and e.kind is Kind.SYMLINK and (todo or follow_last):
                hops += 1
                if hops > MAX_SYMLINK_HOPS:
                    return None
                if e.link.startswith("/"):
                    done = []
                todo.extend([c for c in e.link.split("/") if c][::-1])
                continue
            done.append(comp)
        return "/" + "/".join(done)

    def lookup(self, path: str) -> FileEntry | None:
        resolved = self.resolve(path)
        if resolved is None:
            return None
        e = self.entry(resolved)
        if e is not None and e.kind is Kind.HARDLINK:
            # The file as the link's layer had it: a later layer deleting or replacing the
            # target's name leaves this name to the old file, as in a container.
            return View(self.tree, e.layer).entry(e.link)
        return e

    def read(self, path: str) -> bytes | None:
        """Contents of a wanted file (following links); None when absent or not kept."""
        e = self.lookup(path)
        return e.content if e is not None and e.kind is Kind.FILE else None

    def exists(self, path: str) -> bool:
        return self.lookup(path) is not None

    def glob(self, pattern: str) -> list[FileEntry]:
        """Entries present in this view whose literal path matches ``pattern``."""
        rx = re.compile(glob_to_regex(pattern) + r"\Z")
        if self._final:
            return sorted(
                (e for p, e in self.tree.final.items() if rx.match(p)), key=lambda e: e.path
            )
        found = []
        for p in self.tree.versions:
            if rx.match(p):
                e = self.entry(p)
                if e is not None:
                    found.append(e)
        return sorted(found, key=lambda e: e.path)

    def files(self) -> Iterator[FileEntry]:
        """Every entry present in this view."""
        if self._final:
            yield from self.tree.final.values()
            return
        for p in self.tree.versions:
            e = self.entry(p)
            if e is not None:
                yield e


# ---------------------------------------------------------------------------------------


def build(
    image: Image,
    globs: Iterable[str] = (),
    *,
    max_file: int = DEFAULT_MAX_FILE,
    workers: int | None = None,
    on_layer: Callable[[Layer], None] | None = None,
    sink: ContentSink | None = None,
) -> FileTree:
    """Read every layer of ``image`` once and build its FileTree; ``sink`` sees the bytes of
    the files it wants on the way (every layer, deleted files included)."""
    wanted = compile_globs(globs)
    if image.rootfs is not None:
        lc = read_rootfs(image.rootfs, wanted, max_file, sink)
        return FileTree.from_layers((), [lc])
    if not image.layers:
        raise ImageError(f"{image.source.name}: image has no layers")
    workers = workers or min(len(image.layers), os.cpu_count() or 2, 8)

    def one(layer: Layer) -> LayerContents:
        lc = read_layer(image, layer, wanted, max_file, sink)
        if on_layer is not None:
            on_layer(layer)
        return lc

    with _SWITCH.short():
        if workers <= 1:
            results = [one(layer) for layer in image.layers]
        else:
            with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="layer") as pool:
                # carry: each layer's reads honour the command's deadline (a contextvar).
                results = list(pool.map(deadline.carry(one), image.layers))
    return FileTree.from_layers(image.layers, results)


# The decompressing thread needs the GIL back after every C call (read, hash, inflate, queue):
# each time it waits for the parser's time slice to end. 5 ms (Python's default) idled it
# badly; 1 ms was ~15% faster overall; 0.1 ms another ~4% on a one-layer image and ~2% on the
# 731 MB one (bench/sbom.py, alternating runs), and 0.05 ms no better than that.
SHORT_SWITCH_INTERVAL = 0.0001


class _SwitchInterval:
    """Decompression runs in C with the GIL released, beside the tar parser in Python: a
    short switch interval (``SHORT_SWITCH_INTERVAL``) lets a finished decompress call take
    the GIL back at once instead of idling behind the parser. The interval is
    process-wide, so concurrent builds (the admission server) share one change: the first
    to start sets it, the last to finish restores it."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._users = 0
        self._saved = 0.0

    @contextlib.contextmanager
    def short(self) -> Iterator[None]:
        with self._lock:
            if self._users == 0:
                self._saved = sys.getswitchinterval()
                sys.setswitchinterval(min(self._saved, SHORT_SWITCH_INTERVAL))
            self._users += 1
        try:
            yield
        finally:
            with self._lock:
                self._users -= 1
                if self._users == 0:
                    sys.setswitchinterval(self._saved)


_SWITCH = _SwitchInterval()
