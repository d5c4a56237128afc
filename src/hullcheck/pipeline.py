"""The one place that composes the rooms. The CLI and the server call this, nothing else.

    "IMAGE" ─image.open_image()─► Image ─filetree.build()─► FileTree ─catalog.run()─► Inventory
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from hullcheck import catalog, filetree
from hullcheck.errors import UsageError
from hullcheck.image import Image, Platform, PullOptions, open_image
from hullcheck.model import Inventory, Layer

SCOPES = ("squashed", "all-layers")


@dataclass(frozen=True, slots=True, kw_only=True)
class SbomRequest:
    image: str
    scope: str = "squashed"
    platform: str | None = None
    pull: PullOptions = field(default_factory=PullOptions)
    max_file_size: int = filetree.DEFAULT_MAX_FILE


@dataclass(frozen=True, slots=True, kw_only=True)
class Progress:
    """Callbacks the CLI uses to draw progress; the pipeline never prints."""

    on_image: Callable[[Image], None] | None = None
    on_layer: Callable[[Layer], None] | None = None


def inventory(req: SbomRequest, progress: Progress | None = None) -> Inventory:
    if req.scope not in SCOPES:
        raise UsageError(f"unknown scope {req.scope!r}: choose one of {', '.join(SCOPES)}")
    platform = Platform.parse(req.platform) if req.platform else None
    image = open_image(req.image, platform=platform, pull=req.pull)
    progress = progress or Progress()
    if progress.on_image is not None:
        progress.on_image(image)
    tree = filetree.build(
        image, catalog.globs_for(), max_file=req.max_file_size, on_layer=progress.on_layer
    )
    return catalog.run(tree, image.source, scope=req.scope)
