"""cyclonedx-python-lib's model of the document ``hullcheck.sbom.cyclonedx`` writes by hand:
the oracle of tests/sbom/test_cyclonedx_linear.py (the encoder itself never imports the
library). Dependencies are registered in linear time (the library's own registration is
quadratic in packages); everything else is the library's."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from xml.etree import ElementTree

from cyclonedx.contrib.license.factories import LicenseFactory
from cyclonedx.exception.factory import InvalidLicenseExpressionException
from cyclonedx.model import Property
from cyclonedx.model.bom import Bom, BomMetaData
from cyclonedx.model.component import Component, ComponentType
from cyclonedx.model.contact import OrganizationalContact, OrganizationalEntity
from cyclonedx.model.dependency import Dependable, Dependency
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

from hullcheck.model import Inventory, Package, Supplier
from hullcheck.sbom import _cyclonedx_files as cdx_files
from hullcheck.sbom import _props as P
from hullcheck.sbom._common import TOOL, TOOL_VERSION, image_purl, refs, shown
from hullcheck.sbom.cyclonedx import (
    _EMAIL,
    _detected_set,
    _licence_parts,
    _metadata_properties,
    _package_properties,
    _prop,
    _purl,
)

_LICENSES = LicenseFactory()
_ACK = {a.value: a for a in LicenseAcknowledgement}


def _properties(props: Iterable[tuple[str, str]]) -> list[Property]:
    return [Property(name=n, value=v) for n, v in props]


def library_bom(inventory: Inventory) -> Bom:
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
            properties=_properties(_metadata_properties(inventory, len(packages))),
        ),
    )
    _linear_dependencies(bom)
    bom.register_dependency(image, components)
    return bom


def _linear_dependencies(bom: Bom) -> None:
    """``bom.register_dependency`` in linear time: the library's looks for the target among
    all dependencies registered so far (a scan per call, and its outputter calls it again for
    every component). Same dependencies, so the same document; an index by ref instead."""
    index: dict[object, Dependency] = {d.ref: d for d in bom.dependencies}

    def register(target: Dependable, depends_on: Iterable[Dependable] | None = None) -> None:
        targets = list(depends_on or ())
        deps = [Dependency(ref=d.bom_ref) for d in targets]
        found = index.get(target.bom_ref)
        if found is None:
            found = index[target.bom_ref] = Dependency(ref=target.bom_ref, dependencies=deps)
            bom.dependencies.add(found)
        elif deps:
            found.dependencies.update(deps)
        for d in targets:
            register(d)

    bom.register_dependency = register  # type: ignore[method-assign]


def library_xml_root(inventory: Inventory) -> ElementTree.Element:
    """The library's XML of ``library_bom(inventory)``, parsed: the oracle of
    ``cyclonedx._xml_root``."""
    raw = make_outputter(library_bom(inventory), OutputFormat.XML,
                         SchemaVersion.V1_6).output_as_string()
    clean = cdx_files.XML_INVALID.sub("\ufffd", raw)
    # Our own serialiser's output (no DTD, no entities), not untrusted input.
    return cdx_files.parse_xml(clean.encode("utf-8", "backslashreplace"))


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


def _component(inventory: Inventory, p: Package, ref: str) -> Component:
    purl = _purl(p.purl)
    licenses, licenses_prop = _licenses(p.licenses, _detected_set(p))
    return Component(
        type=ComponentType.LIBRARY,
        name=p.name or "(unnamed)",
        version=p.version or None,
        purl=purl,
        bom_ref=ref,
        licenses=licenses,
        cpe=p.cpes[0] if p.cpes else None,
        supplier=_supplier(p.supplier) if p.supplier else None,
        properties=_properties(_package_properties(inventory, p, purl, licenses_prop)),
    )


def _licenses(texts: tuple[str, ...], detected: set[str]) -> tuple[list[License], str]:
    """CycloneDX licences for the texts (``_licence_parts``) as the library's objects."""
    parts, prop = _licence_parts(texts, detected, fixup=fixup_id)
    return [_expression(v, _ACK.get(ack)) if kind == "expression"
            else DisjunctiveLicense(id=v, acknowledgement=_ACK.get(ack)) if kind == "id"
            else _LICENSES.make_with_name(v, acknowledgement=_ACK.get(ack))
            for kind, v, ack in parts], prop


def _expression(text: str, ack: LicenseAcknowledgement | None) -> License:
    try:
        return _LICENSES.make_with_expression(text, acknowledgement=ack)
    except InvalidLicenseExpressionException:
        # LicenseRef- ids: valid SPDX, unknown to the library
        return LicenseExpression(text, acknowledgement=ack)


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
    grouped: defaultdict[str, list[tuple[str, str]]] = defaultdict(list)
    for r in inventory.relationships:
        if r.source in by_purl:
            grouped[r.source].append(_prop(P.RELATIONSHIP + r.type.value, r.target))
    for purl, props in grouped.items():
        by_purl[purl].properties.update(_properties(props))

