"""Secret-scan speed against the layer-decompression floor, measured in the same run.

    python bench/secret_scan.py [IMAGE] [--runs N] [--engine hyperscan|re]

IMAGE is an OCI archive or layout directory (default: the debootstrap image of
bench/_images.py). It times, best of N, in this process:
* the floor: reading and decompressing every layer blob without parsing (bench/sbom.py);
* ``secrets.scan_image``: the one read of the layers with the secret scanner attached
  (tar parsing, binary sniffing, keyword prefilter, rule expressions) plus the config.

Prints MB/s of the scan (uncompressed layer bytes per second), the bytes actually scanned
(text files), the findings by rule (to compare two versions' results), the CPU seconds of
each side (this process and its layer workers: they move far less with the machine's load
than wall times), the load average, and ``ratio_to_floor``. Target: ratio_to_floor <= 2.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time
from collections import Counter
from pathlib import Path

from _images import ROOT, debootstrap_archive
from isal import igzip

from sbom import floor, layout_dir

sys.path.insert(0, str(ROOT / "src"))

from hullcheck import secrets
from hullcheck.image import open_image


def uncompressed_bytes(layout: Path) -> int:
    index = json.loads((layout / "index.json").read_text())
    mdig = index["manifests"][0]["digest"].split(":")[1]
    manifest = json.loads((layout / "blobs" / "sha256" / mdig).read_text())
    total = 0
    for la in manifest["layers"]:
        path = layout / "blobs" / "sha256" / la["digest"].split(":")[1]
        with open(path, "rb") as f:
            gz = f.read(2) == b"\x1f\x8b"
            f.seek(0)
            stream = igzip.IGzipFile(fileobj=f) if gz else f
            while chunk := stream.read(1 << 20):
                total += len(chunk)
    return total


def cpu_seconds() -> float:
    """CPU seconds of this process's threads and of its finished children (layer workers)."""
    return sum(r.ru_utime + r.ru_stime for r in (resource.getrusage(resource.RUSAGE_SELF),
                                                  resource.getrusage(resource.RUSAGE_CHILDREN)))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("image", nargs="?", type=Path, help="OCI archive or layout directory")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--engine", choices=secrets.available_engines(), default=None,
                    help="keyword prefilter engine (default: the fastest available)")
    args = ap.parse_args()
    layout = layout_dir(args.image or debootstrap_archive())
    ref = f"oci:{layout}"
    size = uncompressed_bytes(layout)
    floor_t: list[float] = []
    scan_t: list[float] = []
    floor_cpu: list[float] = []
    scan_cpu: list[float] = []
    report = None
    load = os.getloadavg()[0]
    for _ in range(args.runs):  # interleaved, so machine load hits both alike
        cpu = cpu_seconds()
        floor_t.append(floor(layout))
        floor_cpu.append(cpu_seconds() - cpu)
        cpu, start = cpu_seconds(), time.perf_counter()
        report, _ = secrets.scan_image(open_image(ref), engine=args.engine)
        scan_t.append(time.perf_counter() - start)
        scan_cpu.append(cpu_seconds() - cpu)
    assert report is not None
    best = min(scan_t)
    print(json.dumps({
        "image": layout.name,
        "engine": report.engine,
        "load": [round(load, 1), round(os.getloadavg()[0], 1)],
        "layers_mb": round(size / 1e6, 1),
        "scanned_mb": round(report.bytes_scanned / 1e6, 1),
        "files_scanned": report.files_scanned,
        "skipped": {"binary": report.skipped.binary, "too_large": report.skipped.too_large},
        "findings": len(report.findings),
        "findings_by_rule": dict(sorted(Counter(f.rule_id for f in report.findings).items())),
        "floor_s": round(min(floor_t), 3),
        "secrets_s": round(best, 3),
        "floor_cpu_s": round(min(floor_cpu), 3),
        "secrets_cpu_s": round(min(scan_cpu), 3),
        "mb_per_s": round(size / 1e6 / best, 1),
        "ratio_to_floor": round(best / min(floor_t), 2),
        "cpu_ratio_to_floor": round(min(scan_cpu) / min(floor_cpu), 2),
    }), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
