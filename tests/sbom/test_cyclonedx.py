from __future__ import annotations

import json
from pathlib import Path
from xml.etree import ElementTree

import pytest
from hypothesis import given, settings

from hullcheck import sbom
from hullcheck.model import ImageSource, Inventory, Package, PackageType, SourcePackage, Visibility
from tests.sbom.inventories import D1, D2, D3, MANIFEST, alpine_inventory, debian_inventory
from tests.sbom.support import DATA, assert_valid, cyclonedx_validator
from tests.sbom.test_native import inventories

INVENTORIES = {
    "debian-squashed": debian_inventory("squashed"),
    "debian-all-layers": debian_inventory("all-layers"),
    "alpine": alpine_inventory(),
}


def props(component: dict) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for p in component.get("properties", []):
        out.setdefault(p["name"], []).append(p["value"])
    return out


def by_name(doc: dict) -> dict[str, dict]:
    return {c["name"]: c for c in doc["components"]}


def essentials(p: Package) -> tuple:
    return (p.type, p.name, p.version, p.purl, p.locations, p.source, p.visibility,
            p.licenses, p.arch, p.found_by, p.cpes, p.extras, p.files)


@pytest.mark.parametrize("key", INVENTORIES)
def test_cyclonedx_json_validates_against_the_1_6_schema(key: str) -> None:
    doc = json.loads(sbom.encode(INVENTORIES[key], "cyclonedx-json"))
    assert doc["specVersion"] == "1.6"
    assert_valid(cyclonedx_validator(), doc)


@settings(max_examples=60, deadline=None)
@given(inventories)
def test_cyclonedx_json_is_schema_valid_for_any_inventory(inventory: Inventory) -> None:
    assert_valid(cyclonedx_validator(), json.loads(sbom.encode(inventory, "cyclonedx-json")))


@pytest.mark.parametrize("key", INVENTORIES)
def test_cyclonedx_round_trip_restores_packages(key: str) -> None:
    inventory = INVENTORIES[key]
    decoded = sbom.decode(sbom.encode(inventory, "cyclonedx-json"), name="x.cdx.json")
    expected = inventory.packages if inventory.scope == "all-layers" else inventory.visible
    assert sorted(map(essentials, decoded.packages), key=repr) == sorted(
        map(essentials, expected), key=repr)
    assert decoded.distro == inventory.distro
    assert decoded.layers == inventory.layers
    assert decoded.source == inventory.source
    assert decoded.scope == inventory.scope
    assert set(decoded.relationships) == {
        r for r in inventory.relationships if r.source in {p.purl for p in expected}
    }


def test_squashed_scope_lists_visible_packages_and_counts_the_hidden() -> None:
    doc = json.loads(sbom.encode(debian_inventory("squashed"), "cyclonedx-json"))
    assert "curl" not in by_name(doc)
    meta = props(doc["metadata"])
    assert meta["hullcheck:scope"] == ["squashed"]
    assert meta["hullcheck:hidden-packages:count"] == ["1"]
    assert meta["hullcheck:hidden-packages:omitted"] == ["1"]


def test_all_layers_scope_lists_hidden_packages_marked() -> None:
    doc = json.loads(sbom.encode(debian_inventory("all-layers"), "cyclonedx-json"))
    curl = props(by_name(doc)["curl"])
    assert curl["hullcheck:visibility"] == ["shipped-not-visible"]
    assert props(doc["metadata"])["hullcheck:hidden-packages:omitted"] == ["0"]


def test_metadata_describes_the_image_distro_and_tool() -> None:
    doc = json.loads(sbom.encode(debian_inventory(), "cyclonedx-json"))
    image = doc["metadata"]["component"]
    assert image["type"] == "container"
    assert image["version"] == MANIFEST
    assert image["purl"] == (
        "pkg:oci/debian@sha256:" + "a" * 64 + "?repository_url=docker.io/library/debian"
    )
    assert [t["name"] for t in doc["metadata"]["tools"]["components"]] == ["hullcheck"]
    meta = props(doc["metadata"])
    assert meta["hullcheck:distro:id"] == ["debian"]
    assert meta["hullcheck:distro:codename"] == ["bookworm"]
    assert meta["hullcheck:image:config-digest"] == ["sha256:" + "c" * 64]
    os_component = next(c for c in doc["components"] if c["type"] == "operating-system")
    assert (os_component["name"], os_component["version"]) == ("debian", "12")
    depends = next(d for d in doc["dependencies"] if d["ref"] == image["bom-ref"])
    assert len(depends["dependsOn"]) == len(doc["components"])


def test_component_carries_layer_location_and_source_facts() -> None:
    doc = json.loads(sbom.encode(debian_inventory(), "cyclonedx-json"))
    libssl = by_name(doc)["libssl3"]
    p = props(libssl)
    assert libssl["purl"] == libssl["bom-ref"]
    assert p["hullcheck:layer:diff-id"] == [D2]
    assert p["hullcheck:layer:created-by"][0].startswith("RUN /bin/sh -c apt-get install")
    assert p["hullcheck:location:0:path"] == ["/var/lib/dpkg/status"]
    assert p["hullcheck:location:0:layer-index"] == ["1"]
    assert p["hullcheck:source-package:name"] == ["openssl"]
    assert p["hullcheck:found-by"] == ["dpkg-db"]
    assert p["hullcheck:files:count"] == ["1"]
    assert libssl["cpe"].startswith("cpe:2.3:a:debian:libssl3")


def test_licences_ids_expressions_and_names() -> None:
    doc = json.loads(sbom.encode(debian_inventory(), "cyclonedx-json"))
    comps = by_name(doc)
    # each declared by the package (CycloneDX 1.6 acknowledgement), none detected from text
    assert comps["libssl3"]["licenses"] == [
        {"license": {"id": "Apache-2.0", "acknowledgement": "declared"}}]
    # a compound expression next to a non-SPDX text: one expression, the list in a property
    node = comps["@types/node"]
    assert node["licenses"] == [{"expression": "(MIT OR Apache-2.0)", "acknowledgement": "declared"}]
    assert json.loads(props(node)["hullcheck:licenses"][0]) == ["MIT OR Apache-2.0", "BSD-style"]
    alpine = json.loads(sbom.encode(alpine_inventory(), "cyclonedx-json"))
    weird = next(c for c in alpine["components"] if c["name"].startswith("zope"))
    assert weird["licenses"] == [
        {"license": {"name": "Zope Public License (ZPL) 2.1 & friends",
                     "acknowledgement": "declared"}}
    ]


def test_duplicate_purls_get_distinct_bom_refs() -> None:
    inv = debian_inventory("all-layers")
    twin = inv.packages[1]  # libssl3 again, hidden, from the base layer
    twin = Package(**{**{f: getattr(twin, f) for f in twin.__slots__},
                      "visibility": Visibility.HIDDEN})
    inv = Inventory(**{**{f: getattr(inv, f) for f in inv.__slots__},
                       "packages": (*inv.packages, twin)})
    doc = json.loads(sbom.encode(inv, "cyclonedx-json"))
    refs = [c["bom-ref"] for c in doc["components"] if c["name"] == "libssl3"]
    assert len(refs) == 2
    assert len(set(refs)) == 2
    assert_valid(cyclonedx_validator(), doc)


def test_cyclonedx_xml_is_well_formed_and_escapes_names() -> None:
    data = sbom.encode(alpine_inventory(), "cyclonedx-xml")
    root = ElementTree.fromstring(data)
    ns = {"c": "http://cyclonedx.org/schema/bom/1.6"}
    assert root.tag == "{http://cyclonedx.org/schema/bom/1.6}bom"
    names = [e.text for e in root.findall("c:components/c:component/c:name", ns)]
    assert 'zope.interface<&>"ünïcödé' in names
    component = root.find("c:metadata/c:component", ns)
    assert component is not None
    assert component.get("type") == "container"


# --- documents written by others -------------------------------------------------------------


@pytest.mark.parametrize("path", sorted((DATA / "cyclonedx").glob("*.json")), ids=lambda p: p.name)
def test_spec_examples_decode_every_component_with_a_purl(path: Path) -> None:
    doc = json.loads(path.read_bytes())
    assert_valid(cyclonedx_validator(), doc)
    inventory = sbom.decode(path.read_bytes(), name=path.name)
    purls = []
    stack = list(doc.get("components", []))
    while stack:
        c = stack.pop()
        purls += [c["purl"]] if "purl" in c else []
        stack += c.get("components", [])
    assert sorted(p.purl for p in inventory.packages) == sorted(purls)
    assert all(p.type is PackageType.MAVEN for p in inventory.packages)
    assert all(u.reason.endswith("no purl") for u in inventory.unknowns)


def test_spec_example_maven_names_and_licences() -> None:
    inv = sbom.decode((DATA / "cyclonedx" / "valid-license-expression-1.6.json").read_bytes())
    (p,) = inv.packages
    assert (p.name, p.version) == ("com.acme:tomcat-catalina", "9.0.14")
    assert p.licenses == ("EPL-2.0 OR GPL-2.0 WITH Classpath-exception-2.0",)
    inv = sbom.decode((DATA / "cyclonedx" / "valid-component-identifiers-1.6.json").read_bytes())
    assert inv.packages[0].cpes == ("cpe:2.3:a:example:acme-library:1.0.0:*:*:*:*:*:*:*",)


def test_syft_like_document() -> None:
    inv = sbom.decode((DATA / "syft-like.cdx.json").read_bytes(), name="syft.json")
    assert inv.distro is not None
    assert (inv.distro.id, inv.distro.version_id) == ("debian", "12")
    assert inv.source.manifest_digest == "sha256:" + "a" * 64
    libssl = next(p for p in inv.packages if p.name == "libssl3")
    assert libssl.type is PackageType.DEB
    assert libssl.source == SourcePackage(name="openssl", version="3.0.11-1~deb12u2")
    assert libssl.found_by == "dpkg-db-cataloger"
    assert libssl.arch == "amd64"
    assert libssl.licenses == ("Apache-2.0",)
    assert [x.diff_id for x in inv.layers] == [D1, D2]
    assert libssl.locations[0].path == "/var/lib/dpkg/status"
    assert inv.layers[libssl.layer].diff_id == D1  # type: ignore[index]
    requests = next(p for p in inv.packages if p.name == "requests")
    assert requests.type is PackageType.PYTHON
    assert inv.layers[requests.layer].diff_id == D2  # type: ignore[index]
    (unknown,) = inv.unknowns
    assert unknown.reason == "components[2]: purl type 'swift' is not supported"
    assert unknown.location.path == "syft.json"


def test_trivy_like_document() -> None:
    inv = sbom.decode((DATA / "trivy-like.cdx.json").read_bytes())
    (p,) = inv.packages
    assert (p.type, p.name, p.version) == (PackageType.RPM, "openssl-libs", "1:3.0.7-24.el9")
    assert p.source == SourcePackage(name="openssl", version="1:3.0.7-24.el9")
    assert p.licenses == ("ASL 2.0",)
    assert inv.layers[0].diff_id == D3
    assert p.layer == 0
    assert inv.distro is not None
    assert (inv.distro.id, inv.distro.version_id) == ("rocky", "9.3")


def test_distro_from_purl_qualifier_when_nothing_else_says() -> None:
    doc = json.loads((DATA / "syft-like.cdx.json").read_bytes())
    doc["components"] = [c for c in doc["components"] if c["type"] != "operating-system"]
    inv = sbom.decode(json.dumps(doc).encode())
    assert inv.distro is not None
    assert (inv.distro.id, inv.distro.version_id) == ("debian", "12")


@settings(max_examples=100, deadline=None)
@given(inventories)
def test_cyclonedx_round_trip_property(inventory: Inventory) -> None:
    decoded = sbom.decode(sbom.encode(inventory, "cyclonedx-json"))
    expected = inventory.packages if inventory.scope == "all-layers" else inventory.visible

    def key(p: Package, files: tuple[str, ...]) -> tuple:
        return (p.type, p.name or "(unnamed)", p.version, p.purl, p.locations, p.source,
                p.visibility, p.arch, p.found_by, tuple(sorted(set(p.extras))), files)

    def absolute(p: Package) -> tuple[str, ...]:
        return tuple(dict.fromkeys(f if f.startswith("/") else "/" + f for f in p.files))

    assert sorted((key(p, p.files) for p in decoded.packages), key=repr) == sorted(
        (key(p, absolute(p)) for p in expected), key=repr)
    s = inventory.source
    # properties are a sorted set in CycloneDX: multi-valued facts come back sorted, once each
    assert decoded.source == ImageSource(**{
        **{f: getattr(s, f) for f in s.__slots__},
        **{f: tuple(sorted(set(getattr(s, f)))) for f in ("labels", "tags", "repo_digests")},
    })
    assert decoded.scope == inventory.scope
