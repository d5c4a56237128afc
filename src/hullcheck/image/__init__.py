"""Image sources: one entry point, ``open_image``, detected from the argument.

    docker-archive:PATH[:TAG]   `docker save` tarball (classic or OCI-in-docker layout)
    oci-archive:PATH[:TAG]      tar of an OCI image layout
    oci:DIR[:TAG|@DIGEST]       OCI image layout directory (oci-archive: too; oci-dir: as
                                Syft spells it)
    dir:PATH                    an unpacked root file system
    registry:REF or REF         pulled over the OCI Distribution API

An explicit scheme wins; without one, an existing path is inspected, a missing one that
is written as a path (``./x``, ``/x``, ``x.tar``...) is "no such file", and anything else is
taken as a registry reference.
"""

from __future__ import annotations

import tarfile
from dataclasses import dataclass
from pathlib import Path

from hullcheck.errors import ImageError, UsageError
from hullcheck.image.layout import open_docker_archive, open_oci_archive, open_oci_dir
from hullcheck.image.model import Image
from hullcheck.image.oci import Platform
from hullcheck.model import ImageSource

SCHEMES = ("docker-archive", "oci-archive", "oci", "oci-dir", "dir", "registry")
ALIASES = {"oci-dir": "oci"}  # Syft's name for an OCI layout directory
# A missing argument written so is a file the user meant, never a registry reference.
_PATH_PREFIXES = ("/", "./", "../", "~", ".\\")
_FILE_SUFFIXES = (".tar", ".tar.gz", ".tgz", ".tar.zst", ".tzst", ".zst", ".gz", ".json",
                  ".xml", ".spdx", ".cdx", ".sbom", ".zip")

__all__ = ["SCHEMES", "Image", "Platform", "PullOptions", "open_image", "split_source"]


@dataclass(frozen=True, slots=True, kw_only=True)
class PullOptions:
    """How to reach a registry; ignored by file sources.

    ``username``/``password`` and the ``HULLCHECK_REGISTRY_USERNAME/PASSWORD`` environment
    variables are sent only to ``registry`` (the host of the reference the user named);
    every other host (a base image's registry named by a label, a registry a Pod names)
    gets only what Docker's config.json or a credential helper holds for it.
    ``PullOptions()`` therefore means "Docker's config by host, nothing else".
    """

    insecure: bool = False
    username: str | None = None
    password: str | None = None
    registry: str | None = None  # the host the explicit and environment credentials belong to

    def __post_init__(self) -> None:
        if (self.username or self.password) and not self.registry:
            # Credentials without a host would go nowhere (or, before, everywhere).
            raise ValueError("PullOptions: explicit credentials need the registry they belong to")


def split_source(text: str) -> tuple[str, str]:
    """(scheme, rest). ``docker:`` (a daemon) is refused with a hint."""
    if ":" in text:
        scheme, rest = text.split(":", 1)
        if scheme in SCHEMES:
            return ALIASES.get(scheme, scheme), rest
        if scheme in ("docker", "podman", "containerd"):
            raise UsageError(
                f"{text}: reading from a container daemon is not supported",
                hint="export the image first: docker save IMAGE -o image.tar, then scan "
                "docker-archive:image.tar",
            )
    path = Path(text)
    if path.exists():
        return _detect(path), text
    if text.startswith(_PATH_PREFIXES) or text.lower().endswith(_FILE_SUFFIXES):
        raise ImageError(f"no such file: {text}")
    return "registry", text


def _detect(path: Path) -> str:
    if path.is_dir():
        return "oci" if (path / "index.json").is_file() and (path / "oci-layout").exists() else "dir"
    try:
        with tarfile.open(path, "r:") as tf:
            names = set(tf.getnames()[:2000])
    except (tarfile.TarError, OSError) as exc:
        raise ImageError(f"{path}: not a directory or an image archive ({exc})") from None
    return "docker-archive" if "manifest.json" in names else "oci-archive"


def _path_and_tag(rest: str) -> tuple[Path, str | None]:
    """``PATH[:TAG]``; the tag may itself hold a colon (``docker-archive:x.tar:app:1``)."""
    if Path(rest).exists() or ":" not in rest:
        return Path(rest), None
    for i, ch in enumerate(rest):
        if ch == ":" and Path(rest[:i]).exists():
            return Path(rest[:i]), rest[i + 1 :] or None
    path, tag = rest.rsplit(":", 1)
    return Path(path), tag or None


def open_image(
    text: str, *, platform: Platform | None = None, pull: PullOptions | None = None
) -> Image:
    """Open the image named by ``text``; nothing is read beyond manifests and config."""
    scheme, rest = split_source(text)
    if scheme == "registry":
        from hullcheck.image.remote import open_remote

        return open_remote(rest, platform=platform, options=pull or PullOptions())
    if scheme == "dir":
        root = Path(rest)
        if not root.exists():
            raise ImageError(f"no such directory: {root}")
        if not root.is_dir():
            raise ImageError(f"{root}: not a directory")
        return Image(source=ImageSource(kind="dir", name=str(root)), rootfs=root)
    tag: str | None
    head, at, digest = rest.rpartition("@")
    if at and digest.startswith("sha256:") and scheme != "docker-archive" and Path(head).exists():
        path, tag = Path(head), at + digest  # oci:DIR@sha256:<hex>: an image by its digest
    else:
        path, tag = _path_and_tag(rest)
    if not path.exists():
        raise ImageError(f"no such {'directory' if scheme == 'oci' else 'file'}: {path}")
    if scheme == "oci":
        return open_oci_dir(path, tag, platform)
    if scheme == "oci-archive":
        return open_oci_archive(path, tag, platform)
    return open_docker_archive(path, tag, platform)
