"""The fleet bench's core on a tiny inventory (SQLite, the test fixtures' OSV records): the
delta re-match and the full re-match end with the same findings. Not timed."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[2]
ADVISORIES = ROOT / "tests" / "fixtures" / "advisories"


def _bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_fleet", ROOT / "bench" / "fleet.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_fleet"] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def test_delta_and_full_rematch_end_with_the_same_findings(tmp_path: Path):
    bench = _bench()
    figures = bench.run(tmp_path, data=ADVISORIES, images=24, delta=5, workers=(1,),
                        backend_url=lambda: None, apps=6)

    assert figures["backend"] == "sqlite" and figures["images"] == 24
    assert figures["delta_keys"] > 0  # the delta names packages...
    assert 0 < figures["delta_images_1w"] <= 24  # ...that stored images ship
    assert figures["full_images_1w"] == 24
    assert figures["findings_after"] > 0
    assert figures["equal"] is True


def test_absent_advisory_data_is_one_clear_error(tmp_path: Path):
    bench = _bench()
    try:
        bench.read_advisories(tmp_path / "nowhere")
    except bench.Absent as exc:
        assert "advisory data absent" in str(exc) and "nowhere" in str(exc)
    else:
        raise AssertionError("no error for absent advisory data")
