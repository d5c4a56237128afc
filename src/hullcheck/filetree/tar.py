"""One layer's tar → ``LayerIndex``: a strict streaming tar parser over its decompressed
chunks; whiteouts recorded; the bytes of wanted files kept, every file offered to the content
sink."""

from __future__ import annotations

import posixpath
from collections.abc import Iterator

from hullcheck.errors import UnsafeLayer
from hullcheck.filetree.entries import DEFAULT_MAX_FILE
from hullcheck.filetree.globset import GlobSet
from hullcheck.filetree.index import DIR, FILE, HARDLINK, OTHER, SYMLINK, TOO_LARGE, LayerIndex
from hullcheck.filetree.sinks import ContentSink, never, sniffs, streams, wants_of
from hullcheck.tarstream import TarReader

DEFAULT_MAX_ENTRIES = 2_000_000  # entries in one layer
WHITEOUT = ".wh."
OPAQUE = ".wh..wh..opq"


def normalise(name: str, *, what: str) -> str:
    """A tar member name as an absolute in-image path; escaping the root is an error."""
    if name.startswith("/"):
        raise UnsafeLayer(f"{what}: absolute path {name!r} in layer")
    if "\0" in name:  # no file system holds one (and the layer index separates names by it)
        raise UnsafeLayer(f"{what}: NUL byte in path {name!r}")
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


def read_tar(
    chunks: Iterator[bytes],
    *,
    index: int,
    what: str,
    wanted: GlobSet | None,
    max_file: int = DEFAULT_MAX_FILE,
    max_entries: int = DEFAULT_MAX_ENTRIES,
    sink: ContentSink | None = None,
) -> LayerIndex:
    """One layer's entries, whiteouts and wanted contents from its decompressed chunks;
    ``sink`` is told ``index`` as the layer of each file it takes."""
    out = LayerIndex()
    add = out.add
    kept: dict[str, bytes] = {}
    match = wanted.match if wanted is not None else None
    sniffer = sink if sniffs(sink) else None
    streamer = sink if streams(sink) else None
    wants = wants_of(sink) if sink is not None else never
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
            kind = FILE
            matched = match is not None and match(path)
            if matched:
                if m.size <= max_file:
                    content = reader.read(m.size)
                    kept[path] = content
                else:
                    kind = FILE | TOO_LARGE
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
            add(path, kind, m.size, m.mode, m.uid, m.gid, "", content)
        elif m.is_dir:
            add(path, DIR, 0, m.mode, m.uid, m.gid)
        elif m.is_symlink:
            if "\0" in m.linkname:
                raise UnsafeLayer(f"{what}: NUL byte in the target of symlink {path!r}")
            add(path, SYMLINK, 0, m.mode, m.uid, m.gid, m.linkname)
        elif m.is_hardlink:
            target = normalise(m.linkname, what=f"{what} hard link {path}")
            content = kept.get(target)
            if content is not None and match is not None and match(path):
                add(path, FILE, len(content), m.mode, m.uid, m.gid, "", content)
            else:
                add(path, HARDLINK, 0, m.mode, m.uid, m.gid, target)
        else:
            add(path, OTHER, 0, m.mode, m.uid, m.gid)
    return out
