"""The scan-on-push bench's core on 3 images: pushed to a real docker-registry whose
notifications reach the service, every image ends stored ``scanned``. Not timed; no Trivy.
Small in-memory bases stand in for the bench's debootstrap ones (same path through the
registry, the receiver and the worker)."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[2]
PYPA = ROOT / "tests" / "fixtures" / "advisories" / "osv" / "pypa"


def _bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_push", ROOT / "bench" / "push.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_push"] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def test_three_pushed_images_are_all_scanned(tmp_path: Path) -> None:
    bench = _bench()
    os_release = b'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nID=debian\nVERSION_ID="12"\n'
    debian = bench.memory_layer({"etc/os-release": os_release})
    bases = [bench.Base("debian", (debian,)),
             bench.Base("python", (debian, bench.memory_layer({
                 "usr/local/lib/python3.11/os.py": b"# stdlib\n"}))),
             bench.Base("go", (debian, bench.memory_layer({"usr/local/go/VERSION": b"go1.19"})))]
    images = bench.derived(bases, 3)
    sources = tmp_path / "sources.yaml"
    sources.write_text(json.dumps([{"name": "osv-pypa", "kind": "osv", "url": str(PYPA)}]))

    figures = bench.run(tmp_path, images, sources, None)

    assert figures["images"] == 3 and figures["bases"] == 3
    assert figures["scanned"] == 3 and figures["failed"] == 0
    # Image 1 ships requests 2.19.0, which PYSEC-2018-28 (CVE-2018-18074) affects.
    assert ("requests", "2.19.0") in bench._pick(bench.PYPI, 1, 3)
    assert figures["findings"] >= 1
    assert "trivy_s" not in figures and figures["hullcheck_images_per_min"] > 0


def test_each_image_has_its_own_top_layer() -> None:
    bench = _bench()
    tops = [bench.top_layer(i) for i in range(200)]
    assert len({t.digest for t in tops}) == 200
