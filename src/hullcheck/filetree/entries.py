"""What the tree holds: one entry per file as one layer wrote it, and one layer's
entries as read."""

from __future__ import annotations

from dataclasses import dataclass, field
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


@dataclass(slots=True)
class LayerContents:
    index: int
    entries: list[FileEntry] = field(default_factory=list)
    whiteouts: list[str] = field(default_factory=list)  # paths deleted from lower layers
    opaque: list[str] = field(default_factory=list)  # dirs whose lower contents are hidden
