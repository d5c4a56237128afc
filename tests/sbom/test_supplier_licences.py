"""Suppliers and where licences came from, through every SBOM format and back.

CycloneDX 1.6: the component's ``supplier`` and ``licenses[].acknowledgement`` (declared, or
concluded for a licence detected in licence text); SPDX 2.3: ``supplier`` (``Person:`` or
``Organization:``) and ``licenseDeclared`` vs ``licenseConcluded``; the native JSON. The
inventory is a real dpkg scan of Debian 12's files (base-files' free-form copyright file, bash's
DEP-5 one); the peers' real documents (Trivy's, Syft's) are read for their suppliers.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import pytest

from hullcheck import catalog, filetree, sbom
from hullcheck.catalog.dpkg import DpkgCataloger
from hullcheck.errors import FormatError
from hullcheck.image import open_image
from hullcheck.image.writer import write_oci_layout
from hullcheck.model import DetectedLicense, Inventory, Package, Supplier, SupplierKind
from hullcheck.sbom import _props as P
from tests.fixtures.images import inventory_of
from tests.fixtures.peers.image import peer_image
from tests.fixtures.rootfs import layer
from tests.sbom.support import assert_valid, cyclonedx_validator, spdx_validator

PEERS = Path(__file__).parent.parent / "fixtures" / "peers"
KLOSE = Supplier(name="Matthias Klose", email="doko@debian.org", kind=SupplierKind.PERSON)
VILA = Supplier(name="Santiago Vila", email="sanvila@debian.org", kind=SupplierKind.PERSON)
GLIBC_TEAM = Supplier(name="GNU Libc Maintainers", email="debian-glibc@lists.debian.org",
                      kind=SupplierKind.ORGANIZATION)


@pytest.fixture(scope="module")
def inventory(tmp_path_factory: pytest.TempPathFactory) -> Inventory:
    return inventory_of(tmp_path_factory.mktemp("bookworm"), (DpkgCataloger(),),
                        layer("dpkg/bookworm"))


def by_name(inv: Inventory) -> dict[str, Package]:
    return {p.name: p for p in inv.packages}


def facts(p: Package) -> tuple[Any, ...]:
    return (p.name, p.licenses, p.detected_licenses, p.supplier)


def test_the_scan_has_what_the_formats_must_carry(inventory: Inventory) -> None:
    pkgs = by_name(inventory)
    assert (pkgs["bash"].supplier, pkgs["base-files"].supplier, pkgs["libc6"].supplier) == (
        KLOSE, VILA, GLIBC_TEAM)
    assert pkgs["base-files"].detected_licenses[0].expression == "GPL-2.0-or-later"
    assert pkgs["bash"].detected_licenses == () and pkgs["bash"].licenses


def _component_props(comp: dict[str, Any]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for p in comp.get("properties", []):
        out.setdefault(p["name"], []).append(p["value"])
    return out


def test_cyclonedx_writes_suppliers_and_acknowledgements(inventory: Inventory) -> None:
    doc = json.loads(sbom.encode(inventory, "cyclonedx-json"))
    assert_valid(cyclonedx_validator(), doc)
    comps = {c["name"]: c for c in doc["components"] if c["type"] == "library"}
    base, bash, libc = comps["base-files"], comps["bash"], comps["libc6"]
    assert base["supplier"] == {"name": "Santiago Vila",
                                "contact": [{"email": "sanvila@debian.org"}]}
    assert _component_props(base)[P.SUPPLIER_KIND] == ["person"]
    assert _component_props(libc)[P.SUPPLIER_KIND] == ["organization"]
    assert base["licenses"] == [
        {"license": {"id": "GPL-2.0-or-later", "acknowledgement": "concluded"}}]
    (detected,) = json.loads(_component_props(base)[P.LICENSES_DETECTED][0])
    assert detected["expression"] == "GPL-2.0-or-later"
    assert detected["path"] == "/usr/share/doc/base-files/copyright"
    assert 0 < detected["confidence"] < 1
    acks = {lic.get("acknowledgement") for lic in
            (x.get("license") or x for x in bash["licenses"])}
    assert acks == {"declared"}
    assert P.LICENSES_DETECTED not in _component_props(bash)


def test_cyclonedx_round_trip_restores_them(inventory: Inventory) -> None:
    decoded = sbom.decode(sbom.encode(inventory, "cyclonedx-json"))
    assert sorted(map(facts, decoded.packages)) == sorted(map(facts, inventory.packages))


def test_cyclonedx_xml_carries_them(inventory: Inventory) -> None:
    root = ElementTree.fromstring(sbom.encode(inventory, "cyclonedx-xml"))
    ns = {"c": "http://cyclonedx.org/schema/bom/1.6"}
    base = next(c for c in root.iterfind(".//c:component", ns)
                if c.findtext("c:name", namespaces=ns) == "base-files")
    assert base.findtext("c:supplier/c:name", namespaces=ns) == "Santiago Vila"
    assert base.findtext("c:supplier/c:contact/c:email", namespaces=ns) == "sanvila@debian.org"
    lic = base.find("c:licenses/c:license", ns)
    assert lic is not None and lic.get("acknowledgement") == "concluded"


def test_a_foreign_cyclonedx_says_concluded_without_our_property(inventory: Inventory) -> None:
    """Another tool's document has the acknowledgement only: the licence is detected, its
    confidence unknown. Trivy writes the maintainer as the supplier's name."""
    doc = json.loads(sbom.encode(inventory, "cyclonedx-json"))
    for c in doc["components"]:
        c["properties"] = [p for p in c.get("properties", [])
                           if p["name"] not in (P.LICENSES_DETECTED, P.SUPPLIER_KIND)]
        if c["name"] == "bash":
            c["supplier"] = {"name": "Matthias Klose <doko@debian.org>"}  # as Trivy writes it
    pkgs = by_name(sbom.decode(json.dumps(doc).encode()))
    assert pkgs["base-files"].detected_licenses == (DetectedLicense(expression="GPL-2.0-or-later"),)
    assert pkgs["bash"].detected_licenses == ()
    assert pkgs["bash"].supplier == Supplier(name="Matthias Klose", email="doko@debian.org",
                                             kind=SupplierKind.ORGANIZATION)


def test_spdx_writes_supplier_and_declared_vs_concluded(inventory: Inventory) -> None:
    doc = json.loads(sbom.encode(inventory, "spdx-json"))
    assert_valid(spdx_validator(), doc)
    pkgs = {p["name"]: p for p in doc["packages"] if p.get("primaryPackagePurpose") == "LIBRARY"}
    base, bash, libc = pkgs["base-files"], pkgs["bash"], pkgs["libc6"]
    assert base["supplier"] == "Person: Santiago Vila (sanvila@debian.org)"
    assert libc["supplier"] == "Organization: GNU Libc Maintainers (debian-glibc@lists.debian.org)"
    assert (base["licenseDeclared"], base["licenseConcluded"]) == ("NOASSERTION",
                                                                   "GPL-2.0-or-later")
    assert bash["licenseConcluded"] == "NOASSERTION"
    assert "GPL-3.0-or-later" in bash["licenseDeclared"]
    # every LicenseRef- a licence field names is defined in the document, as the spec asks
    defined = {x["licenseId"] for x in doc.get("hasExtractedLicensingInfos", [])}
    used = {ref for p in doc["packages"] for key in ("licenseDeclared", "licenseConcluded")
            for ref in re.findall(r"LicenseRef-[A-Za-z0-9.-]+", p.get(key, ""))}
    assert used and used <= defined  # bash's DEP-5 file names "permissive", "MIT-like"


def test_spdx_round_trip_ours_and_as_another_tool_reads_it(inventory: Inventory) -> None:
    data = sbom.encode(inventory, "spdx-json")
    assert sorted(map(facts, sbom.decode(data).packages)) == sorted(
        map(facts, inventory.packages))
    doc = json.loads(data)
    for p in doc["packages"]:  # without our annotations: the standard fields alone
        p.pop("annotations", None)
    del doc["annotations"]
    pkgs = by_name(sbom.decode(json.dumps(doc).encode()))
    assert pkgs["base-files"].supplier == VILA
    assert pkgs["libc6"].supplier == GLIBC_TEAM
    assert pkgs["base-files"].licenses == ("GPL-2.0-or-later",)
    assert pkgs["base-files"].detected_licenses == (
        DetectedLicense(expression="GPL-2.0-or-later"),)
    assert pkgs["bash"].detected_licenses == ()


def test_native_round_trip_restores_them(inventory: Inventory) -> None:
    assert sbom.decode(sbom.encode(inventory, "json")) == inventory


# -- the peers' real documents ---------------------------------------------------------------


def _peer(name: str) -> Inventory:
    return sbom.decode((PEERS / name).read_bytes(), name=name)


def test_peer_documents_give_every_debian_package_its_supplier() -> None:
    """Trivy 0.59.1 and Syft 1.18.1 on the same image, "Maintainer: Debian
    <debian@example.org>": Trivy's CycloneDX puts it whole in the name, its SPDX says
    "Organization: Debian <debian@example.org>", Syft's SPDX "Person: Debian (debian@...)"."""
    org = Supplier(name="Debian", email="debian@example.org", kind=SupplierKind.ORGANIZATION)
    person = Supplier(name="Debian", email="debian@example.org", kind=SupplierKind.PERSON)
    for name, expected in (("trivy.cdx.json", org), ("trivy.spdx.json", org),
                           ("syft.spdx.json", person)):
        debs = [p for p in _peer(name).packages if p.purl.startswith("pkg:deb/")]
        assert debs and {p.supplier for p in debs} == {expected}, name


def test_our_sbom_of_the_peer_image_names_the_suppliers_trivy_names(tmp_path: Path) -> None:
    write_oci_layout(tmp_path / "oci", [(peer_image(), "t")])
    image = open_image(f"oci:{tmp_path / 'oci'}:t")
    inv = catalog.run(filetree.build(image, catalog.globs_for()), image.source)
    ours = {p.name: p.supplier for p in inv.visible if p.purl.startswith("pkg:deb/")}
    trivy = {p.name: p.supplier for p in _peer("trivy.cdx.json").packages
             if p.purl.startswith("pkg:deb/")}
    assert ours.keys() == trivy.keys()
    assert {(s.name, s.email) for s in ours.values() if s} == {("Debian", "debian@example.org")}
    assert all(ours.values())


# -- hostile documents: one line naming where -------------------------------------------------


def _with_property(inventory: Inventory, name: str, value: str) -> bytes:
    doc = json.loads(sbom.encode(inventory, "cyclonedx-json"))
    comp = next(c for c in doc["components"] if c["name"] == "base-files")
    comp["properties"] = [p for p in comp["properties"] if p["name"] != name]
    comp["properties"].append({"name": name, "value": value})
    return json.dumps(doc).encode()


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        (P.LICENSES_DETECTED, "{not json", "hullcheck:licenses:detected"),
        (P.LICENSES_DETECTED, '{"expression": "MIT"}', "expected an array"),
        (P.LICENSES_DETECTED, '[{"expression": "MIT", "confidence": 7}]',
         "confidence must be a number from 0 to 1"),
        (P.LICENSES_DETECTED, '[{"confidence": 0.5}]', "missing required field 'expression'"),
        (P.SUPPLIER_KIND, "robot", "has unknown value 'robot'"),
    ],
)
def test_malformed_properties_are_one_line_errors_naming_the_component(
        inventory: Inventory, name: str, value: str, message: str) -> None:
    with pytest.raises(FormatError, match=re.escape(message)) as info:
        sbom.decode(_with_property(inventory, name, value), name="bad.cdx.json")
    text = str(info.value)
    assert text.startswith("bad.cdx.json: components[") and "\n" not in text
