"""An unpacked root file system (``dir:`` sources) → ``LayerIndex``, walked without
following any symlink."""

from __future__ import annotations

import os
import posixpath
import stat
from pathlib import Path

from hullcheck.filetree.globset import GlobSet
from hullcheck.filetree.index import DIR, FILE, OTHER, SYMLINK, TOO_LARGE, LayerIndex
from hullcheck.filetree.sinks import ContentSink, never, sniffs, streams, wants_of


def read_rootfs(root: Path, wanted: GlobSet | None, max_file: int,
                sink: ContentSink | None = None) -> LayerIndex:
    """Walk an unpacked root file system without following any symlink."""
    out = LayerIndex()
    match = wanted.match if wanted is not None else None
    wants = wants_of(sink) if sink is not None else never
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
                out.add(path, DIR, 0, stat.S_IMODE(mode), 0, 0)
            elif stat.S_ISLNK(mode):
                out.add(path, SYMLINK, 0, stat.S_IMODE(mode), 0, 0, os.readlink(full))
            elif stat.S_ISREG(mode):
                content = None
                kind = FILE
                matched = match is not None and match(path)
                if matched:
                    if st.st_size <= max_file:
                        content = _read_nofollow(full, max_file)
                    else:
                        kind = FILE | TOO_LARGE
                if sink is not None and wants(path, st.st_size, matched):
                    _feed_file(sink, full, path, st.st_size, content)
                out.add(path, kind, st.st_size, stat.S_IMODE(mode), st.st_uid, st.st_gid, "",
                        content)
            else:
                out.add(path, OTHER, 0, stat.S_IMODE(mode), 0, 0)
    return out


def _feed_file(sink: ContentSink, full: str, path: str, size: int,
               content: bytes | None) -> None:
    """Give a host file to ``sink`` (its head first, when the sink sniffs)."""
    if not sniffs(sink):
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
        if streams(sink) and len(head) < size:
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
