"""End-to-end scan time against the SBOM time on the same image, measured in the same run.

    .venv/bin/python bench/scan.py [IMAGE] [--runs 5] [--data DIR]

IMAGE defaults to the debootstrap bookworm OCI layout of bench/_images.py. The advisory
database is built first with ``hullcheck db import`` from everything in ../shared/data
(OSV PyPI, Go, RustSec and malicious packages, the Debian tracker sample, Alpine secdb,
CISA KEV); when that folder is absent it says so and uses the small real records under
tests/fixtures/advisories instead (the ratio then understates the matching cost).

Times ``hullcheck sbom IMAGE -o cyclonedx-json`` and ``hullcheck scan IMAGE -o json`` as
fresh processes, best of N each, and prints ``ratio_scan_to_sbom`` (target <= 1.2).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HULLCHECK = str(Path(sys.executable).with_name("hullcheck"))
TARGET = 1.2


def best(cmd: list[str], runs: int) -> tuple[float, bytes]:
    times, out = [], b""
    for _ in range(runs):
        started = time.perf_counter()
        proc = subprocess.run(cmd, capture_output=True, check=False)
        times.append(time.perf_counter() - started)
        if proc.returncode not in (0, 1):
            sys.exit(f"{' '.join(cmd)} failed ({proc.returncode}): {proc.stderr.decode()[-500:]}")
        out = proc.stdout
    return min(times), out


def default_image() -> str:
    sys.path.insert(0, str(ROOT))  # tests.fixtures.debootstrap builds the root file system
    sys.path.insert(0, str(ROOT / "bench"))
    from _images import debootstrap_archive  # type: ignore[import-not-found]

    from sbom import layout_dir  # type: ignore[import-not-found]

    return f"oci:{layout_dir(debootstrap_archive())}"


def database(data: Path, dest: Path) -> tuple[Path, str]:
    if (data / "osv").is_dir():
        paths = [data / "osv/pypa", data / "osv/go", data / "osv/rustsec",
                 data / "osv/malicious-packages",
                 data / "distro/format-samples/debian-tracker-json-sample.json",
                 data / "distro/alpine-secdb", data / "kev/known_exploited_vulnerabilities.json"]
        label = f"all of {data}"
    else:
        print(f"ABSENT: no shared advisory data at {data}; using tests/fixtures/advisories "
              "(a few records: matching cost understated)", file=sys.stderr)
        fx = ROOT / "tests/fixtures/advisories"
        paths = [fx / "osv/pypa", fx / "osv/go", fx / "osv/rustsec", fx / "osv/malicious",
                 fx / "distro/debian-tracker-json-sample.json",
                 fx / "kev/known_exploited_vulnerabilities-subset.json"]
        label = "the test fixtures"
    db = dest / "vuln.db"
    started = time.perf_counter()
    subprocess.run([HULLCHECK, "-q", "db", "import", "--db", str(db), *map(str, paths)],
                   check=True)
    print(f"database: {label}, imported in {time.perf_counter() - started:.1f}s")
    return db, label


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("image", nargs="?", help="default: the debootstrap bookworm OCI layout")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    args = ap.parse_args()
    image = args.image or default_image()
    with tempfile.TemporaryDirectory() as tmp:
        db, _ = database(args.data, Path(tmp))
        sbom_t, _ = best([HULLCHECK, "-q", "sbom", image, "-o", "cyclonedx-json"], args.runs)
        scan_t, out = best([HULLCHECK, "-q", "scan", image, "--db", str(db), "-o", "json"],
                           args.runs)
    floor_t = _floor(image, args.runs)
    doc = json.loads(out)
    ratio = scan_t / sbom_t
    print(f"image: {image}: {doc['summary']['packages']} packages, "
          f"{doc['summary']['findings']} findings, {len(doc['skipped'])} skipped")
    print(f"sbom {sbom_t:.2f}s  scan {scan_t:.2f}s  (best of {args.runs}, fresh processes)")
    print(f"ratio_scan_to_sbom {ratio:.2f} (target <= {TARGET}: "
          f"{'met' if ratio <= TARGET else 'NOT met'})")
    print(f"floor {floor_t:.2f}s  ratio_scan_to_floor {scan_t / floor_t:.2f} "
          "(floor: reading and decompressing the layers, as bench/sbom.py measures it)")
    return 0


def _floor(image: str, runs: int) -> float:
    """bench/sbom.py's floor for the same OCI layout."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("bench_sbom", ROOT / "bench" / "sbom.py")
    assert spec is not None and spec.loader is not None
    sys.path.insert(0, str(ROOT / "bench"))  # bench/sbom.py imports its sibling _images
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    layout = Path(image.removeprefix("oci:").rsplit(":", 1)[0]) if image.startswith("oci:") \
        else module.layout_dir(Path(image))
    return min(module.floor(layout) for _ in range(runs))


if __name__ == "__main__":
    raise SystemExit(main())
