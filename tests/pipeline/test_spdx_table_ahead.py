"""The SPDX licence table is built on another thread while the layers stream by, once."""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest

from hullcheck import licenses, pipeline

OS = {"etc/os-release": 'ID=debian\nVERSION_ID="12"\n'}


def test_the_table_is_built_while_the_layers_are_read(
        make_image: Callable[..., str], monkeypatch: pytest.MonkeyPatch) -> None:
    real = licenses.spdx_ids
    callers: list[str] = []

    def spdx_ids() -> frozenset[str]:
        callers.append(threading.current_thread().name)
        return real()

    monkeypatch.setattr(licenses, "spdx_ids", spdx_ids)
    read = pipeline.read_image(pipeline.SbomRequest(image=make_image(OS)))
    assert read.tables is not None
    read.inventory("squashed")
    assert not read.tables.is_alive()  # joined before the catalogers ran
    assert callers[:1] == ["spdx-table"]
    # Not for a read whose catalogers do not run.
    assert pipeline.read_image(pipeline.SbomRequest(image=make_image(OS)),
                               catalog_sinks=False).tables is None
