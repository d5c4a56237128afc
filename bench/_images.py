"""Benchmark images, built once and cached under ~/.cache/hullcheck-bench/.

* ``debootstrap``: a `debootstrap --variant=minbase bookworm` root file system as one gzip layer.
* ``big``: the same base plus real trees of this machine (a CPython installation with its
  site-packages, the Go toolchain) as further layers: a 500 MB+ image with many packages.
* ``big-plus`` (a layout): ``big``'s layers and one small layer: the warm-run image.
* ``node-app`` (a layout): ``big``'s layers and one of a large node app: 3,000 npm packages
  in 300,000 small files, and one 400 MiB incompressible file.

Images are written as OCI archives (tar of an OCI layout, gzip layers), which both
hullcheck and Trivy read with ``--input``.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import sys
import tarfile
import tempfile
from collections.abc import Iterator
from pathlib import Path

from isal import igzip

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

CACHE = Path(os.environ.get("HULLCHECK_BENCH_CACHE", Path.home() / ".cache" / "hullcheck-bench"))

BIG_TREES = (
    # (directory on this machine, where it goes in the image)
    (Path(sys.base_prefix), "opt/python"),
    (Path("/usr/lib/go-1.19"), "usr/lib/go-1.19"),
    # Shared libraries (not a JDK: Trivy then needs its Java DB, which needs the network).
    (Path("/usr/lib/x86_64-linux-gnu"), "usr/lib/x86_64-linux-gnu"),
)


class _Hashing(io.RawIOBase):
    def __init__(self, f: io.BufferedWriter) -> None:
        self.f = f
        self.h = hashlib.sha256()
        self.n = 0

    def writable(self) -> bool:
        return True

    def write(self, b: bytes) -> int:  # type: ignore[override]
        self.h.update(b)
        self.n += len(b)
        self.f.write(b)
        return len(b)


def _layer_from_dir(src: Path, prefix: str, blob_dir: Path) -> dict[str, object]:
    """Stream ``src`` as a gzip tar layer into ``blob_dir``; return its descriptor facts."""
    tmp = blob_dir / f".tmp-{os.getpid()}"
    with open(tmp, "wb") as raw:
        outer = _Hashing(raw)  # type: ignore[arg-type]
        gz = igzip.IGzipFile(fileobj=outer, mode="wb", compresslevel=1, mtime=0)  # type: ignore[arg-type]
        inner = _Hashing(gz)  # type: ignore[arg-type]
        with tarfile.open(fileobj=inner, mode="w|", format=tarfile.PAX_FORMAT) as tf:  # type: ignore[call-overload]
            for dirpath, dirnames, filenames in os.walk(src):
                dirnames.sort()
                for name in sorted(dirnames) + sorted(filenames):
                    full = Path(dirpath, name)
                    arc = f"{prefix}/{full.relative_to(src)}".lstrip("/") if prefix else str(
                        full.relative_to(src))
                    try:
                        info = tf.gettarinfo(str(full), arcname=arc)
                    except OSError:
                        continue
                    info.mtime = 0
                    if info.isreg():
                        with open(full, "rb") as fh:
                            tf.addfile(info, fh)
                    elif info.isdir() or info.issym() or info.islnk():
                        tf.addfile(info)
        gz.close()
    digest = "sha256:" + outer.h.hexdigest()
    tmp.rename(blob_dir / digest.split(":")[1])
    return {"digest": digest, "diff_id": "sha256:" + inner.h.hexdigest(), "size": outer.n}


def _write_archive(path: Path, layers: list[tuple[Path, str]]) -> Path:
    if path.exists():
        return path
    CACHE.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=CACHE) as work:
        blob_dir = Path(work) / "blobs" / "sha256"
        blob_dir.mkdir(parents=True)
        descs = [_layer_from_dir(src, prefix, blob_dir) for src, prefix in layers]
        config = json.dumps({
            "architecture": "amd64", "os": "linux", "created": "2024-01-01T00:00:00Z",
            "config": {"Env": ["PATH=/usr/bin:/bin"]},
            "rootfs": {"type": "layers", "diff_ids": [d["diff_id"] for d in descs]},
            "history": [{"created_by": f"COPY {src} /{prefix}"} for src, prefix in layers],
        }).encode()
        cdig = hashlib.sha256(config).hexdigest()
        (blob_dir / cdig).write_bytes(config)
        manifest = json.dumps({
            "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                       "digest": f"sha256:{cdig}", "size": len(config)},
            "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                        "digest": d["digest"], "size": d["size"]} for d in descs],
        }).encode()
        mdig = hashlib.sha256(manifest).hexdigest()
        (blob_dir / mdig).write_bytes(manifest)
        index = {"schemaVersion": 2, "manifests": [{
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": f"sha256:{mdig}", "size": len(manifest),
            "annotations": {"org.opencontainers.image.ref.name": "bench"}}]}
        (Path(work) / "index.json").write_text(json.dumps(index))
        (Path(work) / "oci-layout").write_text('{"imageLayoutVersion":"1.0.0"}')
        tmp = path.with_suffix(".partial")
        with tarfile.open(tmp, "w") as tf:
            for name in ("oci-layout", "index.json", "blobs"):
                tf.add(Path(work) / name, arcname=name)
        tmp.rename(path)
    return path


def debootstrap_archive() -> Path:
    from tests.fixtures.debootstrap import debootstrap_rootfs

    return _write_archive(CACHE / "debootstrap.oci.tar", [(debootstrap_rootfs(), "")])


def big_archive() -> Path:
    from tests.fixtures.debootstrap import debootstrap_rootfs

    trees = [(debootstrap_rootfs(), "")] + [(p, pre) for p, pre in BIG_TREES if p.is_dir()]
    return _write_archive(CACHE / "big.oci.tar", trees)


# -- images derived from a built one: its layers (blobs hard-linked) and more on top ------
NODE_PACKAGES = 3_000
NODE_FILES = 300_000  # small files in all, package.json included
NODE_BIG_FILE = 400 << 20  # one incompressible file


def _layer_from_entries(entries: Iterator[tuple[str, bytes]], blob_dir: Path) -> dict[str, object]:
    """A gzip tar layer of (path, bytes) regular files, written into ``blob_dir``."""
    tmp = blob_dir / f".tmp-{os.getpid()}"
    with open(tmp, "wb") as raw:
        outer = _Hashing(raw)  # type: ignore[arg-type]
        gz = igzip.IGzipFile(fileobj=outer, mode="wb", compresslevel=1, mtime=0)  # type: ignore[arg-type]
        inner = _Hashing(gz)  # type: ignore[arg-type]
        with tarfile.open(fileobj=inner, mode="w|", format=tarfile.PAX_FORMAT) as tf:  # type: ignore[call-overload]
            for path, data in entries:
                info = tarfile.TarInfo(path)
                info.size = len(data)
                info.mode = 0o644
                tf.addfile(info, io.BytesIO(data))
        gz.close()
    digest = "sha256:" + outer.h.hexdigest()
    tmp.rename(blob_dir / digest.split(":")[1])
    return {"digest": digest, "diff_id": "sha256:" + inner.h.hexdigest(), "size": outer.n}


def derive(base: Path, name: str, layers: list[Iterator[tuple[str, bytes]]],
           history: list[str]) -> Path:
    """An OCI layout directory ``layouts/NAME``: the layers of the layout ``base`` (blobs
    hard-linked, so the same digests) and ``layers`` on top."""
    dest = CACHE / "layouts" / name
    if (dest / "index.json").exists():
        return dest
    work = dest.with_suffix(".partial")
    if work.exists():
        import shutil

        shutil.rmtree(work)
    blob_dir = work / "blobs" / "sha256"
    blob_dir.mkdir(parents=True)
    index = json.loads((base / "index.json").read_text())
    manifest = json.loads((base / "blobs" / "sha256" / index["manifests"][0]["digest"][7:])
                          .read_text())
    config = json.loads((base / "blobs" / "sha256" / manifest["config"]["digest"][7:])
                        .read_text())
    for la in manifest["layers"]:
        os.link(base / "blobs" / "sha256" / la["digest"][7:], blob_dir / la["digest"][7:])
    for entries, created_by in zip(layers, history, strict=True):
        d = _layer_from_entries(entries, blob_dir)
        manifest["layers"].append({"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                                   "digest": d["digest"], "size": d["size"]})
        config["rootfs"]["diff_ids"].append(d["diff_id"])
        config["history"].append({"created_by": created_by})
    raw_config = json.dumps(config).encode()
    cdig = hashlib.sha256(raw_config).hexdigest()
    (blob_dir / cdig).write_bytes(raw_config)
    manifest["config"].update(digest=f"sha256:{cdig}", size=len(raw_config))
    raw_manifest = json.dumps(manifest).encode()
    mdig = hashlib.sha256(raw_manifest).hexdigest()
    (blob_dir / mdig).write_bytes(raw_manifest)
    index["manifests"][0].update(digest=f"sha256:{mdig}", size=len(raw_manifest))
    (work / "index.json").write_text(json.dumps(index))
    (work / "oci-layout").write_text('{"imageLayoutVersion":"1.0.0"}')
    work.rename(dest)
    return dest


def small_layer() -> Iterator[tuple[str, bytes]]:
    """A small application layer: a few files and one npm package."""
    yield "app/package.json", b'{"name": "app", "version": "1.0.0"}'
    yield "app/node_modules/left-pad/package.json", b'{"name": "left-pad", "version": "1.3.0"}'
    for i in range(20):
        yield f"app/src/m{i}.js", b"module.exports = %d;\n" % i


def node_app_layer() -> Iterator[tuple[str, bytes]]:
    """3,000 npm packages of 100 small files each (300,000 files), and one 400 MiB file of
    random bytes (a model, a database: incompressible)."""
    import random

    per = NODE_FILES // NODE_PACKAGES
    for p in range(NODE_PACKAGES):
        name = f"pkg-{p:04d}" if p % 10 else f"@scope{p % 7}/pkg-{p:04d}"
        root = f"app/node_modules/{name}"
        yield f"{root}/package.json", json.dumps(
            {"name": name, "version": f"{p % 9}.{p % 13}.{p % 5}", "license": "MIT"}).encode()
        for f in range(per - 1):
            yield f"{root}/lib/f{f}.js", b"// %d %d\nmodule.exports = {};\n" % (p, f)
    rng = random.Random(14)
    yield "app/data/model.bin", b"".join(rng.randbytes(1 << 20) for _ in range(NODE_BIG_FILE >> 20))


def big_plus_layout() -> Path:
    """The big image with one small layer on top (the warm-run image)."""
    from sbom import layout_dir  # type: ignore[import-not-found]

    return derive(layout_dir(big_archive()), "big-plus.oci", [small_layer()], ["COPY app /app"])


def node_app_layout() -> Path:
    from sbom import layout_dir  # type: ignore[import-not-found]

    return derive(layout_dir(big_archive()), "node-app.oci", [node_app_layer()],
                  ["COPY node_modules data /app"])
