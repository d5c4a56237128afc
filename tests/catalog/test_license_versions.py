"""The licence libraries' versions in the layer cache's keys of licence readings are read
from their dist-info directories: the same words as ``importlib.metadata`` says, without
importing it (~25 ms of every run with a cache)."""

from __future__ import annotations

import subprocess
import sys
from importlib import metadata

from hullcheck.catalog import license


def test_versions_are_importlib_metadatas() -> None:
    expected = " ".join(f"{n} {metadata.version(n)}"
                        for n in ("licenseclassifier", "license-expression"))
    assert license._library_versions() == expected


def test_versions_are_read_without_importlib_metadata_or_the_classifier() -> None:
    code = ("import sys\n"
            "from hullcheck.catalog import license\n"
            "license._library_versions()\n"
            "print('importlib.metadata' in sys.modules, 'licenseclassifier' in sys.modules)\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True)
    assert done.stdout.split() == ["False", "False"]
