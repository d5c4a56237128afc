"""Write real OCI images: layers from entries, config, manifest, index.

Deterministic (sorted input order kept, mtime 0, uid/gid 0, fixed gzip header) so
the same input always gives the same digests. Used by the demo, by tests to build
fixtures, and by commands that attach signatures and attestations.
"""

from __future__ import annotations

import io
import json
import tarfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import zstandard

from hullcheck.digest import sha256_digest
from hullcheck.image.oci import DOCKER_MANIFEST, OCI_INDEX, OCI_MANIFEST, REF_NAME

if TYPE_CHECKING:
    from hullcheck.registry.client import RegistryClient
    from hullcheck.registry.reference import Reference

try:
    from isal import igzip as _gzip
except ImportError:  # pragma: no cover
    import gzip as _gzip  # type: ignore[no-redef]

OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
LAYER_TYPES = {
    "gzip": "application/vnd.oci.image.layer.v1.tar+gzip",
    "zstd": "application/vnd.oci.image.layer.v1.tar+zstd",
    "none": "application/vnd.oci.image.layer.v1.tar",
}


@dataclass(frozen=True, slots=True, kw_only=True)
class Entry:
    """One tar entry. ``name`` is written verbatim (tests use hostile names on purpose)."""

    name: str
    kind: str = "file"  # file | dir | symlink | hardlink | fifo
    data: bytes = b""
    target: str = ""
    mode: int = 0o644
    uid: int = 0
    gid: int = 0
    size: int | None = None  # override the header's size (hostile tests only)


def file(name: str, data: bytes | str, mode: int = 0o644) -> Entry:
    return Entry(name=name, data=data.encode() if isinstance(data, str) else data, mode=mode)


def directory(name: str, mode: int = 0o755) -> Entry:
    return Entry(name=name, kind="dir", mode=mode)


def symlink(name: str, target: str) -> Entry:
    return Entry(name=name, kind="symlink", target=target, mode=0o777)


def hardlink(name: str, target: str) -> Entry:
    return Entry(name=name, kind="hardlink", target=target)


def whiteout(path: str) -> Entry:
    """Delete ``path`` (and everything below it) from the layers underneath."""
    parent, _, base = path.strip("/").rpartition("/")
    return file(f"{parent}/.wh.{base}" if parent else f".wh.{base}", b"")


def opaque(directory_path: str) -> Entry:
    """Hide everything the lower layers put in ``directory_path``."""
    return file(f"{directory_path.strip('/')}/.wh..wh..opq", b"")


def _as_entries(spec: Iterable[Entry] | Mapping[str, bytes | str | Entry]) -> list[Entry]:
    if isinstance(spec, Mapping):
        out = []
        for name, value in spec.items():
            out.append(value if isinstance(value, Entry) else file(name, value))
        return out
    return list(spec)


def layer_tar(entries: Iterable[Entry] | Mapping[str, bytes | str | Entry]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tf:
        for e in _as_entries(entries):
            info = tarfile.TarInfo(e.name)
            info.mode = e.mode
            info.uid, info.gid = e.uid, e.gid
            info.mtime = 0
            if e.kind == "file":
                info.type = tarfile.REGTYPE
                info.size = len(e.data) if e.size is None else e.size
                tf.addfile(info, io.BytesIO(e.data))
            elif e.kind == "dir":
                info.type = tarfile.DIRTYPE
                tf.addfile(info)
            elif e.kind == "symlink":
                info.type = tarfile.SYMTYPE
                info.linkname = e.target
                tf.addfile(info)
            elif e.kind == "hardlink":
                info.type = tarfile.LNKTYPE
                info.linkname = e.target
                tf.addfile(info)
            elif e.kind == "fifo":
                info.type = tarfile.FIFOTYPE
                tf.addfile(info)
            else:
                raise ValueError(f"unknown entry kind {e.kind!r}")
    return buf.getvalue()


def compress(data: bytes, compression: str) -> bytes:
    if compression == "gzip":
        return _gzip.compress(data, compresslevel=1, mtime=0)
    if compression == "zstd":
        return zstandard.ZstdCompressor(level=3).compress(data)
    if compression == "none":
        return data
    raise ValueError(f"unknown compression {compression!r}")


@dataclass(slots=True)
class BuiltLayer:
    tar: bytes
    blob: bytes
    media_type: str
    created_by: str

    @property
    def digest(self) -> str:
        return sha256_digest(self.blob)

    @property
    def diff_id(self) -> str:
        return sha256_digest(self.tar)


@dataclass(slots=True)
class BuiltImage:
    """The blobs of one image, ready to write to a layout or push to a registry."""

    manifest: bytes
    config: bytes
    layers: list[BuiltLayer]
    manifest_media_type: str = OCI_MANIFEST

    @property
    def digest(self) -> str:
        return sha256_digest(self.manifest)

    @property
    def config_digest(self) -> str:
        return sha256_digest(self.config)

    def blobs(self) -> dict[str, bytes]:
        out = {sha256_digest(self.config): self.config, self.digest: self.manifest}
        for layer in self.layers:
            out[layer.digest] = layer.blob
        return out

    def descriptor(self, platform: Mapping[str, str] | None = None,
                   annotations: Mapping[str, str] | None = None) -> dict[str, Any]:
        d: dict[str, Any] = {
            "mediaType": self.manifest_media_type,
            "digest": self.digest,
            "size": len(self.manifest),
        }
        if platform:
            d["platform"] = dict(platform)
        if annotations:
            d["annotations"] = dict(annotations)
        return d


@dataclass(slots=True)
class ImageBuilder:
    """Builds an image in memory: ``add_layer`` then ``build``."""

    os: str = "linux"
    architecture: str = "amd64"
    variant: str = ""
    created: str = "2024-01-01T00:00:00Z"
    env: list[str] = field(
        default_factory=lambda: ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"]
    )
    user: str = ""
    cmd: list[str] = field(default_factory=lambda: ["/bin/sh"])
    labels: dict[str, str] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)
    exposed_ports: list[str] = field(default_factory=list)
    volumes: list[str] = field(default_factory=list)
    healthcheck: list[str] | None = None
    history_extra: list[dict[str, Any]] = field(default_factory=list)
    docker_media_types: bool = False
    _layers: list[BuiltLayer] = field(default_factory=list)

    def add_layer(
        self,
        entries: Iterable[Entry] | Mapping[str, bytes | str | Entry],
        *,
        created_by: str = "",
        compression: str = "gzip",
    ) -> ImageBuilder:
        tar = layer_tar(entries)
        media = LAYER_TYPES[compression]
        if self.docker_media_types:
            media = "application/vnd.docker.image.rootfs.diff.tar" + (
                ".gzip" if compression == "gzip" else ""
            )
        self._layers.append(BuiltLayer(tar=tar, blob=compress(tar, compression), media_type=media,
                                       created_by=created_by or f"layer {len(self._layers)}"))
        return self

    def add_raw_layer(self, blob: bytes, *, tar: bytes | None = None, created_by: str = "",
                      media_type: str = LAYER_TYPES["gzip"]) -> ImageBuilder:
        """A layer from ready bytes (hostile tests: bombs, truncated streams)."""
        self._layers.append(BuiltLayer(tar=tar if tar is not None else blob, blob=blob,
                                       media_type=media_type, created_by=created_by or "raw"))
        return self

    def config_dict(self) -> dict[str, Any]:
        cfg: dict[str, Any] = {"Env": self.env, "Cmd": self.cmd}
        if self.user:
            cfg["User"] = self.user
        if self.labels:
            cfg["Labels"] = self.labels
        if self.exposed_ports:
            cfg["ExposedPorts"] = {p: {} for p in self.exposed_ports}
        if self.volumes:
            cfg["Volumes"] = {v: {} for v in self.volumes}
        if self.healthcheck is not None:
            cfg["Healthcheck"] = {"Test": self.healthcheck}
        doc: dict[str, Any] = {
            "architecture": self.architecture,
            "os": self.os,
            "created": self.created,
            "config": cfg,
            "rootfs": {"type": "layers", "diff_ids": [layer.diff_id for layer in self._layers]},
            "history": [
                {"created": self.created, "created_by": layer.created_by}
                for layer in self._layers
            ] + self.history_extra,
        }
        if self.variant:
            doc["variant"] = self.variant
        return doc

    def build(self) -> BuiltImage:
        config = json.dumps(self.config_dict(), sort_keys=True, separators=(",", ":")).encode()
        manifest_type = DOCKER_MANIFEST if self.docker_media_types else OCI_MANIFEST
        config_type = (
            "application/vnd.docker.container.image.v1+json"
            if self.docker_media_types else OCI_CONFIG
        )
        manifest: dict[str, Any] = {
            "schemaVersion": 2,
            "mediaType": manifest_type,
            "config": {"mediaType": config_type, "digest": sha256_digest(config),
                       "size": len(config)},
            "layers": [
                {"mediaType": layer.media_type, "digest": layer.digest, "size": len(layer.blob)}
                for layer in self._layers
            ],
        }
        if self.annotations:
            manifest["annotations"] = self.annotations
        data = json.dumps(manifest, sort_keys=True, separators=(",", ":")).encode()
        return BuiltImage(manifest=data, config=config, layers=list(self._layers),
                          manifest_media_type=manifest_type)


def _index(descriptors: list[dict[str, Any]]) -> bytes:
    doc = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": descriptors}
    return json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()


def write_oci_layout(
    path: Path,
    images: Iterable[tuple[BuiltImage, str | None]],
    *,
    platform_index: bool = False,
    extra_blobs: Mapping[str, bytes] | None = None,
) -> Path:
    """Write images (with optional tags) into an OCI layout directory.

    With ``platform_index`` the images become one multi-platform index (tagged with
    the first tag given), as ``docker buildx`` writes them.
    """
    images = list(images)
    blobs_dir = path / "blobs" / "sha256"
    blobs_dir.mkdir(parents=True, exist_ok=True)
    (path / "oci-layout").write_text('{"imageLayoutVersion":"1.0.0"}')
    all_blobs: dict[str, bytes] = dict(extra_blobs or {})
    descriptors = []
    for img, tag in images:
        all_blobs.update(img.blobs())
        cfg = json.loads(img.config)
        plat = {"os": cfg["os"], "architecture": cfg["architecture"]}
        if cfg.get("variant"):
            plat["variant"] = cfg["variant"]
        descriptors.append(
            img.descriptor(platform=plat if platform_index else None,
                           annotations={REF_NAME: tag} if tag and not platform_index else None)
        )
    if platform_index:
        nested = _index(descriptors)
        all_blobs[sha256_digest(nested)] = nested
        tag = next((t for _, t in images if t), None)
        top = {"mediaType": OCI_INDEX, "digest": sha256_digest(nested), "size": len(nested)}
        if tag:
            top["annotations"] = {REF_NAME: tag}
        descriptors = [top]
    for digest, data in all_blobs.items():
        (blobs_dir / digest.split(":", 1)[1]).write_bytes(data)
    (path / "index.json").write_bytes(_index(descriptors))
    return path


def _add_bytes(tf: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mode = 0o644
    tf.addfile(info, io.BytesIO(data))


def write_oci_archive(path: Path, image: BuiltImage, tag: str | None = None) -> Path:
    """An OCI layout as one tar file."""
    with tarfile.open(path, "w") as tf:
        _add_bytes(tf, "oci-layout", b'{"imageLayoutVersion":"1.0.0"}')
        for digest, data in sorted(image.blobs().items()):
            _add_bytes(tf, f"blobs/sha256/{digest.split(':', 1)[1]}", data)
        desc = image.descriptor(annotations={REF_NAME: tag} if tag else None)
        _add_bytes(tf, "index.json", _index([desc]))
    return path


def write_docker_archive(path: Path, image: BuiltImage, tags: Iterable[str] = ()) -> Path:
    """The classic ``docker save`` layout: manifest.json, <config>.json, <id>/layer.tar."""
    config_hex = image.config_digest.split(":", 1)[1]
    layer_names = []
    with tarfile.open(path, "w") as tf:
        _add_bytes(tf, f"{config_hex}.json", image.config)
        for layer in image.layers:
            lid = layer.diff_id.split(":", 1)[1]
            name = f"{lid}/layer.tar"
            if name not in layer_names:
                _add_bytes(tf, name, layer.tar)
            layer_names.append(name)
        manifest = [{"Config": f"{config_hex}.json", "RepoTags": list(tags), "Layers": layer_names}]
        _add_bytes(tf, "manifest.json", json.dumps(manifest).encode())
    return path


def push(client: RegistryClient, ref: Reference, image: BuiltImage) -> str:
    """Push an image's blobs then its manifest; returns the manifest digest."""
    for layer in image.layers:
        client.push_blob(ref, layer.blob, layer.digest, len(layer.blob))
    client.push_blob(ref, image.config, image.config_digest, len(image.config))
    return client.push_manifest(ref, image.manifest, image.manifest_media_type)


def push_index(client: RegistryClient, ref: Reference, images: Iterable[BuiltImage]) -> str:
    """Push several single-platform images under one OCI index at ``ref``."""
    descriptors = []
    for img in images:
        digest = push(client, ref.with_digest(img.digest), img)
        cfg = json.loads(img.config)
        plat = {"os": cfg["os"], "architecture": cfg["architecture"]}
        if cfg.get("variant"):
            plat["variant"] = cfg["variant"]
        descriptors.append({**img.descriptor(platform=plat), "digest": digest})
    return client.push_manifest(ref, _index(descriptors), OCI_INDEX)
