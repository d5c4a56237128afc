"""What the pipeline holds while a document is encoded (bench/README.md: peaks)."""

from __future__ import annotations

import gc
import weakref
from pathlib import Path
from typing import Any

import pytest

from hullcheck import filetree, pipeline
from tests.fixtures.images import build, write
from tests.fixtures.rootfs import layer


def test_the_file_tree_is_freed_before_the_inventory_is_returned(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The tree's views refer back to it (a cycle): without a collection it would live on
    beside the document being encoded. Collections are off here, as rare as the CLI's."""
    ref = write(build(layer("dpkg/bookworm"), {"srv/a.txt": "a"}), tmp_path)
    trees: list[weakref.ref[filetree.FileTree]] = []
    real = filetree.FileTree.from_layers

    def keeping(*args: Any) -> filetree.FileTree:
        tree = real(*args)
        trees.append(weakref.ref(tree))
        return tree

    monkeypatch.setattr(filetree.FileTree, "from_layers", staticmethod(keeping))
    enabled = gc.isenabled()
    gc.disable()
    try:
        inv = pipeline.inventory(pipeline.SbomRequest(image=ref))
        assert len(trees) == 1
        assert trees[0]() is None
    finally:
        if enabled:
            gc.enable()
    assert inv.packages
