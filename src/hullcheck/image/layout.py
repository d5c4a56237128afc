"""Images stored as files: OCI layout directory, OCI layout archive, `docker save` archive.

Blobs are looked up by digest only (a digest is strictly ``sha256:<hex>``, so it
can never name a path outside the layout) and verified while read.
"""

from __future__ import annotations

import contextlib
import os
import re
import stat
import tarfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any, BinaryIO

from hullcheck import untrusted
from hullcheck.digest import parse_digest, verify_bytes
from hullcheck.errors import BlobNotFound, ImageError, UsageError
from hullcheck.image.model import Image
from hullcheck.image.oci import (
    MAX_CONFIG,
    MAX_MANIFEST,
    REF_NAME,
    Platform,
    declared_size,
    load_json,
    resolve_descriptor,
    select_platform,
)
from hullcheck.image.stored import StoredBlob, describe, open_stored
from hullcheck.model import ImageSource, Layer

_BLOB_NAME = re.compile(r"blobs/sha256/([a-f0-9]{64})")


def _read_limited(stream: IO[bytes], max_size: int, what: str, size: int | None = None) -> bytes:
    """At most ``max_size`` bytes; with the ``size`` a descriptor declares, at most one byte
    more than it (the length is checked with the digest)."""
    if size is not None and size > max_size:
        raise ImageError(f"{what}: declared {size} bytes, over the {max_size}-byte limit")
    data = stream.read((max_size if size is None else size) + 1)
    if size is None and len(data) > max_size:
        raise ImageError(f"{what}: larger than {max_size} bytes")
    return data


class DirBlobs:
    """Blobs of an OCI layout directory: ``blobs/<alg>/<hex>``."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def _path(self, digest: str, what: str) -> tuple[Path, os.stat_result]:
        algo, hexpart = parse_digest(digest, what=f"{what} digest")
        path = self.root / "blobs" / algo / hexpart
        try:
            st = path.lstat()
        except FileNotFoundError:
            raise BlobNotFound(f"{what} {digest}: blob missing from {self.root}") from None
        if not stat.S_ISREG(st.st_mode):
            raise ImageError(f"{what} {digest}: blob in {self.root} is not a regular file")
        return path, st

    def read_blob(self, digest: str, *, what: str, max_size: int,
                  size: int | None = None) -> bytes:
        with open(self._path(digest, what)[0], "rb") as f:
            data = _read_limited(f, max_size, f"{what} {digest}", size)
        return verify_bytes(data, digest, what=what, size=size)

    def locate(self, digest: str, *, what: str, size: int | None) -> StoredBlob:
        """The blob's file, as checked now (present, a regular file, not a symlink)."""
        path, st = self._path(digest, what)
        return describe(str(path), st, digest=digest, size=size)

    @contextlib.contextmanager
    def open_blob(self, digest: str, *, what: str, size: int | None) -> Iterator[BinaryIO]:
        with open_stored(self.locate(digest, what=what, size=size), what=what) as reader:
            yield reader  # type: ignore[misc]


def _open_archive(path: Path) -> tuple[BinaryIO, tarfile.TarFile, list[tarfile.TarInfo]]:
    """The archive's file (one for the image's life: blobs are read through its descriptor,
    never by opening the name again: a name can be swapped, this file cannot), its tar
    and its members; the file closed again when any of them fails."""
    f = open(path, "rb")  # noqa: SIM115 - lives as long as the image
    try:
        tar = tarfile.open(fileobj=f, mode="r:")  # noqa: SIM115 - closed with the file
        return f, tar, tar.getmembers()
    except BaseException:
        f.close()  # (a tar opened on a file object leaves it to its owner)
        raise


class TarBlobs:
    """Blobs inside a tar archive (OCI layout tar, or a docker save tar)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            self._file, self._tar, listed = _open_archive(path)
        except (tarfile.TarError, OSError) as exc:  # none, unreadable, truncated, damaged
            raise ImageError(f"{path}: not a readable tar archive ({exc})") from None
        self._fd = self._file.fileno()
        self._stat = os.fstat(self._fd)
        self.members: dict[str, tarfile.TarInfo] = {}
        for m in listed:
            name = os.path.normpath(m.name.lstrip("/")) if m.name else ""
            if m.isreg():
                self.members[name] = m

    def close(self) -> None:
        self._tar.close()
        self._file.close()

    def member(self, name: str, what: str) -> tarfile.TarInfo:
        m = self.members.get(os.path.normpath(name))
        if m is None:
            raise BlobNotFound(f"{what}: {name} missing from {self.path}")
        return m

    def read_file(self, name: str, *, what: str, max_size: int, size: int | None = None) -> bytes:
        m = self.member(name, what)
        f = self._tar.extractfile(m)
        assert f is not None
        return _read_limited(f, max_size, f"{what} {name}", size)

    def blob_name(self, digest: str, what: str) -> str:
        algo, hexpart = parse_digest(digest, what=f"{what} digest")
        return f"blobs/{algo}/{hexpart}"

    def read_blob(self, digest: str, *, what: str, max_size: int,
                  size: int | None = None) -> bytes:
        data = self.read_file(self.blob_name(digest, what), what=f"{what} {digest}",
                              max_size=max_size, size=size)
        return verify_bytes(data, digest, what=what, size=size)

    @contextlib.contextmanager
    def open_blob(self, digest: str, *, what: str, size: int | None) -> Iterator[BinaryIO]:
        with self.open_member(self.blob_name(digest, what), digest, what=what, size=size) as r:
            yield r

    def locate(self, digest: str, *, what: str, size: int | None) -> StoredBlob:
        return self.locate_member(self.blob_name(digest, what), digest, what=what, size=size)

    def locate_member(self, name: str, digest: str, *, what: str,
                      size: int | None) -> StoredBlob:
        """Where member ``name`` lies in the archive: read through the descriptor this
        archive was opened with (positionally: streams in parallel, and forked workers,
        share it), never by opening the archive's name again."""
        m = self.member(name, f"{what} {digest}")
        return describe(str(self.path), self._stat, digest=digest, size=size,
                        offset=m.offset_data, length=m.size, fd=self._fd)

    @contextlib.contextmanager
    def open_member(
        self, name: str, digest: str, *, what: str, size: int | None
    ) -> Iterator[BinaryIO]:
        blob = self.locate_member(name, digest, what=what, size=size)
        with open_stored(blob, what=what) as reader:
            yield reader  # type: ignore[misc]


CONTAINERD_NAME = "io.containerd.image.name"  # containerd's (and Docker 25+'s) full image name


def image_name(desc: dict[str, Any]) -> str | None:
    """The name an index entry records for its image: containerd's annotation, else a
    ``ref.name`` that is a whole reference (``registry.example/app:1``, as BuildKit writes
    it) rather than a bare tag (``1``, as skopeo and umoci write it). None: only a tag."""
    annotations = desc.get("annotations")
    if not isinstance(annotations, dict):
        return None
    for key in (CONTAINERD_NAME, REF_NAME):
        value = annotations.get(key)
        if isinstance(value, str) and ("/" in value or ":" in value):
            return value
    return None


def _index_source(kind: str, name: str, tag: str | None) -> ImageSource:
    return ImageSource(kind=kind, name=name, tags=(tag,) if tag else ())


def _from_index(
    reader: DirBlobs | TarBlobs,
    index_bytes: bytes,
    *,
    kind: str,
    name: str,
    tag: str | None,
    platform: Platform | None,
) -> Image:
    index = load_json(index_bytes, f"{name}: index.json")
    manifests = index.get("manifests")
    if not isinstance(manifests, list) or not manifests:
        raise ImageError(f"{name}: index.json lists no manifests")
    if tag is not None and tag.startswith("@"):  # oci:DIR@sha256:<hex>
        desc = _by_digest(reader, manifests, tag[1:], name)
    elif tag is not None:
        chosen = [m for m in manifests if isinstance(m, dict) and _ref_name(m) == tag]
        if not chosen:
            tags = sorted({t for m in manifests if isinstance(m, dict) and (t := _ref_name(m))})
            raise UsageError(f"{name}: no image tagged {tag!r} (tags: {', '.join(tags) or 'none'})")
        desc = chosen[0]
    elif len(manifests) == 1:
        desc = manifests[0]
    else:
        desc = _untagged_image(reader, manifests, f"{kind}:{name}", platform)
    if not isinstance(desc, dict):
        raise ImageError(f"{name}: index.json has an invalid descriptor")
    if tag is None or tag.startswith("@"):
        tag = _ref_name(desc)
    # The image is called by its own name when the layout records one, not by its folder.
    source = _index_source(kind, image_name(desc) or name, tag)
    return resolve_descriptor(reader, desc, platform=platform, source=source, what=name)


def _by_digest(reader: DirBlobs | TarBlobs, manifests: list[Any], digest: str,
               name: str) -> dict[str, Any]:
    """The index.json entry with ``digest``, or a bare descriptor of a manifest blob of the
    layout (a platform manifest an index lists): it is read, and checked, as any."""
    parse_digest(digest, what=f"{name}: image digest")
    listed = [m for m in manifests if isinstance(m, dict) and m.get("digest") == digest]
    if listed:
        return dict(listed[0])
    try:
        data = reader.read_blob(digest, what="manifest", max_size=MAX_MANIFEST)
    except BlobNotFound:
        raise ImageError(f"{name}: no image with digest {digest} in the layout") from None
    return {"digest": digest, "size": len(data)}  # its size is what it hashed as


# cosign's tags for what it attaches to an image: sha256-<hex>.sig / .att / .sbom
_ATTACHED_TAG = re.compile(r"sha256-[0-9a-f]{64}(?:\.[a-z]+)?")
MAX_LISTED = 10  # images named in the "holds N images" message
MAX_INSPECTED = 64  # manifests read to tell referrers from images


def _untagged_image(reader: DirBlobs | TarBlobs, manifests: list[Any], where: str,
                    platform: Platform | None) -> dict[str, Any]:
    """The one image of a layout named without a tag: signatures, attestations and other
    artifacts attached to it (``hullcheck sign``/``attest``, cosign) do not count; one image
    per platform is chosen by platform; several images are an error naming them."""
    images = [m for m in manifests if isinstance(m, dict) and not _attached(m)]
    if len(images) > 1 and len(images) <= MAX_INSPECTED:
        images = [m for m in images if not _is_referrer(reader, m)]
    if len(images) == 1:
        return images[0]
    if not images:
        raise ImageError(f"{where}: index.json lists only signatures or attestations, no image")
    if _one_per_platform(images):
        return select_platform({"manifests": images}, platform, f"{where}: index.json")
    raise UsageError(f"{where} holds {len(images)} images: {_names(images)}; "
                     f"name one with {where}:TAG")


# ``cosign save`` marks what it saved next to the image by kind, not by tag.
_COSIGN_ATTACHED_KINDS = frozenset({"dev.cosignproject.cosign/sigs", "dev.cosignproject.cosign/atts",
                                    "dev.cosignproject.cosign/sboms"})


def _attached(desc: dict[str, Any]) -> bool:
    """Tagged as cosign tags what it attaches, marked so by ``cosign save``, an OCI artifact
    (it has an artifactType), or a buildkit attestation manifest (platform unknown/unknown)."""
    tag = _ref_name(desc)
    platform = desc.get("platform")
    annotations = desc.get("annotations")
    kind = annotations.get("kind") if isinstance(annotations, dict) else None
    return bool(desc.get("artifactType")) or kind in _COSIGN_ATTACHED_KINDS or (
        tag is not None and _ATTACHED_TAG.fullmatch(tag) is not None) or (
        isinstance(platform, dict) and platform.get("os") == "unknown")


def _ref_name(desc: dict[str, Any]) -> str | None:
    annotations = desc.get("annotations")
    tag = annotations.get(REF_NAME) if isinstance(annotations, dict) else None
    return tag if isinstance(tag, str) and tag else None


def _is_referrer(reader: DirBlobs | TarBlobs, desc: dict[str, Any]) -> bool:
    """Whether the manifest refers to another (``subject``) or says it is an artifact: the
    descriptor in index.json need not repeat either. Unreadable: not known to be one."""
    try:
        data = reader.read_blob(str(desc.get("digest", "")), what="manifest",
                                max_size=MAX_MANIFEST, size=declared_size(desc, "manifest"))
        doc = load_json(data, "manifest")
    except (ImageError, OSError):
        return False
    return isinstance(doc.get("subject"), dict) or bool(doc.get("artifactType"))


def _one_per_platform(images: list[dict[str, Any]]) -> bool:
    """Platform variants of one image listed side by side (not several images)."""
    keys = set()
    for m in images:
        p = m.get("platform")
        if not isinstance(p, dict) or p.get("os") in (None, "unknown"):
            return False
        keys.add((str(p.get("os")), str(p.get("architecture")), str(p.get("variant", ""))))
    return len(keys) == len(images)


def _names(images: list[dict[str, Any]]) -> str:
    """``app:1 (sha256:0123456789ab), untagged (sha256:...)``, at most MAX_LISTED of them."""
    def name(m: dict[str, Any]) -> str:
        return f"{_ref_name(m) or 'untagged'} ({str(m.get('digest', ''))[:19]})"

    shown = ", ".join(name(m) for m in images[:MAX_LISTED])
    more = len(images) - MAX_LISTED
    return shown + (f" and {more} more" if more > 0 else "")


def open_oci_dir(path: Path, tag: str | None, platform: Platform | None) -> Image:
    if not (path / "index.json").is_file():
        raise ImageError(f"{path}: not an OCI image layout (no index.json)")
    data = untrusted.read_file(path / "index.json", what="OCI layout index", limit=MAX_MANIFEST,
                               error=ImageError)
    return _from_index(
        DirBlobs(path), data, kind="oci", name=str(path), tag=tag, platform=platform
    )


def open_oci_archive(path: Path, tag: str | None, platform: Platform | None) -> Image:
    blobs = TarBlobs(path)
    with _closed_on_error(blobs):
        data = blobs.read_file("index.json", what="OCI layout", max_size=MAX_MANIFEST)
        return _from_index(blobs, data, kind="oci-archive", name=str(path), tag=tag,
                           platform=platform)


def open_docker_archive(path: Path, tag: str | None, platform: Platform | None) -> Image:
    """``docker save`` output: the classic manifest.json layout, or the OCI layout that
    Docker 25+ writes beside it."""
    blobs = TarBlobs(path)
    with _closed_on_error(blobs):
        if "manifest.json" not in blobs.members and "index.json" in blobs.members:
            data = blobs.read_file("index.json", what="docker archive", max_size=MAX_MANIFEST)
            return _from_index(
                blobs, data, kind="docker-archive", name=str(path), tag=tag, platform=platform
            )
        manifest_bytes = blobs.read_file("manifest.json", what="docker archive",
                                         max_size=MAX_MANIFEST)
        entries = untrusted.json_document(manifest_bytes, what=f"{path}: manifest.json",
                                          error=ImageError)
        if not isinstance(entries, list) or not entries or not all(
                isinstance(e, dict) for e in entries):
            raise ImageError(f"{path}: manifest.json must be a non-empty list of images")
        entry = _pick_docker_entry(entries, tag, path)
        return _classic_docker_image(blobs, entry, manifest_bytes, path)


@contextlib.contextmanager
def _closed_on_error(blobs: TarBlobs) -> Iterator[None]:
    """The archive closed when no image comes of it (an image keeps it open for its life)."""
    try:
        yield
    except BaseException:
        blobs.close()
        raise


def _repo_tags(entry: dict[str, Any]) -> list[str]:
    tags = entry.get("RepoTags") or []
    return [t for t in tags if isinstance(t, str)] if isinstance(tags, list) else []


def _pick_docker_entry(entries: list[dict[str, Any]], tag: str | None, path: Path) -> dict[str, Any]:
    if tag is None:
        if len(entries) > 1:
            tags = [t for e in entries for t in _repo_tags(e)]
            raise UsageError(
                f"{path}: archive holds {len(entries)} images; pick one with "
                f"docker-archive:{path}:TAG (tags: {', '.join(tags) or 'none'})"
            )
        return entries[0]
    for e in entries:
        tags = _repo_tags(e)
        if tag in tags or any(t.rsplit(":", 1)[-1] == tag for t in tags):
            return e
    raise UsageError(f"{path}: no image tagged {tag!r}")


def _classic_docker_image(
    blobs: TarBlobs, entry: dict[str, Any], manifest_bytes: bytes, path: Path
) -> Image:
    config_name = entry.get("Config")
    layer_names = entry.get("Layers")
    if not isinstance(config_name, str) or not isinstance(layer_names, list):
        raise ImageError(f"{path}: manifest.json entry lacks Config or Layers")
    hexpart = os.path.basename(config_name).removesuffix(".json")
    config_digest = f"sha256:{hexpart}"
    parse_digest(config_digest, what=f"{path}: config name")
    config_bytes = verify_bytes(
        blobs.read_file(config_name, what="config", max_size=MAX_CONFIG), config_digest,
        what="config",
    )
    config = load_json(config_bytes, f"config {config_digest}")
    rootfs = config.get("rootfs") if isinstance(config.get("rootfs"), dict) else {}
    diff_ids = rootfs.get("diff_ids") if isinstance(rootfs, dict) else None
    if not isinstance(diff_ids, list) or len(diff_ids) != len(layer_names):
        raise ImageError(f"config {config_digest}: diff_ids do not match the archive's layers")
    from hullcheck.image.oci import created_by_per_layer, labels_of, platform_of

    created_by = created_by_per_layer(config, len(layer_names))
    layers: list[Layer] = []
    names: dict[int, str] = {}
    for i, (lname, diff_id) in enumerate(zip(layer_names, diff_ids, strict=True)):
        if not isinstance(lname, str):
            raise ImageError(f"{path}: layer {i} has no file name")
        parse_digest(str(diff_id), what=f"config {config_digest} diff_id")
        member = blobs.member(lname, f"layer {i}")
        names[i] = lname
        m = _BLOB_NAME.fullmatch(os.path.normpath(lname))
        layers.append(
            Layer(index=i, digest=f"sha256:{m.group(1)}" if m else str(diff_id),
                  diff_id=str(diff_id),
                  media_type="application/vnd.docker.image.rootfs.diff.tar",
                  size=member.size, created_by=created_by[i])
        )

    def locator(layer: Layer) -> StoredBlob:
        return blobs.locate_member(names[layer.index], layer.digest,
                                   what=f"layer {layer.index}", size=None)

    def opener(layer: Layer) -> contextlib.AbstractContextManager[BinaryIO]:
        # The classic layout stores layers uncompressed under <id>/layer.tar: the bytes hash
        # to the diff_id. Docker 25+ stores them as blobs/sha256/<hex>, possibly compressed
        # (containerd image store): the bytes hash to that name.
        return blobs.open_member(
            names[layer.index], layer.digest, what=f"layer {layer.index}", size=None
        )

    tags = tuple(str(t) for t in (entry.get("RepoTags") or []))
    source = ImageSource(
        kind="docker-archive", name=str(path),
        config_digest=config_digest, tags=tags, platform=platform_of(config),
        created=str(config.get("created", "")), labels=labels_of(config),
    )
    return Image(source=source, layers=tuple(layers), config=config, manifest=entry,
                 manifest_bytes=manifest_bytes, config_bytes=config_bytes, opener=opener,
                 locator=locator)
