"""What the tree hands out: one entry per file as one layer wrote it."""

from __future__ import annotations

from enum import StrEnum
from typing import NamedTuple

DEFAULT_MAX_FILE = 32 << 20  # bytes of one kept file


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
    ref: int = -1  # which version of the tree this is (FileTree), -1 when made elsewhere
