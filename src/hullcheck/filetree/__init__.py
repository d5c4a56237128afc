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
switch interval while layers are read), ``index`` (one layer as read, compactly: the unit of
work, cache and parallelism), ``analysis`` (a layer's analysis as a pure function, in
worker processes, cached), ``tree`` (the merge of the layers' indexes and its views);
``build`` here puts them together.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

from hullcheck import __version__
from hullcheck.errors import ImageError
from hullcheck.filetree.analysis import (
    Analysis,
    IndexStore,
    LayeredSink,
    SinkSpec,
    analyse,
    index_layers,
    layered,
)
from hullcheck.filetree.entries import DEFAULT_MAX_FILE, FileEntry, Kind
from hullcheck.filetree.globset import GlobSet, compile_globs
from hullcheck.filetree.index import LayerIndex
from hullcheck.filetree.rootfs import read_rootfs
from hullcheck.filetree.sinks import ContentSink, FanOut
from hullcheck.filetree.tar import read_tar
from hullcheck.filetree.tree import FileTree, View
from hullcheck.image.model import Image
from hullcheck.model import Layer

__all__ = [
    "DEFAULT_MAX_FILE", "Analysis", "ContentSink", "FanOut", "FileEntry", "FileTree", "GlobSet",
    "IndexStore", "Kind", "LayerIndex", "LayeredSink", "SinkSpec", "View", "analyse", "build",
    "compile_globs", "index_layers", "layered", "read_tar",
]


def build(
    image: Image,
    globs: Iterable[str] = (),
    *,
    max_file: int = DEFAULT_MAX_FILE,
    workers: int | None = None,
    on_layer: Callable[[Layer], None] | None = None,
    sink: ContentSink | None = None,
    sinks: Sequence[SinkSpec] = (),
    store: IndexStore | None = None,
    meanwhile: Callable[[], Image] | None = None,
) -> FileTree:
    """Read every layer of ``image`` once and build its FileTree.

    ``sinks`` are analysed per layer (their findings in ``FileTree.results``), and with a
    ``store`` each layer's index is taken from it when it holds one, else read and kept
    there. ``sink``, one object for the whole image,
    sees the bytes of the files it wants on the way (every layer, deleted files
    included); with it every layer is read here.

    ``meanwhile`` is called once the first layers are given to the worker processes (see
    ``index_layers``), and the tree is built for the image it returns: the same layers
    (their history redacted, say); the caller's set-up then overlaps the reads."""
    analysis = Analysis(globs=tuple(globs), max_file=max_file, sinks=tuple(sinks))
    final: list[Image] = []
    then = (lambda: final.append(meanwhile())) if meanwhile is not None else None
    if image.rootfs is not None:
        if then is not None:
            then()
        return FileTree.from_layers((), [_read_rootfs(image.rootfs, analysis, sink)])
    if not image.layers:
        raise ImageError(f"{image.source.name}: image has no layers")
    indexes = index_layers(image, analysis, store=store, version=__version__, workers=workers,
                           on_layer=on_layer, shared=sink, meanwhile=then)
    layers = final[0].layers if final else image.layers
    if [la.digest for la in layers] != [la.digest for la in image.layers]:
        raise ValueError("meanwhile: the image returned has other layers")  # a bug
    tree = FileTree.from_layers(layers, indexes)
    _keep_moved(image, tree, analysis)
    return tree


def _keep_moved(image: Image, tree: FileTree, analysis: Analysis) -> None:
    """The bytes of files a symlinked parent moved under the globs: a layer's analysis
    matched the path its tar names (it cannot know the layers below), so each layer that
    has such files is read again for them alone (``tree.unkept``; rare: no image a runtime
    built has one)."""
    wanted = compile_globs(analysis.globs)
    if wanted is None:
        return
    for i, paths in sorted(tree.unkept(wanted).items()):
        layer = image.layers[i]
        again = Analysis(globs=tuple(p.replace("*", "?") for p in paths),
                         max_file=analysis.max_file)
        with image.open_layer(layer) as raw:
            tree.keep(i, analyse(raw, again, what=f"layer {i} ({layer.digest})",
                                 stored_size=layer.size, layer=i))


def _read_rootfs(root: Path, analysis: Analysis, shared: ContentSink | None) -> LayerIndex:
    sinks = [spec.new() for spec in analysis.sinks]
    every = [*sinks, shared] if shared is not None else sinks
    combined = every[0] if len(every) == 1 else FanOut(*every) if every else None
    index = read_rootfs(root, compile_globs(analysis.globs), analysis.max_file, combined)
    index.results = {spec.name: spec.result(sink)
                     for spec, sink in zip(analysis.sinks, sinks, strict=True)}
    return index
