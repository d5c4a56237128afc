"""Progress bars on stderr (rich). Only the CLI draws; the pipeline calls back."""

from __future__ import annotations

import sys
from types import TracebackType
from typing import Any

from hullcheck.model import Layer
from hullcheck.pipeline import Progress


class LayerProgress:
    """One bar over the layers of the image being read (bytes of stored blobs)."""

    def __init__(self, quiet: bool) -> None:
        self.enabled = not quiet and sys.stderr.isatty()
        self._bar: Any = None
        self._task: Any = None

    def __enter__(self) -> LayerProgress:
        return self

    def __exit__(self, et: type[BaseException] | None, e: BaseException | None,
                 tb: TracebackType | None) -> None:
        if self._bar is not None:
            self._bar.stop()

    def _on_image(self, layers: tuple[Layer, ...]) -> None:
        if not self.enabled or not layers:
            return
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            DownloadColumn,
            TextColumn,
            TimeElapsedColumn,
        )
        from rich.progress import (
            Progress as RichProgress,
        )

        self._bar = RichProgress(TextColumn("reading layers"), BarColumn(), DownloadColumn(),
                                 TimeElapsedColumn(), console=Console(stderr=True), transient=True)
        self._task = self._bar.add_task("layers", total=sum(la.size for la in layers) or None)
        self._bar.start()

    def _on_layer(self, layer: Layer) -> None:
        if self._bar is not None:
            self._bar.advance(self._task, layer.size)

    @property
    def callbacks(self) -> Progress:
        return Progress(on_image=self._on_image, on_layer=self._on_layer)
