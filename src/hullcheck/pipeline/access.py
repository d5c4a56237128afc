"""How commands reach images: the ``PullOptions`` every request carries, which registry an
image argument names (its credentials belong there only), a registry session."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from hullcheck.errors import ReferenceError_
from hullcheck.image import SCHEMES, PullOptions

if TYPE_CHECKING:
    from hullcheck.registry.client import RegistryClient

__all__ = ["PullOptions", "registry_client", "registry_of"]


def registry_of(text: str) -> str | None:
    """The registry host ``text`` names when it is a registry reference (``registry:REF``,
    or a REF that is no existing path, as ``image.split_source`` decides); None for file
    and directory sources and for what is no reference."""
    scheme, sep, rest = text.partition(":")
    if sep and scheme in SCHEMES:
        if scheme != "registry":
            return None
        text = rest
    elif Path(text).exists():
        return None
    from hullcheck.registry.reference import parse_reference  # (httpx: only for a registry)

    try:
        return parse_reference(text).registry
    except ReferenceError_:
        return None


def registry_client(pull: PullOptions) -> RegistryClient:
    """A registry session for many images (a server's; close it): credentials as ``pull``
    says."""
    from hullcheck.image.remote import make_client

    return make_client(pull)
