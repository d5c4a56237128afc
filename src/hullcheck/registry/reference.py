"""Image references: ``[REGISTRY/]REPOSITORY[:TAG][@DIGEST]`` with Docker's normalisation.

``debian:12`` is ``docker.io/library/debian:12``; a first path component holding a
``.`` or a ``:``, or equal to ``localhost``, names a registry (``example.org:5000/app``,
``127.0.0.1:5000/x``, ``localhost/app``). With neither a tag nor a digest, the tag is
``latest``. The grammar follows the distribution project's reference grammar.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

from hullcheck.digest import parse_digest
from hullcheck.errors import ImageError, ReferenceError_

DOCKER_HUB = "docker.io"
DOCKER_HUB_API = "registry-1.docker.io"
# Names under which Docker Hub is written in references and in Docker's config.json.
DOCKER_HUB_ALIASES = frozenset({"docker.io", "index.docker.io", "registry-1.docker.io"})
DEFAULT_TAG = "latest"

_DOMAIN_COMPONENT = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_DOMAIN_RE = re.compile(
    rf"^(?:{_DOMAIN_COMPONENT}(?:\.{_DOMAIN_COMPONENT})*|\[[0-9a-fA-F:.]+\])(?::[0-9]+)?$"
)
_PATH_COMPONENT_RE = re.compile(r"^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$")
_TAG_RE = re.compile(r"^[\w][\w.-]{0,127}$")
_MAX_NAME = 255


def _check_registry(registry: str, text: str) -> None:
    if not _DOMAIN_RE.match(registry):
        raise ReferenceError_(f"invalid registry {registry!r} in reference {text!r}")


def _check_repository(repository: str, text: str) -> None:
    if not repository:
        raise ReferenceError_(f"empty repository name in reference {text!r}")
    for component in repository.split("/"):
        if _PATH_COMPONENT_RE.match(component):
            continue
        if component.lower() != component and _PATH_COMPONENT_RE.match(component.lower()):
            raise ReferenceError_(f"invalid reference {text!r}: repository name must be lowercase")
        raise ReferenceError_(f"invalid repository name {repository!r} in reference {text!r}")


def _check_tag(tag: str, text: str) -> None:
    if not _TAG_RE.match(tag):
        raise ReferenceError_(f"invalid tag {tag!r} in reference {text!r}")


def _check_digest(digest: str, text: str) -> None:
    try:
        parse_digest(digest)
    except ImageError:
        raise ReferenceError_(
            f"invalid digest {digest!r} in reference {text!r}: expected sha256:<64 hex digits>"
        ) from None


def _validate(registry: str, repository: str, tag: str | None, digest: str | None, text: str) -> None:
    _check_registry(registry, text)
    _check_repository(repository, text)
    if tag is not None:
        _check_tag(tag, text)
    if digest is not None:
        _check_digest(digest, text)
    if len(registry) + 1 + len(repository) > _MAX_NAME:
        raise ReferenceError_(f"invalid reference {text[:60]!r}...: name longer than {_MAX_NAME} characters")


@dataclass(frozen=True, slots=True, kw_only=True)
class Reference:
    """A normalised image reference; validated on construction.

    ``tag`` and ``digest`` may both be ``None`` for a bare repository (as used for blob and
    tag-list calls); :func:`parse_reference` never returns that, it defaults to ``latest``.
    """

    registry: str
    repository: str
    tag: str | None = None
    digest: str | None = None

    def __post_init__(self) -> None:
        _validate(self.registry, self.repository, self.tag, self.digest, self._format())

    def _format(self) -> str:
        out = f"{self.registry}/{self.repository}"
        if self.tag is not None:
            out += f":{self.tag}"
        if self.digest is not None:
            out += f"@{self.digest}"
        return out

    def __str__(self) -> str:
        return self._format()

    @property
    def name(self) -> str:
        """``registry/repository``, without tag or digest."""
        return f"{self.registry}/{self.repository}"

    @property
    def api_host(self) -> str:
        """The host (and port) the registry API is served from."""
        return DOCKER_HUB_API if self.registry == DOCKER_HUB else self.registry

    @property
    def identifier(self) -> str:
        """What to ask the manifests endpoint for: the digest when known, else the tag."""
        if self.digest is not None:
            return self.digest
        return self.tag if self.tag is not None else DEFAULT_TAG

    def with_digest(self, digest: str) -> Reference:
        """The same reference pinned to ``digest`` (the tag is kept, as Docker does)."""
        return replace(self, digest=digest)

    def with_tag(self, tag: str) -> Reference:
        """The same repository at ``tag``; any digest is dropped, it belonged to another tag."""
        return replace(self, tag=tag, digest=None)

    def repo(self) -> Reference:
        """The bare repository, without tag or digest."""
        return replace(self, tag=None, digest=None)


def _split_registry(name: str) -> tuple[str, str]:
    first, sep, rest = name.partition("/")
    if sep and ("." in first or ":" in first or first == "localhost" or first.lower() != first):
        registry = DOCKER_HUB if first in DOCKER_HUB_ALIASES else first
        return registry, rest
    return DOCKER_HUB, name


def parse_reference(text: str, *, default_tag: bool = True) -> Reference:
    """Parse and normalise an image reference; :class:`ReferenceError_` when invalid.

    With ``default_tag=False`` a reference without tag or digest stays a bare repository.
    """
    if not text or not text.strip():
        raise ReferenceError_("empty image reference")
    if text != text.strip() or any(c.isspace() for c in text):
        raise ReferenceError_(f"invalid reference {text!r}: contains white space")
    name, at, digest = text.partition("@")
    if at and not digest:
        raise ReferenceError_(f"invalid reference {text!r}: empty digest after '@'")
    tag: str | None = None
    colon = name.rfind(":")
    if colon != -1 and "/" not in name[colon + 1 :]:
        name, tag = name[:colon], name[colon + 1 :]
        if not tag:
            raise ReferenceError_(f"invalid reference {text!r}: empty tag after ':'")
    if not name:
        raise ReferenceError_(f"invalid reference {text!r}: empty repository name")
    registry, repository = _split_registry(name)
    if registry == DOCKER_HUB and "/" not in repository:
        repository = f"library/{repository}"
    _validate(registry, repository, tag, digest or None, text)
    if tag is None and not digest and default_tag:
        tag = DEFAULT_TAG
    return Reference(registry=registry, repository=repository, tag=tag, digest=digest or None)
