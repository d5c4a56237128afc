"""CPU of one warm scan-on-push scan, per base: what ``push.py``'s service spends on an image
whose base layers are cached, without the registry and the service around it.

    PYTHONPATH=src .venv/bin/python bench/push_warm.py [--db vuln.db] [--runs 5] [--memory]
        [--base 0|1|2] [--profile]

``push.py``'s derived images (image i on base i % 3) are written as OCI layouts under
~/.cache/hullcheck-bench/push-warm/; for each base, a fresh layer cache (a temporary
directory) is warmed with one image, then ``--runs`` other images on that base are scanned
(``pipeline.scan``: vulnerabilities, secrets, config) and the CPU seconds of this process
(``time.process_time``) per scan are printed. ``--memory`` keeps verified entries in memory
as the service does (``layercache.SERVICE_MEMORY_BYTES``); ``--profile`` prints a cProfile
of one more scan. Compare two versions by running this with each one's ``src`` on
PYTHONPATH, alternating, under the same load (printed). The last line is JSON.
"""

from __future__ import annotations

import argparse
import cProfile
import datetime as dt
import hashlib
import json
import os
import pstats
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.append(str(ROOT / "bench"))

import push  # noqa: E402

from hullcheck import layercache, pipeline  # noqa: E402
from hullcheck.image import PullOptions  # noqa: E402
from hullcheck.pipeline.images import layer_cache  # noqa: E402

WORK = Path.home() / ".cache" / "hullcheck-bench" / "push-warm"
BASES = {0: "debian", 1: "python", 2: "go"}


def layout(image: push.Derived, dest: Path) -> Path:
    """``image`` as an OCI layout at ``dest`` (blobs written once)."""
    blobs = dest / "blobs" / "sha256"
    blobs.mkdir(parents=True, exist_ok=True)
    for la in image.layers:
        path = blobs / la.digest.split(":")[1]
        if not path.exists():
            path.write_bytes(la.blob if la.path is None else Path(la.path).read_bytes())
    config, manifest = push.manifest(image.layers)
    for data in (config, manifest):
        (blobs / hashlib.sha256(data).hexdigest()).write_bytes(data)
    (dest / "oci-layout").write_text('{"imageLayoutVersion":"1.0.0"}')
    (dest / "index.json").write_text(json.dumps({"schemaVersion": 2, "manifests": [{
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "digest": "sha256:" + hashlib.sha256(manifest).hexdigest(), "size": len(manifest)}]}))
    return dest


def scan(target: Path, db: Path, cache: layercache.LayerCache) -> object:
    with layer_cache(cache):
        return pipeline.scan(pipeline.ScanRequest(
            target=f"oci:{target}", db=db, pull=PullOptions(), vex=(), ignore=None,
            today=dt.date(2026, 12, 6), scanners=("vuln", "secret", "config")))


def warm_cpu(base: int, runs: int, db: Path, memory: bool, profile: bool) -> float:
    """CPU seconds per warm scan of ``runs`` images on ``base``."""
    images = push.derived(push.bases(), 3 * (runs + 2))
    targets = [layout(images[i], WORK / f"img{i}") for i in range(base, len(images), 3)]
    with tempfile.TemporaryDirectory(prefix="push-warm-") as tmp:
        cache = (layercache.LayerCache(Path(tmp), memory_bytes=layercache.SERVICE_MEMORY_BYTES)
                 if memory else layercache.LayerCache(Path(tmp)))  # (as an older version can)
        scan(targets[0], db, cache)
        start = time.process_time()
        for target in targets[1:runs + 1]:
            scan(target, db, cache)
        cpu = (time.process_time() - start) / runs
        if profile:
            prof = cProfile.Profile()
            prof.enable()
            scan(targets[runs + 1], db, cache)
            prof.disable()
            pstats.Stats(prof).sort_stats("cumulative").print_stats(40)
            pstats.Stats(prof).sort_stats("tottime").print_stats(25)
    return cpu


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--db", type=Path, default=Path("/tmp/s19/prof/vuln.db"),
                        help="an advisory database (hullcheck db build)")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--base", type=int, choices=sorted(BASES), action="append")
    parser.add_argument("--memory", action="store_true",
                        help="keep verified entries in memory, as the service does")
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args()
    figures: dict[str, object] = {}
    for base in args.base or sorted(BASES):
        cpu = warm_cpu(base, args.runs, args.db, args.memory, args.profile)
        figures[BASES[base]] = round(cpu, 3)
        print(f"{BASES[base]}: {cpu:.3f} CPU-s per warm scan", flush=True)
    figures["loadavg"] = [round(x, 2) for x in os.getloadavg()]
    print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
