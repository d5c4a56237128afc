"""One layer as read, compactly: ``LayerIndex``.

A layer's analysis is a pure function of its bytes and of what the catalogers asked for
(globs, size limit, content sinks), so its result is a value that can be cached by the
layer's digest and sent from a worker process. Hundreds of thousands of entries are held as
columns, not objects: parent directories each once, one name per entry, the metadata in
arrays, link targets and kept contents only for the rows that have them. The tree
(``tree.FileTree``) keeps these columns and refers to rows; ``FileEntry`` objects are made
when asked for.

``to_bytes``/``from_bytes`` are the wire and cache form of the entries (msgpack through
``msgspec``, whose typed decoding rejects a malformed document; the sinks' ``results`` travel
and are cached beside it, each on its own); ``from_bytes`` also checks every length and
index, so a corrupt entry is an error, never a wrong tree.
"""

from __future__ import annotations

from array import array
from collections.abc import Iterable
from dataclasses import dataclass, field

import msgspec

from hullcheck.filetree.entries import FileEntry, Kind

# Kind codes in ``LayerIndex.kinds``; TOO_LARGE marks a wanted file over the size limit.
KIND_CODES: dict[Kind, int] = {Kind.FILE: 0, Kind.DIR: 1, Kind.SYMLINK: 2, Kind.HARDLINK: 3,
                               Kind.OTHER: 4}
KINDS: tuple[Kind, ...] = tuple(KIND_CODES)
FILE, DIR, SYMLINK, HARDLINK, OTHER = range(5)
TOO_LARGE = 0x80
MAX_ID = 0xFFFFFFFF  # uids and gids are kept in 32 bits; a larger one is kept as this
FORMAT = 1  # of to_bytes; a reader refuses others
_VALID_KINDS = bytes([*range(5), *range(TOO_LARGE, TOO_LARGE + 5)])


class CorruptIndex(ValueError):
    """Bytes that are not a ``LayerIndex`` this version wrote."""


@dataclass(slots=True, eq=False)
class LayerIndex:
    """Every entry one layer wrote, its whiteouts and opaque directories, the bytes of its
    wanted files, and what each content sink found in it (``results``: bytes each sink's
    owner encodes and decodes; position-free, the layer being unknown here)."""

    dirs: list[str] = field(default_factory=list)  # parent directories, absolute
    names: list[str] = field(default_factory=list)  # one per entry: its last component
    parent: array[int] = field(default_factory=lambda: array("I"))  # index into dirs
    kinds: bytearray = field(default_factory=bytearray)  # KIND code | TOO_LARGE
    sizes: array[int] = field(default_factory=lambda: array("q"))
    modes: array[int] = field(default_factory=lambda: array("H"))
    uids: array[int] = field(default_factory=lambda: array("I"))
    gids: array[int] = field(default_factory=lambda: array("I"))
    links: dict[int, str] = field(default_factory=dict)  # row -> link target
    contents: dict[int, bytes] = field(default_factory=dict)  # row -> kept bytes
    whiteouts: list[str] = field(default_factory=list)  # paths deleted from lower layers
    opaque: list[str] = field(default_factory=list)  # dirs whose lower contents are hidden
    results: dict[str, bytes] = field(default_factory=dict)  # sink name -> its findings
    _dir_ids: dict[str, int] = field(default_factory=dict, repr=False)

    def __len__(self) -> int:
        return len(self.names)

    # -- building -------------------------------------------------------------------
    def add(self, path: str, kind: int, size: int, mode: int,  # noqa: PLR0917 (per entry: positional)
            uid: int, gid: int, link: str = "", content: bytes | None = None) -> int:
        """Append the entry at ``path`` (absolute, normalised, not "/"); its row."""
        cut = path.rfind("/")
        parent = path[:cut] or "/"
        dir_id = self._dir_ids.get(parent)
        if dir_id is None:
            dir_id = self._dir_ids[parent] = len(self.dirs)
            self.dirs.append(parent)
        row = len(self.names)
        self.names.append(path[cut + 1:])
        self.parent.append(dir_id)
        self.kinds.append(kind)
        self.sizes.append(size)
        self.modes.append(mode & 0o7777)
        self.uids.append(uid if 0 <= uid <= MAX_ID else MAX_ID)
        self.gids.append(gid if 0 <= gid <= MAX_ID else MAX_ID)
        if link:
            self.links[row] = link
        if content is not None:
            self.contents[row] = content
        return row

    # -- reading --------------------------------------------------------------------
    def path(self, row: int) -> str:
        parent = self.dirs[self.parent[row]]
        return f"/{self.names[row]}" if parent == "/" else f"{parent}/{self.names[row]}"

    def entry(self, row: int, layer: int, ref: int = -1) -> FileEntry:
        code = self.kinds[row]
        return FileEntry(self.path(row), KINDS[code & 0x7F], self.sizes[row], self.modes[row],
                         layer, self.links.get(row, ""), self.contents.get(row),
                         bool(code & TOO_LARGE), self.uids[row], self.gids[row], ref)

    def entries(self, layer: int) -> Iterable[FileEntry]:
        for row in range(len(self.names)):
            yield self.entry(row, layer)

    def nbytes(self) -> int:
        """Roughly what this index holds in memory (names, arrays, kept bytes)."""
        strings = sum(map(len, self.names)) + sum(map(len, self.dirs))
        arrays = sum(a.itemsize * len(a) for a in (self.parent, self.sizes, self.modes,
                                                   self.uids, self.gids))
        kept = sum(map(len, self.contents.values()))
        return strings + arrays + len(self.kinds) + kept

    # -- the wire and cache form ----------------------------------------------------
    def to_bytes(self) -> bytes:
        link_rows = array("I", self.links)
        content_rows = array("I", self.contents)
        return _ENCODER.encode(_Wire(
            format=FORMAT, count=len(self.names), dirs=_join(self.dirs), names=_join(self.names),
            parent=self.parent.tobytes(), kinds=bytes(self.kinds), sizes=self.sizes.tobytes(),
            modes=self.modes.tobytes(), uids=self.uids.tobytes(), gids=self.gids.tobytes(),
            link_rows=link_rows.tobytes(), links=_join(self.links.values()),
            content_rows=content_rows.tobytes(), contents=list(self.contents.values()),
            whiteouts=_join(self.whiteouts), opaque=_join(self.opaque)))

    @classmethod
    def from_bytes(cls, data: bytes) -> LayerIndex:
        """The index ``to_bytes`` wrote; ``CorruptIndex`` for anything else."""
        try:
            wire = _DECODER.decode(data)
        except msgspec.DecodeError as exc:  # ValidationError included
            raise CorruptIndex(f"not a layer index ({exc})") from None
        if wire.format != FORMAT:
            raise CorruptIndex(f"layer index format {wire.format}, not {FORMAT}")
        n = wire.count
        out = cls(dirs=_split(wire.dirs, None), names=_split(wire.names, n),
                  parent=_array("I", wire.parent, n), kinds=bytearray(wire.kinds),
                  sizes=_array("q", wire.sizes, n), modes=_array("H", wire.modes, n),
                  uids=_array("I", wire.uids, n), gids=_array("I", wire.gids, n),
                  whiteouts=_split(wire.whiteouts, None), opaque=_split(wire.opaque, None))
        if len(out.kinds) != n or wire.kinds.translate(None, _VALID_KINDS):
            raise CorruptIndex("layer index: bad kinds")
        if n and max(out.parent) >= len(out.dirs):
            raise CorruptIndex("layer index: parent out of range")
        link_rows = _array("I", wire.link_rows, None)
        targets = _split(wire.links, len(link_rows))
        content_rows = _array("I", wire.content_rows, len(wire.contents))
        if any(r >= n for r in (*link_rows, *content_rows)):
            raise CorruptIndex("layer index: row out of range")
        out.links = dict(zip(link_rows, targets, strict=True))
        out.contents = dict(zip(content_rows, wire.contents, strict=True))
        return out


class _Wire(msgspec.Struct, array_like=True, forbid_unknown_fields=True):
    format: int
    count: int
    dirs: bytes
    names: bytes
    parent: bytes
    kinds: bytes
    sizes: bytes
    modes: bytes
    uids: bytes
    gids: bytes
    link_rows: bytes
    links: bytes
    content_rows: bytes
    contents: list[bytes]
    whiteouts: bytes
    opaque: bytes


_ENCODER = msgspec.msgpack.Encoder()
_DECODER = msgspec.msgpack.Decoder(_Wire)


def _join(texts: Iterable[str]) -> bytes:
    # NUL separates: no path or link target holds one (the tar reader refuses them).
    # surrogateescape: names that were not UTF-8 come back as the same bytes.
    return "\0".join(texts).encode("utf-8", "surrogateescape")


def _split(data: bytes, count: int | None) -> list[str]:
    parts = data.decode("utf-8", "surrogateescape").split("\0") if data else []
    if count is not None and len(parts) != count:
        if count == 1 and not parts:  # one empty string joins to nothing
            return [""]
        raise CorruptIndex(f"layer index: {len(parts)} strings for {count} entries")
    return parts


def _array(code: str, data: bytes, count: int | None) -> array[int]:
    out = array(code)
    if len(data) % out.itemsize:
        raise CorruptIndex("layer index: truncated column")
    out.frombytes(data)
    if count is not None and len(out) != count:
        raise CorruptIndex(f"layer index: column of {len(out)} for {count} entries")
    return out
