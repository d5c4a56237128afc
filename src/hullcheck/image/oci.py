"""From OCI / Docker v2 descriptors to an Image: index → platform → manifest → config → layers.

Shared by every content-addressed source (OCI layout directory or archive, the
OCI-in-docker archive layout, a registry). Each source only says how to read a
blob by digest; all blobs are verified by that reader.
"""

from __future__ import annotations

import contextlib
import platform as _platform
from dataclasses import dataclass
from typing import Any, BinaryIO, Protocol, runtime_checkable

from hullcheck import untrusted
from hullcheck.digest import parse_digest
from hullcheck.errors import ImageError, UnsupportedMediaType, UsageError
from hullcheck.image.blobs import check_layer_media_type
from hullcheck.image.model import Image, LayerLocator
from hullcheck.image.stored import StoredBlob
from hullcheck.model import ImageSource, Layer

OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
INDEX_TYPES = (OCI_INDEX, DOCKER_LIST)
MANIFEST_TYPES = (OCI_MANIFEST, DOCKER_MANIFEST)
REF_NAME = "org.opencontainers.image.ref.name"

MAX_MANIFEST = 4 << 20
MAX_CONFIG = 32 << 20


class BlobReader(Protocol):
    def read_blob(self, digest: str, *, what: str, max_size: int,
                  size: int | None = None) -> bytes:
        """The whole (small) blob, verified against its digest and, when ``size`` (its
        descriptor's) is given, its length: no more than ``size`` + 1 bytes are read."""
        ...

    def open_blob(
        self, digest: str, *, what: str, size: int | None
    ) -> contextlib.AbstractContextManager[BinaryIO]:
        """A verified stream of the blob."""
        ...


@runtime_checkable
class BlobLocator(Protocol):
    """A reader whose blobs are files on disk (OCI layout, archives)."""

    def locate(self, digest: str, *, what: str, size: int | None) -> StoredBlob:
        """Where the blob lies, for a process that reads and verifies it itself."""
        ...


@dataclass(frozen=True, slots=True)
class Platform:
    os: str
    architecture: str
    variant: str = ""

    def __str__(self) -> str:
        return "/".join(p for p in (self.os, self.architecture, self.variant) if p)

    @classmethod
    def parse(cls, text: str) -> Platform:
        parts = text.strip().split("/")
        if len(parts) not in (2, 3) or not all(parts):
            raise UsageError(f"invalid platform {text!r}: expected os/arch[/variant]")
        return cls(parts[0], parts[1], parts[2] if len(parts) == 3 else "")

    @classmethod
    def host(cls) -> Platform:
        machine = _platform.machine().lower()
        arch = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64"}.get(
            machine, "amd64"
        )
        return cls("linux", arch)

    def matches(self, spec: dict[str, Any]) -> bool:
        if spec.get("os") != self.os or spec.get("architecture") != self.architecture:
            return False
        if not self.variant:
            return True
        variant = spec.get("variant", "")
        if self.architecture == "arm64" and self.variant == "v8":
            return variant in ("", "v8")
        return bool(variant == self.variant)


def load_json(data: bytes, what: str) -> dict[str, Any]:
    """A manifest, index or config: a JSON object, ImageError (one line) otherwise."""
    return untrusted.json_object(data, what=what, error=ImageError)


def declared_size(desc: dict[str, Any], what: str) -> int:
    """A descriptor's ``size``, which the OCI image spec requires: a non-negative integer
    (JSON's ``true`` is no size)."""
    size = desc.get("size")
    if type(size) is not int or size < 0:
        state = "no size" if size is None else "an invalid size"
        raise ImageError(f"{what}: descriptor {desc.get('digest')} has {state}")
    return size


def _descriptors(doc: dict[str, Any], key: str, what: str) -> list[dict[str, Any]]:
    items = doc.get(key)
    if not isinstance(items, list) or not all(isinstance(d, dict) for d in items):
        raise ImageError(f"{what}: '{key}' must be a list of descriptors")
    for d in items:
        digest = d.get("digest", "")
        if not isinstance(digest, str):
            raise ImageError(f"{what}: descriptor digest is not a string")
        parse_digest(digest, what=f"{what} descriptor digest")
        declared_size(d, what)
    return items


def media_type_of(doc: dict[str, Any], declared: str = "") -> str:
    mt = doc.get("mediaType") or declared
    if not mt:
        # An OCI manifest may omit mediaType; tell them apart by shape.
        mt = OCI_INDEX if "manifests" in doc else OCI_MANIFEST
    return str(mt)


def select_platform(
    index: dict[str, Any], platform: Platform | None, what: str
) -> dict[str, Any]:
    manifests = _descriptors(index, "manifests", what)
    # Attestation manifests (buildkit) carry platform unknown/unknown.
    images = [m for m in manifests if _platform_spec(m).get("os") not in (None, "unknown")]
    if not images:
        images = [m for m in manifests if m.get("mediaType") in MANIFEST_TYPES + INDEX_TYPES]
        if len(images) == 1:
            return images[0]
        raise ImageError(f"{what}: index has no image manifest with a platform")
    wanted = [platform] if platform else [Platform.host(), Platform("linux", "amd64")]
    for want in wanted:
        for m in images:
            if want.matches(_platform_spec(m)):
                return m
    have = ", ".join(
        str(Platform(str(p.get("os", "?")), str(p.get("architecture", "?")),
                     str(p.get("variant", ""))))
        for p in map(_platform_spec, images)
    )
    raise UsageError(
        f"{what}: no image for platform {wanted[0]} (available: {have})",
        hint="choose one with --platform os/arch[/variant]",
    )


def _platform_spec(descriptor: dict[str, Any]) -> dict[str, Any]:
    """A descriptor's ``platform`` object ({} when absent or not an object)."""
    spec = descriptor.get("platform")
    return spec if isinstance(spec, dict) else {}


def created_by_per_layer(config: dict[str, Any], count: int) -> list[str]:
    history = config.get("history")
    lines: list[str] = []
    if isinstance(history, list):
        for h in history:
            if isinstance(h, dict) and not h.get("empty_layer"):
                lines.append(str(h.get("created_by", "")))
    if len(lines) != count:
        # History that does not line up with the layers cannot attribute them.
        return [""] * count
    return lines


def image_from_manifest(
    reader: BlobReader,
    manifest_bytes: bytes,
    *,
    manifest_digest: str,
    source: ImageSource,
    what: str,
) -> Image:
    manifest = load_json(manifest_bytes, what)
    mt = media_type_of(manifest)
    if mt not in MANIFEST_TYPES:
        raise UnsupportedMediaType(f"{what}: unsupported manifest media type {mt!r}")
    config_desc = manifest.get("config")
    if not isinstance(config_desc, dict):
        raise ImageError(f"{what}: manifest has no config descriptor")
    config_digest = str(config_desc.get("digest", ""))
    parse_digest(config_digest, what=f"{what} config digest")
    config_bytes = reader.read_blob(config_digest, what="config", max_size=MAX_CONFIG,
                                    size=declared_size(config_desc, f"{what} config"))
    config = load_json(config_bytes, f"config {config_digest}")
    layer_descs = _descriptors(manifest, "layers", what)
    rootfs = config.get("rootfs") if isinstance(config.get("rootfs"), dict) else {}
    diff_ids = rootfs.get("diff_ids") if isinstance(rootfs, dict) else None
    if not isinstance(diff_ids, list) or len(diff_ids) != len(layer_descs):
        count = len(diff_ids) if isinstance(diff_ids, list) else "no"
        raise ImageError(f"config {config_digest}: {count} diff_ids for {len(layer_descs)} layers")
    created_by = created_by_per_layer(config, len(layer_descs))
    layers = []
    for i, (desc, diff_id) in enumerate(zip(layer_descs, diff_ids, strict=True)):
        parse_digest(str(diff_id), what=f"config {config_digest} diff_id")
        media = str(desc.get("mediaType", ""))
        check_layer_media_type(media, f"layer {i} ({desc['digest']})")
        layers.append(
            Layer(
                index=i,
                digest=desc["digest"],
                diff_id=str(diff_id),
                media_type=media,
                size=desc["size"],
                created_by=created_by[i],
            )
        )

    def opener(layer: Layer) -> contextlib.AbstractContextManager[BinaryIO]:
        return reader.open_blob(layer.digest, what=f"layer {layer.index}", size=layer.size)

    locator: LayerLocator | None = None
    if isinstance(reader, BlobLocator):
        locate = reader.locate

        def locator(layer: Layer) -> StoredBlob:
            return locate(layer.digest, what=f"layer {layer.index}", size=layer.size)

    src = ImageSource(
        kind=source.kind,
        name=source.name,
        manifest_digest=manifest_digest,
        config_digest=config_digest,
        repo_digests=source.repo_digests,
        tags=source.tags,
        platform=platform_of(config),
        created=str(config.get("created", "")),
        labels=labels_of(config),
    )
    return Image(
        source=src,
        layers=tuple(layers),
        config=config,
        manifest=manifest,
        manifest_bytes=manifest_bytes,
        config_bytes=config_bytes,
        opener=opener,
        locator=locator,
    )


def platform_of(config: dict[str, Any]) -> str:
    os_, arch = config.get("os", ""), config.get("architecture", "")
    variant = config.get("variant", "")
    return "/".join(str(p) for p in (os_, arch, variant) if p)


def labels_of(config: dict[str, Any]) -> tuple[tuple[str, str], ...]:
    cfg = config.get("config")
    labels = cfg.get("Labels") if isinstance(cfg, dict) else None
    if not isinstance(labels, dict):
        return ()
    return tuple(sorted((str(k), str(v)) for k, v in labels.items()))


def resolve_descriptor(
    reader: BlobReader,
    desc: dict[str, Any],
    *,
    platform: Platform | None,
    source: ImageSource,
    what: str,
) -> Image:
    """Follow a descriptor (index or manifest) down to one image."""
    for _depth in range(4):  # nested indexes are legal; a loop is not
        digest = str(desc.get("digest", ""))
        parse_digest(digest, what=f"{what} digest")
        data = reader.read_blob(digest, what="manifest", max_size=MAX_MANIFEST,
                                size=declared_size(desc, what))
        doc = load_json(data, f"manifest {digest}")
        mt = media_type_of(doc, str(desc.get("mediaType", "")))
        if mt in INDEX_TYPES:
            desc = select_platform(doc, platform, f"index {digest}")
            continue
        return image_from_manifest(
            reader, data, manifest_digest=digest, source=source, what=f"manifest {digest}"
        )
    raise ImageError(f"{what}: image indexes nested too deeply")
