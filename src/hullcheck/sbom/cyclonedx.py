"""Inventory <-> CycloneDX 1.6.

Writing goes through cyclonedx-python-lib (its model and its JSON/XML outputters keep us
inside the schema). Reading is by hand over the parsed JSON with ``_reader.Node``: the
library's deserialiser is strict about documents other tools write and reports failures
as library exceptions, while we want to keep going past what we do not understand and name
the JSON path of what is malformed.

What hullcheck knows that CycloneDX has no field for travels in ``hullcheck:`` properties
(see ``_props``); Syft's and Trivy's properties are read too.
"""

from __future__ import annotations

import json
import re
from collections import defaultdict

from cyclonedx.contrib.license.factories import LicenseFactory
from cyclonedx.exception.factory import InvalidLicenseExpressionException
from cyclonedx.model import Property
from cyclonedx.model.bom import Bom, BomMetaData
from cyclonedx.model.component import Component, ComponentType
from cyclonedx.model.contact import OrganizationalContact, OrganizationalEntity
from cyclonedx.model.license import (
    DisjunctiveLicense,
    License,
    LicenseAcknowledgement,
    LicenseExpression,
)
from cyclonedx.model.tool import ToolRepository
from cyclonedx.output import make_outputter
from cyclonedx.schema import OutputFormat, SchemaVersion
from cyclonedx.spdx import fixup_id
from packageurl import PackageURL

from hullcheck.model import Inventory, Package, Supplier
from hullcheck.sbom import _cyclonedx_files as cdx_files
from hullcheck.sbom import _props as P
from hullcheck.sbom import native
from hullcheck.sbom._common import TOOL, TOOL_VERSION, image_purl, refs, shown
from hullcheck.sbom._cyclonedx_read import decode, is_cyclonedx
from hullcheck.sbom._license import spdx_expression

__all__ = ["decode", "encode", "is_cyclonedx"]

_LICENSES = LicenseFactory()
_DECLARED = LicenseAcknowledgement.DECLARED
_CONCLUDED = LicenseAcknowledgement.CONCLUDED  # detected from licence text
_EMAIL = re.compile(r"[^@\s<>]+@[^@\s<>]+")


def encode(inventory: Inventory, *, xml: bool = False, files: bool = True) -> bytes:
    """The inventory as a CycloneDX 1.6 JSON (or XML) document, each package's files nested
    in its component (see ``_cyclonedx_files``) unless ``files`` is false."""
    bom = _bom(inventory)
    owned = cdx_files.owned(inventory) if files else {}
    if xml:
        # XML 1.0 cannot carry most control characters, which image metadata (os-release,
        # history) may hold: they become U+FFFD, then the document is indented.
        raw = make_outputter(bom, OutputFormat.XML, SchemaVersion.V1_6).output_as_string()
        clean = cdx_files.XML_INVALID.sub("\ufffd", raw)
        # Our own serialiser's output (no DTD, no entities), not untrusted input.
        root = cdx_files.parse_xml(clean.encode("utf-8", "backslashreplace"))
        text = cdx_files.dump_xml(root, owned)
    else:
        # Unindented from the library (its C encoder), indented once the files are in.
        doc = json.loads(
            make_outputter(bom, OutputFormat.JSON, SchemaVersion.V1_6).output_as_string())
        text = cdx_files.dump_json(doc, owned)
    # Lone surrogates (undecodable paths) cannot be UTF-8; keep them visible as escapes.
    return text.encode("utf-8", "backslashreplace") + b"\n"


def _bom(inventory: Inventory) -> Bom:
    packages = shown(inventory)
    image = _image_component(inventory)
    components = [
        _component(inventory, p, ref) for p, ref in zip(packages, refs(packages), strict=True)
    ]
    _attach_relationships(inventory, packages, components)
    if inventory.distro is not None:
        d = inventory.distro
        components.append(
            Component(
                type=ComponentType.OPERATING_SYSTEM, name=d.id, version=d.version_id or None,
                bom_ref=f"hullcheck:os:{d.release}", description=d.pretty_name or None,
            )
        )
    bom = Bom(
        components=components,
        metadata=BomMetaData(
            tools=ToolRepository(
                components=[
                    Component(type=ComponentType.APPLICATION, name=TOOL, version=TOOL_VERSION)
                ]
            ),
            component=image,
            properties=_metadata_properties(inventory, len(packages)),
        ),
    )
    bom.register_dependency(image, components)
    return bom


def _image_component(inventory: Inventory) -> Component:
    s = inventory.source
    purl = image_purl(s.kind, s.name, s.manifest_digest)
    return Component(
        type=ComponentType.CONTAINER,
        name=s.name or "image",
        version=s.manifest_digest or None,
        purl=purl,
        bom_ref=purl.to_string() if purl else "hullcheck:image",
    )


def _prop(name: str, value: object) -> Property:
    return Property(name=name, value=str(value))


def _metadata_properties(inventory: Inventory, listed: int) -> list[Property]:
    s, hidden = inventory.source, len(inventory.hidden)
    out = [
        _prop(P.SCOPE, inventory.scope),
        _prop(P.HIDDEN_COUNT, hidden),
        _prop(P.HIDDEN_OMITTED, len(inventory.packages) - listed),
        _prop(P.FILES_TOTAL, inventory.files_total),
        _prop(P.FILES_OWNED, inventory.files_owned),
        _prop(P.IMAGE_KIND, s.kind),
        _prop(P.IMAGE_NAME, s.name),
        *(_prop(P.IMAGE_REPO_DIGEST, x) for x in s.repo_digests),
        *(_prop(P.IMAGE_TAG, x) for x in s.tags),
        *(_prop(P.IMAGE_LABEL + k, v) for k, v in s.labels),
    ]
    optional = [
        (P.IMAGE_DIGEST, s.manifest_digest), (P.IMAGE_CONFIG, s.config_digest),
        (P.IMAGE_PLATFORM, s.platform), (P.IMAGE_CREATED, s.created),
    ]
    if (d := inventory.distro) is not None:
        optional += [
            (P.DISTRO + "id", d.id), (P.DISTRO + "version-id", d.version_id),
            (P.DISTRO + "codename", d.codename), (P.DISTRO + "name", d.name),
            (P.DISTRO + "pretty-name", d.pretty_name), (P.DISTRO + "id-like", " ".join(d.id_like)),
        ]
    for x in inventory.layers:
        optional += [
            (f"{P.LAYER}{x.index}:digest", x.digest), (f"{P.LAYER}{x.index}:diff-id", x.diff_id),
            (f"{P.LAYER}{x.index}:media-type", x.media_type),
            (f"{P.LAYER}{x.index}:size", str(x.size) if x.size else ""),
            (f"{P.LAYER}{x.index}:created-by", x.created_by),
        ]
    return out + [_prop(k, v) for k, v in optional if v]


def _component(inventory: Inventory, p: Package, ref: str) -> Component:
    purl = _purl(p.purl)
    licenses, licenses_prop = _licenses(p.licenses, {d.expression for d in p.detected_licenses})
    always = [
        _prop(P.PACKAGE_TYPE, p.type.value),  # also marks the component as written by us
        _prop(P.FOUND_BY, p.found_by),
        _prop(P.VISIBILITY, p.visibility.value),
    ]
    if p.source is not None:
        always += [_prop(P.SOURCE_NAME, p.source.name), _prop(P.SOURCE_VERSION, p.source.version)]
    if p.owned_by:
        always.append(_prop(P.OWNED_BY, p.owned_by))
    props: list[tuple[str, str]] = [
        (P.ARCH, p.arch),
        (P.FILES_COUNT, str(len(p.files)) if p.files else ""),
        (P.LICENSES, licenses_prop),
        (P.LICENSES_DETECTED, _detected(p)),
        (P.SUPPLIER_KIND, p.supplier.kind.value if p.supplier else ""),
        (P.PURL_UNPARSED, p.purl if purl is None else ""),
    ]
    for i, loc in enumerate(p.locations):
        always.append(_prop(f"{P.LOCATION}{i}:path", loc.path))
        if loc.layer is not None:
            props.append((f"{P.LOCATION}{i}:layer-index", str(loc.layer)))
    layer = next((x for x in inventory.layers if x.index == p.layer), None)
    if layer is not None:
        props += [(P.LAYER_DIFF_ID, layer.diff_id), (P.LAYER_CREATED_BY, layer.created_by)]
    props += [(f"{P.CPE}{i}", cpe) for i, cpe in enumerate(p.cpes[1:], start=1)]
    return Component(
        type=ComponentType.LIBRARY,
        name=p.name or "(unnamed)",
        version=p.version or None,
        purl=purl,
        bom_ref=ref,
        licenses=licenses,
        cpe=p.cpes[0] if p.cpes else None,
        supplier=_supplier(p.supplier) if p.supplier else None,
        properties=always
        + [_prop(k, v) for k, v in props if v]
        + [_prop(P.EXTRA + k, v) for k, v in p.extras],
    )


def _purl(text: str) -> PackageURL | None:
    try:
        return PackageURL.from_string(text) if text else None
    except ValueError:
        return None


def _licenses(texts: tuple[str, ...], detected: set[str]) -> tuple[list[License], str]:
    """CycloneDX licences for the texts, each acknowledged as declared, or concluded when
    ``detected`` (from licence text); and the JSON list to record when they cannot all be
    said in the licence field (the schema allows either licences or one expression)."""
    singles: list[License] = []
    expressions: list[str] = []
    acks: set[LicenseAcknowledgement] = set()
    texts = tuple(t for t in texts if t.strip())
    for text in texts:
        ack = _CONCLUDED if text in detected else _DECLARED
        acks.add(ack)
        spdx_id = fixup_id(text)
        if spdx_id is not None:
            singles.append(DisjunctiveLicense(id=spdx_id, acknowledgement=ack))
        elif (expr := spdx_expression(text)) is not None:
            expressions.append(expr)
        else:
            singles.append(_LICENSES.make_with_name(text, acknowledgement=ack))
    if not expressions:
        return singles, ""
    # One expression, or several licences with a compound one among them: one AND-ed
    # expression of the valid ones (acknowledged when all are alike), and the full list in a
    # property so our own reader restores them.
    ack_all = next(iter(acks)) if len(acks) == 1 else None
    if len(expressions) == 1 and not singles:
        return [_expression(expressions[0], ack_all)], ""
    valid = [t for t in (spdx_expression(x) for x in texts) if t]
    combined = " AND ".join(f"({t})" if " " in t else t for t in valid)
    return [_expression(combined, ack_all)], json.dumps(list(texts), ensure_ascii=False)


def _expression(text: str, ack: LicenseAcknowledgement | None) -> License:
    try:
        return _LICENSES.make_with_expression(text, acknowledgement=ack)
    except InvalidLicenseExpressionException:
        # LicenseRef- ids: valid SPDX, unknown to the library
        return LicenseExpression(text, acknowledgement=ack)


def _detected(p: Package) -> str:
    """The detected licences with their confidence and file, for our own reader (CycloneDX
    says only "concluded")."""
    if not p.detected_licenses:
        return ""
    return json.dumps([native._detected(d) for d in p.detected_licenses], ensure_ascii=False)


def _supplier(s: Supplier) -> OrganizationalEntity:
    """CycloneDX's supplier is an organisational entity: a person supplier is one named after
    them (the kind travels in a property)."""
    # The schema wants an address there: a value that is none (from a foreign SBOM) is left out.
    contacts = [OrganizationalContact(email=s.email)] if _EMAIL.fullmatch(s.email) else None
    return OrganizationalEntity(name=s.name or s.email, contacts=contacts)


def _attach_relationships(
    inventory: Inventory, packages: tuple[Package, ...], components: list[Component]
) -> None:
    """Relationships whose source is a listed package become properties on its component."""
    by_purl: dict[str, Component] = {}
    for p, c in zip(packages, components, strict=True):
        by_purl.setdefault(p.purl, c)
    grouped: defaultdict[str, list[Property]] = defaultdict(list)
    for r in inventory.relationships:
        if r.source in by_purl:
            grouped[r.source].append(_prop(P.RELATIONSHIP + r.type.value, r.target))
    for purl, props in grouped.items():
        by_purl[purl].properties.update(props)

