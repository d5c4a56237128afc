"""Referrers (OCI 1.1): the manifests whose ``subject`` is an image, through the
referrers API, or through the referrers tag schema (an index tagged ``sha256-<hex>``) on
registries without it."""

from __future__ import annotations

import json
from typing import Any, Protocol

import httpx

from hullcheck.digest import parse_digest, sha256_digest
from hullcheck.errors import FormatError, ImageError, NotFound, RegistryError
from hullcheck.registry.media import OCI_INDEX, Descriptor, Manifest
from hullcheck.registry.reference import Reference
from hullcheck.registry.session import Session


class Manifests(Protocol):
    """What the tag schema needs of a client: manifests read and written."""

    def get_manifest(self, ref: Reference, accept: tuple[str, ...] = ...) -> Manifest: ...

    def put_manifest(self, ref: Reference, data: bytes, media_type: str
                     ) -> tuple[str, httpx.Headers]: ...


def referrers(client: Manifests, session: Session, repo: Reference, digest: str,
              artifact_type: str | None = None) -> tuple[Descriptor, ...]:
    """Manifests whose ``subject`` is ``digest`` (OCI 1.1 referrers API).

    A registry without the API answers 404; then the referrers tag schema is read
    instead: an index tagged ``sha256-<hex>``. No such tag means no referrers.
    """
    host = repo.api_host
    parse_digest(digest, what=f"{repo.name} subject digest")
    what = f"referrers of {repo.name}@{digest}"
    first = httpx.URL(session.url(repo, f"referrers/{digest}"))
    if artifact_type:
        first = first.copy_merge_params({"artifactType": artifact_type})
    found: list[Descriptor] = []
    filtered = True
    try:
        for doc, response in session.json_pages(repo, first, what=what, accept=OCI_INDEX):
            found.extend(index_descriptors(doc, where=f"{what} on {host}"))
            filtered = filtered and "artifactType" in response.headers.get("oci-filters-applied", "")
    except NotFound:
        if found:
            raise
        return _from_tag(client, repo, digest, artifact_type)
    if artifact_type and not filtered:
        found = [d for d in found if d.artifact_type == artifact_type]
    return tuple(found)


def _from_tag(client: Manifests, repo: Reference, digest: str, artifact_type: str | None
              ) -> tuple[Descriptor, ...]:
    """The referrers tag schema: the index tagged ``sha256-<hex>`` of the subject."""
    algo, hexpart = parse_digest(digest)
    try:
        index = client.get_manifest(repo.with_tag(f"{algo}-{hexpart}"), accept=(OCI_INDEX,))
    except NotFound:
        return ()
    where = f"referrers tag {algo}-{hexpart} of {repo.name}"
    try:
        doc = index.json()
    except FormatError as exc:
        raise RegistryError(str(exc)) from None
    found = index_descriptors(doc, where=where)
    if artifact_type:
        found = [d for d in found if d.artifact_type == artifact_type]
    return tuple(found)


def push_referrer(client: Manifests, repo: Reference, data: bytes, media_type: str) -> str:
    """Push a manifest that has a ``subject`` (a signature, an SBOM...) by digest.

    When the registry does not confirm it indexed the subject (no ``OCI-Subject``
    header: no referrers API), the referrers tag schema is maintained instead: the
    descriptor is added to the index tagged ``sha256-<hex>`` of the subject.
    """
    repo = repo.repo()
    digest = sha256_digest(data)
    doc = Manifest(media_type=media_type, digest=digest, data=data).json()
    subject = doc.get("subject")
    if not isinstance(subject, dict) or not isinstance(subject.get("digest"), str):
        raise ImageError(f"manifest {digest} for {repo.name} has no subject to refer to")
    subject_digest = subject["digest"]
    algo, hexpart = parse_digest(subject_digest, what=f"subject of manifest {digest}")
    _, headers = client.put_manifest(repo.with_digest(digest), data, media_type)
    if headers.get("oci-subject"):
        return digest
    artifact_type = doc.get("artifactType")
    if not isinstance(artifact_type, str) or not artifact_type:
        config = doc.get("config")
        config_type = config.get("mediaType") if isinstance(config, dict) else None
        artifact_type = config_type if isinstance(config_type, str) else ""
    annotations = doc.get("annotations")
    entry = Descriptor(
        media_type=media_type,
        digest=digest,
        size=len(data),
        artifact_type=artifact_type,
        annotations=tuple(sorted(annotations.items())) if isinstance(annotations, dict) else (),
    )
    tag_ref = repo.with_tag(f"{algo}-{hexpart}")
    try:
        existing = client.get_manifest(tag_ref, accept=(OCI_INDEX,))
        index = existing.json()
    except NotFound:
        index = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": []}
    listed = index.get("manifests")
    manifests = listed if isinstance(listed, list) else []
    if any(isinstance(m, dict) and m.get("digest") == digest for m in manifests):
        return digest
    index["manifests"] = [*manifests, entry.to_json()]
    body = json.dumps(index, separators=(",", ":")).encode()
    client.put_manifest(tag_ref, body, OCI_INDEX)
    return digest


def index_descriptors(doc: dict[str, Any], *, where: str) -> list[Descriptor]:
    """The descriptors of an index a registry served; RegistryError when malformed."""
    manifests = doc.get("manifests") or []
    if not isinstance(manifests, list):
        raise RegistryError(f"{where}: 'manifests' is not a list")
    try:
        return [Descriptor.from_json(m, where=where) for m in manifests]
    except FormatError as exc:
        raise RegistryError(str(exc)) from None
