"""Where signatures and attestations live: the image's registry repository, or the OCI layout
directory holding the image. Both give the same small set of operations, so the cosign
layouts in :mod:`hullcheck.sign.cosign` are written once.

``open_target("oci:DIR[:TAG]" | "REF")`` resolves the image to the digest that is signed:
for a registry, the digest its tag points to now (an index for a multi-platform image, as
cosign signs it); for a layout, the descriptor tagged TAG in ``index.json``.

In a layout, ``.sig``/``.att`` manifests are entries of ``index.json`` named by the
``org.opencontainers.image.ref.name`` annotation, and referrers are untagged entries with an
``artifactType`` found by their manifest's ``subject`` (the OCI layout has no referrers API).
``cosign save`` writes one image and what is attached to it, untagged, marked by a ``kind``
annotation instead (``dev.cosignproject.cosign/image`` or ``…/imageIndex``, ``…/sigs``,
``…/atts``, ``…/sboms``). ``oci:DIR@sha256:<hex>`` names an image of a layout by digest.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from hullcheck import untrusted
from hullcheck.digest import parse_digest, sha256_digest, verify_bytes
from hullcheck.errors import (
    BlobNotFound,
    HullcheckError,
    ImageError,
    NotFound,
    ReferenceError_,
    UsageError,
)
from hullcheck.fileio import atomic_write
from hullcheck.image import PullOptions, split_source
from hullcheck.image.layout import image_name
from hullcheck.image.oci import declared_size
from hullcheck.registry.client import RegistryClient
from hullcheck.registry.media import MANIFEST_TYPES, Descriptor, Manifest
from hullcheck.registry.reference import DOCKER_HUB, Reference, parse_reference

REF_NAME = "org.opencontainers.image.ref.name"
MAX_MANIFEST = 4 << 20
_ATTACHED_TAG = re.compile(r"^sha256-[0-9a-f]{64}(\.[a-z]+)?$")
# cosign save's kinds: what is attached to the saved image, by the suffix of cosign's tag for it
KIND = "kind"
COSIGN_IMAGE_KINDS = frozenset({"dev.cosignproject.cosign/image", "dev.cosignproject.cosign/imageIndex"})
COSIGN_ATTACHED_KINDS = {"sig": "dev.cosignproject.cosign/sigs", "att": "dev.cosignproject.cosign/atts",
                         "sbom": "dev.cosignproject.cosign/sboms"}


class Store(Protocol):
    """Content-addressed storage next to one image."""

    where: str  # for messages: "127.0.0.1:5000/app" or "oci:/path"

    def manifest_by_tag(self, tag: str) -> Manifest | None: ...
    def manifest(self, digest: str, *, size: int | None = None) -> Manifest: ...
    def blob(self, digest: str, *, max_size: int, size: int | None = None) -> bytes: ...
    def put_blob(self, data: bytes) -> str: ...
    def put_manifest(self, tag: str, data: bytes, media_type: str) -> str: ...
    def put_referrer(self, data: bytes, media_type: str) -> str: ...
    def referrers(self, digest: str, artifact_type: str | None = None) -> tuple[Descriptor, ...]: ...


@dataclass(frozen=True, slots=True, kw_only=True)
class Target:
    """A resolved image: what is signed and where its signatures go."""

    name: str  # as the user gave it
    digest: str  # the manifest (or index) digest that is signed
    media_type: str
    size: int
    docker_reference: str  # registry/repository, as cosign writes it into payloads
    store: Store

    def subject(self) -> dict[str, Any]:
        """The OCI 1.1 ``subject`` descriptor of this image."""
        return {"mediaType": self.media_type, "digest": self.digest, "size": self.size}


def attached_tag(digest: str, suffix: str) -> str:
    """``sha256-<hex>.<suffix>``: cosign's tag for things attached to ``digest``."""
    algo, hexpart = parse_digest(digest)
    return f"{algo}-{hexpart}.{suffix}"


# -- registry ------------------------------------------------------------------------------


class RegistryStore:
    def __init__(self, client: RegistryClient, ref: Reference) -> None:
        self.client = client
        self.repo = ref.repo()
        self.where = ref.name

    def manifest_by_tag(self, tag: str) -> Manifest | None:
        try:
            return self.client.get_manifest(self.repo.with_tag(tag), accept=MANIFEST_TYPES)
        except NotFound:
            return None

    def manifest(self, digest: str, *, size: int | None = None) -> Manifest:
        return self.client.get_manifest(self.repo.with_digest(digest), accept=MANIFEST_TYPES,
                                        size=size)

    def blob(self, digest: str, *, max_size: int, size: int | None = None) -> bytes:
        return self.client.fetch_blob(self.repo, digest, max_size=max_size, size=size)

    def put_blob(self, data: bytes) -> str:
        return self.client.push_blob(self.repo, data, sha256_digest(data), len(data))

    def put_manifest(self, tag: str, data: bytes, media_type: str) -> str:
        return self.client.push_manifest(self.repo.with_tag(tag), data, media_type)

    def put_referrer(self, data: bytes, media_type: str) -> str:
        return self.client.push_referrer(self.repo, data, media_type)

    def referrers(self, digest: str, artifact_type: str | None = None) -> tuple[Descriptor, ...]:
        return self.client.referrers(self.repo, digest, artifact_type)


def cosign_repository_name(ref: Reference) -> str:
    """The repository as go-containerregistry names it (``index.docker.io/library/x``)."""
    registry = "index.docker.io" if ref.registry == DOCKER_HUB else ref.registry
    return f"{registry}/{ref.repository}"


# -- OCI layout ----------------------------------------------------------------------------


class LayoutStore:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.where = f"oci:{root}"
        if not (root / "index.json").is_file():
            raise ImageError(f"{root}: not an OCI image layout (no index.json)")

    def index(self) -> dict[str, Any]:
        where = f"{self.root}/index.json"
        data = untrusted.read_file(where, what="OCI index", limit=MAX_MANIFEST, error=ImageError)
        doc = untrusted.json_object(data, what=where, error=ImageError)
        if not isinstance(doc.get("manifests", []), list):
            raise ImageError(f"{where}: not an OCI index")
        doc.setdefault("manifests", [])
        return doc

    def _entries(self) -> list[dict[str, Any]]:
        return [m for m in self.index()["manifests"] if isinstance(m, dict)]

    def _blob_path(self, digest: str) -> Path:
        algo, hexpart = parse_digest(digest, what="blob digest")
        return self.root / "blobs" / algo / hexpart

    def blob(self, digest: str, *, max_size: int, size: int | None = None) -> bytes:
        """The blob, at most ``max_size`` bytes and, when ``size`` (its descriptor's) is
        given, exactly that many: no byte past it is read."""
        if size is not None and size > max_size:
            raise ImageError(f"blob {digest} in {self.root} is declared {size} bytes, over the "
                             f"{max_size}-byte limit")
        path = self._blob_path(digest)
        try:
            with path.open("rb") as f:
                data = f.read((max_size if size is None else size) + 1)
        except FileNotFoundError:
            raise BlobNotFound(f"blob {digest} missing from {self.root}") from None
        if size is None and len(data) > max_size:
            raise ImageError(f"blob {digest} in {self.root} is over the {max_size}-byte limit")
        return verify_bytes(data, digest, what=f"blob in {self.root}", size=size)

    def _manifest_of(self, entry: dict[str, Any]) -> Manifest:
        """The manifest an index.json entry describes, read at the size the entry declares."""
        digest = str(entry.get("digest", ""))
        data = self.blob(digest, max_size=MAX_MANIFEST,
                         size=declared_size(entry, f"{self.root}/index.json"))
        media_type = str(entry.get("mediaType") or "") or _declared_media_type(data, digest)
        return Manifest(media_type=media_type, digest=digest, data=data)

    def manifest_by_tag(self, tag: str) -> Manifest | None:
        entries = self._entries()
        for entry in entries:
            if _ref_name(entry) == tag:
                return self._manifest_of(entry)
        attached = _cosign_saved(entries, tag)
        return self._manifest_of(attached) if attached is not None else None

    def manifest(self, digest: str, *, size: int | None = None) -> Manifest:
        media_type = next(
            (str(e.get("mediaType", "")) for e in self._entries() if e.get("digest") == digest), ""
        )
        data = self.blob(digest, max_size=MAX_MANIFEST, size=size)
        return Manifest(media_type=media_type or _declared_media_type(data, digest), digest=digest,
                        data=data)

    def put_blob(self, data: bytes) -> str:
        digest = sha256_digest(data)
        path = self._blob_path(digest)
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            atomic_write(path, data)
        return digest

    def _write_index(self, index: dict[str, Any]) -> None:
        atomic_write(self.root / "index.json", json.dumps(index, separators=(",", ":")).encode())

    def put_manifest(self, tag: str, data: bytes, media_type: str) -> str:
        digest = self.put_blob(data)
        index = self.index()
        kept = [
            m
            for m in index["manifests"]
            if not (isinstance(m, dict) and _ref_name(m) == tag)
        ]
        kept.append(
            {
                "mediaType": media_type,
                "digest": digest,
                "size": len(data),
                "annotations": {REF_NAME: tag},
            }
        )
        index["manifests"] = kept
        self._write_index(index)
        return digest

    def put_referrer(self, data: bytes, media_type: str) -> str:
        digest = self.put_blob(data)
        doc = json.loads(data)
        index = self.index()
        if any(isinstance(m, dict) and m.get("digest") == digest for m in index["manifests"]):
            return digest
        entry: dict[str, Any] = {"mediaType": media_type, "digest": digest, "size": len(data)}
        if isinstance(doc.get("artifactType"), str):
            entry["artifactType"] = doc["artifactType"]
        if isinstance(doc.get("annotations"), dict):
            entry["annotations"] = doc["annotations"]
        index["manifests"].append(entry)
        self._write_index(index)
        return digest

    def referrers(self, digest: str, artifact_type: str | None = None) -> tuple[Descriptor, ...]:
        found = []
        for entry in self._entries():
            if not entry.get("artifactType") or (
                artifact_type and entry.get("artifactType") != artifact_type
            ):
                continue
            try:
                doc = untrusted.json_object(
                    self._manifest_of(entry).data, what="referrer manifest", error=ImageError
                )
            except HullcheckError:
                continue  # not a referrer we can read: like a registry, do not list it
            subject = doc.get("subject")
            if isinstance(subject, dict) and subject.get("digest") == digest:
                found.append(Descriptor.from_json(entry, where=f"{self.root}/index.json"))
        return tuple(found)

    def resolve(self, tag: str | None, digest: str | None = None) -> Descriptor:
        entries = self._entries()
        if digest is not None:
            return self._by_digest(entries, digest)
        if tag is not None:
            chosen = [e for e in entries if _ref_name(e) == tag]
            if not chosen:
                raise ImageError(f"{self.root}: no image tagged {tag!r} in index.json")
        else:
            chosen = [
                e
                for e in entries
                if not e.get("artifactType") and not _ATTACHED_TAG.match(_ref_name(e))
                and _kind(e) not in COSIGN_ATTACHED_KINDS.values()
            ]
            if len(chosen) != 1:
                raise UsageError(
                    f"{self.root}: the layout holds {len(chosen)} images; name one as oci:DIR:TAG"
                )
        return Descriptor.from_json(chosen[0], where=f"{self.root}/index.json")


    def _by_digest(self, entries: list[dict[str, Any]], digest: str) -> Descriptor:
        """The entry of index.json with ``digest``, or a manifest an index entry lists."""
        parse_digest(digest, what="image digest")
        where = f"{self.root}/index.json"
        for e in entries:
            if e.get("digest") == digest:
                return Descriptor.from_json(e, where=where)
        for e in entries:
            if "index" not in str(e.get("mediaType", "")):
                continue
            try:
                doc = untrusted.json_object(self._manifest_of(e).data, what="image index",
                                            error=ImageError)
            except HullcheckError:
                continue
            children = doc.get("manifests")
            for child in children if isinstance(children, list) else ():
                if isinstance(child, dict) and child.get("digest") == digest:
                    return Descriptor.from_json(child, where=f"index {e.get('digest')}")
        raise ImageError(f"{self.root}: no image with digest {digest} in index.json")


def _kind(entry: dict[str, Any]) -> str:
    """cosign save's ``kind`` annotation ("" when absent)."""
    annotations = entry.get("annotations")
    kind = annotations.get(KIND) if isinstance(annotations, dict) else None
    return kind if isinstance(kind, str) else ""


def _cosign_saved(entries: list[dict[str, Any]], tag: str) -> dict[str, Any] | None:
    """In a ``cosign save`` layout, the entry cosign's tag ``sha256-<hex>.<suffix>`` stands
    for: the one ``sigs``/``atts``/``sboms`` entry, when the one saved image is ``<hex>``."""
    digest_part, _, suffix = tag.partition(".")
    kind = COSIGN_ATTACHED_KINDS.get(suffix)
    images = [e for e in entries if _kind(e) in COSIGN_IMAGE_KINDS]
    attached = [e for e in entries if kind and _kind(e) == kind]
    if len(images) != 1 or len(attached) != 1:
        return None
    if str(images[0].get("digest", "")).replace(":", "-", 1) != digest_part:
        return None
    return attached[0]


def _ref_name(entry: dict[str, Any]) -> str:
    """The entry's ``ref.name`` annotation ("" when absent or not a string)."""
    annotations = entry.get("annotations")
    name = annotations.get(REF_NAME) if isinstance(annotations, dict) else None
    return name if isinstance(name, str) else ""


def _declared_media_type(data: bytes, digest: str) -> str:
    """The ``mediaType`` a manifest declares in itself, for entries that do not say."""
    doc = untrusted.json_document(data, what=f"manifest {digest}", error=ImageError)
    declared = doc.get("mediaType") if isinstance(doc, dict) else None
    return declared if isinstance(declared, str) else ""


# -- opening --------------------------------------------------------------------------------


def open_target(
    text: str, *, pull: PullOptions | None = None, client: RegistryClient | None = None
) -> Target:
    """Resolve ``oci:DIR[:TAG]`` or a registry reference to the digest that gets signed."""
    scheme, rest = split_source(text)
    if scheme == "oci":
        root, tag, digest = _layout_and_tag(rest)
        store = LayoutStore(root)
        desc = store.resolve(tag, digest)
        return Target(
            name=text,
            digest=desc.digest,
            media_type=desc.media_type,
            size=desc.size,
            docker_reference=_layout_reference(desc, root),
            store=store,
        )
    if scheme != "registry":
        raise UsageError(
            f"{text}: signatures and attestations are stored in a registry or an OCI layout",
            hint="use a registry reference or oci:DIR[:TAG]",
        )
    ref = parse_reference(rest)
    if client is None:
        from hullcheck.image.remote import make_client

        client = make_client(pull or PullOptions())
    manifest = client.get_manifest(ref)
    return Target(
        name=text,
        digest=manifest.digest,
        media_type=manifest.media_type,
        size=len(manifest.data),
        docker_reference=cosign_repository_name(ref),
        store=RegistryStore(client, ref),
    )


def _layout_reference(desc: Descriptor, root: Path) -> str:
    """An OCI layout image's docker-reference: the repository of the name the layout records
    for it (as cosign writes a registry image's), else the layout's folder; never a tag."""
    name = image_name({"annotations": dict(desc.annotations)})
    if name is not None:
        try:
            return cosign_repository_name(parse_reference(name))
        except ReferenceError_:
            pass
    return root.resolve().name


def _layout_and_tag(rest: str) -> tuple[Path, str | None, str | None]:
    """(directory, tag, digest) of ``DIR``, ``DIR:TAG`` or ``DIR@sha256:<hex>``."""
    path = Path(rest)
    if path.is_dir():
        return path, None, None
    head, at, digest = rest.rpartition("@")
    if at and digest.startswith("sha256:"):
        return Path(head), None, digest
    if ":" not in rest:
        return path, None, None
    head, tag = rest.rsplit(":", 1)
    return Path(head), tag or None, None
