"""Secret-scan speed against the layer-decompression floor, measured in the same run.

    python bench/secret_scan.py [IMAGE] [--runs N] [--engine hyperscan|re]

IMAGE is an OCI archive or layout directory (default: the debootstrap image of
bench/_images.py). It times, best of N, in this process:
* the floor: reading and decompressing every layer blob without parsing (bench/sbom.py);
* ``secrets.scan_image``: the one read of the layers with the secret scanner attached
  (tar parsing, binary sniffing, keyword prefilter, rule expressions) plus the config.

Prints MB/s of the scan (uncompressed layer bytes per second), the bytes actually scanned
(text files) and ``ratio_to_floor``. Target: ratio_to_floor <= 2.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
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
    report = None
    for _ in range(args.runs):  # interleaved, so machine load hits both alike
        floor_t.append(floor(layout))
        start = time.perf_counter()
        report, _ = secrets.scan_image(open_image(ref), engine=args.engine)
        scan_t.append(time.perf_counter() - start)
    assert report is not None
    best = min(scan_t)
    print(json.dumps({
        "image": layout.name,
        "engine": report.engine,
        "layers_mb": round(size / 1e6, 1),
        "scanned_mb": round(report.bytes_scanned / 1e6, 1),
        "files_scanned": report.files_scanned,
        "skipped": {"binary": report.skipped.binary, "too_large": report.skipped.too_large},
        "findings": len(report.findings),
        "floor_s": round(min(floor_t), 3),
        "secrets_s": round(best, 3),
        "mb_per_s": round(size / 1e6 / best, 1),
        "ratio_to_floor": round(best / min(floor_t), 2),
    }), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
