"""Images pulled from a registry over the OCI Distribution API.

Manifests come through the manifests endpoint (digest-verified by the client),
the config and the layers through the blobs endpoint, streamed and verified while
read; nothing is written to disk.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import TYPE_CHECKING, BinaryIO

from hullcheck.errors import ImageError
from hullcheck.image.oci import (
    INDEX_TYPES,
    Platform,
    declared_size,
    image_from_manifest,
    load_json,
    select_platform,
)
from hullcheck.model import ImageSource
from hullcheck.registry.client import RegistryClient
from hullcheck.registry.media import Manifest
from hullcheck.registry.reference import Reference, parse_reference

if TYPE_CHECKING:
    from hullcheck.image import PullOptions
    from hullcheck.image.model import Image


class RegistryBlobs:
    """The BlobReader of one repository."""

    def __init__(self, client: RegistryClient, ref: Reference) -> None:
        self.client = client
        self.ref = ref

    def read_blob(self, digest: str, *, what: str, max_size: int,
                  size: int | None = None) -> bytes:
        return self.client.fetch_blob(self.ref, digest, max_size=max_size, size=size)

    @contextlib.contextmanager
    def open_blob(self, digest: str, *, what: str, size: int | None) -> Iterator[BinaryIO]:
        with self.client.open_blob(self.ref, digest, size=size, label=what) as reader:
            yield reader  # type: ignore[misc]
            reader.finish()


def make_client(options: PullOptions) -> RegistryClient:
    """A client whose explicit and environment credentials go to ``options.registry`` only;
    any other host gets what Docker's config holds for it."""
    from hullcheck.registry.auth import scoped_credentials

    return RegistryClient(
        credentials=scoped_credentials(options.registry, username=options.username,
                                       password=options.password),
        insecure=options.insecure,
    )


def platform_manifest(client: RegistryClient, ref: Reference,
                      platform: Platform | None) -> Manifest:
    """The single-platform image manifest ``ref`` names, descending (nested) indexes."""
    manifest = client.get_manifest(ref)
    for _depth in range(4):
        if manifest.media_type not in INDEX_TYPES:
            return manifest
        desc = select_platform(load_json(manifest.data, f"index {manifest.digest}"), platform,
                               f"{ref} index {manifest.digest}")
        manifest = client.get_manifest(ref.with_digest(str(desc["digest"])),
                                       size=declared_size(desc, f"{ref} index {manifest.digest}"))
    raise ImageError(f"{ref}: image indexes nested too deeply")


def open_remote(text: str, *, platform: Platform | None, options: PullOptions) -> Image:
    ref = parse_reference(text)
    client = make_client(options)
    manifest = platform_manifest(client, ref, platform)
    source = ImageSource(
        kind="registry",
        name=str(ref),
        repo_digests=(f"{ref.registry}/{ref.repository}@{manifest.digest}",),
        tags=(ref.tag,) if ref.tag else (),
    )
    return image_from_manifest(
        RegistryBlobs(client, ref), manifest.data, manifest_digest=manifest.digest,
        source=source, what=f"{ref} manifest {manifest.digest}",
    )
