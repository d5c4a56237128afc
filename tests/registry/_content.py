"""Small OCI content built in code for registry tests: configs, manifests, indexes."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from hullcheck.digest import sha256_digest
from hullcheck.registry import media
from hullcheck.registry.client import RegistryClient
from hullcheck.registry.reference import Reference


def canonical(doc: dict[str, Any]) -> bytes:
    return json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()


def descriptor(media_type: str, data: bytes, **extra: Any) -> dict[str, Any]:
    return {"mediaType": media_type, "digest": sha256_digest(data), "size": len(data), **extra}


@dataclass(frozen=True, slots=True, kw_only=True)
class Pushed:
    manifest: bytes
    digest: str
    config: bytes
    layer: bytes


def push_image(client: RegistryClient, ref: Reference, *, arch: str = "amd64", layer: bytes = b"") -> Pushed:
    """Push a one-layer OCI image (layer bytes are opaque to the registry) at ``ref``."""
    layer = layer or f"layer for {arch}".encode()
    config = canonical(
        {
            "architecture": arch,
            "os": "linux",
            "rootfs": {"type": "layers", "diff_ids": [sha256_digest(layer)]},
        }
    )
    for blob in (layer, config):
        client.push_blob(ref, blob, sha256_digest(blob), len(blob))
    manifest = canonical(
        {
            "schemaVersion": 2,
            "mediaType": media.OCI_MANIFEST,
            "config": descriptor(media.OCI_CONFIG, config),
            "layers": [descriptor("application/vnd.oci.image.layer.v1.tar", layer)],
        }
    )
    digest = client.push_manifest(ref, manifest, media.OCI_MANIFEST)
    return Pushed(manifest=manifest, digest=digest, config=config, layer=layer)
