"""hullcheck's own lossless JSON: everything in an Inventory, hidden packages included.

``decode(encode(inventory)) == inventory`` for every Inventory (a property test checks it).
The document carries ``"hullcheckSchema": 1``; a reader refuses versions it does not know.
"""

from __future__ import annotations

import io
from enum import StrEnum
from typing import Any, BinaryIO, TypeVar

from hullcheck.model import (
    DetectedLicense,
    Distro,
    ImageSource,
    Inventory,
    Layer,
    Location,
    Package,
    PackageType,
    Relationship,
    RelationshipType,
    SourcePackage,
    Supplier,
    SupplierKind,
    Unknown,
    Visibility,
)
from hullcheck.sbom import _json
from hullcheck.sbom._reader import Node

SCHEMA_VERSION = 1
_E = TypeVar("_E", bound=StrEnum)


def encode(inventory: Inventory) -> bytes:
    """The inventory as json.dumps(doc, indent=2) writes its document, written piece by
    piece, a package at a time (bench/README.md: peaks)."""
    out = io.BytesIO()
    try:
        _write(inventory, out, _json.encode_basestring, "utf-8")
    except UnicodeEncodeError:
        # Lone surrogates (paths decoded with surrogateescape) survive only as \u escapes.
        out = io.BytesIO()
        _write(inventory, out, _json.encode_basestring_ascii, "ascii")
    return out.getvalue()


def _write(inventory: Inventory, out: BinaryIO, quote: _json.Quote, encoding: str) -> None:
    text = _json.Pieces(out, encoding)
    doc = _json.Document(text)
    for key, value in (
        ("hullcheckSchema", SCHEMA_VERSION),
        ("scope", inventory.scope),
        ("filesTotal", inventory.files_total),
        ("filesOwned", inventory.files_owned),
        ("source", _source(inventory.source)),
        ("distro", _distro(inventory.distro) if inventory.distro else None),
        ("layers", [_layer(x) for x in inventory.layers]),
    ):
        doc.field(key, value, quote)
    doc.start("packages", quote)
    for p in inventory.packages:
        doc.element(_package(p), quote)
    doc.end()
    doc.field("relationships", [{"source": r.source, "target": r.target, "type": r.type.value}
                                for r in inventory.relationships], quote)
    doc.field("unknowns", [
        {"location": _location(u.location), "cataloger": u.cataloger, "reason": u.reason}
        for u in inventory.unknowns], quote)
    doc.close()
    text.flush()


def is_native(doc: Any) -> bool:
    return isinstance(doc, dict) and "hullcheckSchema" in doc


def decode(doc: Any, name: str) -> Inventory:
    root = Node(name, "", doc)
    version = root.req("hullcheckSchema").as_int()
    if version != SCHEMA_VERSION:
        root.req("hullcheckSchema").fail(
            f"schema version {version} is not supported (this hullcheck reads {SCHEMA_VERSION})"
        )
    distro = root.get("distro")
    return Inventory(
        source=_read_source(root.req("source")),
        distro=_read_distro(distro) if distro else None,
        layers=tuple(_read_layer(n) for n in root.list("layers")),
        packages=tuple(_read_package(n) for n in root.list("packages")),
        relationships=tuple(_read_relationship(n) for n in root.list("relationships")),
        unknowns=tuple(
            Unknown(
                location=_read_location(n.req("location")),
                cataloger=n.str("cataloger"),
                reason=n.str("reason"),
            )
            for n in root.list("unknowns")
        ),
        scope=root.str("scope", "squashed"),
        files_total=root.opt_int("filesTotal") or 0,
        files_owned=root.opt_int("filesOwned") or 0,
    )


# --- writing ---------------------------------------------------------------------------------


def _pairs(pairs: tuple[tuple[str, str], ...]) -> list[list[str]]:
    return [[k, v] for k, v in pairs]


def _source(s: ImageSource) -> dict[str, Any]:
    return {
        "kind": s.kind, "name": s.name, "manifestDigest": s.manifest_digest,
        "configDigest": s.config_digest, "repoDigests": list(s.repo_digests),
        "tags": list(s.tags), "platform": s.platform, "created": s.created,
        "labels": _pairs(s.labels),
    }


def _distro(d: Distro) -> dict[str, Any]:
    return {
        "id": d.id, "versionId": d.version_id, "codename": d.codename, "name": d.name,
        "prettyName": d.pretty_name, "idLike": list(d.id_like),
    }


def _layer(x: Layer) -> dict[str, Any]:
    return {
        "index": x.index, "digest": x.digest, "diffId": x.diff_id, "mediaType": x.media_type,
        "size": x.size, "createdBy": x.created_by,
    }


def _location(loc: Location) -> dict[str, Any]:
    return {"path": loc.path, "layer": loc.layer}


def _package(p: Package) -> dict[str, Any]:
    return {
        "type": p.type.value, "name": p.name, "version": p.version, "purl": p.purl,
        "foundBy": p.found_by, "locations": [_location(x) for x in p.locations],
        "licenses": list(p.licenses),
        "detectedLicenses": [_detected(d) for d in p.detected_licenses],
        "supplier": _supplier(p.supplier) if p.supplier else None,
        "source": {"name": p.source.name, "version": p.source.version} if p.source else None,
        "arch": p.arch, "files": list(p.files), "fileDigests": _pairs(p.file_digests),
        "cpes": list(p.cpes),
        "visibility": p.visibility.value, "ownedBy": p.owned_by, "extras": _pairs(p.extras),
    }


def _detected(d: DetectedLicense) -> dict[str, Any]:
    return {"expression": d.expression, "confidence": d.confidence, "path": d.path}


def _supplier(s: Supplier) -> dict[str, Any]:
    return {"name": s.name, "email": s.email, "kind": s.kind.value}


# --- reading ---------------------------------------------------------------------------------


def _enum(cls: type[_E], node: Node) -> _E:
    value = node.as_str()
    try:
        return cls(value)
    except ValueError:
        node.fail(f"unknown value {value!r}")


def _read_pairs(node: Node, key: str) -> tuple[tuple[str, str], ...]:
    out = []
    for pair in node.list(key):
        items = list(pair.items())
        if len(items) != 2:
            pair.fail("expected a [key, value] pair")
        out.append((items[0].as_str(), items[1].as_str()))
    return tuple(out)


def _read_source(n: Node) -> ImageSource:
    return ImageSource(
        kind=n.str("kind"), name=n.str("name"), manifest_digest=n.str("manifestDigest"),
        config_digest=n.str("configDigest"), repo_digests=n.strs("repoDigests"),
        tags=n.strs("tags"), platform=n.str("platform"), created=n.str("created"),
        labels=_read_pairs(n, "labels"),
    )


def _read_distro(n: Node) -> Distro:
    return Distro(
        id=n.req("id").as_str(), version_id=n.str("versionId"), codename=n.str("codename"),
        name=n.str("name"), pretty_name=n.str("prettyName"), id_like=n.strs("idLike"),
    )


def _read_layer(n: Node) -> Layer:
    return Layer(
        index=n.req("index").as_int(), digest=n.str("digest"), diff_id=n.str("diffId"),
        media_type=n.str("mediaType"), size=n.opt_int("size") or 0,
        created_by=n.str("createdBy"),
    )


def _read_relationship(n: Node) -> Relationship:
    return Relationship(
        source=n.req("source").as_str(),
        target=n.req("target").as_str(),
        type=_enum(RelationshipType, n.req("type")),
    )


def read_detected(n: Node) -> DetectedLicense:
    """A detected licence as ``_detected`` writes it; the confidence a number from 0 to 1 or
    absent."""
    confidence = n.get("confidence")
    value = None if confidence is None else confidence.value
    if value is not None and (isinstance(value, bool) or not isinstance(value, int | float)
                              or not 0 <= value <= 1):
        n.fail(f"confidence must be a number from 0 to 1, not {str(value)[:40]!r}")
    return DetectedLicense(expression=n.req("expression").as_str(),
                           confidence=None if value is None else float(value),
                           path=n.str("path"))


def read_supplier(n: Node) -> Supplier:
    return Supplier(name=n.req("name").as_str(), email=n.str("email"),
                    kind=_enum(SupplierKind, n.req("kind")) if n.has("kind")
                    else SupplierKind.ORGANIZATION)


def _read_location(n: Node) -> Location:
    return Location(path=n.req("path").as_str(), layer=n.opt_int("layer"))


def _read_package(n: Node) -> Package:
    src = n.get("source")
    return Package(
        type=_enum(PackageType, n.req("type")),
        name=n.req("name").as_str(),
        version=n.str("version"),
        purl=n.str("purl"),
        found_by=n.str("foundBy"),
        locations=tuple(_read_location(x) for x in n.list("locations")),
        licenses=n.strs("licenses"),
        detected_licenses=tuple(read_detected(x) for x in n.list("detectedLicenses")),
        supplier=read_supplier(sup) if (sup := n.get("supplier")) else None,
        source=(
            SourcePackage(name=src.req("name").as_str(), version=src.str("version"))
            if src else None
        ),
        arch=n.str("arch"),
        files=n.strs("files"),
        file_digests=_read_pairs(n, "fileDigests"),
        cpes=n.strs("cpes"),
        visibility=(
            _enum(Visibility, n.req("visibility")) if n.has("visibility") else Visibility.VISIBLE
        ),
        owned_by=n.str("ownedBy"),
        extras=_read_pairs(n, "extras"),
    )
