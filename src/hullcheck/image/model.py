"""The Image: what every image source produces and the file tree consumes."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from hullcheck.errors import ImageError
from hullcheck.image.stored import StoredBlob
from hullcheck.model import ImageSource, Layer

# The file tree names a file's layer in 16 bits (filetree.tree.LAYER_BITS): an image with
# more layers is refused when it is opened, before any layer is read.
MAX_LAYERS = 1 << 16

# Opens the stored (possibly compressed) bytes of one layer as a digest-verified stream.
LayerOpener = Callable[[Layer], contextlib.AbstractContextManager[BinaryIO]]
# Where one layer's stored blob lies in a file on disk (sources whose blobs are files).
LayerLocator = Callable[[Layer], StoredBlob]


@dataclass(frozen=True, slots=True, kw_only=True)
class Image:
    source: ImageSource
    layers: tuple[Layer, ...] = ()
    config: dict[str, Any] = field(default_factory=dict)
    manifest: dict[str, Any] = field(default_factory=dict)
    manifest_bytes: bytes = b""
    config_bytes: bytes = b""
    # How to read a layer's stored blob; None for a dir: source.
    opener: LayerOpener | None = None
    # Where a layer's blob lies on disk, for a reader in another process; None when the
    # blobs are not files (a registry's streams, a dir: source).
    locator: LayerLocator | None = None
    # For dir: sources, the root file system on disk.
    rootfs: Path | None = None

    def __post_init__(self) -> None:
        if len(self.layers) > MAX_LAYERS:
            raise ImageError(f"{self.source.name}: the image has {len(self.layers):,} layers; "
                             f"at most {MAX_LAYERS:,} can be read")

    @contextlib.contextmanager
    def open_layer(self, layer: Layer) -> Iterator[BinaryIO]:
        """The stored blob of ``layer``, verified while read."""
        if self.opener is None:
            raise RuntimeError("a dir: image has no layer blobs")
        with self.opener(layer) as stream:
            yield stream

    def stored_blob(self, layer: Layer) -> StoredBlob | None:
        """Where ``layer``'s stored blob lies on disk (checked: present, a regular file),
        for a process that reads and verifies it itself; None when it is not a file."""
        return None if self.locator is None else self.locator(layer)

    @property
    def history(self) -> list[dict[str, Any]]:
        hist = self.config.get("history")
        return hist if isinstance(hist, list) else []
