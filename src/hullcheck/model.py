"""The shared vocabulary: value types that flow between the rooms.

All types are frozen, slotted, keyword-only dataclasses holding tuples, so
they can be hashed, shared between threads and compared in tests. Facts that
drive a decision are typed fields; ``extras`` is for display only.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum


class PackageType(StrEnum):
    """What kind of package; the value is the purl type."""

    DEB = "deb"
    APK = "apk"
    RPM = "rpm"
    PYTHON = "pypi"
    NPM = "npm"
    GO = "golang"
    MAVEN = "maven"
    CARGO = "cargo"
    GEM = "gem"
    COMPOSER = "composer"
    NUGET = "nuget"
    BINARY = "generic"


class Severity(StrEnum):
    """How serious a finding is, in one vocabulary for every scanner and judge: vulnerability
    findings, secrets, image configuration checks, policy thresholds and ``--fail-on``.

    Ordered by rank (``Severity.LOW < Severity.HIGH``); members are listed worst first, the
    order tables and summaries show them in. MALICIOUS (a malicious package) sits above
    CRITICAL; NEGLIGIBLE and UNKNOWN (no rating known) below LOW.
    """

    MALICIOUS = "malicious"
    CRITICAL = "critical"
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"
    NEGLIGIBLE = "negligible"
    UNKNOWN = "unknown"

    @property
    def rank(self) -> int:
        """6 (malicious) down to 0 (unknown); CEL policies see these numbers."""
        return _SEVERITY_RANK[self]

    @classmethod
    def parse(cls, text: str) -> Severity:
        """The severity named by ``text`` (any case); ValueError naming the words otherwise."""
        try:
            return cls(text.lower())
        except ValueError:
            raise ValueError(
                f"unknown severity {text!r}: one of {', '.join(m.value for m in cls)}"
            ) from None

    # Compared by rank, not as strings ("low" > "high" alphabetically).
    def __lt__(self, other: object) -> bool:
        return self.rank < other.rank if isinstance(other, Severity) else NotImplemented

    def __le__(self, other: object) -> bool:
        return self.rank <= other.rank if isinstance(other, Severity) else NotImplemented

    def __gt__(self, other: object) -> bool:
        return self.rank > other.rank if isinstance(other, Severity) else NotImplemented

    def __ge__(self, other: object) -> bool:
        return self.rank >= other.rank if isinstance(other, Severity) else NotImplemented


_SEVERITY_RANK = {Severity.MALICIOUS: 6, Severity.CRITICAL: 5, Severity.HIGH: 4, Severity.MEDIUM: 3,
                  Severity.LOW: 2, Severity.NEGLIGIBLE: 1, Severity.UNKNOWN: 0}

# The words a rule of our own carries (a secret rule, an image configuration check): malicious,
# negligible and unknown describe advisories, not rules.
RULE_SEVERITIES = (Severity.CRITICAL, Severity.HIGH, Severity.MEDIUM, Severity.LOW)


class Visibility(StrEnum):
    """Whether a package is seen in the final file system of the image."""

    VISIBLE = "visible"
    # Only in lower layers: a later layer deleted or overwrote its evidence. The bytes are
    # still pulled with the image and can be extracted from it.
    HIDDEN = "shipped-not-visible"


@dataclass(frozen=True, slots=True, kw_only=True)
class Layer:
    """One layer of an image, as the file tree and the SBOM refer to it."""

    index: int
    digest: str  # blob digest as stored (compressed), "" for a dir: source
    diff_id: str  # digest of the uncompressed tar, from the config
    media_type: str = ""
    size: int = 0  # stored size in bytes
    created_by: str = ""  # matching history[].created_by, "" when unknown


@dataclass(frozen=True, slots=True, kw_only=True)
class Location:
    """Where evidence was found: an absolute path in the image and the layer that wrote it."""

    path: str
    layer: int | None = None  # index into Inventory.layers; None for a dir: source


@dataclass(frozen=True, slots=True, kw_only=True)
class Distro:
    """The operating system release, from os-release."""

    id: str  # "debian", "alpine", "ubuntu", "rhel", ...
    version_id: str = ""  # "12", "3.18.4"
    codename: str = ""  # "bookworm"
    name: str = ""
    pretty_name: str = ""
    id_like: tuple[str, ...] = ()

    @property
    def release(self) -> str:
        """The distro qualifier used in purls, e.g. ``debian-12``."""
        return f"{self.id}-{self.version_id}" if self.version_id else self.id


@dataclass(frozen=True, slots=True, kw_only=True)
class SourcePackage:
    """The source package an OS binary package was built from (dpkg Source:, RPM SOURCERPM,
    apk origin). Distro advisories are keyed by it."""

    name: str
    version: str


class SupplierKind(StrEnum):
    """Whether a supplier is one person or an organisation (SPDX ``Person:``/``Organization:``)."""

    PERSON = "person"
    ORGANIZATION = "organization"


@dataclass(frozen=True, slots=True, kw_only=True)
class Supplier:
    """Who distributes the package: a Debian ``Maintainer``, an Alpine ``m:``, an RPM ``Vendor``
    (SPDX PackageSupplier, CycloneDX component supplier)."""

    name: str
    email: str = ""
    kind: SupplierKind = SupplierKind.ORGANIZATION


# "Name <address>" as Debian's Maintainer, Alpine's m: and Trivy's CycloneDX supplier write
# it. Split by hand: email.utils.parseaddr reads RFC 5322 address lists only, and gives
# ('', 'Fedora') for the vendor "Fedora Project", ('', 'Red') for "Red Hat, Inc. <URL>".
_NAME_ADDRESS = re.compile(r"(?P<name>[^<>]*)<(?P<address>[^<>@\s]+@[^<>\s]+)>\s*\Z")


def split_contact(text: str) -> tuple[str, str]:
    """``Name <address>`` -> (name, address); a bare address -> ("", address); anything else
    -> (text, ""). Whitespace is folded, surrounding quotes dropped from the name."""
    text = " ".join(text.split())
    m = _NAME_ADDRESS.fullmatch(text)
    if m is not None:
        return m.group("name").strip().strip('"').strip(), m.group("address")
    if "@" in text and " " not in text:
        return "", text.strip("<>")
    return text, ""


@dataclass(frozen=True, slots=True, kw_only=True)
class DetectedLicense:
    """A licence concluded from licence text by a classifier, not declared by the package (a
    Debian copyright file that is not machine-readable). CycloneDX ``acknowledgement:
    concluded``, SPDX ``licenseConcluded``."""

    expression: str  # an SPDX id, one of Package.licenses
    # How much of the text the recognised licence texts account for, 0-1 (each licence named
    # was matched against its whole template; the rest of the text is not accounted for).
    # None when a document read back did not say.
    confidence: float | None = None
    path: str = ""  # the file the text was read from


# The algorithms of Package.file_digests, and the hex digits of each.
FILE_DIGEST_HEX = {"md5": 32, "sha1": 40, "sha224": 56, "sha256": 64, "sha384": 96,
                   "sha512": 128}
_HEX = frozenset("0123456789abcdef")
_FILE_DIGEST = re.compile(
    "(?:" + "|".join(f"{a}:[0-9a-f]{{{n}}}" for a, n in FILE_DIGEST_HEX.items()) + r")\Z")


def file_digest(algorithm: str, hexdigits: str) -> str | None:
    """``algorithm:hex`` (lower case) for Package.file_digests; None unless ``algorithm`` is one
    of FILE_DIGEST_HEX and ``hexdigits`` is that many hex digits."""
    hexdigits = hexdigits.lower()
    if len(hexdigits) != FILE_DIGEST_HEX.get(algorithm) or not _HEX.issuperset(hexdigits):
        return None
    return f"{algorithm}:{hexdigits}"


def is_file_digest(digest: str) -> bool:
    """Whether ``digest`` is a Package.file_digests digest as file_digest writes it."""
    return _FILE_DIGEST.match(digest) is not None


@dataclass(frozen=True, slots=True, kw_only=True)
class Package:
    type: PackageType
    name: str
    version: str
    purl: str
    found_by: str  # cataloger name, e.g. "dpkg-db"
    locations: tuple[Location, ...]  # the first is the primary evidence and carries the layer
    licenses: tuple[str, ...] = ()  # SPDX expressions where known, else the text as found
    # Those of ``licenses`` detected from licence text, with a confidence; every other entry
    # of ``licenses`` was declared by the package (its metadata, a DEP-5 copyright file).
    detected_licenses: tuple[DetectedLicense, ...] = ()
    supplier: Supplier | None = None
    source: SourcePackage | None = None
    arch: str = ""
    files: tuple[str, ...] = ()  # absolute paths of the files this package owns
    # What the package database records of its files' content: sorted, distinct (path, digest)
    # pairs, the digest "md5:<hex>", "sha1:<hex>", "sha256:<hex>"... (see FILE_DIGEST_HEX), for
    # paths among ``files``. A file as installed; the image's copy may since have changed.
    file_digests: tuple[tuple[str, str], ...] = ()
    cpes: tuple[str, ...] = ()
    visibility: Visibility = Visibility.VISIBLE
    # purl of the OS package whose files include this package's evidence (a Python module
    # shipped by a .deb): its fixes come through the distro, so it is matched as the OS package.
    owned_by: str = ""
    # Display-only details as sorted (key, value) pairs (description, installed size...).
    # Nothing may decide on these.
    extras: tuple[tuple[str, str], ...] = ()

    @property
    def layer(self) -> int | None:
        return self.locations[0].layer if self.locations else None

    @property
    def declared_licenses(self) -> tuple[str, ...]:
        """``licenses`` less those detected from licence text."""
        detected = {d.expression for d in self.detected_licenses}
        return tuple(x for x in self.licenses if x not in detected)

    @property
    def key(self) -> tuple[str, str, str, str]:
        """Identity of a package across layers: same type, name, version and arch."""
        return (self.type.value, self.name, self.version, self.arch)


class RelationshipType(StrEnum):
    CONTAINS = "contains"  # package -> file it owns
    BUILT_FROM = "built-from"  # binary package -> its source package
    OWNED_BY = "owned-by"  # language package -> OS package that ships its files


@dataclass(frozen=True, slots=True, kw_only=True)
class Relationship:
    source: str  # package purl (or path for files)
    target: str
    type: RelationshipType


@dataclass(frozen=True, slots=True, kw_only=True)
class Unknown:
    """A piece of evidence that could not be read; the run goes on."""

    location: Location
    cataloger: str
    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ImageSource:
    """What was scanned."""

    kind: str  # "oci", "oci-archive", "docker-archive", "dir", "registry"
    name: str  # the reference as the user gave it (normalised for registries)
    manifest_digest: str = ""  # sha256 of the manifest actually read
    config_digest: str = ""  # the image ID
    repo_digests: tuple[str, ...] = ()  # NAME@sha256:... when known
    tags: tuple[str, ...] = ()
    platform: str = ""  # os/arch[/variant]
    created: str = ""
    labels: tuple[tuple[str, str], ...] = ()  # sorted (key, value) pairs


@dataclass(frozen=True, slots=True, kw_only=True)
class Inventory:
    """Everything catalogued in one image (or decoded from one SBOM)."""

    source: ImageSource
    distro: Distro | None = None
    layers: tuple[Layer, ...] = ()
    packages: tuple[Package, ...] = ()
    relationships: tuple[Relationship, ...] = ()
    unknowns: tuple[Unknown, ...] = ()
    scope: str = "squashed"  # "squashed" or "all-layers"
    # How much of the image the packages account for: regular files visible in the final
    # file system, and how many of them some package owns.
    files_total: int = 0
    files_owned: int = 0

    @property
    def visible(self) -> tuple[Package, ...]:
        return tuple(p for p in self.packages if p.visibility is Visibility.VISIBLE)

    @property
    def hidden(self) -> tuple[Package, ...]:
        return tuple(p for p in self.packages if p.visibility is Visibility.HIDDEN)
