"""Media types and the two wire objects the client hands out: Manifest and Descriptor."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from hullcheck import untrusted
from hullcheck.digest import parse_digest
from hullcheck.errors import FormatError, ImageError

OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_EMPTY = "application/vnd.oci.empty.v1+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"

MANIFEST_TYPES: tuple[str, ...] = (OCI_INDEX, OCI_MANIFEST, DOCKER_LIST, DOCKER_MANIFEST)
INDEX_TYPES = frozenset({OCI_INDEX, DOCKER_LIST})


@dataclass(frozen=True, slots=True, kw_only=True)
class Manifest:
    """A manifest or index exactly as the registry served it; ``digest`` is of ``data``."""

    media_type: str
    digest: str
    data: bytes

    @property
    def is_index(self) -> bool:
        return self.media_type in INDEX_TYPES

    def json(self) -> dict[str, Any]:
        """The decoded document; FormatError when it is not a JSON object (or nests too
        deeply: a registry serves what it likes)."""
        return untrusted.json_object(self.data, what=f"manifest {self.digest}", error=FormatError)


@dataclass(frozen=True, slots=True, kw_only=True)
class Descriptor:
    """An OCI content descriptor (as found in indexes and the referrers API)."""

    media_type: str
    digest: str
    size: int
    artifact_type: str = ""
    annotations: tuple[tuple[str, str], ...] = ()  # sorted (key, value) pairs
    platform: str = ""  # os/arch[/variant], for index entries

    @classmethod
    def from_json(cls, obj: object, *, where: str) -> Descriptor:
        """Validate one descriptor object; FormatError naming ``where`` when malformed."""
        if not isinstance(obj, dict):
            raise FormatError(f"{where}: descriptor is not a JSON object")
        media_type, digest, size = obj.get("mediaType"), obj.get("digest"), obj.get("size")
        if not isinstance(media_type, str) or not isinstance(digest, str):
            raise FormatError(f"{where}: descriptor without mediaType or digest")
        if not isinstance(size, int) or isinstance(size, bool) or size < 0:
            raise FormatError(f"{where}: descriptor {digest} has an invalid size {size!r}")
        try:
            parse_digest(digest)
        except ImageError:
            raise FormatError(f"{where}: invalid descriptor digest {digest!r}") from None
        annotations = obj.get("annotations") or {}
        if not isinstance(annotations, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in annotations.items()
        ):
            raise FormatError(f"{where}: descriptor {digest} has malformed annotations")
        artifact_type = obj.get("artifactType") or ""
        if not isinstance(artifact_type, str):
            raise FormatError(f"{where}: descriptor {digest} has a malformed artifactType")
        platform = ""
        plat = obj.get("platform")
        if isinstance(plat, dict):
            parts = [plat.get("os"), plat.get("architecture"), plat.get("variant")]
            platform = "/".join(p for p in parts if isinstance(p, str) and p)
        return cls(
            media_type=media_type,
            digest=digest,
            size=size,
            artifact_type=artifact_type,
            annotations=tuple(sorted(annotations.items())),
            platform=platform,
        )

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "mediaType": self.media_type,
            "digest": self.digest,
            "size": self.size,
        }
        if self.artifact_type:
            out["artifactType"] = self.artifact_type
        if self.annotations:
            out["annotations"] = dict(self.annotations)
        if self.platform:
            os_, _, rest = self.platform.partition("/")
            arch, _, variant = rest.partition("/")
            plat = {"architecture": arch, "os": os_}
            if variant:
                plat["variant"] = variant
            out["platform"] = plat
        return out
