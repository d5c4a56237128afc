"""Which image or package a VEX product names, and whether a finding is in it.

Fail safe: a statement applies only to the products it names in a form hullcheck can check.
A purl names a package (or, ``pkg:oci`` with a digest version, an image); a digest names an
image. Anything else (a CPE, an empty product, a URL, a CycloneDX reference that resolves to
no purl) names nothing here, so it cannot suppress a finding in an unrelated image.

Purl matching follows the purl spec: type, namespace and name must be equal; a version, a
subpath and each qualifier the product gives must be equal too; those it leaves out match
anything (``pkg:deb/debian/openssl?arch=arm64`` names no amd64 package).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable

from packageurl import PackageURL

_DIGEST = re.compile(r"^sha(256:[0-9a-f]{64}|512:[0-9a-f]{128})$")


def parse_purl(text: str) -> PackageURL | None:
    if not text.startswith("pkg:"):
        return None
    try:
        return PackageURL.from_string(text)
    except ValueError:
        return None


@functools.lru_cache(maxsize=1 << 14)  # documents repeat their products statement after statement
def identify(text: str) -> str:
    """``text`` as a product hullcheck can match (a purl, or an image digest; ``NAME@DIGEST``
    gives its digest), or "" when it names nothing checkable."""
    if parse_purl(text) is not None:
        return text
    digest = text.rsplit("@", 1)[-1].lower()
    return digest if _DIGEST.match(digest) else ""


def with_version(product: str, version: str) -> str:
    """The package purl ``product`` pinned to ``version``; "" when ``product`` is not a
    package purl or names another version already."""
    purl = parse_purl(product)
    if purl is None or purl.type == "oci" or (purl.version and purl.version != version):
        return ""
    return purl._replace(version=version).to_string()


def image_ids(ids: Iterable[str]) -> tuple[str, ...]:
    """Digests identifying the image; ``NAME@sha256:...`` repo digests give their digest."""
    out = []
    for i in ids:
        out.append(i)
        if "@" in i:
            out.append(i.rsplit("@", 1)[1])
    return tuple(dict.fromkeys(out))


def purl_matches(want: PackageURL, have: PackageURL) -> bool:
    """Whether package ``have`` is one that product purl ``want`` names."""
    if (want.type, want.namespace, want.name) != (have.type, have.namespace, have.name):
        return False
    if want.version and want.version != have.version:
        return False
    if want.subpath and want.subpath != have.subpath:
        return False
    have_q = have.qualifiers if isinstance(have.qualifiers, dict) else {}
    want_q = want.qualifiers if isinstance(want.qualifiers, dict) else {}
    return all(have_q.get(k) == v for k, v in want_q.items())


class Matcher:
    """Product checks for one image; each purl is parsed once however often it is compared."""

    def __init__(self, ids: Iterable[str]) -> None:
        self.image_ids = frozenset(image_ids(ids))
        self._purls: dict[str, PackageURL | None] = {}

    def purl(self, text: str) -> PackageURL | None:
        if text not in self._purls:
            self._purls[text] = parse_purl(text)
        return self._purls[text]

    def is_image(self, product: str) -> bool:
        """A digest of the image, or a ``pkg:oci`` purl whose version is one. Its other
        qualifiers (repository_url, tag) say where the image is, not what it is."""
        if product in self.image_ids:
            return True
        purl = self.purl(product)
        return purl is not None and purl.type == "oci" and bool(purl.version) \
            and purl.version in self.image_ids

    def is_package(self, product: str, package_purl: str) -> bool:
        if product == package_purl:
            return True
        want, have = self.purl(product), self.purl(package_purl)
        return want is not None and have is not None and purl_matches(want, have)
