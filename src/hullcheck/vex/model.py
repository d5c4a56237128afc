"""What VEX documents and ignore files say, as read: statements about products, and rules."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

# Statuses that mark a finding: OpenVEX's, and CycloneDX's analysis states.
SUPPRESSING = frozenset({"not_affected", "fixed", "false_positive", "resolved",
                         "resolved_with_pedigree"})


@dataclass(frozen=True, slots=True, kw_only=True)
class Product:
    """What a statement is about: an image (a digest, or a ``pkg:oci`` purl with one) or a
    package (a purl) and, optionally, the subcomponents (package purls) inside it that the
    statement covers. Only identifiers hullcheck can match are kept (``products.identify``)."""

    id: str
    subcomponents: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class Statement:
    vulnerability: tuple[str, ...]  # id and aliases
    products: tuple[Product, ...]  # empty: the statement applies to nothing
    status: str  # OpenVEX status, or the CycloneDX analysis state
    justification: str = ""
    detail: str = ""
    source: str = ""
    timestamp: str = ""  # OpenVEX statement (or document) timestamp; later statements win
    order: int = 0  # position across the loaded documents, for equal timestamps
    ignored: tuple[str, ...] = ()  # products named that cannot be matched (CPE, {}, bad ref)


@dataclass(frozen=True, slots=True, kw_only=True)
class IgnoreRule:
    """One rule of an ignore file (hullcheck's, Trivy's or Grype's): a finding is marked when
    it has the id (or an alias of it) and every other condition the rule gives holds."""

    id: str  # "" = any vulnerability (a Grype rule naming only a package)
    reason: str
    package: str = ""  # a name or a purl; "" = any package
    expires: date | None = None
    source: str = ""
    version: str = ""  # the package's exact version (Grype's package.version)
    types: tuple[str, ...] = ()  # purl types, any of (Grype's package.type / language)
    paths: tuple[str, ...] = ()  # globs, one matching a package location (Trivy, Grype)
    upstream: str = ""  # the source package's name (Grype's upstream-name)
    statuses: tuple[str, ...] = ()  # finding statuses, any of (Grype's fix-state)
    via: str = ""  # "direct" or "source-package" (Grype's match-type)
    inert: str = ""  # why this rule cannot apply to hullcheck's findings: noted, never applied
