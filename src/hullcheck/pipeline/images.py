"""Reading an image once: open it (history and labels redacted: ``redaction``), build the
file tree with every content sink on the way, catalog it."""

from __future__ import annotations

import contextlib
import contextvars
import dataclasses
import importlib
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

from hullcheck import catalog, filetree
from hullcheck.catalog import license as catalog_license
from hullcheck.catalog.dpkg import CopyrightsAhead, CopyrightTexts
from hullcheck.catalog.streaming import landed_digests
from hullcheck.errors import UsageError
from hullcheck.filetree.analysis import watching
from hullcheck.image import Image, Platform, PullOptions, open_image
from hullcheck.model import Inventory, Layer
from hullcheck.pipeline.redaction import redactor
from hullcheck.signers import Keyless

if TYPE_CHECKING:
    from hullcheck.misconfig import ConfigReport


SCOPES = ("squashed", "all-layers")

# Where layer indexes are kept between runs (``layer_cache``); None: every layer is read.
_STORE: contextvars.ContextVar[filetree.IndexStore | None] = contextvars.ContextVar(
    "layer_store", default=None)


@contextlib.contextmanager
def layer_cache(store: filetree.IndexStore | None) -> Iterator[None]:
    """Images read in the block take each layer's index from ``store`` when it has it and
    keep there the ones they read (``hullcheck.layercache.LayerCache``; None: no cache).
    Licences detected in copyright texts are kept there too (by the text's digest). Every
    entry put in the block is written by its end."""
    token = _STORE.set(store)
    # A store that can write behind (``LayerCache``) writes while the command goes on: a
    # cold run's layer index is written as the catalogers run, and by the end of the block.
    behind = getattr(store, "writing_behind", None)
    try:
        with catalog_license.detections_in(store), \
                behind() if callable(behind) else contextlib.nullcontext():
            yield
    finally:
        _STORE.reset(token)


def layer_store() -> filetree.IndexStore | None:
    """The store ``layer_cache`` set for this context."""
    return _STORE.get()


@dataclass(frozen=True, slots=True, kw_only=True)
class SbomRequest:
    image: str
    scope: str = "squashed"
    platform: str | None = None
    pull: PullOptions = field(default_factory=PullOptions)
    max_file_size: int = filetree.DEFAULT_MAX_FILE
    # Take the SBOM from a CycloneDX/SPDX attestation verified with this public key instead
    # of reading the image's layers (``inventory.inventory`` chooses); or keylessly by one
    # of the identities a ``signers.Keyless`` accepts.
    from_attestation: Path | Keyless | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Progress:
    """Callbacks the CLI uses to draw progress; the pipeline never prints."""

    on_image: Callable[[tuple[Layer, ...]], None] | None = None  # the layers about to be read
    on_layer: Callable[[Layer], None] | None = None


def _open(image: str, platform: str | None, pull: PullOptions,
          progress: Progress | None) -> Image:
    return _redacted(_open_raw(image, platform, pull), progress)


def _open_raw(image: str, platform: str | None, pull: PullOptions) -> Image:
    """The image as read (manifest and config verified), its history and labels not yet
    redacted: only its layers' blobs are read from it before ``_redacted``."""
    return open_image(image, platform=Platform.parse(platform) if platform else None, pull=pull)


def _redacted(image: Image, progress: Progress | None) -> Image:
    img = redactor().image(image)
    if progress is not None and progress.on_image is not None:
        progress.on_image(img.layers)
    return img


def _redact_config(report: ConfigReport) -> ConfigReport:
    """Configuration evidence quotes history lines: the same redaction applies."""
    redact = redactor().text
    results = tuple(dataclasses.replace(r, evidence=tuple(redact(e) for e in r.evidence))
                    for r in report.results)
    return dataclasses.replace(report, results=results)


class ImageRead(NamedTuple):
    image: Image
    tree: filetree.FileTree
    streamed: catalog.Streamed | None  # executables the binary sink read (None: not looked)
    # sha256 of Python package files that streamed by: RECORD rows checked by hash
    digests: dict[tuple[int, str], str]
    # Licence texts being classified in a helper process since they streamed by (None: none)
    ahead: catalog_license.Ahead | None = None

    def inventory(self, scope: str) -> Inventory:
        """The catalogers over the tree; the licence helper's answers taken, then it ends."""
        try:
            with catalog_license.answers_from(self.ahead):
                return catalog.run(self.tree, self.image.source, scope=scope,
                                   streamed=self.streamed, digests=self.digests)
        finally:
            if self.ahead is not None:
                self.ahead.close()


class _WhileWorkersRead(CopyrightsAhead):
    """The ``watching`` sink of a read that will be catalogued: the copyright texts to the
    licence helper (``CopyrightsAhead``) and, once the first layer's worker ends, what the
    catalogers and encoders will need made ready in a thread (``prepare_tail``). This
    process is idle until the last worker ends, then runs alone: the SPDX licence table
    (~18 ms) and the encoders' imports are made while a core is shared, not after."""

    def __init__(self, ahead: catalog_license.Ahead) -> None:
        super().__init__(ahead)
        self._prepared = False

    def layer_read(self, layer: int, results: Mapping[str, bytes]) -> None:
        super().layer_read(layer, results)
        if not self._prepared:
            self._prepared = True
            threading.Thread(target=prepare_tail, daemon=True, name="prepare-tail").start()


def prepare_tail() -> None:
    """Build the SPDX licence table, and import the CycloneDX and SPDX encoders, ahead of
    their first use. A failure here is left to that use to meet (and report)."""
    try:
        catalog_license.prepare()
        importlib.import_module("hullcheck.sbom.cyclonedx")
        importlib.import_module("hullcheck.sbom.spdx")
    except Exception:  # noqa: S110 -- only a head start: the real call raises it again
        pass


def read_image(req: SbomRequest, progress: Progress | None = None, *,
               sink: filetree.ContentSink | None = None,
               globs: tuple[str, ...] | None = None,
               catalog_sinks: bool | None = None,
               meanwhile: Callable[[], None] | None = None) -> ImageRead:
    """Open the image and read its layers once: the catalogers' files (or ``globs``) are
    kept in the tree, but for executables (``catalog.globs_for(streamed=True)``, whatever
    the command: every command's read shares the layer cache's entries), and with
    ``catalog_sinks`` (default: unless ``globs`` is given) a ``catalog.BinarySpec``
    catalogs executables by content, those under the binary catalogers' globs too, and a
    ``catalog.RecordSpec`` hashes Python package files, as each layer is analysed. ``sink``
    sees every file of every layer on the way: a ``secrets.Scanner`` as part of each
    layer's analysis, any other as one sink for the whole image (no cache then).
    Every command that reads an image's layers reads them through here, each layer's
    index taken from the ``layer_cache`` when it holds it.

    The first layers are given to the worker processes as soon as the manifest and config
    are read: the redaction of the history and labels (compiling the secret rules, ~10 ms)
    and the progress display are done while they read (``filetree.build``'s
    ``meanwhile``), then the caller's ``meanwhile`` (what it needs only once the layers
    are read: the report room's imports); only the layers' blobs are read before."""
    raw = _open_raw(req.image, req.platform, req.pull)
    redacted: list[Image] = []

    def while_read() -> Image:
        redacted.append(_redacted(raw, progress))
        if meanwhile is not None:
            meanwhile()
        return redacted[0]

    specs: list[filetree.SinkSpec] = []
    if catalog_sinks is None:
        catalog_sinks = globs is None
    if catalog_sinks:
        specs += [catalog.BinarySpec(kept_up_to=req.max_file_size), catalog.RecordSpec()]
    scanner = sink if filetree.layered(sink) else None
    if scanner is not None:
        specs.append(scanner.spec())
    # The catalogers will run: free-form copyright texts are classified ahead, on another
    # core, as the layers read here stream by (``catalog.license.Ahead``).
    ahead = catalog_license.Ahead() if catalog_sinks else None
    if ahead is not None:  # a layer read in a worker process brings its texts back to it
        specs.append(CopyrightTexts())
    try:
        with watching(_WhileWorkersRead(ahead)) if ahead is not None else contextlib.nullcontext():
            tree = filetree.build(raw, catalog.globs_for(streamed=True) if globs is None else globs,
                                  max_file=req.max_file_size, sinks=specs,
                                  sink=sink if scanner is None else None, store=_STORE.get(),
                                  on_layer=progress.on_layer if progress is not None else None,
                                  meanwhile=while_read)
    except BaseException:
        if ahead is not None:
            ahead.close()
        raise
    if ahead is not None:
        ahead.finish()  # every layer read: the helper ends once it has answered
    image = redacted[0]
    if scanner is not None:
        scanner.absorb(tree.results(scanner.spec().name))
    if not catalog_sinks:
        return ImageRead(image, tree, None, {})
    # The binaries' files are placed where they land by the runner (tree.written_by);
    # the RECORD digests, keyed by tar path, are mapped here.
    streamed = catalog.BinarySpec.merge(tree.results("binaries"))
    digests = catalog.RecordSpec.merge(tree.results("record-digests"))
    digests.update(streamed.digests)  # files under the binary globs: a RECORD may name one
    return ImageRead(image, tree, streamed, landed_digests(digests, tree), ahead)


def _check_scope(scope: str) -> None:
    if scope not in SCOPES:
        raise UsageError(f"unknown scope {scope!r}: choose one of {', '.join(SCOPES)}")
