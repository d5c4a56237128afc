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

One module per job: ``entries`` (what the tree holds), ``globset`` (the globs catalogers
declare, matched at once), ``sinks`` (consumers of bytes not kept, and ``FanOut``),
``tar`` (one layer blob), ``rootfs`` (an unpacked directory), ``switch`` (the interpreter's
switch interval while layers are read), ``tree`` (the tree and its views); ``build`` here
reads the layers in parallel threads.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor

from hullcheck import deadline
from hullcheck.errors import ImageError
from hullcheck.filetree.entries import DEFAULT_MAX_FILE, FileEntry, Kind
from hullcheck.filetree.globset import GlobSet, compile_globs
from hullcheck.filetree.index import LayerIndex
from hullcheck.filetree.rootfs import read_rootfs
from hullcheck.filetree.sinks import ContentSink, FanOut
from hullcheck.filetree.switch import SWITCH
from hullcheck.filetree.tar import read_layer, read_tar
from hullcheck.filetree.tree import FileTree, View
from hullcheck.image.model import Image
from hullcheck.model import Layer

__all__ = [
    "DEFAULT_MAX_FILE", "ContentSink", "FanOut", "FileEntry", "FileTree", "GlobSet", "Kind",
    "LayerIndex", "View", "build", "compile_globs", "read_tar",
]


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

    def one(layer: Layer) -> LayerIndex:
        lc = read_layer(image, layer, wanted, max_file, sink)
        if on_layer is not None:
            on_layer(layer)
        return lc

    with SWITCH.short():
        if workers <= 1:
            results = [one(layer) for layer in image.layers]
        else:
            with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="layer") as pool:
                # carry: each layer's reads honour the command's deadline (a contextvar).
                results = list(pool.map(deadline.carry(one), image.layers))
    return FileTree.from_layers(image.layers, results)
