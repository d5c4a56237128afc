"""Reading an image once: open it (history and labels redacted: ``redaction``), build the
file tree with every content sink on the way, catalog it."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

from hullcheck import catalog, filetree
from hullcheck.errors import UsageError
from hullcheck.image import Image, Platform, PullOptions, open_image
from hullcheck.model import Inventory, Layer
from hullcheck.pipeline.redaction import redactor
from hullcheck.signers import Keyless

if TYPE_CHECKING:
    from hullcheck.misconfig import ConfigReport


SCOPES = ("squashed", "all-layers")


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
    img = redactor().image(
        open_image(image, platform=Platform.parse(platform) if platform else None, pull=pull))
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
    streamed: catalog.Streamed | None  # binaries found outside the globs (None: not looked)
    # sha256 of Python package files that streamed by: RECORD rows checked by hash
    digests: dict[tuple[int, str], str]

    def inventory(self, scope: str) -> Inventory:
        return catalog.run(self.tree, self.image.source, scope=scope, streamed=self.streamed,
                           digests=self.digests)


def read_image(req: SbomRequest, progress: Progress | None = None, *,
               sink: filetree.ContentSink | None = None,
               globs: tuple[str, ...] | None = None) -> ImageRead:
    """Open the image and read its layers once: the files of ``globs`` (default: what the
    catalogers want) are kept in the tree, and ``sink`` sees every file of every layer on
    the way. By default (for ``catalog.run``) a ``catalog.BinarySink`` also sees them and
    catalogs executables anywhere by content, keeping only what it found.
    Every command that reads an image's layers reads them through here."""
    from hullcheck.catalog.python import RecordDigests

    image = _open(req.image, req.platform, req.pull, progress)
    binaries = catalog.BinarySink(kept_up_to=req.max_file_size) if globs is None else None
    records = RecordDigests() if globs is None else None
    sinks = [s for s in (sink, binaries, records) if s is not None]
    # Every sink is fed from the one read.
    combined = sinks[0] if len(sinks) == 1 else filetree.FanOut(*sinks) if sinks else None
    tree = filetree.build(image, catalog.globs_for() if globs is None else globs,
                          max_file=req.max_file_size, sink=combined,
                          on_layer=progress.on_layer if progress is not None else None)
    return ImageRead(image, tree, binaries.results() if binaries is not None else None,
                     records.digests if records is not None else {})


def _check_scope(scope: str) -> None:
    if scope not in SCOPES:
        raise UsageError(f"unknown scope {scope!r}: choose one of {', '.join(SCOPES)}")
