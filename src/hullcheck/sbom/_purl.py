"""Package URLs to model values, for documents written by other tools."""

from __future__ import annotations

from packageurl import PackageURL

from hullcheck import ecosystem
from hullcheck.model import Distro, PackageType

PURL_TYPES = ecosystem.PURL_TYPES  # purl type -> package type, read from THE table


def parse(purl: str) -> PackageURL | None:
    """The parsed purl, or None when ``purl`` is not one."""
    if not purl or len(purl) > 4096:
        return None
    try:
        return PackageURL.from_string(purl)
    except ValueError:
        return None


def package_type(purl: PackageURL) -> PackageType | None:
    return PURL_TYPES.get(purl.type)


def package_name(purl: PackageURL) -> str:
    """The ecosystem's own spelling of the name: "org.group:artifact", "@scope/pkg", ..."""
    ptype = PURL_TYPES.get(purl.type)
    return ecosystem.package_name(ptype, purl.namespace, purl.name) if ptype else purl.name


def package_version(purl: PackageURL) -> str:
    version = purl.version or ""
    epoch = _qualifiers(purl).get("epoch", "")
    if purl.type == "rpm" and epoch and epoch != "0" and version and ":" not in version:
        return f"{epoch}:{version}"
    return version


def qualifier(purl: PackageURL, key: str) -> str:
    return _qualifiers(purl).get(key, "")


def distro(purl: PackageURL) -> Distro | None:
    """The distro from an OS package's ``distro=`` qualifier ("debian-12", "rocky-9.3", or
    Trivy's bare "3.18.4" with the id taken from the namespace)."""
    if PURL_TYPES.get(purl.type) not in ecosystem.OS_TYPES:
        return None
    value = qualifier(purl, "distro")
    if not value:
        return None
    head, sep, tail = value.rpartition("-")
    if sep and head and tail[:1].isdigit():
        return Distro(id=head.lower(), version_id=tail)
    if value[:1].isdigit() and purl.namespace:
        return Distro(id=purl.namespace.lower(), version_id=value)
    return Distro(id=value.lower())


def _qualifiers(purl: PackageURL) -> dict[str, str]:
    q = purl.qualifiers
    return q if isinstance(q, dict) else {}
