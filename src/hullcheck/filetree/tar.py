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
from hullcheck.filetree.sinks import ContentSink, Part, feed, parts_of
from hullcheck.tarstream import DIRECTORY, REGULAR, TarReader
from hullcheck.tarstream import HARDLINK as HARDLINK_TYPE
from hullcheck.tarstream import SYMLINK as SYMLINK_TYPE

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
    parts = parts_of(sink)
    linked = [p.take_link for p in parts if p.take_link is not None]
    lone = _lone_sniffer(parts)
    reader = TarReader(chunks, what=what)
    read = reader.read
    peek = reader.peek
    count = 0
    for m in reader:
        count += 1
        if count > max_entries:
            raise UnsafeLayer(f"{what}: more than {max_entries} entries")
        path = normalise(m.name, what=what)
        if path == "/":
            continue
        cut = path.rfind("/")
        if path.startswith(WHITEOUT, cut + 1):
            _whiteout(out, path, cut)
            continue
        kind = m.type
        if kind in REGULAR:
            size = m.size
            content = None
            code = FILE
            matched = match is not None and match(path)
            if matched:
                if size <= max_file:
                    content = read(size)
                    kept[path] = content
                else:
                    code = FILE | TOO_LARGE
            if lone is not None:  # one sniffing sink (the secret scanner): asked directly
                if lone.wants(path, size, matched):
                    # In the chunk at hand: one slice of it, sniffed and taken as it is
                    # (feed would copy the head out, then the file).
                    whole = content if content is not None else peek(size)
                    if whole is None:
                        feed(list(parts), index, path, size, content, reader)
                    elif lone.wants_head(path, whole[:lone.head_size]):
                        lone.take(index, path, whole)
            elif parts:
                chosen = [p for p in parts if p.wants(path, size, matched)]
                if chosen:
                    only = chosen[0]
                    if content is None and len(chosen) == 1 and only.hashes is not None \
                            and only.hashes(path):  # hashed in place, handed over later
                        only.hash_in_place(path, size, reader)
                    else:
                        feed(chosen, index, path, size, content, reader)
            add(path, code, size, m.mode, m.uid, m.gid, "", content)
        elif kind == DIRECTORY:
            add(path, DIR, 0, m.mode, m.uid, m.gid)
        elif kind == SYMLINK_TYPE:
            if "\0" in m.linkname:
                raise UnsafeLayer(f"{what}: NUL byte in the target of symlink {path!r}")
            add(path, SYMLINK, 0, m.mode, m.uid, m.gid, m.linkname)
        elif kind == HARDLINK_TYPE:
            target = normalise(m.linkname, what=f"{what} hard link {path}")
            content = kept.get(target)
            matched = match is not None and match(path)
            if content is not None and matched:
                add(path, FILE, len(content), m.mode, m.uid, m.gid, "", content)
            else:
                add(path, HARDLINK, 0, m.mode, m.uid, m.gid, target)
            for take_link in linked:
                take_link(index, path, target, matched, content is not None)
        else:
            add(path, OTHER, 0, m.mode, m.uid, m.gid)
    for p in parts:
        p.flush(index)
    return out


def _lone_sniffer(parts: tuple[Part, ...]) -> Part | None:
    """The one sink fed, when it sniffs heads and neither hashes nor streams: ``feed``
    then comes down to a head asked about and the file taken whole (``read_tar``'s fast path)."""
    if len(parts) != 1:
        return None
    only = parts[0]
    sniffing = only.head_size >= 0 and only.hashes is None and only.take_stream is None
    return only if sniffing else None


def _whiteout(out: LayerIndex, path: str, cut: int) -> None:
    """A ``.wh.`` entry: an opaque directory, or a path deleted from the layers below."""
    base = path[cut + 1 :]
    parent = path[:cut] or "/"
    if base == OPAQUE:
        out.opaque.append(parent)
    elif not base.startswith(".wh..wh."):  # aufs metadata (.wh..wh.plnk) ignored
        out.whiteouts.append(posixpath.join(parent, base[len(WHITEOUT):]))
